"""Virtual values and ironing, dynamic virtual surplus, interim reduced forms, per-type regrets
and revenue equivalence (families/revenue/economics.py, analysis/economics.py).

Independent numbers: Myerson's formulas (tests/independent.py: virtual values, the concave
hull of the revenue curve), hand-computed ironing, Battaglini's two-type distortion
(independent.battaglini_low_path) and its multipliers δ^t μ_H (P_HH − P_LH)^t, Courty–Li's
handicapped values (independent.courty_li_virtual_values), the solved programs' duals,
brute-force enumeration of profiles and deviations, and the verifiers.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dmd_opt.analysis import economics as E
from dmd_opt.core.environment import Environment
from dmd_opt.core.errors import ModelError
from dmd_opt.families.revenue.solve import solve_revenue
from dmd_opt.interfaces.models import load, solve_model

from conftest import MODELS
from independent import battaglini_low_path, courty_li_virtual_values, ironed_virtual_values, virtual_values

V4, F4 = [1.0, 2.0, 3.0, 4.0], [0.3, 0.05, 0.3, 0.35]


def auction(values, probs, n=1, **kw):
    return Environment.from_dict({"horizon": 1, "agents": [{"types": list(values), "initial": list(probs)}] * n,
                                  "decisions": {"kind": "allocate"}, **kw})


# ---------------------------------------------------------------------------------------
# static virtual values and ironing
# ---------------------------------------------------------------------------------------
def test_virtual_values_and_ironing_by_hand():
    phi = E.virtual_values(V4, F4)
    # φ_k = θ_k − (θ_{k+1} − θ_k)(1 − F_k)/f_k
    np.testing.assert_allclose(phi, [1 - 0.7 / 0.3, 2 - 0.65 / 0.05, 3 - 0.35 / 0.3, 4.0], atol=1e-12)
    ironed, intervals, _ = E.ironing(V4, F4)
    pooled = (0.3 * phi[0] + 0.05 * phi[1]) / 0.35                # types 1 and 2 ironed together
    np.testing.assert_allclose(ironed, [pooled, pooled, phi[2], 4.0], atol=1e-12)
    assert intervals == [[0, 1]]
    # a regular distribution is not ironed
    ir, iv, _ = E.ironing([1, 2, 3], [1 / 3] * 3)
    np.testing.assert_allclose(ir, E.virtual_values([1, 2, 3], [1 / 3] * 3))
    assert iv == []
    # three types pooled: (1, 2, 3, 4) with mass (0.5, 0.02, 0.03, 0.45)
    f = [0.5, 0.02, 0.03, 0.45]
    ir, iv, _ = E.ironing(V4, f)
    np.testing.assert_allclose(ir, ironed_virtual_values(V4, f), atol=1e-12)
    assert iv == [[0, 1, 2]] or iv == [[1, 2]] or all(len(x) >= 2 for x in iv)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 7), seed=st.integers(0, 10_000))
def test_random_distributions_against_independent_hull(n, seed):
    rng = np.random.default_rng(seed)
    v = np.sort(rng.choice(np.arange(1, 30), n, replace=False)).astype(float)
    f = rng.dirichlet(np.ones(n) * 0.5)
    f = np.maximum(f, 1e-3)
    f /= f.sum()
    np.testing.assert_allclose(E.virtual_values(v, f), virtual_values(v, f), atol=1e-9)
    ir, iv, _ = E.ironing(v, f)
    np.testing.assert_allclose(ir, ironed_virtual_values(v, f), atol=1e-9)
    assert np.all(np.diff(ir) >= -1e-9)                           # ironed values are monotone
    # the expected virtual surplus is preserved by ironing: Σ f φ̄ = Σ f φ (both = R(1) = θ_1)
    assert f @ ir == pytest.approx(f @ E.virtual_values(v, f), abs=1e-9)
    for interval in iv:                                           # one ironed value per interval
        assert np.ptp(ir[interval]) < 1e-9
    # the order of the types in the model does not matter
    perm = rng.permutation(n)
    np.testing.assert_allclose(E.ironing(v[perm], f[perm])[0], ir[perm], atol=1e-12)


@pytest.mark.parametrize("n_bidders", [1, 2])
def test_static_virtual_values_in_results_and_the_optimal_allocation(n_bidders):
    r = solve_model(load(MODELS / f"ironing_{n_bidders}.toml"))
    vv = r.economics()["virtual_values"]
    assert len(vv) == n_bidders
    np.testing.assert_allclose(vv[0].ironed, ironed_virtual_values(V4, F4), atol=1e-12)
    assert vv[0].intervals == [[0, 1]]
    # the optimal interim allocation is constant on the ironing interval
    rf = E.interim_reduced_forms(r.mechanism)[0]
    Q = np.array(rf.Q[0])
    assert Q[0] == pytest.approx(Q[1], abs=1e-9)
    d = r.to_dict()["economics"]
    assert d["virtual_values"][0]["ironing_intervals"] == [["1", "2"]]
    assert any("ironed together" in line for line in r.summary())


# ---------------------------------------------------------------------------------------
# dynamic virtual surplus
# ---------------------------------------------------------------------------------------
def test_battaglini_multipliers_handicaps_and_lp_duals():
    """Battaglini (2005): on the all-low path λ_t = δ^t μ_H (P_HH − P_LH)^t, the virtual value
    is θ_L − μ_H Δθ (P_HH − P_LH)^t / Pr(L^{t+1}) (= the quantity with c(q) = q²/2); after any
    H report the multipliers vanish.  They equal the QP's duals of the adjacent IC rows."""
    model = load(MODELS / "battaglini.toml")
    r = solve_model(model)
    env = r.env
    P = env.transition(0, 0)
    mu_H, delta, dth = 0.5, env.discount, 1.0
    dvs = E.dynamic_virtual_surplus(env, "interim")
    low = battaglini_low_path(1.0, 2.0, mu_H, P, env.horizon)
    from dmd_opt.core.tree import HistoryTree
    tree = HistoryTree(env)
    for t in range(env.horizon):
        d = tree.digits(t)[:, :, 0]
        all_low = np.nonzero(np.all(d == 0, axis=1))[0][0]
        lam = dvs.multipliers[0][t]
        assert lam[all_low // 2 if t else 0, 0] == pytest.approx(delta ** t * mu_H * (P[1, 1] - P[0, 1]) ** t,
                                                                   rel=1e-12)
        assert max(0.0, dvs.virtual_value[0][t][all_low]) == pytest.approx(low[t], abs=1e-12)
        after_high = np.any(d[:, :-1] == 1, axis=1) if t else np.zeros(d.shape[0], bool)
        assert np.all(dvs.handicap[0][t][after_high] == 0)
        # the optimal quantity is the (positive part of the) virtual value at every history
        q = r.mechanism.allocation[t][:, 0]
        np.testing.assert_allclose(q, np.clip(dvs.virtual_value[0][t], 0, None), atol=1e-6)
    cmp = E.dual_comparison(r, dvs)
    assert cmp["agree"] and cmp["max_gap"] < 1e-7 and cmp["rows"] > 0


def test_handicap_is_initial_handicap_times_impulse_response():
    """The handicap computed from the multipliers equals (1−F_0)Δθ_0/f_0 × the impulse
    response computed from the transitions alone (module docstring), at every history."""
    env = Environment.from_dict({
        "horizon": 3, "discount": 0.8,
        "agents": [{"types": [1.0, 2.0, 4.0], "initial": [0.3, 0.3, 0.4],
                    "transition": [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]]}],
        "decisions": {"kind": "allocate"}})
    dvs = E.dynamic_virtual_surplus(env, "interim")
    from dmd_opt.core.tree import HistoryTree
    tree = HistoryTree(env)
    v, f = np.array([1.0, 2.0, 4.0]), np.array([0.3, 0.3, 0.4])
    h0 = (1 - np.cumsum(f)) * np.r_[np.diff(v), 0.0] / f          # initial handicap by type
    for t in range(3):
        first = tree.digits(t)[:, 0, 0]
        np.testing.assert_allclose(dvs.handicap[0][t], h0[first] * dvs.impulse[0][t], atol=1e-12)
    # ex-ante participation: no multipliers, no handicap
    ex = E.dynamic_virtual_surplus(env, "ex_ante")
    assert all(np.all(h == 0) for h in ex.handicap[0])


def test_courty_li_handicapped_values():
    """Courty–Li (2000): after the low ex-ante type, the period-2 value v is handicapped by
    (f_H/f_L)(v⁺ − v)(F(v|L) − F(v|H))/f(v|L); the high type is not distorted."""
    r = solve_model(load(MODELS / "courty_li_fosd.toml"))
    dvs = E.dynamic_virtual_surplus(r.env, "interim")
    psiL, psiH = courty_li_virtual_values([1, 2, 3], [0.5, 0.5], [[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    vv = dvs.virtual_value[0][1].reshape(2, 3)
    np.testing.assert_allclose(vv[0], psiL, atol=1e-12)
    np.testing.assert_allclose(vv[1], psiH, atol=1e-12)
    # every period-2 type after τ_L buys at one price: the IC rows bind together and the
    # solver picks another optimal dual; the closed form is one (its bound is attained)
    cmp = E.dual_comparison(r, dvs)
    assert cmp["exact"] and cmp["agree"] and not cmp["same_as_solver"]
    assert cmp["relaxed_value"] == pytest.approx(r.objective, abs=1e-9)
    # constraint generation certifies the closed-form dual and keeps it: then it is the solver's
    rc = solve_revenue(r.env, participation="interim", method="cg", selection="none")
    assert rc.objective == pytest.approx(r.objective, abs=1e-9)
    assert E.dual_comparison(rc)["same_as_solver"]
    # the same model as Courty and Li write it: ex-ante types as labels, δ = 1; the labels
    # are ranked by the dominance of the value distributions they induce
    ru = solve_model(load(MODELS / "courty_li_undiscounted.toml"))
    du = ru.economics()
    assert du.dynamic is not None and du.duals["agree"]
    psiL, psiH = courty_li_virtual_values([1, 2, 3], [0.5, 0.5], [[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    np.testing.assert_allclose(du.dynamic.virtual_value[0][1].reshape(2, 3), [psiL, psiH], atol=1e-12)
    with pytest.raises(ModelError, match="dominance"):          # crossing laws: no order to read
        src = dict(ru.env.source)
        src["agents"] = [{**src["agents"][0], "transition": [[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]]}]
        E.dynamic_virtual_surplus(Environment.from_dict(src))


def test_public_disclosure_auction_handicaps_are_own_path():
    r = solve_model(load(MODELS / "handicap_auction.toml"))
    dvs = E.dynamic_virtual_surplus(r.env, "interim")
    # independent types: a bidder's handicap depends on its own reports only
    from dmd_opt.core.tree import HistoryTree
    tree = HistoryTree(r.env)
    for i in range(2):
        d = tree.digits(1)[:, :, i]
        key = d[:, 0] * 10 + d[:, 1]
        for k in np.unique(key):
            h = dvs.handicap[i][1][key == k]
            assert np.ptp(h) < 1e-12
    frame = dvs.frame(0)
    assert {"history", "handicap", "virtual_value", "impulse_response"} <= set(frame.columns)


# ---------------------------------------------------------------------------------------
# interim reduced forms
# ---------------------------------------------------------------------------------------
def _brute_reduced_form(mech, i):
    """Q, T by enumeration of profiles (static, one good)."""
    env = mech.env
    n = [env.n_types(j, 0) for j in range(env.n_agents)]
    f = [env.agent_initial(j) for j in range(env.n_agents)]
    Q, T = np.zeros(n[i]), np.zeros(n[i])
    for k, prof in enumerate(itertools.product(*[range(m) for m in n])):
        w = np.prod([f[j][prof[j]] for j in range(env.n_agents) if j != i])
        Q[prof[i]] += w * mech.allocation[0][k, i + 1]
        T[prof[i]] += w * mech.payments[0][k, i]
    return Q, T


def test_static_reduced_forms_against_enumeration():
    r = solve_model(load(MODELS / "ironing_2.toml"))
    rfs = E.interim_reduced_forms(r.mechanism)
    for i in range(2):
        Q, T = _brute_reduced_form(r.mechanism, i)
        np.testing.assert_allclose(rfs[i].Q[0], Q, atol=1e-12)
        np.testing.assert_allclose(rfs[i].T[0], T, atol=1e-12)
        np.testing.assert_allclose(rfs[i].U[0], np.array(V4) * Q - T, atol=1e-12)
        np.testing.assert_allclose(rfs[i].V[0], r.verification.agents[i].root_values, atol=1e-9)
    df = E.reduced_form_frame(r.mechanism)
    assert set(df.columns) >= {"agent", "period", "type", "Q", "T", "U", "V"} and len(df) == 8


def test_dynamic_reduced_forms_match_rents_and_expected_payments():
    for name in ("battaglini.toml", "handicap_auction.toml", "courty_li_mps.toml"):
        r = solve_model(load(MODELS / name))
        m = r.mechanism
        rfs = E.interim_reduced_forms(m)
        env = r.env
        for i, rf in enumerate(rfs):
            np.testing.assert_allclose(rf.V[0], m.rents()[i], atol=1e-9)          # the verifier's rents
            pay = sum(env.discount ** t * np.nansum(np.array(rf.probability[t]) * np.array(rf.T[t]))
                      for t in range(len(rf.T)))
            assert pay == pytest.approx(m.expected_payment(i), abs=1e-9)


def test_reduced_forms_of_a_markov_mechanism():
    res = solve_model(load(MODELS / "repeated_auction_markov.toml"))
    m = next(e for e in (getattr(res, "mechanisms", {}) or {}).values() if getattr(e, "form", "") == "markov") \
        if hasattr(res, "mechanisms") else res.mechanism
    rfs = E.interim_reduced_forms(m, periods=2)
    assert len(rfs) == m.env.n_agents and len(rfs[0].Q) == 2
    assert all(np.isclose(sum(p), 1.0) for p in rfs[0].probability)


# ---------------------------------------------------------------------------------------
# per-type regrets and revenue equivalence
# ---------------------------------------------------------------------------------------
def test_per_type_regrets_against_enumerated_deviations():
    r = solve_revenue(auction([1.0, 2.0, 3.0], [0.2, 0.5, 0.3], n=2), selection="none")
    m = r.mechanism
    m.payments[0][:, 0] += np.where(m.tree.last_reports(0)[:, 0] == 2, 0.4, 0.0)   # the top type pays more
    rep = m.verify("bayesian")
    Q, T = _brute_reduced_form(m, 0)
    v = np.array([1.0, 2.0, 3.0])
    gain = v[:, None] * Q[None, :] - T[None, :]                  # [true, report]
    reg = gain.max(axis=1) - np.diag(gain)
    frame = E.regret_frame(rep)
    mine = frame[(frame["agent"] == 0) & (frame["period"] == 1)].sort_values("type_index")
    np.testing.assert_allclose(mine["max_regret"], reg, atol=1e-12)
    np.testing.assert_allclose(mine["expected_regret"], reg, atol=1e-12)
    assert int(mine["best_report_index"].iloc[2]) == int(np.argmax(gain[2]))
    assert reg[2] > 0.1 and rep.to_dict()["agents"][0]["regret_by_type"][0]["max_regret"][2] == pytest.approx(reg[2])
    assert any("type 3: regret up to" in line for line in rep.summary_lines())


def test_revenue_equivalence_holds_for_same_allocation_and_fails_otherwise():
    env = auction(V4, F4, n=2)
    opt = solve_revenue(env, participation="interim", selection="none").mechanism
    sel = solve_revenue(env, participation="interim").mechanism
    eff_int = solve_revenue(env, fixed_allocation="efficient", participation="interim").mechanism
    eff_ante = solve_revenue(env, fixed_allocation="efficient", participation="ex_ante").mechanism
    rep = E.revenue_equivalence(eff_int, eff_ante)
    assert rep["same_allocation"] and rep["equivalent"]
    assert rep["revenue_difference"] == pytest.approx(rep["lowest_type_difference"], abs=1e-9)
    # same allocation, but one mechanism is not IC: the lowest types no longer explain the gap
    bad = solve_revenue(env, fixed_allocation="efficient", participation="interim").mechanism
    bad.payments[0][:, 0] += np.where(bad.tree.last_reports(0)[:, 0] == 3, 0.5, 0.0)
    rep2 = E.revenue_equivalence(eff_int, bad)
    assert rep2["same_allocation"] and not rep2["equivalent"]
    assert rep2["unexplained"] == pytest.approx(0.5 * 0.35, abs=1e-9) and rep2["max_regret_b"] > 0
    # different allocations: reported as such
    rep3 = E.revenue_equivalence(opt, eff_int)
    assert not rep3["same_allocation"] and not rep3["equivalent"]
    assert E.revenue_equivalence(opt, sel)["revenue_difference"] == pytest.approx(0.0, abs=1e-8)


# ---------------------------------------------------------------------------------------
# the multipliers are an optimal dual wherever the relaxation is exact
# ---------------------------------------------------------------------------------------
def _fosd_env(seed: int, N: int, T: int, n: int) -> Environment:
    """Random values, priors and transitions P(·|θ_k) = (1 − α_k) a + α_k δ_top with α
    increasing: each row first-order dominates the one below."""
    rng = np.random.default_rng(seed)
    agents = []
    for _ in range(N):
        v = np.sort(rng.choice(np.arange(1, 12), n, replace=False)).astype(float)
        init = rng.dirichlet(np.ones(n)) * 0.9 + 0.1 / n
        a = rng.dirichlet(np.ones(n)) * 0.9 + 0.1 / n
        alpha = np.sort(rng.uniform(0, 0.8, n))
        P = (1 - alpha)[:, None] * a[None, :] + alpha[:, None] * np.eye(n)[-1][None, :]
        agents.append({"types": v.tolist(), "initial": init.tolist(), "transition": P.tolist()})
    return Environment.from_dict({"horizon": T, "discount": float(rng.uniform(0.5, 1.0)), "agents": agents,
                                  "decisions": {"kind": "allocate"}})


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), shape=st.sampled_from([(1, 2, 2), (1, 3, 2), (1, 2, 3), (2, 2, 2)]))
def test_random_fosd_multipliers_bound_and_certify_the_optimum(seed, shape):
    """Weak duality: with λ ≥ 0 the expected virtual surplus maximised history by history
    bounds the optimum (brute-force LP of tests/independent.py) from above; where it attains
    it the multipliers are an optimal dual, so every row they price binds at the solver's
    optimum; where the solver's dual is the same, it equals them row by row."""
    from independent import brute_force_env
    N, T, n = shape
    env = _fosd_env(seed, N, T, n)
    r = solve_revenue(env, participation="interim", selection="none")
    best = r.objective
    if T * n <= 4:                                    # enumeration grows fast: the smallest trees only
        best = brute_force_env(env)
        assert r.objective == pytest.approx(best, abs=1e-7)
    cmp = E.dual_comparison(r)
    assert cmp["min_multiplier"] >= 0
    assert cmp["relaxed_value"] >= best - 1e-7
    if cmp["exact"]:
        assert cmp["complementary"] and cmp["agree"]
    if cmp["same_as_solver"]:
        assert cmp["max_gap"] < 1e-7
    dvs = E.dynamic_virtual_surplus(env, "interim")
    # independent types: the handicap is the initial one times the impulse response (own path)
    from dmd_opt.core.tree import HistoryTree
    tree = HistoryTree(env)
    for i in range(N):
        v, f = np.asarray(env.type_values(i, 0)), np.asarray(env.agent_initial(i))
        h0 = (1 - np.cumsum(f)) * np.r_[np.diff(v), 0.0] / f
        for t in range(T):
            first = tree.digits(t)[:, 0, i]
            np.testing.assert_allclose(dvs.handicap[i][t], h0[first] * dvs.impulse[i][t], atol=1e-9)


def test_per_type_regrets_agree_between_the_two_verifiers():
    """The tree DP (verify.bayesian) and the joint-process DP (verify.expost) are separate
    implementations: on a dynamic two-bidder mechanism with distorted payments they must give
    the same regrets by own type, period by period, with the same best deviation."""
    from dmd_opt.verify.expost import verify_tree
    env = _fosd_env(7, 2, 2, 3)
    m = solve_revenue(env, participation="interim", selection="none").mechanism
    rng = np.random.default_rng(1)
    for t in range(2):
        m.payments[t] += rng.normal(0, 0.3, m.payments[t].shape)
    a, b = m.verify("bayesian"), verify_tree(m, "bayesian")
    fa, fb = E.regret_frame(a), E.regret_frame(b)
    assert len(fa) == len(fb) == 2 * (3 + 3) and fa["max_regret"].max() > 0.05
    for col in ("max_regret", "expected_regret", "probability"):
        np.testing.assert_allclose(fa[col], fb[col], atol=1e-9, err_msg=col)
    pos = fa["max_regret"] > 1e-9
    assert (fa["best_report"][pos] == fb["best_report"][pos]).all()
    # the per-type numbers reproduce the report's maxima
    assert fa["max_regret"].max() == pytest.approx(a.max_regret, abs=1e-12)
    p1 = fa[(fa["period"] == 1)]
    for i in range(2):
        x = p1[p1["agent"] == i]
        assert float(np.dot(x["probability"], x["expected_regret"])) == pytest.approx(a.agents[i].ex_ante_regret,
                                                                                    abs=1e-9)


def test_markov_verifier_reports_regrets_by_type():
    res = solve_model(load(MODELS / "repeated_auction_markov.toml"))
    m = next(e for e in (getattr(res, "mechanisms", {}) or {}).values() if getattr(e, "form", "") == "markov") \
        if hasattr(res, "mechanisms") else res.mechanism
    rep = m.verify("bayesian")
    frame = E.regret_frame(rep)
    assert len(frame) == sum(m.env.n_types(i, 0) for i in range(m.env.n_agents))
    assert {"previous_profile", "true_previous_type", "best_report"} <= set(frame.columns)
    assert frame["max_regret"].max() == pytest.approx(max(a.bayes_max_regret for a in rep.agents), abs=1e-9)


def test_public_entry_points_json_and_summary():
    import json

    import dmd_opt
    from dmd_opt.core.serialise import to_jsonable
    econ = dmd_opt.economics(MODELS / "battaglini.toml")
    assert econ.dynamic is not None and econ.duals["agree"] and econ.duals["same_as_solver"]
    assert set(econ.keys()) == {"virtual_values", "dynamic", "dynamic_note", "duals", "reduced_forms"}
    r = dmd_opt.solve(MODELS / "courty_li_mps.toml")
    d = json.loads(json.dumps(to_jsonable(r.to_dict())))
    e = d["economics"]
    assert e["dynamic"]["duals"]["exact"] is False and e["dynamic"]["duals"]["min_multiplier"] < 0
    assert any("not exact" in line for line in r.summary())
    assert len(dmd_opt.reduced_forms(r)) == sum(r.env.n_types(0, t) for t in range(2))
    assert set(dmd_opt.regrets(r)["period"]) == {1, 2}
    ironed, intervals, _ = dmd_opt.ironing(V4, F4)
    assert intervals == [[0, 1]]
    # no dynamic part for programs it does not describe, with the reason
    r2 = dmd_opt.solve(MODELS / "courty_li_fosd.toml", money=False)
    assert r2.economics().dynamic is None and "money" in r2.economics().dynamic_note


def test_reduced_form_method_reports_the_same_economics():
    """The interim-rule program (method reduced_form) reads its Q, T off its own rule; every
    optimal mechanism gives the ironed types one interim allocation (Myerson 1981)."""
    r = solve_model(load(MODELS / "ironing_2.toml"), method="reduced_form")
    econ = r.economics()
    assert econ.dynamic is None and econ.virtual_values[0].intervals == [[0, 1]]
    for i, rf in enumerate(econ.reduced_forms):
        Q = np.array(rf.Q[0])
        assert Q[0] == pytest.approx(Q[1], abs=1e-9)
        np.testing.assert_allclose(rf.V[0], r.mechanism.rents()[i], atol=1e-9)
    full = solve_model(load(MODELS / "ironing_2.toml"))
    assert sum(np.dot(rf.probability[0], rf.T[0]) for rf in econ.reduced_forms) == pytest.approx(full.revenue, abs=1e-7)
    assert r.to_dict()["economics"]["virtual_values"][1]["ironing_intervals"] == [["1", "2"]]


def test_reduced_forms_with_utilities_of_the_own_type_history():
    """Utilities that read earlier own types (docs/model_format.md's persistent-value example):
    the reduced forms run over own type histories and still reproduce the verifier's rents and
    the expected payments; the dynamic part is skipped with its reason."""
    import re
    import tomllib
    doc = (MODELS.parent / "docs" / "model_format.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", doc, flags=re.S)
    block = next(b for b in blocks if b.startswith("# example: a persistent"))
    r = solve_model(load(tomllib.loads(block)))
    econ = r.economics()
    assert econ.dynamic is None and "current type" in econ.dynamic_note
    m = r.mechanism
    for i, rf in enumerate(econ.reduced_forms):
        np.testing.assert_allclose(rf.V[0], m.rents()[i], atol=1e-9)
        pay = sum(r.env.discount ** t * np.nansum(np.array(rf.probability[t]) * np.array(rf.T[t]))
                  for t in range(len(rf.T)))
        assert pay == pytest.approx(m.expected_payment(i), abs=1e-9)
    assert "economics" in r.to_dict()


def test_regrets_of_an_interim_rule():
    """The reduced-form mechanism's regrets by type, by enumerating reports on its interim rule."""
    import dmd_opt
    r = solve_model(load(MODELS / "ironing_2.toml"), method="reduced_form")
    m = r.mechanism
    m.T_program = m.T_program.copy()
    m.T_program[3] += 0.5                         # bidder 1's top type pays 0.5 more
    frame = dmd_opt.regrets(r)
    top = frame[(frame["agent"] == 0) & (frame["type_index"] == 3)].iloc[0]
    v = np.array(V4)
    Q, T = np.asarray(m.Q[:4]), np.asarray(m.T[:4])
    gain = v[3] * Q - T
    assert top["max_regret"] == pytest.approx(gain.max() - gain[3], abs=1e-12) and top["max_regret"] > 0.1
    assert top["best_report_index"] == int(np.argmax(gain))
    assert frame[frame["agent"] == 1]["max_regret"].max() == 0.0
