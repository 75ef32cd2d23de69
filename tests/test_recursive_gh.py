"""Guo–Hörner allocation without money (docs/theory.md#recursive-contracts-with-promised-utility): finite-horizon values against an
independent history-tree LP (scipy's HiGHS) and brute force over deterministic and
randomised mechanisms; polarisation; convergence; Markov types."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from dmd_opt.core.errors import ModelError
from dmd_opt.interfaces.models import load, solve_model
from dmd_opt.families.recursive import GuoHorner

L, H, C, BETA, Q = 0.5, 2.0, 1.0, 0.9, 0.5
TH = np.array([L, H])
PQ = np.array([1 - Q, Q])


class Par:
    """Parameters of the reference computations (defaults: the module constants)."""

    def __init__(self, L=L, H=H, c=C, beta=BETA, q=Q):
        self.BETA, self.C = beta, c
        self.TH, self.PQ = np.array([L, H]), np.array([1 - q, q])


DEFAULT = Par()


def _nodes(T):
    """Report histories by period: period t has 2**t nodes (C-order digits)."""
    return [list(itertools.product(range(2), repeat=t)) for t in range(T)]


def tree_lp(T, P=None, prior=None, par=DEFAULT):
    """Exact optimum over all randomised mechanisms a(report history) on the report tree,
    types i.i.d. (default) or Markov with transition ``P`` and initial law ``prior``; one-shot
    IC at every history and true type with truthful continuation (with Markov types the
    continuation utility depends on the *true* current type through P)."""
    BETA, C, TH, PQ = par.BETA, par.C, par.TH, par.PQ
    P = np.array([PQ, PQ]) if P is None else np.asarray(P)
    prior = PQ if prior is None else np.asarray(prior)
    idx, n = {}, 0
    for hs in _nodes(T):
        for h in hs:
            for r in range(2):
                idx[h + (r,)] = n
                n += 1

    def U(h, x):   # truthful utility from node h when the current type is x (linear form)
        vec = np.zeros(n)
        if len(h) == T:
            return vec
        vec[idx[h + (x,)]] += (1 - BETA) * TH[x]
        for y in range(2):
            vec += BETA * P[x, y] * U(h + (x,), y)
        return vec

    A = []
    for hs in _nodes(T):
        for h in hs:
            for th in range(2):
                r = 1 - th
                row = np.zeros(n)
                row[idx[h + (th,)]] += (1 - BETA) * TH[th]
                row[idx[h + (r,)]] -= (1 - BETA) * TH[th]
                for y in range(2):
                    row += BETA * P[th, y] * (U(h + (th,), y) - U(h + (r,), y))
                A.append(-row)
    c = np.zeros(n)
    for key, j in idx.items():
        t = len(key) - 1
        prob = prior[key[0]] * np.prod([P[key[i], key[i + 1]] for i in range(t)])
        c[j] = -prob * (1 - BETA) * BETA ** t * (TH[key[-1]] - C)
    res = linprog(c, A_ub=np.array(A), b_ub=np.zeros(len(A)), bounds=[(0, 1)] * n, method="highs")
    assert res.status == 0
    return -res.fun


class _NotIC(Exception):
    pass


def is_ic(a, T, par=DEFAULT):
    """IC at every history and type: by backward induction over report strategies
    (the agent's optimal continuation value from each node), truth must be optimal."""
    BETA, TH, PQ = par.BETA, par.TH, par.PQ
    def cont(h):   # (optimal, truthful) expected utility before the type is drawn
        if len(h) == T:
            return 0.0, 0.0
        o = t_ = 0.0
        for th in range(2):
            best_r = max((1 - BETA) * TH[th] * a[h + (r,)] + BETA * cont(h + (r,))[0] for r in range(2))
            tru = (1 - BETA) * TH[th] * a[h + (th,)] + BETA * cont(h + (th,))[1]
            if tru < best_r - 1e-12:
                raise _NotIC
            o += PQ[th] * best_r
            t_ += PQ[th] * tru
        return o, t_
    try:
        cont(())
    except _NotIC:
        return False
    return True


def principal(a, T, par=DEFAULT):
    BETA, C, TH, PQ = par.BETA, par.C, par.TH, par.PQ
    v = 0.0
    for t, hs in enumerate(_nodes(T + 1)[1:], start=0):
        for key in hs:
            prob = np.prod([PQ[x] for x in key])
            v += prob * (1 - BETA) * BETA ** t * a[key] * (TH[key[-1]] - C)
    return v


def brute_force(T, levels, par=DEFAULT):
    keys = [h + (r,) for hs in _nodes(T) for h in hs for r in range(2)]
    best = -np.inf
    for vals in itertools.product(levels, repeat=len(keys)):
        a = dict(zip(keys, vals))
        if is_ic(a, T, par):
            best = max(best, principal(a, T, par))
    return best


@pytest.mark.parametrize("T", [1, 2, 3])
def test_finite_horizon_matches_tree_lp_and_brute_force(T):
    exact = tree_lp(T)
    res = GuoHorner.create(L, H, C, BETA, q=Q, n_grid=81, horizon=T).solve()
    assert res.status == "optimal"
    rec = res.objective
    # the recursion is a feasible mechanism (lotteries over grid promises): never above the optimum,
    # and the grid restriction costs little
    assert rec <= exact + 1e-9
    assert rec >= exact - 2e-3 * abs(exact)
    det = brute_force(T, (0.0, 1.0))                       # all deterministic mechanisms
    assert det <= exact + 1e-12 and rec >= det - 1e-12
    if T <= 2:  # randomised mechanisms: allocation probabilities on a lattice
        rnd = brute_force(T, (0.0, 0.25, 0.5, 0.75, 1.0))
        assert det - 1e-12 <= rnd <= exact + 1e-12
        assert rec >= rnd - 1e-12
    if T == 1:  # one period: IC forces a_L = a_H; every method finds the same optimum
        assert rec == pytest.approx(exact, abs=1e-12) and det == pytest.approx(exact, abs=1e-12)


def test_finite_horizon_values_by_backward_induction_tiny_grid():
    """With 3 grid points and T = 2, every Bellman value equals brute force over
    (allocation, continuation lottery) on a fine lattice of the Bellman step."""
    m = GuoHorner.create(L, H, C, BETA, q=Q, n_grid=3, horizon=2)
    res = m.solve()
    V1 = res.finite["values"][0][0]
    g1, g2 = res.finite["grids"]
    # brute force the last step (1 period left): a on a lattice, promise keeping in U exactly
    for i, U in enumerate(g1):
        best = -np.inf
        for aL in np.linspace(0, 1, 201):
            # promise keeping fixes a_H; IC of both types with no future forces a_L = a_H
            aH = (U / (1 - BETA) - PQ[0] * L * aL) / (PQ[1] * H)
            if 0 <= aH <= 1 and abs(aH - aL) < 1e-9 + 1e-2:
                best = max(best, (1 - BETA) * (PQ[0] * aL * (L - C) + PQ[1] * aH * (H - C)))
        assert V1[i] == pytest.approx(best, abs=2e-2 * (1 - BETA))
    # the two-period step: deterministic/randomised continuation lotteries over g1 (weights on a lattice)
    V2 = res.finite["values"][1][0]
    w = np.linspace(0, 1, 11)
    lotteries = [np.array([x, y, 1 - x - y]) for x in w for y in w if x + y <= 1 + 1e-12]
    for i, U in enumerate(g2):
        best = -np.inf
        for lamL in lotteries:
            WL = lamL @ g1
            VL = lamL @ V1
            for lamH in lotteries:
                WH = lamH @ g1
                VH = lamH @ V1
                for aL in (0.0, 0.5, 1.0):
                    for aH in (0.0, 0.5, 1.0):
                        uL = (1 - BETA) * L * aL + BETA * WL
                        uH = (1 - BETA) * H * aH + BETA * WH
                        if abs(PQ @ [uL, uH] - U) > 1e-9:
                            continue
                        if uL < (1 - BETA) * L * aH + BETA * WH - 1e-12 or uH < (1 - BETA) * H * aL + BETA * WL - 1e-12:
                            continue
                        val = PQ[0] * ((1 - BETA) * aL * (L - C) + BETA * VL) + PQ[1] * ((1 - BETA) * aH * (H - C) + BETA * VH)
                        best = max(best, val)
        # the LP optimises over a superset of the lattice: never below brute force, and equal at the endpoints
        assert V2[i] >= best - 1e-9
        if i in (0, len(g2) - 1):
            assert V2[i] == pytest.approx(best, abs=1e-9)


@pytest.mark.parametrize("T", [1, 2, 3])
def test_markov_finite_horizon_matches_tree_lp(T):
    """Persistent types: backward induction over the vector state (U_L, U_H) against the
    exact history-tree LP with Markov types (scipy HiGHS)."""
    p = 0.8
    m = GuoHorner.create(L, H, C, BETA, p=p, n_grid=11, horizon=T)
    res = m.solve()
    assert res.status == "optimal"
    exact = tree_lp(T, P=m.P, prior=m.prior)
    assert res.objective <= exact + 1e-9
    assert res.objective >= exact - 0.02 * abs(exact)      # measured: 1.0% at T = 3 on 11 points
    if T <= 2:   # the lens grid contains the optimal promises
        assert res.objective == pytest.approx(exact, abs=1e-9)


def test_iid_polarisation_and_convergence():
    m = GuoHorner.create(L, H, C, BETA, q=Q, n_grid=41)
    res = m.solve()
    assert res.status == "optimal"
    rec = res.vi.record
    assert abs(res.vi.rate() - BETA) < 1e-3          # geometric with rate beta
    assert all(r.sup_change <= 1.0 for r in rec)
    res.simulate(T=400, n_paths=1000, seed=1)
    a = res.absorbed
    assert a["interior"] < 0.01
    assert a["at_zero"] > 0.05 and a["at_upper"] > 0.05
    assert a["upper"] == pytest.approx(Q * H + (1 - Q) * L)
    # value bounded by first best (allocate to H only) and nonnegative at U = 0
    assert res.objective <= Q * (H - C) + 1e-9
    assert res.values[0, 0] == pytest.approx(0.0, abs=1e-9)
    # the low type's IC (claiming H) binds at interior promises
    b = res.binding()
    k = b["IC_rows"].index((0, 1))
    assert np.mean(b["IC"][1:-1, k]) > 0.9


def test_iid_grid_refinement_stable():
    v = [GuoHorner.create(L, H, C, BETA, q=Q, n_grid=n).solve().objective for n in (21, 41, 81)]
    assert abs(v[2] - v[1]) <= abs(v[1] - v[0]) + 1e-9
    assert abs(v[2] - v[1]) < 5e-3


def test_markov_polarisation_and_labels():
    m = GuoHorner.create(L, H, C, BETA, p=0.8, n_grid=9)
    res = m.solve()
    assert res.status == "optimal"
    assert res.values.shape[0] == 2                   # regimes: last report L, H
    assert abs(res.vi.rate() - BETA) < 1e-3
    prog = res.vi.stacked.program
    fams = prog.summary()["families"]
    assert set(fams) == {"lottery", "promise_keeping", "IC"}
    lab = prog.row_labels()
    pk = lab["family"] == "promise_keeping"
    assert set(lab["true_type"][pk]) == {0, 1}         # one promise per current type
    res.simulate(T=300, n_paths=500, seed=2)
    assert res.absorbed["interior"] < 0.02
    assert res.absorbed["at_zero"] > 0 and res.absorbed["at_upper"] > 0
    # persistence makes screening harder: value below the i.i.d. one with the same stationary law
    iid = GuoHorner.create(L, H, C, BETA, q=0.5, n_grid=41).solve()
    assert res.objective <= iid.objective + 1e-6


def test_model_file_and_bad_input():
    model = load({"kind": "guo_horner", "L": 0.5, "H": 2.0, "c": 1.0, "beta": 0.9, "horizon": 2,
                  "grid": {"n": 11}})
    res = solve_model(model)
    assert res.status == "optimal" and np.isfinite(res.objective)
    assert any("principal's optimal value" in line for line in res.summary())
    with pytest.raises(ModelError, match="c"):
        load({"kind": "guo_horner", "L": 0.5, "H": 2.0, "c": 3.0, "beta": 0.9})
    with pytest.raises(ModelError, match="persistence"):
        load({"kind": "guo_horner", "L": 0.5, "H": 2.0, "c": 1.0, "beta": 0.9, "persistence": 1.5})
    with pytest.raises(ModelError, match="grid.n"):
        load({"kind": "guo_horner", "L": 0.5, "H": 2.0, "c": 1.0, "beta": 0.9, "grid": {"n": 1}})
