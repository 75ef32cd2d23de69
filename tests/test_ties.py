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


@pytest.mark.parametrize("name", ["repeated_auction_markov", "athey_segal_trade", "licensing_pivot"])
@pytest.mark.parametrize("rule", ["uniform", "highest"])
def test_every_mechanism_on_a_tie_rule_passes_the_verifier(name, rule):
    raw = dict(load(f"models/{name}.toml").raw)
    raw.update(kind="efficient", solve={"mechanism": "all", "tie_break": rule})
    res = solve_model(load(raw))
    assert res.status == "optimal"
    ver = res.verification
    assert not ver.failures(tol=TOL), ver.failures(tol=TOL)
    for k, rep in ver.reports.items():
        if "bayes" in ver.claims[k]:
            assert rep.bayes_max_regret_on_path <= TOL * ver.scale
        if "expost" in ver.claims[k]:
            assert rep.expost_max_regret <= TOL * ver.scale
        if "budget" in ver.claims[k]:
            assert rep.budget_max_imbalance <= TOL * ver.scale
    base = solve_model(load(f"models/{name}.toml"))
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
