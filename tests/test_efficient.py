"""Efficient dynamic mechanisms (docs/theory.md#efficient-dynamic-mechanisms): team, pivot, balanced, AGV, self-enforcement.

Every number is checked against something computed another way: closed forms (second
price, flow marginal contributions), the lead's independent tree verifier, brute-force
enumeration of reporting strategies, a truncated-horizon tree, or the other construction
(history form vs Markov form of the balanced transfers)."""

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

import dmd_opt.interfaces.models as dio
from dmd_opt.families.efficient import (agv_tree, balanced_markov, balanced_tree, efficient_policy, from_environment,
                               marginal_contributions, others_welfare, pivot_mechanism, team_mechanism)
from dmd_opt.families.efficient.self_enforcement import self_enforcement_report
from dmd_opt.core.environment import Environment
from dmd_opt.core.errors import ModelError
from dmd_opt.mechanisms.markov import MarkovMechanism
from dmd_opt.verify import verify
from dmd_opt.verify.expost import verify_dynamic, verify_tree

MODELS = Path(__file__).resolve().parents[1] / "models"
EFFICIENT_MODELS = ["athey_segal_trade", "repeated_auction_markov", "licensing_pivot",
                    "learning_exploration", "correlated_counterexample"]
TOL = 1e-9


@pytest.fixture(scope="module")
def solved():
    return {name: dio.solve_model(str(MODELS / f"{name}.toml")) for name in EFFICIENT_MODELS}


@pytest.mark.parametrize("name", EFFICIENT_MODELS)
def test_team_and_pivot_are_ex_post_ic_on_every_model(solved, name):
    res = solved[name]
    assert res.status == "optimal"
    reps = res.verification.reports
    for mech in ("team", "pivot"):
        if mech not in reps:          # no pivot with correlated types (W_-i undefined)
            assert name == "correlated_counterexample" and mech == "pivot"
            continue
        r = reps[mech]
        assert r.expost_max_regret <= TOL * r.scale, (name, mech)      # periodic ex post, every history
        assert r.bayes_max_regret <= TOL * r.scale, (name, mech)
        assert r.welfare == pytest.approx(res.objective, rel=1e-10)    # efficient allocation


@pytest.mark.parametrize("name", EFFICIENT_MODELS)
def test_balanced_is_exactly_budget_balanced(solved, name):
    for mech in ("balanced", "balanced_history", "agv"):
        r = solved[name].verification.reports.get(mech)
        if r is None:
            continue
        assert r.budget_max_imbalance <= 1e-12, (name, mech)
        # directly from the rules: Σ_i p_i = c_t(a_t) at every history (or Markov state)
        mm = solved[name].mechanisms[mech]
        model = solved[name].model
        if model.stationary:
            for t, p in enumerate(mm.payments):
                np.testing.assert_allclose(p.sum(axis=2), np.broadcast_to(mm.allocation[t] @ model.costs[0],
                                                                          p.shape[:2]), atol=1e-12)
        else:
            for t, (x, p) in enumerate(zip(mm.allocation, mm.payments)):
                np.testing.assert_allclose(p.sum(axis=1), x @ model.costs[t], atol=1e-12)


@pytest.mark.parametrize("name", ["athey_segal_trade", "repeated_auction_markov", "licensing_pivot",
                                  "learning_exploration"])
def test_balanced_is_bayesian_ic_with_independent_types(solved, name):
    for mech in ("balanced", "balanced_history"):
        r = solved[name].verification.reports.get(mech)
        if r is not None:
            assert r.bayes_max_regret_on_path <= TOL * r.scale, (name, mech)
            assert r.ex_ante_regret <= TOL * r.scale


def test_balanced_fails_with_correlated_types(solved):
    r = solved["correlated_counterexample"].verification.reports["balanced"]
    assert r.bayes_max_regret_on_path > 0.1
    assert r.ex_ante_regret > 1e-3
    assert solved["correlated_counterexample"].verification.failures()


def test_static_agv_is_not_ic_on_the_trading_example(solved):
    r = solved["athey_segal_trade"].verification.reports["agv"]
    assert r.bayes_max_regret_on_path > 1e-2
    # the profitable lie is the buyer's second-period report (after the seller's cost is public)
    buyer = r.agents[1]
    assert buyer.bayes_max_regret_on_path > 1e-2 and buyer.worst["period"] == 2
    assert r.agents[0].bayes_max_regret_on_path <= TOL     # the seller's AGV payment is fine
    # the balanced team mechanism on the same example is IC
    assert solved["athey_segal_trade"].verification.reports["balanced"].bayes_max_regret <= TOL


def test_stationary_agv_fails_with_persistent_types_but_not_with_iid_types(solved):
    assert solved["repeated_auction_markov"].verification.reports["agv"].bayes_max_regret_on_path > 0.1
    from dmd_opt.families.efficient import agv_markov
    iid = Environment.from_dict({"horizon": "infinite", "discount": 0.8, "agents": [
        {"types": [1, 2, 3], "initial": [0.3, 0.4, 0.3], "transition": [[0.3, 0.4, 0.3]] * 3},
        {"types": [0.5, 2.5], "initial": [0.6, 0.4], "transition": [[0.6, 0.4]] * 2}],
        "decisions": {"kind": "allocate", "cost": 0.3}})
    r = verify_dynamic(agv_markov(team_mechanism(iid)))
    assert r.bayes_max_regret <= TOL * r.scale and r.budget_max_imbalance <= 1e-12


def test_trading_example_efficient_policy_is_the_closed_form(solved):
    """χ1 = θ1, χ2 = min(1, θ1 θ2) on the grid x = k/16 (Athey–Segal Example 1)."""
    pol = solved["athey_segal_trade"].policy
    th1, th2 = np.array([0.25, 0.5, 0.75, 1.0]), np.array([0.5, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(pol.decision[0] / 16, th1)
    np.testing.assert_allclose(pol.decision[1] / 16, np.minimum(1, np.outer(th1, th2)).ravel())


def test_learning_model_experiments(solved):
    """The newcomer is served first although the incumbent's value is higher (1.2 > 0.9)."""
    pol = solved["learning_exploration"].policy
    assert pol.decision[0].tolist() == [2, 2]
    assert pol.values[0][1] == pytest.approx(0.9 + 0.9 * (0.45 * 2 + 0.55 * 1.2))


# ---------------------------------------------------------------- pivot closed forms
@pytest.mark.parametrize("name", ["athey_segal_trade", "repeated_auction_markov", "licensing_pivot",
                                  "learning_exploration"])
def test_pivot_payments_are_flow_marginal_contributions(name):
    m = dio.load(str(MODELS / f"{name}.toml")).data
    pol = efficient_policy(m)
    others = [others_welfare(m, i) for i in range(m.N)]
    piv = pivot_mechanism(m, policy=pol)
    for e, t in ([(0, 0), (1, 0)] if m.stationary else [(t, t) for t in range(m.horizon)]):
        mc = marginal_contributions(m, pol, others, t)
        u = np.stack([m.profile_utility(i, t)[np.arange(m.n_profiles(t)), pol.at(t)] for i in range(m.N)], axis=1)
        np.testing.assert_allclose(piv.payments[e][0], u - mc, atol=1e-10)


@pytest.mark.parametrize("name", ["athey_segal_trade", "repeated_auction_markov", "licensing_pivot",
                                  "learning_exploration"])
def test_pivot_is_individually_rational(solved, name):
    """Continuation payoff = marginal contribution W − W_−i ≥ 0 at every reachable state
    (Bergemann–Välimäki 2010, Thm 2); in the trading example only with the exclusion
    x = 0 for W_−i (pivot_outside)."""
    for a in solved[name].verification.reports["pivot"].agents:
        assert a.ir_min_on_path >= -1e-9


def test_trading_pivot_without_exclusion_is_not_ir():
    data = dio.read_toml(MODELS / "athey_segal_trade.toml")
    data.pop("pivot_outside")
    res = dio.solve_model(dio.load(data), mechanism="pivot")
    assert min(a.ir_min_on_path for a in res.verification.reports["pivot"].agents) < -0.1
    with pytest.raises(ModelError, match=r"pivot_outside\[0\]\[0\]"):
        dio.load(dict(data, pivot_outside=[["x=7"], []]))


def _second_price_check(mech, m, cost):
    for e in range(len(mech.payments)):
        t = 0 if m.stationary else e
        vals = np.stack([m.type_values(i, t)[m.profile_digits(t)[:, i]] for i in range(m.N)], axis=1)
        for prof in range(m.n_profiles(t)):
            v = vals[prof]
            pay = mech.payments[e][:, prof, :]
            w = int(np.argmax(v)) if v.max() > cost else None
            for i in range(m.N):
                expect = max(cost, np.max(np.delete(v, i))) if i == w else 0.0
                np.testing.assert_allclose(pay[:, i], expect, atol=1e-10)


def test_pivot_is_second_price_when_decisions_do_not_move_types(solved):
    res = solved["repeated_auction_markov"]
    _second_price_check(res.mechanisms["pivot"], res.model, 0.5)
    env = Environment.from_dict({"horizon": 3, "discount": 0.8, "agents": [
        {"types": [1, 2, 5], "initial": [0.2, 0.5, 0.3], "transition": [[0.5, 0.3, 0.2], [0.2, 0.6, 0.2], [0.1, 0.2, 0.7]]},
        {"types": [0, 3], "initial": [0.5, 0.5], "transition": [[0.6, 0.4], [0.3, 0.7]]},
        {"types": [2, 4], "initial": [0.7, 0.3], "transition": [[0.9, 0.1], [0.5, 0.5]]}],
        "decisions": {"kind": "allocate", "cost": 1.5}})
    _second_price_check(pivot_mechanism(env), from_environment(env), 1.5)


# ---------------------------------------------------------------- cross-checks of the verifier
def test_expost_verifier_agrees_with_lead_verifier_on_trees(solved):
    """Bayesian regret and truthful values from verify_expost = dmd_opt.verify.bayesian (independent code)."""
    for name in ("athey_segal_trade",):
        for mech, tm in solved[name].mechanisms.items():
            mine = verify_tree(tm)
            lead = verify(tm)
            assert mine.bayes_max_regret == pytest.approx(lead.max_regret, abs=1e-10), mech
            assert mine.ex_ante_regret == pytest.approx(lead.ex_ante_regret, abs=1e-10), mech
            for a, b in zip(mine.agents, lead.agents):
                np.testing.assert_allclose(a.root_values, b.root_values, atol=1e-10)
            assert mine.revenue == pytest.approx(lead.revenue, abs=1e-10)


def test_correlated_verifier_matches_strategy_enumeration(solved):
    """Ex-ante regret of agent 1 in the correlated two-period model, by enumerating all 1024
    reporting strategies r0(θ0), r1(θ0, other's report, θ1) against the joint type law."""
    res = solved["correlated_counterexample"]
    m = res.model
    mech = res.mechanisms["balanced"]
    alloc, pay, d = mech.allocation, mech.payments, m.discount
    u = m.utilities
    K1 = m.kernel(0)[0]                         # decision-independent joint kernel (4, 4)

    def payoff(s0, s1):
        tot = 0.0
        for p0 in range(4):
            a0, c0 = divmod(p0, 2)
            r0 = s0[a0]
            k0 = r0 * 2 + c0
            f0 = alloc[0][k0] @ u[0][0][:, a0] - pay[0][k0, 0]
            for p1 in range(4):
                a1, c1 = divmod(p1, 2)
                r1 = s1[(a0, c0, a1)]
                k1 = k0 * 4 + r1 * 2 + c1
                f1 = alloc[1][k1] @ u[1][0][:, a1] - pay[1][k1, 0]
                tot += m.initial[p0] * K1[p0, p1] * (f0 + d * f1)
        return tot

    keys = list(itertools.product(range(2), range(2), range(2)))
    truthful = payoff((0, 1), {k: k[2] for k in keys})
    best = max(payoff(s0, dict(zip(keys, s1)))
               for s0 in itertools.product(range(2), repeat=2) for s1 in itertools.product(range(2), repeat=8))
    rep = res.verification.reports["balanced"]
    assert rep.agents[0].ex_ante_regret == pytest.approx(best - truthful, abs=1e-10)
    assert best - truthful > 1e-3


def test_history_and_markov_forms_of_the_balanced_mechanism_agree():
    env = Environment.from_dict({k: v for k, v in dio.read_toml(MODELS / "learning_exploration.toml").items()
                                 if k not in ("kind", "solve")})
    team = team_mechanism(env)
    a = balanced_markov(team).to_tree()
    b = balanced_tree(team.to_tree())
    for t in range(env.horizon):
        np.testing.assert_allclose(a.payments[t], b.payments[t], atol=1e-12)


def _truncated(env, T):
    return env.with_updates(horizon=T)


def test_markov_verifier_matches_a_long_truncated_tree():
    """Stationary verifier (exact MDP) vs the tree verifier on the first T periods of a
    non-IC stationary mechanism (team transfers plus a bribe for high reports); they differ by O(δ^T)."""
    base = {"horizon": "infinite", "discount": 0.3, "agents": [
        {"types": [1, 3], "initial": [0.6, 0.4], "transition": [[0.8, 0.2], [0.3, 0.7]]},
        {"types": [0.5, 2], "initial": [0.5, 0.5], "transition": [[0.7, 0.3], [0.4, 0.6]]}],
        "decisions": {"kind": "allocate", "cost": 0.2}}
    env = Environment.from_dict(base)
    def bribed(team):
        """Team payments minus a bonus of 1.5 for reporting one's highest type: not IC."""
        m = team.model
        top = np.stack([m.profile_digits(0)[:, i] == 1 for i in range(m.N)], axis=1)        # (R, N)
        return MarkovMechanism(m, list(team.allocation), [p - 1.5 * top[None] for p in team.payments],
                               name="bribed team")

    inf = verify_dynamic(bribed(team_mechanism(env)))
    assert inf.ex_ante_regret > 1e-2
    T = 8
    fin = verify_tree(bribed(team_mechanism(_truncated(env, T))))
    bound = 3 * env.payoff_scale * 0.3 ** T / (1 - 0.3)
    for a, b in zip(inf.agents, fin.agents):
        assert abs(a.ex_ante_regret - b.ex_ante_regret) <= bound
        np.testing.assert_allclose(a.root_values, b.root_values, atol=bound)


# ---------------------------------------------------------------- policy, Blackwell, self-enforcement
def test_stationary_policy_methods_agree(solved):
    m = solved["licensing_pivot"].model
    ref = efficient_policy(m, "policy_iteration")
    for meth in ("value_iteration", "modified_policy_iteration", "lp"):
        p = efficient_policy(m, meth)
        assert np.array_equal(p.at(0), ref.at(0)), meth
        np.testing.assert_allclose(p.value(0), ref.value(0), atol=1e-8)
    lp2 = dio.solve_model(str(MODELS / "licensing_pivot.toml"), horizon_method="lp", backend="cvxpy",
                          mechanism="team")
    assert np.array_equal(lp2.policy.at(0), ref.at(0)) and lp2.objective == pytest.approx(ref.expected_welfare())
    with pytest.raises(ModelError, match="solve.participation"):
        dio.solve_model(str(MODELS / "licensing_pivot.toml"), participation="interim")
    # licensing at δ = 0.85 is below the Blackwell threshold: the patient policy builds up
    # firm A more often; above the threshold it is the δ-optimal policy
    bw = efficient_policy(m, "blackwell")
    thr = bw.info["delta_threshold"]
    assert 0.85 < thr < 1 and not np.array_equal(bw.at(0), ref.at(0))
    for d in (thr + 0.2 * (1 - thr), thr + 0.9 * (1 - thr)):
        assert np.array_equal(efficient_policy(m.with_discount(d)).at(0), bw.at(0))


def test_self_enforcement_report(solved):
    m = solved["repeated_auction_markov"].model
    rep = self_enforcement_report(m)
    P = m.kernel(0)[rep.policy, np.arange(m.n_profiles(0)), :]
    np.testing.assert_allclose(rep.invariant @ P, rep.invariant, atol=1e-12)
    # utilities net of an equal share of the seller's cost 0.5 per sale
    c = m.costs[0][rep.policy] / m.N
    u = np.stack([m.profile_utility(i, 0)[np.arange(m.n_profiles(0)), rep.policy] - c for i in range(m.N)], axis=1)
    np.testing.assert_allclose(rep.u_bar, rep.invariant @ u, atol=1e-12)
    # C bounds the centred discounted sums at arbitrary δ (Lemma 1 / (6.2))
    for d in (0.37, 0.9, 0.995, 0.99999):
        dev = np.linalg.solve(np.eye(m.n_profiles(0)) - d * P, u - rep.u_bar)
        assert np.max(np.abs(dev)) <= rep.C * (1 + 1e-9)
    assert rep.C_method == "exact" and rep.C == pytest.approx(rep.C_grid, rel=1e-6)
    N = m.N
    assert rep.K == pytest.approx(2 * rep.C / (N - 1) + rep.M / N)
    X = N * (rep.C + 2 * N * rep.K + 2 * rep.M) / rep.u_bar.sum()
    assert rep.delta_threshold == pytest.approx(X / (1 + X))
    # Proposition 3: above the sufficient threshold, off-schedule deviations are deterred
    above = self_enforcement_report(m, delta=0.5 * (1 + rep.delta_threshold))
    assert above.deterred and above.side_payments_nonnegative and above.margin > 0
    assert not rep.deterred      # at δ = 0.9 the paper's constants are too large


def test_model_errors():
    data = {k: v for k, v in dio.read_toml(MODELS / "correlated_counterexample.toml").items()}
    bad = dict(data, joint_initial=[0.5, 0.5, 0.5, 0.5])
    with pytest.raises(ModelError, match="joint_initial"):
        dio.load(bad)
    with pytest.raises(ModelError, match="solve.mechanism"):
        dio.solve_model(dio.load(data), mechanism="pivot")      # no pivot with correlated types
    with pytest.raises(ModelError, match="solve.horizon_method"):
        dio.solve_model(str(MODELS / "licensing_pivot.toml"), horizon_method="magic")
    with pytest.raises(ModelError, match="decisions.kind"):
        from_environment(Environment.from_dict(
            {"agents": [{"types": [1, 2], "initial": [0.5, 0.5]}], "decisions": {"kind": "quantity", "qmax": 1}}))


def test_result_is_json_ready(solved):
    for name, res in solved.items():
        d = res.to_dict()
        json.dumps(dio.to_jsonable(d))
        assert d["objective"] == pytest.approx(res.objective)
        assert res.summary() and all(isinstance(s, str) for s in res.summary())


def test_cli_solve_and_verify():
    from typer.testing import CliRunner
    from dmd_opt.interfaces.cli import app
    runner = CliRunner()
    out = runner.invoke(app, ["solve", str(MODELS / "learning_exploration.toml"), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["kind"] == "efficient" and data["objective"] == pytest.approx(2.205)
    assert runner.invoke(app, ["verify", str(MODELS / "licensing_pivot.toml")]).exit_code == 0
    bad = runner.invoke(app, ["verify", str(MODELS / "correlated_counterexample.toml"), "--json"])
    assert bad.exit_code == 1 and json.loads(bad.output)["verification"]["passed"] is False


def test_markov_mechanism_frame(solved):
    mech = solved["repeated_auction_markov"].mechanisms["balanced"]
    df = mech.to_frame()
    assert len(df) == mech.model.n_profiles(0) * (1 + mech.model.n_profiles(0))
    assert np.allclose(df.filter(like="p[").sum(axis=1), df["cost"], atol=1e-12)


def test_exact_uniform_bound():
    from dmd_opt.families.efficient.self_enforcement import exact_uniform_bound
    # periodic chain: f(δ) = g/(1+δ), supremum 0.5 at δ = 0
    C, lam = exact_uniform_bound(np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[1.0], [0.0]]))
    assert C == pytest.approx(0.5, abs=1e-15) and np.allclose(lam, 0.5)
    # random unichain: the exact supremum dominates a fine grid and is attained near it
    rng = np.random.default_rng(5)
    P = np.round(rng.dirichlet(np.ones(5), size=5), 3)
    P[:, -1] = 1 - P[:, :-1].sum(axis=1)
    u = np.round(rng.normal(size=(5, 2)), 2)
    C, lam = exact_uniform_bound(P, u)
    g = u - lam @ u
    vals = [np.max(np.abs(np.linalg.solve(np.eye(5) - d * P, g))) for d in np.linspace(0, 0.9999, 20001)]
    assert max(vals) <= C * (1 + 1e-9) and max(vals) >= C * (1 - 1e-3)


def _shipped_environments():
    out = []
    for path in sorted(MODELS.glob("*.toml")):
        try:
            model = dio.load(str(path))
        except Exception:   # other families' files are checked by their own tests
            continue
        env = model.data if isinstance(model.data, Environment) else getattr(model.data, "env", None)
        if isinstance(env, Environment) and env.quantity is None:
            out.append(pytest.param(env, id=path.stem))
    return out


@pytest.mark.parametrize("env", _shipped_environments())
def test_team_and_pivot_ex_post_ic_on_every_shipped_environment(env):
    """Every model file with finite decisions (revenue models included), as an efficient problem
    (the pivot mechanism's outside options need independent types)."""
    for mech in (team_mechanism(env),) + ((pivot_mechanism(env),) if env.independent else ()):
        r = verify_dynamic(mech)
        assert r.expost_max_regret <= TOL * r.scale, mech.name
        assert r.bayes_max_regret <= TOL * r.scale, mech.name
