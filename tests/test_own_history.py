"""Utilities of the own type history and persistent types (no dummy types, no identity transitions).

Independent checks: strategy enumeration (``tests/independent.py``: utilities are functions of
the whole own true type history there), closed forms (a persistent value: the static optimum
every period), the same model written the long way (identity transitions), and truthful payoffs
enumerated path by path against the verifier's values.
"""

import copy
import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dmd_opt.core.environment import Environment
from dmd_opt.core.errors import ModelError
from dmd_opt.families.revenue.solve import solve_revenue
from dmd_opt.interfaces.models import load, solve_model
from dmd_opt.mechanisms.tree import TreeMechanism
from dmd_opt.verify import verify
from conftest import MODELS
from independent import BruteModel, brute_force_general


def _handicap(values, prior=(0.4, 0.6), shock=((0.5, 0.5), (0.5, 0.5)), delta=1.0, cost=0.5):
    """An ex-ante type τ (a label), then a shock ε (a label); the good, sold in period 2, is
    worth v(τ, ε) (Esö–Szentes' value as a function of the two)."""
    return Environment.from_dict({"horizon": 2, "discount": delta,
                                  "agents": [{"types": [["lo", "hi"], ["e1", "e2"]], "initial": list(prior),
                                              "transition": [list(r) for r in shock],
                                              "utility_of": "initial_and_current", "values": [[], values]}],
                                  "decisions": {"kind": "allocate", "periods": [2], "cost": cost}})


def _brute(env, util):
    T = env.horizon
    return BruteModel([[env.n_types(i, t) for t in range(T)] for i in range(env.n_agents)], env.initial,
                      [np.asarray(env.kernel(t))[0] for t in range(T - 1)], util,
                      [env.cost(t) for t in range(T)], env.discount)


@pytest.mark.parametrize("part", ["interim", "ex_ante", "periodic"])
def test_initial_and_current_matches_enumeration(part):
    vals = [[1.0, 2.0], [2.0, 3.5]]
    env = _handicap(vals)
    util = (lambda i, t, a, own: 0.0 if t == 0 or a == 0 else vals[own[0]][own[1]])
    r = solve_revenue(env, participation=part)
    assert r.objective == pytest.approx(brute_force_general(_brute(env, util), participation=part), abs=1e-9)
    assert r.verification.passed(part)
    fam = r.program.summary()["families"]
    assert fam["value"] == 2 + 2 * 2 * 2       # period 2: 2 histories × (remembered τ) × ε


@settings(max_examples=8)
@given(st.integers(0, 100_000), st.sampled_from([("bayesian", "interim"), ("expost", "expost"), ("bayesian", "periodic")]))
def test_history_utilities_two_agents(seed, notions):
    """Agent 1's period-2 value reads its whole history; agent 2 is i.i.d.; public disclosure."""
    ic, part = notions
    rng = np.random.default_rng(seed)
    v0 = np.sort(rng.choice(np.arange(1, 6), 2, replace=False)).astype(float)
    v1 = rng.integers(0, 6, size=(2, 2)).astype(float)
    P = rng.dirichlet(np.ones(2), size=2)
    env = Environment.from_dict({"horizon": 2, "discount": 0.9, "agents": [
        {"types": [v0.tolist(), ["a", "b"]], "initial": [0.5, 0.5], "transition": P.tolist(),
         "utility_of": "history", "values": [v0.tolist(), v1.tolist()]},
        {"types": [1.0, 3.0], "initial": [0.5, 0.5], "iid": True}],
        "decisions": {"kind": "allocate", "cost": 0.2}, "renormalize": True})

    def util(i, t, a, own):
        if a != i + 1:
            return 0.0
        if i == 1:
            return [1.0, 3.0][own[-1]]
        return v0[own[0]] if t == 0 else v1[own[0], own[1]]
    r = solve_revenue(env, participation=part, ic=ic)
    assert r.objective == pytest.approx(brute_force_general(_brute(env, util), ic, part), abs=1e-7)
    assert r.verification.passed(part)


def test_persistent_value_repeats_the_static_optimum():
    """A buyer whose value never changes, one good per period, commitment: the optimum posts the
    static monopoly price every period (revenue = static × Σ δ^t)."""
    pers = Environment.from_dict({"horizon": 3, "discount": 0.9, "agents": [
        {"types": [1.0, 2.0, 3.0], "initial": [0.3, 0.3, 0.4], "persistent": True}],
        "decisions": {"kind": "allocate", "cost": 0.5}})
    assert pers.profile_shape(1) == (1,) and pers.type_labels(0, 1) == ("same",)
    r = solve_revenue(pers)
    static = max((p - 0.5) * sum(f for v, f in zip((1.0, 2.0, 3.0), (0.3, 0.3, 0.4)) if v >= p)
                 for p in (1.0, 2.0, 3.0))                        # the best posted price, cost 0.5
    assert r.objective == pytest.approx(static * (1 + 0.9 + 0.81), abs=1e-9)
    assert r.verification.passed("interim")
    assert r.program.summary()["families"]["IC"] == 3 * 2        # one report, in period 1


def test_persistent_equals_identity_transitions(models_dir):
    """The Athey–Segal seller written with `persistent = true` gives the efficient family the same
    profile process as the identity-transition version it used to need."""
    m = load(models_dir / "athey_segal_trade.toml")
    raw = dict(m.raw)
    agents = [dict(a) for a in raw["agents"]]
    seller = agents[0]
    assert seller.pop("persistent") is True
    n = len(seller["types"])
    seller["types"] = [seller["types"]] * 2
    seller["transition"] = np.eye(n).tolist()
    raw["agents"] = agents
    a = solve_model(m, mechanism="team,pivot")
    b = solve_model({**raw, "kind": "efficient", "solve": {"mechanism": "team,pivot"}})
    assert a.to_dict()["objective"] == pytest.approx(b.to_dict()["objective"], abs=1e-12)
    for name in ("team", "pivot"):
        assert a.mechanisms[name].revenue() == pytest.approx(b.mechanisms[name].revenue(), abs=1e-12)


def test_verifier_values_and_violations():
    """The verifier's truthful values are the path-by-path expected payoffs; rules built for one
    value table are not incentive compatible under another."""
    vals = [[1.0, 2.0], [2.0, 3.5]]
    env = _handicap(vals)
    r = solve_revenue(env)
    mech = r.mechanism
    rep = verify(mech)
    # enumerate: τ, ε; the node of period 2 is (τ, ε) in C order
    x, p = mech.allocation, mech.payments
    want = []
    for tau in range(2):
        v = -p[0][tau, 0]
        for eps in range(2):
            k = tau * 2 + eps
            v += 0.5 * (x[1][k, 1] * vals[tau][eps] - p[1][k, 0])
        want.append(v)
    assert rep.agents[0].root_values == pytest.approx(want, abs=1e-12)
    other = _handicap([[3.0, 0.5], [0.5, 1.0]])
    moved = TreeMechanism(other, [a.copy() for a in x], [q.copy() for q in p])
    bad = verify(moved)
    assert bad.max_regret > 0.1 or bad.ir_violation("interim") > 0.1


@pytest.mark.parametrize("agent,field", [
    ({"types": [1, 2], "initial": [0.5, 0.5], "iid": True, "utility_of": "recent"}, "agents[0].utility_of"),
    ({"types": [1, 2], "initial": [0.5, 0.5], "persistent": True, "transition": [[1, 0], [0, 1]]}, "agents[0].transition"),
    ({"types": [[1, 2], [1, 2]], "initial": [0.5, 0.5], "persistent": True}, "agents[0].types"),
    ({"types": [1, 2], "initial": [0.5, 0.5], "persistent": "yes"}, "agents[0].persistent"),
    ({"types": [1, 2], "initial": [0.5, 0.5], "iid": True, "values": [[1, 2], [[1, 2], [3, 4]]]}, "agents[0].values"),
    ({"types": [1, 2], "initial": [0.5, 0.5], "iid": True, "utility_of": "initial_and_current",
      "values": [[1, 2], [1, 2]]}, "agents[0].values[1]"),
    ({"types": [1, 2], "initial": [0.5, 0.5], "iid": True, "utility_of": "initial_and_current"}, "agents[0].values"),
])
def test_own_history_validation(agent, field):
    with pytest.raises(ModelError) as e:
        Environment.from_dict({"horizon": 2, "agents": [agent], "decisions": {"kind": "allocate"}})
    assert e.value.field == field


def test_own_history_scope():
    with pytest.raises(ModelError) as e:
        Environment.from_dict({"horizon": "infinite", "discount": 0.9, "decisions": {"kind": "allocate"},
                               "agents": [{"types": [1, 2], "initial": [0.5, 0.5], "persistent": True}]})
    assert e.value.field == "agents[0].persistent"
    with pytest.raises(ModelError) as e:
        Environment.from_dict({"horizon": 2, "decisions": {"kind": "allocate"}, "joint_initial": [0.5, 0.5],
                               "joint_transition": [[1, 0], [0, 1]],
                               "agents": [{"types": [1, 2], "utility_of": "history", "values": [[1, 2], [[1, 2], [3, 4]]]}]})
    assert e.value.field == "agents[0].utility_of"
    env = _handicap([[1.0, 2.0], [2.0, 3.5]])
    with pytest.raises(ModelError) as e:
        solve_revenue(env, method="cg")
    assert e.value.field == "method"
    with pytest.raises(ModelError) as e:
        solve_model({"kind": "efficient", **{k: v for k, v in env.source.items()}})
    assert e.value.field == "agents[0].utility_of"


def test_efficient_mechanisms_of_a_persistent_seller_equal_the_identity_transition_form():
    """Athey–Segal's trade with the seller written as persistent vs the same seller as a Markov
    type with the identity transition: every efficient mechanism, moved onto the environment's
    history tree, has the same revenue, welfare, IC regret and budget imbalance."""
    import dmd_opt
    from dmd_opt.interfaces.models import load, read_toml
    raw = read_toml(MODELS / "athey_segal_trade.toml")
    markov = copy.deepcopy(raw)
    seller = markov["agents"][0]
    del seller["persistent"]
    seller["types"] = [seller["types"]] * 2
    seller["transition"] = np.eye(len(seller["initial"])).tolist()
    markov["decisions"]["utilities"][0] = [markov["decisions"]["utilities"][0]] * 2
    cols = ["revenue", "welfare", "max_ic_regret", "budget_max_imbalance"]
    kinds = ("pivot", "team", "balanced", "agv")
    a, b = (dmd_opt.compare(load(r), participation=(), efficient=kinds).set_index("mechanism")
            for r in (raw, markov))
    assert (a.loc[list(kinds), "status"] == "ok").all()
    np.testing.assert_allclose(a.loc[list(kinds), cols].to_numpy(float), b.loc[list(kinds), cols].to_numpy(float),
                               atol=1e-9)
    assert a.loc["agv", "max_ic_regret"] > 1e-3 > a.loc["balanced", "max_ic_regret"]
