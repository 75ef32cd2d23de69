"""Reduced-form auctions: interim rules with lazily generated Border inequalities.

Every optimum is compared with numbers computed another way: the package's profile LP
(one column per type profile and decision, with the same extra constraints written on
profiles here), Myerson's closed form with ironed virtual values, brute force over all
sets of (bidder, type) pairs, and an LP feasibility check over profiles (scipy).
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.optimize import linprog

import dmd_opt.interfaces.models as io
from dmd_opt.core.environment import Environment
from dmd_opt.core.errors import ModelError
from dmd_opt.families.revenue.border import Border, PriorityMixture
from dmd_opt.families.revenue.program import revenue_program
from dmd_opt.families.revenue.reduced_form import AUTO_PROFILES, solve_reduced_form
from dmd_opt.families.revenue.solve import solve_revenue
from dmd_opt.solvers import solve

from independent import ironed_virtual_values


# ---------------------------------------------------------------------------------------
# independent references
# ---------------------------------------------------------------------------------------
def auction_env(values, probs, cost=0.0, units=1, labels=None):
    """One-period auction; with units > 1 a 'table' environment over sets of winners."""
    N = len(values)
    agents = [{"types": list(map(float, v)), "initial": list(map(float, p))} for v, p in zip(values, probs)]
    if labels:
        for a, lab in zip(agents, labels):
            a["labels"] = lab
    if units == 1:
        return Environment.from_dict({"agents": agents, "decisions": {"kind": "allocate", "cost": cost}})
    sets = [s for r in range(units + 1) for s in itertools.combinations(range(N), r)]
    util = [[[float(v) if i in s else 0.0 for v in values[i]] for s in sets] for i in range(N)]
    return Environment.from_dict({"agents": agents, "decisions": {
        "kind": "table", "labels": ["+".join(map(str, s)) or "none" for s in sets], "utilities": util,
        "cost": [cost * len(s) for s in sets]}})


def profile_lp(env, participation="interim", objective="revenue", min_win=(), payment_cap=(), reserve=None):
    """The profile LP (every type profile and decision) with the reduced form's extra constraints
    written on profiles: Σ_profiles π(θ) x_i(θ) ≥ p, Σ π p_i ≤ b, and for a reserve r no sale below r
    and E[p_i − r x_i | θ_i] ≥ 0."""
    prog = revenue_program(env, participation=participation, objective=objective)
    lay = prog.meta["layout"]
    tree = lay.tree
    K, N, A = tree.n_nodes(0), env.n_agents, lay.alloc_width[0]
    prob = tree.node_prob[0]
    digits = tree.last_reports(0)
    u = [env.utility(i, 0) for i in range(N)]                       # (A, n_i)
    X0, P0 = lay.X0 + lay.x_off[0], lay.P0 + lay.p_off[0]

    def served(i):   # (K, A): 1 when decision a serves bidder i
        return (u[i][:, digits[:, i]].T != 0).astype(float) if np.any(u[i]) else np.zeros((K, A))
    serve = [(np.abs(u[i]).sum(axis=1) > 0).astype(float) for i in range(N)]
    for bs, p in min_win:
        coef = sum(prob[:, None] * serve[i][None, :] for i in bs).ravel()
        prog.add_constraints("min_win", 1, np.zeros(K * A), X0 + np.arange(K * A), coef, p, np.inf)
    for b, cap in payment_cap:
        prog.add_constraints("payment_cap", 1, np.zeros(K), P0 + np.arange(K) * N + b, prob, -np.inf, cap)
    if reserve is not None:
        for i in range(N):
            v = env.type_values(i, 0)
            low = np.nonzero(v[digits[:, i]] < reserve)[0]
            rows = np.repeat(np.arange(low.size), A)
            cols = X0 + (low[:, None] * A + np.arange(A)[None, :]).ravel()
            prog.add_constraints("no_sale", low.size, rows, cols, np.tile(serve[i], low.size), 0.0, 0.0)
            for th in range(len(v)):
                ks = np.nonzero(digits[:, i] == th)[0]
                w = prob[ks] / env.agents[i].initial[th]
                cols = np.r_[P0 + ks * N + i, X0 + (ks[:, None] * A + np.arange(A)[None, :]).ravel()]
                vals = np.r_[w, (-reserve * w[:, None] * serve[i][None, :]).ravel()]
                prog.add_constraints("reserve", 1, np.zeros(cols.size), cols, vals, 0.0, np.inf)
    sol = solve(prog)
    assert sol.status == "optimal"
    return sol.objective


def myerson_revenue(values, probs, cost=0.0):
    """E[max(0, max_i (ironed φ_i(θ_i) − c))] with independent bidders (Myerson 1981)."""
    phis = [ironed_virtual_values(v, p) - cost for v, p in zip(values, probs)]
    levels = np.unique(np.concatenate(phis))
    levels = levels[levels > 0]
    total, prev = 0.0, 0.0
    for u in levels:                         # E[max⁺] = Σ_u u · (P[max ≤ u] − P[max < u])
        le = np.prod([p[phi <= u].sum() for phi, p in zip(phis, probs)])
        lt = np.prod([p[phi < u].sum() for phi, p in zip(phis, probs)])
        total += u * (le - lt)
    return total


def brute_force_max_violation(B: Border, Q: np.ndarray) -> float:
    z = B.f * Q
    best = 0.0
    for mask in range(1, 1 << B.M):
        S = np.array([(mask >> b) & 1 for b in range(B.M)], bool)
        best = max(best, float(z[S].sum() - B.rhs(S[None])[0]))
    return best


def implementable(probs, Q) -> bool:
    """LP feasibility over profiles: some ex-post rule x(θ) ≥ 0, Σ_i x_i ≤ 1 has interim Q."""
    N = len(probs)
    sizes = [len(p) for p in probs]
    prof = list(itertools.product(*[range(n) for n in sizes]))
    nv = len(prof) * N
    A_eq, b_eq = [], []
    off = np.r_[0, np.cumsum(sizes)[:-1]]
    for i in range(N):
        for t in range(sizes[i]):
            row = np.zeros(nv)
            for k, pr in enumerate(prof):
                if pr[i] == t:
                    row[N * k + i] = np.prod([probs[j][pr[j]] for j in range(N) if j != i])
            A_eq.append(row)
            b_eq.append(Q[off[i] + t])
    A_ub = np.kron(np.eye(len(prof)), np.ones((1, N)))
    r = linprog(np.zeros(nv), A_ub=A_ub, b_ub=np.ones(len(prof)), A_eq=A_eq, b_eq=b_eq, bounds=(0, 1))
    return r.status == 0


def random_auction(rng, N, n, decimals=2):
    values = [np.sort(rng.choice(np.arange(1, 6 * n + 1), n, replace=False)).astype(float) / 2 for _ in range(N)]
    probs = []
    for _ in range(N):
        p = rng.integers(1, 9, n).astype(float)
        p = np.round(p / p.sum(), decimals)
        p[-1] = round(1.0 - p[:-1].sum(), decimals)
        probs.append(p)
    return values, probs


# ---------------------------------------------------------------------------------------
# Border's inequalities: separation, the counterexample to common thresholds, implementation
# ---------------------------------------------------------------------------------------
def test_common_thresholds_are_not_enough_for_asymmetric_bidders():
    """An infeasible interim rule whose common threshold sets {Q ≥ c} all hold: the most violated
    set gives bidder 1 its top type only and bidder 2 its two top types."""
    probs = [np.array([0.60496603, 0.16605612, 0.22897784]), np.array([0.83212522, 0.03440898, 0.1334658])]
    Q = np.array([0.93647047, 0.30851378, 0.72360435, 0.00166003, 0.88623452, 0.71837409])
    B = Border(probs)
    _, _, viol = B.threshold_profile(Q)
    assert viol.max() <= 0.0
    assert not implementable(probs, Q)
    assert B.max_violation(Q) == pytest.approx(brute_force_max_violation(B, Q), abs=1e-14)
    assert B.max_violation(Q) == pytest.approx(0.0216233501, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.integers(0, 10_000))
def test_separation_finds_the_most_violated_set(N, n, k, seed):
    rng = np.random.default_rng(seed)
    probs = [rng.dirichlet(np.ones(n)) for _ in range(N)]
    B = Border(probs, min(k, N))
    Q = rng.random(B.M) ** rng.uniform(0.2, 3) * rng.uniform(0.3, 1.0)
    assert B.max_violation(Q) == pytest.approx(brute_force_max_violation(B, Q), abs=1e-12)
    exhaustive = B.exhaustive_max(Q)
    assert max(exhaustive, 0.0) == pytest.approx(B.max_violation(Q), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(0, 10_000))
def test_priority_lotteries_implement_feasible_rules(N, n, k, seed):
    """Decomposition of a feasible rule (a random lottery over random priority rules) into a
    lottery over priority rules; its interim rule is checked against profile enumeration."""
    rng = np.random.default_rng(seed)
    k = min(k, N)
    probs = [rng.dirichlet(np.ones(n)) for _ in range(N)]
    B = Border(probs, k)
    R = int(rng.integers(1, 4))
    target = PriorityMixture(rng.dirichlet(np.ones(R)), [rng.integers(-1, B.M // 2 + 1, B.M) for _ in range(R)])
    Q = B.interim(target) * (rng.uniform(0.3, 1.0) if rng.random() < 0.3 else 1.0)
    mix = B.decompose(Q)
    assert np.max(np.abs(B.interim(mix) - Q)) <= 1e-9
    assert mix.weights.min() >= 0 and mix.weights.sum() <= 1 + 1e-12
    prof = np.array(list(itertools.product(*[range(n)] * N)))
    x = B.allocate(mix, prof)
    assert x.sum(axis=1).max() <= k + 1e-12 and x.min() >= 0
    pr = np.prod([probs[i][prof[:, i]] for i in range(N)], axis=0)
    for i in range(N):
        for t in range(n):
            m = prof[:, i] == t
            if probs[i][t] > 1e-12:
                assert (pr[m] @ x[m, i]) / probs[i][t] == pytest.approx(Q[B.offsets[i] + t], abs=1e-9)


# ---------------------------------------------------------------------------------------
# the optimum against the profile LP and Myerson
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("N,n,seed", [(2, 10, 0), (2, 10, 1), (3, 5, 2), (3, 15, 3)])
def test_equals_profile_lp_asymmetric(N, n, seed):
    values, probs = random_auction(np.random.default_rng(seed), N, n)
    env = auction_env(values, probs, cost=0.5)
    rf = solve_reduced_form(env)
    assert rf.status == "optimal" and rf.verification.passed()
    assert rf.objective == pytest.approx(profile_lp(env), abs=1e-9)
    assert rf.revenue == pytest.approx(rf.objective, abs=1e-9)
    assert rf.objective == pytest.approx(myerson_revenue(values, probs, cost=0.5), abs=1e-9)
    assert rf.rounds[-1]["max_violation"] <= 1e-12


@pytest.mark.parametrize("participation,objective", [("ex_ante", "revenue"), ("interim", "welfare"),
                                                     ("interim", {"revenue": 1.0, "welfare": 0.5})])
def test_objectives_and_participation(participation, objective):
    values, probs = random_auction(np.random.default_rng(7), 3, 4)
    env = auction_env(values, probs, cost=0.25)
    rf = solve_reduced_form(env, participation=participation, objective=objective)
    assert rf.objective == pytest.approx(profile_lp(env, participation, objective), abs=1e-9)


@pytest.mark.parametrize("N,n,k,seed", [(3, 4, 2, 0), (4, 3, 2, 1), (4, 3, 3, 2)])
def test_k_units_equal_profile_lp(N, n, k, seed):
    values, probs = random_auction(np.random.default_rng(seed), N, n)
    rf = solve_reduced_form(auction_env(values, probs, cost=0.5), units=k)
    assert rf.status == "optimal" and rf.verification.passed()
    assert rf.objective == pytest.approx(profile_lp(auction_env(values, probs, cost=0.5, units=k)), abs=1e-9)


def test_extra_constraints_equal_profile_lp():
    values, probs = random_auction(np.random.default_rng(11), 3, 5)
    env = auction_env(values, probs)
    cons = [{"kind": "min_win", "bidders": [1], "probability": 0.45},
            {"kind": "payment_cap", "bidder": 2, "max": 0.8}]
    rf = solve_reduced_form(env, constraints=cons, reserve=2.0)
    ref = profile_lp(env, min_win=[([0], 0.45)], payment_cap=[(1, 0.8)], reserve=2.0)
    assert rf.status == "optimal" and rf.verification.passed()
    assert rf.objective == pytest.approx(ref, abs=1e-9)
    assert rf.objective < solve_reduced_form(env).objective - 1e-6      # the constraints bind
    m = rf.mechanism
    assert m.data.probs[0] @ m.Q[:5] >= 0.45 - 1e-9                      # bidder 1 wins often enough


@settings(max_examples=15, deadline=None)
@given(st.integers(2, 3), st.integers(1, 4), st.integers(1, 2), st.integers(0, 10_000))
def test_random_instances_equal_profile_lp(N, n, k, seed):
    rng = np.random.default_rng(seed)
    values, probs = random_auction(rng, N, n)
    cost = float(rng.choice([0.0, 0.5, 1.5]))
    k = min(k, N)
    rf = solve_reduced_form(auction_env(values, probs, cost), units=k)
    assert rf.status == "optimal" and rf.verification.passed(), rf.verification.summary_lines()
    assert rf.objective == pytest.approx(profile_lp(auction_env(values, probs, cost, units=k)), abs=1e-9)


def test_myerson_closed_form_with_ironing_many_bidders():
    """Ten asymmetric bidders with non-regular distributions (ironing): E[max⁺ ironed φ]."""
    rng = np.random.default_rng(5)
    values, probs = random_auction(rng, 10, 12)
    for p in probs[::2]:                     # a rare middle type makes the virtual value non-monotone
        p[:] = np.r_[0.3, 0.02, p[2:] / p[2:].sum() * 0.68]
    rf = solve_reduced_form(auction_env(values, probs))
    assert rf.objective == pytest.approx(myerson_revenue(values, probs), abs=1e-9)
    assert rf.verification.passed() and rf.verification.implementation_error <= 1e-9


def test_expost_verifier_passes_and_winner_pays_is_expost_ir():
    values, probs = random_auction(np.random.default_rng(9), 3, 6)
    rf = solve_reduced_form(auction_env(values, probs, cost=0.5))
    ex = rf.verification.expost
    assert ex is not None and ex.max_regret <= 1e-9 and ex.ir_violation("interim") <= 1e-9
    tree = rf.mechanism.to_tree_mechanism()
    U = [tree.allocation[0][:, 1 + i] * np.asarray(values[i])[tree.tree.last_reports(0)[:, i]]
         - tree.payments[0][:, i] for i in range(3)]
    assert min(u.min() for u in U) >= -1e-9                     # ex-post IR at every profile


# ---------------------------------------------------------------------------------------
# method choice, CLI, JSON record, certificates
# ---------------------------------------------------------------------------------------
def _big_model(N=5, n=10, **solve):
    agents = [{"name": f"bidder {i + 1}", "types": [float(v) for v in range(1, n + 1)],
               "initial": [round(1 / n, 6)] * (n - 1) + [round(1 - (n - 1) * round(1 / n, 6), 6)]}
              for i in range(N)]
    return {"kind": "revenue", "name": "many bidders", "agents": agents, "decisions": {"kind": "allocate"},
            "solve": solve}


def test_auto_method_takes_the_reduced_form_for_many_profiles():
    m = io.load(_big_model(5, 10))
    assert 10 ** 5 > AUTO_PROFILES
    r = io.solve_model(m)
    assert r.method == "reduced_form" and "chosen automatically" in r.method_note
    rec = r.to_dict()
    assert rec["kind"] == "revenue" and rec["method"] == "reduced_form" and rec["verification"]["passed"]
    small = io.solve_model(io.load(_big_model(2, 3)))
    assert type(small).__name__ == "RevenueResult"


def test_reduced_form_only_options_are_refused_elsewhere():
    m = io.load(_big_model(2, 3))
    with pytest.raises(ModelError, match="units"):
        io.solve_model(m, method="full", units=2)
    dyn = {"kind": "revenue", "horizon": 2, "agents": [{"types": [1.0, 2.0], "initial": [0.5, 0.5],
                                                         "transition": [[0.5, 0.5], [0.5, 0.5]]}],
           "decisions": {"kind": "allocate"}}
    with pytest.raises(ModelError, match="method"):
        io.solve_model(io.load(dyn), method="reduced_form")


def test_cli_reduced_form(tmp_path, capsys):
    from dmd_opt.interfaces.cli import main
    model = tmp_path / "auction.toml"
    model.write_text('name = "three bidders"\n'
                     + "".join(f'[[agents]]\ntypes = [1.0, 2.0, 3.5]\ninitial = [0.3, 0.5, 0.2]\n\n' for _ in range(3))
                     + '[decisions]\nkind = "allocate"\ncost = 0.5\n')
    cert = tmp_path / "c.json"
    with pytest.raises(SystemExit) as e:
        main(["solve", str(model), "--method", "reduced_form", "--json", "--certificate", str(cert)])
    assert e.value.code == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["method"] == "reduced_form" and rec["status"] == "optimal"
    with pytest.raises(SystemExit) as e:
        main(["check", str(cert)])
    assert e.value.code == 0
    assert "exact" in capsys.readouterr().out


@pytest.mark.parametrize("units", [1, 2])
def test_certificate_exact_and_tampering(units):
    from dmd_opt.certificates import check_certificate
    values, probs = random_auction(np.random.default_rng(21), 4, 5)
    raw = {"kind": "revenue", "agents": [{"types": list(map(float, v)), "initial": list(map(float, p))}
                                         for v, p in zip(values, probs)],
           "decisions": {"kind": "allocate", "cost": 0.5},
           "solve": {"method": "reduced_form", "units": units}}
    m = io.load(raw)
    r = io.solve_model(m)
    cert = r.certificate(model=m)
    res = check_certificate(json.loads(json.dumps(_plain(cert))))
    assert res.ok and res.method == "exact", res.verdict
    assert "feasibility proved exactly" in res.verdict and res.details["exact_data"] == "model"
    assert res.details["exact_optimum"] == pytest.approx(r.objective, abs=1e-9)
    # a recorded rule that serves another pair first no longer reproduces the optimum
    bad = json.loads(json.dumps(_plain(cert)))
    ranks = bad["model"]["options"]["implementation"]["ranks"][0]
    served = [k for k, v in enumerate(ranks) if v >= 0]
    ranks[served[0]], ranks[served[-1]] = ranks[served[-1]], ranks[served[0]]
    from dmd_opt.certificates.format import model_fingerprint
    bad["model"]["fingerprint"] = model_fingerprint("revenue", bad["model"]["data"], bad["model"]["options"])
    res = check_certificate(bad)
    assert not res.ok and "FAILED" in res.verdict, res.verdict


def _plain(cert):
    out = dict(cert)
    out["arrays"] = {"storage": "inline", "values": {k: np.asarray(v).tolist()
                                                     for k, v in cert["arrays"]["values"].items()}}
    return out
