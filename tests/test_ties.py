"""Tie-breaking among efficient decisions (lowest, highest, an explicit order, a uniform lottery).

Independent checks: the tied sets and each rule's choice by enumerating the decisions'
welfare from the model's raw numbers; pivot payments under the lottery against the static
VCG formula computed by hand; the independent verifiers (Bayesian and periodic ex-post
regret, budget) for every mechanism built on a randomised policy.
"""

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

from dmd_opt.core.errors import ModelError
from dmd_opt.dp import ties
from dmd_opt.families.efficient import efficient_policy, pivot_mechanism
from dmd_opt.interfaces.cli import app
from dmd_opt.interfaces.models import load, solve_model

TOL = 1e-9
V1, V2, COST = [1.0, 2.0], [1.0, 2.0, 3.0], 1.0
LABELS = ("keep", "sell to agent 1", "sell to agent 2")


def _static(tie_break=None, mechanism="all", cost=COST):
    raw = {"kind": "efficient", "horizon": 1,
           "agents": [{"types": V1, "initial": [0.5, 0.5]}, {"types": V2, "initial": [0.2, 0.5, 0.3]}],
           "decisions": {"kind": "allocate", "cost": cost}, "solve": {"mechanism": mechanism}}
    if tie_break is not None:
        raw["solve"]["tie_break"] = tie_break
    return raw


def _welfare_by_decision(v1, v2, cost=COST):
    return {"keep": 0.0, "sell to agent 1": v1 - cost, "sell to agent 2": v2 - cost}


def _expected_choice(rule, v1, v2):
    w = _welfare_by_decision(v1, v2)
    best = max(w.values())
    tied = [lab for lab in LABELS if w[lab] >= best - 1e-12]
    if rule == "lowest":
        return {tied[0]: 1.0}
    if rule == "highest":
        return {tied[-1]: 1.0}
    if rule == "uniform":
        return {lab: 1.0 / len(tied) for lab in tied}
    return {next(lab for lab in rule if lab in tied): 1.0}


RULES = ["lowest", "highest", "uniform", ["sell to agent 2", "keep", "sell to agent 1"]]


@pytest.mark.parametrize("rule", RULES, ids=str)
def test_each_rule_gives_the_enumerated_decision(rule):
    res = solve_model(load(_static(rule, mechanism="pivot")))
    assert res.status == "optimal"
    x = res.policy.allocation(0)
    for k, (a, b) in enumerate(itertools.product(range(2), range(3))):
        want = _expected_choice(rule, V1[a], V2[b])
        got = {LABELS[d]: float(p) for d, p in enumerate(x[k]) if p > 0}
        assert got == pytest.approx(want, abs=1e-12), (V1[a], V2[b])
    # (1, 1): all three decisions tie at welfare 0; (2, 2): both sales tie
    assert res.policy.info["tied_profiles"] == 2
    rec = res.to_dict()
    want_rule = "order" if isinstance(rule, list) else rule
    assert rec["policy"]["tie_break"]["rule"] == want_rule
    assert rec["options"]["tie_break"] == rule
    assert ("lottery_by_profile" in rec["policy"]) == (rule == "uniform")
    # the expected efficient welfare does not depend on the rule
    w = sum(0.5 * p2 * max(_welfare_by_decision(v1, v2).values())
            for v1 in V1 for v2, p2 in zip(V2, [0.2, 0.5, 0.3]))
    assert res.objective == pytest.approx(w, abs=1e-12)


def test_pivot_payments_under_the_lottery_match_the_hand_computation():
    """Static VCG with a uniform lottery over tied decisions x: p_i = W_{-i} − E_x[u_j − c]."""
    res = solve_model(load(_static("uniform", mechanism="pivot")))
    pay = res.mechanism.payments[0]
    for k, (a, b) in enumerate(itertools.product(range(2), range(3))):
        v = (V1[a], V2[b])
        x = _expected_choice("uniform", *v)
        for i in range(2):
            j = 1 - i
            w_without_i = max(0.0, v[j] - COST)
            others = sum(p * ((v[j] if lab == f"sell to agent {j + 1}" else 0.0) - (COST if lab != "keep" else 0.0))
                         for lab, p in x.items())
            assert pay[k, i] == pytest.approx(w_without_i - others, abs=1e-12)
    # at (2, 2) each bidder wins with probability 1/2 and pays half the second price 2 − 1 + 1
    k22 = 1 * 3 + 1
    assert pay[k22].tolist() == pytest.approx([1.0, 1.0])


def test_stationary_auction_uniform_pivot_is_half_the_second_price():
    """Repeated auction, values not affected by decisions: the dynamic pivot is the static VCG of
    each period; with a fair lottery at equal values each bidder pays v/2."""
    m = load("models/repeated_auction_markov.toml")
    pol = efficient_policy(m.data, tie_break="uniform")
    mech = pivot_mechanism(m.data, policy=pol)
    x, pay = mech.allocation[1], mech.payments[1][0]
    vals = [1.0, 2.0, 3.0]
    for k, (a, b) in enumerate(itertools.product(range(3), range(3))):
        v = (vals[a], vals[b])
        if a == b:
            assert x[k, 1] == x[k, 2] == pytest.approx(0.5)
            assert pay[k] == pytest.approx([v[0] / 2] * 2, abs=1e-9)
        else:
            w = int(v[1] > v[0])
            assert x[k, 1 + w] == 1.0
            assert pay[k, w] == pytest.approx(max(v[1 - w], 0.5), abs=1e-9) and abs(pay[k, 1 - w]) < 1e-9


def _trade(horizon, rule):
    """Buyer value v ∈ {1, 2}, seller cost c ∈ {1, 2}: trade and no trade tie when v = c; without
    either party only "none" is feasible (the pivot's outside options)."""
    agents = [{"name": "buyer", "types": [1.0, 2.0], "initial": [0.5, 0.5]},
              {"name": "seller", "types": [1.0, 2.0], "initial": [0.4, 0.6]}]
    if horizon > 1:
        for a in agents:
            a["iid"] = True
    return {"kind": "efficient", "horizon": horizon, "discount": 0.9, "agents": agents,
            "decisions": {"kind": "table", "labels": ["none", "trade"],
                          "utilities": [[[0, 0], [1, 2]], [[0, 0], [-1, -2]]]},
            "pivot_outside": [["none"], ["none"]],
            "solve": {"mechanism": "all", "tie_break": rule}}


def test_pivot_with_outside_options_under_the_lottery():
    """Without the other party nothing can happen (W_{-i} = 0): the buyer pays E_x[c]·1[trade],
    the seller receives E_x[v]·1[trade]; at v = c trade happens with probability 1/2."""
    res = solve_model(load(_trade(1, "uniform")))
    pay = res.mechanisms["pivot"].payments[0]
    for k, (b, c) in enumerate(itertools.product([1.0, 2.0], [1.0, 2.0])):
        x = 0.5 if b == c else float(b > c)
        assert pay[k].tolist() == pytest.approx([x * c, -x * b], abs=1e-12)
    assert not res.verification.failures(tol=TOL)


@pytest.mark.parametrize("name", ["repeated_auction_markov", "trade, two periods", "trade, three periods"])
@pytest.mark.parametrize("rule", ["uniform", "highest"])
def test_every_mechanism_on_a_tie_rule_passes_the_verifier(name, rule):
    if name.startswith("trade"):
        T = 2 if "two" in name else 3
        raw, base_raw = _trade(T, rule), _trade(T, "lowest")
    else:
        raw = dict(load(f"models/{name}.toml").raw)
        raw.update(kind="efficient", solve={"mechanism": "all", "tie_break": rule})
        base_raw = f"models/{name}.toml"
    res = solve_model(load(raw))
    assert res.status == "optimal" and res.policy.info["tied_profiles"] > 0
    assert set(res.verification.reports) >= {"team", "pivot", "balanced", "agv"}
    ver = res.verification
    assert not ver.failures(tol=TOL), ver.failures(tol=TOL)
    for k, rep in ver.reports.items():
        if "bayes" in ver.claims[k]:
            assert rep.bayes_max_regret_on_path <= TOL * ver.scale
        if "expost" in ver.claims[k]:
            assert rep.expost_max_regret <= TOL * ver.scale
        if "budget" in ver.claims[k]:
            assert rep.budget_max_imbalance <= TOL * ver.scale
    base = solve_model(load(base_raw))
    assert res.objective == pytest.approx(base.objective, abs=1e-9)


def test_a_lottery_across_different_transitions_is_refused():
    """Two decisions tie in welfare but lead to different type laws: a fair lottery would make
    the realised decision informative beyond the reports — refused, naming the field; the
    deterministic rules pick the enumerated decision."""
    raw = {"kind": "efficient", "horizon": 2, "discount": 1.0,
           "agents": [{"types": [0.0, 1.0], "initial": [0.5, 0.5],
                       "transition_by_decision": [[[0.9, 0.1], [0.9, 0.1]], [[0.2, 0.8], [0.2, 0.8]]]},
                      {"types": [0.0, 1.0], "initial": [0.5, 0.5],
                       "transition_by_decision": [[[0.2, 0.8], [0.2, 0.8]], [[0.9, 0.1], [0.9, 0.1]]]}],
           "decisions": {"kind": "table", "labels": ["a", "b"],
                         "utilities": [[[0, 1], [0, 1]], [[0, 1], [0, 1]]]},
           "solve": {"mechanism": "team,pivot,balanced", "tie_break": "uniform"}}
    with pytest.raises(ModelError) as e:
        solve_model(load(raw))
    assert e.value.field == "solve.tie_break"
    for rule, first in (("lowest", 0), ("highest", 1), (["b", "a"], 1)):
        raw["solve"]["tie_break"] = rule
        res = solve_model(load(raw))
        assert (res.policy.at(0) == first).all()
        assert not res.verification.failures(tol=TOL)
        # E[W_1]: each agent's type is 1 w.p. 0.1 (a) / 0.8 (b) for agent 1, 0.8 / 0.1 for agent 2
        assert res.objective == pytest.approx(1.0 + 0.9, abs=1e-12)


def test_tie_tolerance_is_relative_to_the_payoff_scale():
    Q = np.array([[1.0, 1.0 - 1e-12, 0.5], [2.0, 1.0, 2.0 - 1e-6]])
    tb = ties.tie_break("uniform")
    _, x, tied = ties.select(Q, tb, LABELS)
    assert tied.tolist() == [[True, True, False], [True, False, False]]
    _, x6, tied6 = ties.select(1e6 * Q, tb, LABELS, scale=1e6)
    assert (tied6 == tied).all() and np.allclose(x6, x)
    dec, _, _ = ties.select(np.array([[0.0, -np.inf, 0.0]]), ties.tie_break("highest"), LABELS)
    assert dec.tolist() == [2]


@pytest.mark.parametrize("value,field", [
    ("random", "solve.tie_break"), (3, "solve.tie_break"), ([], "solve.tie_break"),
    (["keep", "keep", "sell to agent 1"], "solve.tie_break[1]"),
    (["keep", "nobody", "sell to agent 1"], "solve.tie_break[1]"),
    (["keep", "sell to agent 1"], "solve.tie_break")])
def test_bad_tie_rules_name_the_field(value, field):
    with pytest.raises(ModelError) as e:
        solve_model(load(_static(value)))
    assert e.value.field == field


def test_blackwell_keeps_its_own_choice():
    m = load("models/repeated_auction_markov.toml")
    with pytest.raises(ModelError) as e:
        efficient_policy(m.data, method="blackwell", tie_break="uniform")
    assert e.value.field == "solve.tie_break"
    assert efficient_policy(m.data, method="blackwell").info["tie_break"]["rule"] == "blackwell"


def test_cli_tie_break(tmp_path):
    runner = CliRunner()
    out = runner.invoke(app, ["solve", "models/repeated_auction_markov.toml", "--tie-break", "uniform", "--json"])
    assert out.exit_code == 0, out.output
    rec = json.loads(out.stdout)
    assert rec["policy"]["tie_break"]["rule"] == "uniform" and rec["policy"]["tied_profiles"] == 3
    assert rec["policy"]["lottery_by_profile"][0][0] == {"sell to agent 1": 0.5, "sell to agent 2": 0.5}
    assert rec["verification"]["passed"]
    order = runner.invoke(app, ["solve", "models/repeated_auction_markov.toml", "--json", "--tie-break",
                                "sell to agent 2,sell to agent 1,keep"])
    assert order.exit_code == 0, order.output
    assert json.loads(order.stdout)["policy"]["decision_by_profile"][0][0] == "sell to agent 2"
    bad = runner.invoke(app, ["solve", "models/repeated_auction_markov.toml", "--tie-break", "sell to agent 2"])
    assert bad.exit_code == 2 and "solve.tie_break" in bad.output
    rev = runner.invoke(app, ["solve", "models/static_monopoly.toml", "--tie-break", "uniform"])
    assert rev.exit_code == 2 and "tie_break" in rev.output


# ------------------------------------------------------------------ contingent transfers (Liu)
def _tied_sets_by_enumeration(env):
    """Backward induction written out with loops over decisions and profiles; the tied set of
    every (period, profile)."""
    T, A, R, d = env.horizon, env.n_decisions(0), env.R, env.discount
    W = [0.0] * R
    out = [None] * T
    for t in range(T - 1, -1, -1):
        K = env.kernel(t) if t < T - 1 else None
        Q = [[sum(float(env.utility[i, a, r]) for i in range(env.N))
              + (d * sum(float(K[a, r, s]) * W[s] for s in range(R)) if K is not None else 0.0)
              for a in range(A)] for r in range(R)]
        if t == T - 1 and env.last_period == "constant":
            Q = [[q if a == env.last_decision else -np.inf for a, q in enumerate(row)] for row in Q]
        W = [max(row) for row in Q]
        out[t] = [{a for a in range(A) if row[a] >= max(row) - 1e-9} for row in Q]
    return out


@pytest.mark.parametrize("name", ["liu_spanning", "liu_convex_independence", "liu_winner_pay_auction"])
def test_contingent_transfers_follow_the_lottery(name):
    """Uniform lottery over tied efficient decisions: Liu's transfers computed on the lotteries
    keep the mechanism periodic ex-post IC (the independent verifier); the same lottery with the
    transfers of the deterministic rule is not IC where a tie moves a transfer."""
    from dmd_opt.families.contingent.mechanism import ContingentMechanism
    from dmd_opt.verify import verify
    model = load(f"models/{name}.toml")
    env = model.data
    uni, low = solve_model(model, tie_break="uniform"), solve_model(model)
    assert uni.status == "optimal" and uni.policy.tied_profiles > 0
    scale = env.payoff_scale
    assert uni.verification.max_regret <= TOL * scale
    assert uni.mechanism.welfare() == pytest.approx(low.mechanism.welfare(), abs=1e-9)
    if not env.stationary:
        tied = _tied_sets_by_enumeration(env)
        for t, x in enumerate(uni.policy.lottery):
            for r, row in enumerate(x):
                support = set(np.flatnonzero(row > 0).tolist())
                assert support == tied[t][r]
                assert np.allclose(row[list(support)], 1.0 / len(support))
                assert low.policy.at(t)[r] == min(tied[t][r])
    rec = uni.to_dict()
    assert rec["tie_break"]["rule"] == "uniform" and rec["options"]["tie_break"] == "uniform"
    assert "lottery_by_profile" in rec["mechanism"]
    mixed = ContingentMechanism(env, list(low.mechanism.decision), list(low.mechanism.payments), "mixed",
                                lottery=list(uni.mechanism.allocation))
    if name != "liu_spanning":          # there the only ties are in the last period, priced statically
        assert verify(mixed, "periodic_expost").max_regret > 1e-3


def test_contingent_tie_rule_on_the_command_line():
    runner = CliRunner()
    out = runner.invoke(app, ["solve", "models/liu_winner_pay_auction.toml", "--tie-break", "uniform", "--json"])
    assert out.exit_code == 0, out.output
    rec = json.loads(out.stdout)
    assert rec["tie_break"]["rule"] == "uniform" and rec["tie_break"]["tied_profiles"] == 3
    assert rec["verification"]["passed"]
    bad = runner.invoke(app, ["solve", "models/liu_winner_pay_auction.toml", "--tie-break", "first"])
    assert bad.exit_code == 2 and "solve.tie_break" in bad.output


def test_contingent_lottery_certificate_checks(tmp_path):
    """The report LP of a randomised policy is rebuilt from the certificate's options (tie rule
    included) and checked in exact arithmetic."""
    from dmd_opt.certificates import check_certificate
    model = load("models/liu_convex_independence.toml")
    res = solve_model(model, tie_break="uniform", method="report")
    path = tmp_path / "cert.json"
    res.certificate(path, model=model)
    chk = check_certificate(path)
    assert chk.ok, chk.verdict


@settings(max_examples=8, deadline=None)
@given(st.lists(st.sampled_from([1.0, 2.0]), min_size=2, max_size=2),
       st.lists(st.sampled_from([1.0, 2.0]), min_size=2, max_size=2),
       st.sampled_from([0.0, 1.0]), st.sampled_from([1, 2]), st.sampled_from(["uniform", "highest"]))
def test_random_auctions_with_ties_stay_incentive_compatible(v1, v2, cost, horizon, rule):
    """Random small auctions whose values repeat (ties are the rule, not the exception): the
    lottery (or the order) matches the enumerated tied sets of the last period and every claimed
    property holds."""
    raw = {"kind": "efficient", "horizon": horizon, "discount": 0.9,
           "agents": [{"types": v1, "initial": [0.5, 0.5], "iid": True},
                      {"types": v2, "initial": [0.5, 0.5], "iid": True}] if horizon > 1 else
                     [{"types": v1, "initial": [0.5, 0.5]}, {"types": v2, "initial": [0.5, 0.5]}],
           "decisions": {"kind": "allocate", "cost": cost},
           "solve": {"mechanism": "all", "tie_break": rule}}
    res = solve_model(load(raw))
    assert not res.verification.failures(tol=TOL), res.verification.failures(tol=TOL)
    x = res.policy.allocation(horizon - 1)
    for k, (a, b) in enumerate(itertools.product(range(2), range(2))):
        w = [0.0, v1[a] - cost, v2[b] - cost]
        tied = [d for d in range(3) if w[d] >= max(w) - 1e-12]
        got = np.flatnonzero(x[k] > 0).tolist()
        assert got == (tied if rule == "uniform" else [tied[-1]])


@pytest.mark.parametrize("model", ["models/repeated_auction_markov.toml", "models/liu_winner_pay_auction.toml",
                                   "models/athey_segal_trade.toml"])
def test_records_of_a_lottery_follow_the_schema(model):
    jsonschema = pytest.importorskip("jsonschema")
    from conftest import ROOT
    from dmd_opt.core import record as R
    schema = json.loads((ROOT / R.SCHEMA_FILE).read_text())
    out = CliRunner().invoke(app, ["verify", model, "--tie-break", "uniform", "--json"])
    assert out.exit_code == 0, out.output
    rec = json.loads(out.stdout)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(rec))
    assert not errors, errors[0].message[:300]
