"""The closed-form first round of constraint generation (dmd_opt.families.revenue.local):
the local-IC relaxation of a one-agent program solved on the tree, accepted only when every
row of the full program holds — checked here against a closed form (Battaglini 2005, two
types), the full LP solved by HiGHS, the independent verifier and the certificate checker."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import dmd_opt.interfaces.models as io
from dmd_opt.certificates import check_certificate
from dmd_opt.core.environment import Environment
from dmd_opt.core.errors import ModelError
from dmd_opt.families.revenue.solve import solve_revenue
from dmd_opt.families.revenue.cg import solve_revenue_cg

from conftest import MODELS
from test_revenue_cg import _full_program_solution, _same_optimum
from test_revenue_properties import make_env


def two_type_env(T, thL=1.0, thH=2.5, piL=0.4, a=0.8, b=0.3, delta=0.9):
    """One good a period; P(L|L) = a > P(L|H) = b (first-order dominance)."""
    agent = {"types": [thL, thH], "initial": [piL, 1 - piL]}
    if T > 1:
        agent["transition"] = [[a, 1 - a], [b, 1 - b]]
    return Environment.from_dict({"horizon": T, "discount": delta, "agents": [agent],
                                  "decisions": {"kind": "allocate"}})


def two_type_closed_form(T, thL=1.0, thH=2.5, piL=0.4, a=0.8, b=0.3, delta=0.9):
    """Optimal revenue with interim participation, by the discrete Battaglini (2005) formula.

    The high type's rent is Δθ Σ_t (δ(a−b))^t x_t, where x_t is the allocation on the
    all-low path at period t; it is allocated iff π_L a^t θ_L ≥ π_H (a−b)^t Δθ.  Off that
    path, and for the high type, the allocation is efficient.
    """
    piH, d = 1 - piL, thH - thL
    marg = np.array([piL, piH])
    P = np.array([[a, 1 - a], [b, 1 - b]])
    surplus = lost = rent = 0.0
    for t in range(T):
        surplus += delta ** t * marg @ np.array([thL, thH])
        x = piL * a ** t * thL >= piH * (a - b) ** t * d
        lost += (not x) * delta ** t * piL * a ** t * thL
        rent += x * (delta * (a - b)) ** t * d
        marg = marg @ P
    return surplus - lost - piH * rent


def fosd_env(seed, T, n, cost=0.0):
    """A random one-agent Markov environment whose transition rows are FOSD-ordered."""
    rng = np.random.default_rng(seed)
    types = np.sort(rng.choice(np.arange(1, 12), n, replace=False)).astype(float)
    F = np.cumsum(rng.dirichlet(np.ones(n), size=n), axis=1)
    F = -np.sort(-F, axis=0)                 # higher current type: pointwise lower CDF
    F[:, -1] = 1.0
    P = np.diff(np.concatenate([np.zeros((n, 1)), F], axis=1), axis=1)
    agent = {"types": types.tolist(), "initial": rng.dirichlet(np.ones(n)).tolist()}
    if T > 1:
        agent["transition"] = P.tolist()
    return Environment.from_dict({"horizon": T, "discount": 0.9, "renormalize": True, "agents": [agent],
                                  "decisions": {"kind": "allocate", "cost": cost}})


def _check_cert(res):
    cert = res.certificate()
    out = check_certificate(cert, program=res.program)
    assert out.ok, out.verdict


@pytest.mark.parametrize("T", [1, 3, 8])
def test_two_type_closed_form(T):
    env = two_type_env(T)
    cg = solve_revenue_cg(env)
    assert cg.cg["first_round"] == "tree" and cg.cg["tree"].startswith("accepted")
    assert cg.objective == pytest.approx(two_type_closed_form(T), rel=1e-12)
    full = solve_revenue(env, verify=False)
    _same_optimum(cg, full, env)
    assert cg.verification.passed("interim")
    _full_program_solution(cg, tol=1e-9)
    # the distortion: no sale on the all-low path in periods 1-2, then efficient
    if T == 8:
        low_path = [cg.mechanism.allocation[t][0, 0] for t in range(T)]   # node 0: all low reports
        assert low_path[:2] == [1.0, 1.0] and low_path[2:] == [0.0] * 6  # decision 0 = keep
    _check_cert(cg)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 100_000), st.sampled_from([(1, 2), (1, 4), (2, 2), (3, 3), (4, 3), (2, 5)]),
       st.sampled_from(["ex_ante", "interim", "periodic"]),
       st.sampled_from(["revenue", "welfare", {"revenue": 1.0, "welfare": 0.5}]),
       st.sampled_from([0.0, 2.0]))
def test_random_fosd_environments_equal_full_lp(seed, dims, part, objective, cost):
    env = fosd_env(seed, *dims, cost=cost)
    full = solve_revenue(env, participation=part, objective=objective, verify=False)
    cg = solve_revenue_cg(env, participation=part, objective=objective)
    _same_optimum(cg, full, env)
    assert cg.verification.passed(part)
    _full_program_solution(cg, tol=1e-9)
    # a rejected candidate is reported, and HiGHS finished the job
    assert cg.cg["first_round"] in ("tree", "highs")
    if cg.cg["first_round"] == "highs":
        assert cg.cg["tree"].startswith("rejected")
    else:
        # the tree's dual is exact: reduced costs of the full program match to rounding
        prog, sol = cg.program, cg.solution
        rc = prog.objective_vector() - prog.matrix().T @ sol.row_dual
        assert np.max(np.abs(rc - sol.col_dual)) <= 1e-12 * max(1.0, np.abs(sol.row_dual).max())
        _check_cert(cg)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 100_000), st.sampled_from([(2, 2), (3, 3), (2, 4)]))
def test_random_unordered_transitions_equal_full_lp(seed, dims):
    """Random Dirichlet transitions are rarely stochastically ordered: the tree round is
    rejected (or, when its primal happens to be feasible and the dual too, accepted) —
    either way the optimum is the full LP's."""
    T, n = dims
    env = make_env(seed, 1, T, n)
    full = solve_revenue(env, verify=False)
    cg = solve_revenue_cg(env)
    _same_optimum(cg, full, env)
    _full_program_solution(cg)


def test_rejections_fall_back_to_highs():
    # no stochastic dominance (mean-preserving spread): the multipliers go negative
    m = io.load(MODELS / "courty_li_mps.toml")
    cg = io.solve_model(m, method="cg")
    assert cg.cg["first_round"] == "highs" and "dual infeasible" in cg.cg["tree"]
    _same_optimum(cg, io.solve_model(m), m.data)
    # a non-monotone virtual value (π = 0.6, 0.05, 0.35): the pointwise allocation (1, 0, 1)
    # violates a non-local IC row; the optimum irons types 1 and 2
    env = Environment.from_dict({"agents": [{"types": [1, 2, 3], "initial": [0.6, 0.05, 0.35]}],
                                 "decisions": {"kind": "allocate"}})
    cg = solve_revenue_cg(env)
    assert cg.cg["first_round"] == "highs" and cg.cg["tree"].startswith("rejected") and "IC" in cg.cg["tree"]
    full = solve_revenue(env, verify=False)
    _same_optimum(cg, full, env)
    assert full.objective == pytest.approx(max(1.0, 2 * 0.4, 3 * 0.35))   # posting price 3 is optimal


def test_start_option():
    env = two_type_env(4)
    a = solve_revenue_cg(env, start="tree")
    b = solve_revenue_cg(env, start="highs")
    assert a.cg["first_round"] == "tree" and b.cg["first_round"] == "highs"
    _same_optimum(a, b, env)
    two = make_env(1, 2, 2, 2)
    with pytest.raises(ModelError, match="start"):
        solve_revenue_cg(two, disclosure="private", start="tree")
    with pytest.raises(ModelError, match="start"):
        solve_revenue_cg(env, start="closed")
    r = solve_revenue_cg(two, disclosure="private")                     # auto: not applicable
    assert r.cg["first_round"] == "highs" and "private disclosure" in r.cg["tree"]
    # a basis can only come from HiGHS
    assert solve_revenue_cg(env, basis=True).cg["first_round"] == "highs"


def test_fixed_allocation_and_welfare_without_participation():
    env = fosd_env(5, 3, 3)
    for kw in ({"fixed_allocation": "efficient"}, {"objective": "welfare", "participation": "none"}):
        full = solve_revenue(env, verify=False, **kw)
        cg = solve_revenue_cg(env, **kw)
        assert cg.cg["first_round"] == "tree"
        _same_optimum(cg, full, env)
        _full_program_solution(cg, tol=1e-9)
        _check_cert(cg)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 100_000), st.sampled_from([(2, 1, 3), (2, 2, 2), (3, 1, 2), (2, 3, 2)]),
       st.sampled_from(["ex_ante", "interim", "periodic"]))
def test_random_auctions_public_disclosure_equal_full_lp(seed, dims, part):
    """Several bidders (public disclosure): Myerson's virtual surplus on the tree."""
    env = make_env(seed, *dims)
    full = solve_revenue(env, participation=part, verify=False)
    cg = solve_revenue_cg(env, participation=part)
    _same_optimum(cg, full, env)
    assert cg.verification.passed(part)
    _full_program_solution(cg)
    if cg.cg["first_round"] == "tree":
        _check_cert(cg)


# which shipped revenue models the closed form settles (the rest go to HiGHS, and say why)
FIRST_ROUND = {"courty_li_fosd": "tree", "full_extraction": "tree", "ironing_1": "tree", "ironing_2": "tree",
               "ironing_3": "tree", "static_monopoly": "tree", "courty_li_mps": "highs dual infeasible",
               "handicap_auction": "highs private disclosure", "battaglini": "highs quantity",
               "mussa_rosen_2": "highs quantity", "mussa_rosen_3_bunching": "highs quantity"}


@pytest.mark.parametrize("name", sorted(FIRST_ROUND))
def test_shipped_models_first_round(name):
    cg = io.solve_model(io.load(MODELS / f"{name}.toml"), method="cg")
    first, *why = FIRST_ROUND[name].split(" ", 1)
    assert cg.cg["first_round"] == first
    if why:
        assert why[0] in cg.cg["tree"]


def test_a_wrong_dual_is_caught(monkeypatch):
    """The acceptance test re-derives stationarity from the rows, not from the recursion:
    doubling every multiplier (still ≥ 0, primal unchanged) must be rejected."""
    import dmd_opt.families.revenue.cg as rcg
    real = rcg.solve_local

    def doubled(*a, **k):
        loc = real(*a, **k)
        loc.lam = [[2 * l for l in li] for li in loc.lam]
        return loc

    monkeypatch.setattr(rcg, "solve_local", doubled)
    env = two_type_env(4)
    cg = solve_revenue_cg(env)
    assert cg.cg["first_round"] == "highs" and "stationarity" in cg.cg["tree"]
    _same_optimum(cg, solve_revenue(env, verify=False), env)
