"""The mechanism protocol on every mechanism type, history lookup, and the single verifier entry.

Numbers are checked against independent code: plain-Python recursions over explicit
histories (tests/test_verifier.py, tests/test_contingent.py), the tree expansion of Markov
rules, and the other verifier."""

import itertools
import json

import numpy as np
import pytest

import dmd_opt.families.contingent as C
from dmd_opt.core.environment import Environment
from dmd_opt.core.serialise import dumps
from dmd_opt.core.tree import HistoryTree
from dmd_opt.families.efficient import team_mechanism
from dmd_opt.interfaces.models import load, read_toml, solve_model
from dmd_opt.mechanisms.base import Mechanism, Rule
from dmd_opt.mechanisms.markov import MarkovMechanism
from dmd_opt.mechanisms.tree import TreeMechanism
from dmd_opt.verify import NOTIONS, verify
from dmd_opt.verify.bayesian import verify_bayesian
from dmd_opt.verify.expost import verify_markov, verify_tree
from dmd_opt.verify.periodic import periodic_expost

from conftest import MODELS
from test_contingent import _brute_regret
from test_verifier import public_values, random_env, random_mechanism


def _contingent(name, **changes):
    raw = read_toml(MODELS / f"{name}.toml")
    raw.pop("kind")
    raw.pop("solve", None)
    raw.update(changes)
    env = C.from_dict(raw)
    pol = C.efficient_policy(env)
    last = None if env.stationary else C.last_period_transfers(env, pol.at(env.horizon - 1))
    return env, pol, last


def _efficient(name, which):
    return solve_model(load(MODELS / f"{name}.toml")).mechanisms[which]


def _finite_markov():
    """Team mechanism of a finite-horizon model in Markov form (before its tree expansion):
    Athey–Segal's trading game with the seller's persistent cost written as a Markov type
    (the identity transition), which keeps an Environment to expand onto."""
    raw = read_toml(MODELS / "athey_segal_trade.toml")
    seller = raw["agents"][0]
    del seller["persistent"]
    seller["types"] = [seller["types"]] * 2
    seller["transition"] = np.eye(len(seller["initial"])).tolist()
    raw["decisions"]["utilities"][0] = [raw["decisions"]["utilities"][0]] * 2
    res = solve_model(load(raw))
    return team_mechanism(res.model, policy=res.policy)


def _contingent_vcg(stationary=False):
    env, pol, last = _contingent("liu_spanning", **({"horizon": "infinite"} if stationary else {}))
    return C.vcg_mechanism(env, pol, C.vcg_transfers(env, pol, last), last)


FACTORIES = {
    "revenue tree": lambda: solve_model(load(MODELS / "static_monopoly.toml")).mechanism,
    "random tree, private disclosure": lambda: random_mechanism(np.random.default_rng(3),
                                                                 random_env(np.random.default_rng(3), 2, 2, 2),
                                                                 disclosure="private"),
    "efficient tree": lambda: _efficient("athey_segal_trade", "pivot"),
    "joint tree (correlated)": lambda: _efficient("correlated_counterexample", "team"),
    "markov stationary": lambda: _efficient("repeated_auction_markov", "pivot"),
    "markov finite": _finite_markov,
    "contingent finite": _contingent_vcg,
    "contingent stationary": lambda: _contingent_vcg(stationary=True),
}


def _first_history(mech):
    env = mech.env
    return tuple(tuple(env.type_labels(i, 0)[0] for i in range(env.n_agents)) for _ in range(1)) \
        if env.n_agents > 1 else (env.type_labels(0, 0)[0],)


@pytest.fixture(scope="module", params=list(FACTORIES))
def mech(request):
    return FACTORIES[request.param]()


def test_every_mechanism_implements_the_protocol(mech):
    assert isinstance(mech, Mechanism) and mech.form in ("tree", "markov")
    h = _first_history(mech)
    rule = mech.at(h)
    assert isinstance(rule, Rule) and rule.period == 1
    np.testing.assert_array_equal(mech[h].payments, rule.payments)
    assert rule.payments.shape == (mech.env.n_agents,)
    assert 0 <= rule.probability <= 1
    assert np.isfinite(mech.revenue()) and np.isfinite(mech.welfare())
    rents = mech.rents()
    assert len(rents) == mech.env.n_agents and all(r.shape == (mech.env.n_types(i, 0),) for i, r in enumerate(rents))
    assert len(mech.to_frame()) > 0
    json.loads(dumps(mech.to_dict()))
    assert len(repr(mech)) < 200 and len(repr(rule)) < 400
    assert mech._repr_html_().startswith("<table>")


def test_every_applicable_notion_gives_a_report_with_the_shared_head(mech):
    private = getattr(mech, "disclosure", "public") == "private" or getattr(mech.env, "quantity", None) is not None
    for notion in (("bayesian",) if private else NOTIONS):
        rep = mech.verify(notion)
        head = rep.head()
        assert head["notion"] == notion == rep.notion
        assert set(head) >= {"passed", "max_regret", "max_regret_on_path", "ir_violation", "budget_max_imbalance",
                             "revenue", "welfare", "scale"}
        assert rep.max_regret >= rep.max_regret_on_path - 1e-12 >= -1e-12
        assert rep.to_dict()["max_regret"] == rep.max_regret
        rec = rep.record(tol=1e-7)
        assert rec["notion"] == notion and rec["passed"] == rep.passed() and rec["max_regret"] == rep.max_regret
        assert isinstance(rep.passed(), bool) and len(repr(rep)) < 200
        assert rep.revenue == pytest.approx(mech.revenue(), rel=1e-9, abs=1e-9)
        assert rep.welfare == pytest.approx(mech.welfare(), rel=1e-9, abs=1e-9)


def test_rents_average_to_the_expected_payoff(mech):
    """Σ_θ π_i(θ) rents_i(θ) = E[Σ δ^t (u_i − p_i)] computed by the flows (another path)."""
    env = mech.env
    for i, r in enumerate(mech.rents()):
        assert env.agent_initial(i) @ r == pytest.approx(mech.expected_utility(i), abs=1e-9 * env.payoff_scale)


# ------------------------------------------------------------------ history lookup
def test_history_lookup_matches_the_tree_labels():
    rng = np.random.default_rng(7)
    env = random_env(rng, 2, 3, 2)
    m = random_mechanism(rng, env)
    tree = m.tree
    for t in range(tree.T):
        for k in range(tree.n_nodes(t)):
            label = tree.history_labels(t, k)[0]
            rule = m[label]
            assert rule.history == label and rule.state["node"] == k
            np.testing.assert_array_equal(rule.allocation, m.allocation[t][k])
            np.testing.assert_array_equal(rule.payments, m.payments[t][k])
            assert rule.probability == tree.node_prob[t][k]
            profiles = tuple(tuple(p.split(",")) for p in label.replace("(", "").replace(")", "").split("|"))
            np.testing.assert_array_equal(m[profiles].payments, rule.payments)


def test_one_agent_histories_as_strings_tuples_and_indices():
    env = Environment.from_dict({"horizon": 3, "discount": 0.9, "agents": [
        {"types": [1, 2], "labels": ["L", "H"], "initial": [0.4, 0.6], "transition": [[0.7, 0.3], [0.2, 0.8]]}],
        "decisions": {"kind": "allocate"}})
    m = random_mechanism(np.random.default_rng(1), env)
    k = (0 * 2 + 0) * 2 + 1                                        # L, L, H
    for h in ("LLH", "L|L|H", ("L", "L", "H"), (0, 0, 1)):
        np.testing.assert_array_equal(m[h].payments, m.payments[2][k])
        assert m[h].history == "L|L|H"
    with pytest.raises(KeyError, match="unknown type 'M'"):
        m[("L", "M")]
    with pytest.raises(KeyError, match="longer than the horizon"):
        m["LLHH"]


def test_ambiguous_concatenation_is_refused():
    env = Environment.from_dict({"horizon": 3, "discount": 0.9, "agents": [
        {"types": [1, 2, 3], "labels": ["a", "ab", "b"], "initial": [0.3, 0.3, 0.4],
         "transition": np.full((3, 3), 1 / 3).tolist()}], "decisions": {"kind": "allocate"}})
    m = random_mechanism(np.random.default_rng(2), env)
    with pytest.raises(KeyError, match="more than one way"):
        m["abb"]                                                  # ab|b or a|b|b
    np.testing.assert_array_equal(m["ab|b"].payments, m.payments[1][1 * 3 + 2])


def test_markov_rules_at_a_history_equal_their_tree_expansion():
    mm = _finite_markov()
    tm = mm.to_tree()
    for t in range(tm.T):
        for k in range(tm.tree.n_nodes(t)):
            label = tm.tree.history_labels(t, k)[0]
            a, b = mm[label], tm[label]
            np.testing.assert_array_equal(a.allocation, b.allocation)
            np.testing.assert_array_equal(a.payments, b.payments)
            assert a.probability == pytest.approx(b.probability, abs=1e-15)


# ------------------------------------------------------------------ verify(mechanism, notion) against independent code
@pytest.mark.parametrize("disclosure", ["public", "private"])
def test_bayesian_notion_on_trees_matches_the_plain_recursion(disclosure):
    rng = np.random.default_rng(11)
    env = random_env(rng, 2, 2, 2)
    m = random_mechanism(rng, env, disclosure)
    rep = verify(m, "bayesian")
    assert rep.max_regret == verify_bayesian(m).max_regret
    if disclosure == "public":
        for i in range(env.n_agents):
            U, V = public_values(m, i)
            np.testing.assert_allclose(rep.agents[i].root_values, V, atol=1e-12)
            np.testing.assert_allclose(m.rents()[i], V, atol=1e-12)
            assert rep.agents[i].interim_regret == pytest.approx(float(np.max(U - V)), abs=1e-12)


def test_expost_notions_on_trees_agree_with_the_bayesian_dp_and_direct_calls():
    m = _efficient("athey_segal_trade", "agv")              # not IC: positive regrets
    old = verify_tree(m)
    for notion, key in (("expost", "expost_max_regret_on_path"), ("periodic_expost", "expost_max_regret")):
        rep = verify(m, notion)
        assert rep.max_regret == getattr(old, key)
    bayes = verify(m, "bayesian")                            # the tree DP (independent code)
    assert bayes.max_regret == pytest.approx(old.bayes_max_regret, abs=1e-9)
    assert bayes.max_regret > 1e-3


def test_markov_notions_match_direct_calls_and_the_tree_expansion():
    mm = _finite_markov()                                    # finite: expanded onto the tree
    tree = mm.to_tree()
    assert verify(mm, "bayesian").max_regret == pytest.approx(verify_bayesian(tree).max_regret, abs=1e-12)
    assert verify(mm, "periodic_expost").max_regret <= 1e-9  # team transfers: ex-post IC
    st = _efficient("repeated_auction_markov", "agv")        # stationary AGV: misreports pay
    old = verify_markov(st)
    assert verify(st, "bayesian").max_regret == old.bayes_max_regret
    assert verify(st, "expost").max_regret == old.expost_max_regret_on_path
    one_shot = verify(st, "periodic_expost").max_regret
    assert (one_shot > 1e-7) == (old.expost_max_regret > 1e-7)
    assert one_shot <= old.expost_max_regret + 1e-9          # a single misreport is one deviation plan


def test_periodic_notion_on_contingent_mechanisms_matches_the_brute_force_recursion():
    env, pol, _ = _contingent("liu_spanning_fails")
    naive = C.naive_team_mechanism(env, pol)
    brute = _brute_regret(naive)
    rep = verify(naive, "periodic_expost")
    assert rep.max_regret == pytest.approx(brute, abs=1e-12) and brute > 0.1
    assert rep.max_regret == periodic_expost(naive).max_regret


def test_interdependent_values_in_the_bayesian_and_expost_dp():
    """Liu's VCG-type mechanism is periodic ex-post IC: the multi-period DPs (which read the
    whole true profile) find no gain either; the naive team mechanism's best deviation plan
    gains at least the best single misreport."""
    vcg = _contingent_vcg()
    for notion in NOTIONS:
        assert verify(vcg, notion).max_regret <= 1e-8 * verify(vcg, notion).scale
    env, pol, _ = _contingent("liu_spanning_fails")
    naive = C.naive_team_mechanism(env, pol)
    plans = verify_tree(naive)
    assert plans.expost_max_regret >= periodic_expost(naive).max_regret - 1e-12
    assert verify(naive, "bayesian").max_regret > 1e-3


def test_unknown_notion_and_unknown_object_are_refused():
    m = FACTORIES["revenue tree"]()
    with pytest.raises(ValueError, match="notion must be one of"):
        verify(m, "dominant")
    with pytest.raises(TypeError, match="no rules of a known form"):
        verify(object())


# ------------------------------------------------------------------ recursive contracts
from dmd_opt.mechanisms.recursive import PromiseMechanism  # noqa: E402
from dmd_opt.verify.recursive import verify_recursive  # noqa: E402


@pytest.fixture(scope="module", params=["thomas_worrall", "thomas_worrall_cara_exact", "guo_horner_iid",
                                        "guo_horner", "guo_horner_finite"])
def contract(request):
    res = solve_model(load(MODELS / f"{request.param}.toml"))
    return res, res.mechanism


def test_recursive_contracts_implement_the_protocol(contract):
    res, mech = contract
    assert isinstance(mech, PromiseMechanism) and mech.form == "recursive"
    st = mech.stages[0]
    promise = st.states[len(st.states) // 2]
    promise = float(promise) if np.ndim(promise) == 0 else tuple(promise)
    for k, lab in enumerate(mech.type_labels):
        rule = mech[promise, lab]
        assert rule.state["report"] == lab and rule.payments.shape == (1,)
        np.testing.assert_array_equal(mech.at((promise, k)).allocation, rule.allocation)
    assert set(mech.menu(promise)) == set(mech.type_labels)
    with pytest.raises(KeyError, match="give a state and a report"):
        mech[promise]
    assert len(repr(mech)) < 200 and mech._repr_html_().startswith("<table>")
    assert len(mech.to_frame()) == sum(len(s.states) * len(mech.type_labels) for s in mech.stages)
    json.loads(dumps(mech.to_dict()))
    for notion in NOTIONS:
        rep = mech.verify(notion)
        assert rep.notion == notion and rep.passed() and rep.promise_keeping <= 1e-7 * rep.scale
    rec = res.to_dict()["verification"]
    assert rec["passed"] is True and rec["notion"] == "bayesian"


def test_recursive_evaluation_against_the_results(contract):
    res, mech = contract
    m = res.model
    if hasattr(m, "income"):                                   # Thomas–Worrall: the lender's profit
        v0 = res.reference_promise
        assert mech.revenue() == pytest.approx(-res.objective, abs=1e-12)
        assert mech.welfare() == pytest.approx(float(m.first_best_cost(v0)) - res.objective, abs=1e-12)
        # promise keeping at v0: the interim utilities average to the promise (an independent identity)
        assert m.prob @ mech.rents()[0] == pytest.approx(v0, abs=1e-7 * abs(v0))
        assert mech.welfare() <= 1e-9                          # private information costs the lender
    else:                                                      # Guo–Hörner: no money
        assert mech.revenue() == 0.0 and mech.welfare() == pytest.approx(res.objective, abs=1e-12)
        r = mech.rents()[0]
        if m.markov:
            np.testing.assert_allclose(r, res.initial_promise, atol=1e-7)
        else:
            assert m.prior @ r == pytest.approx(float(res.initial_promise[0]), abs=1e-7)


def test_off_grid_promise_is_the_lottery_of_its_neighbours():
    res = solve_model(load(MODELS / "thomas_worrall.toml"))
    mech = res.mechanism
    g = res.grid
    v = 0.3 * g[10] + 0.7 * g[11]
    rule = mech[v, mech.type_labels[0]]
    b = res.transfers[0]
    assert rule.allocation[0] == pytest.approx(0.3 * b[10] + 0.7 * b[11], abs=1e-12)
    assert rule.state["principal_value"] == pytest.approx(-(0.3 * res.cost[10] + 0.7 * res.cost[11]), abs=1e-12)
    with pytest.raises(KeyError, match="outside the grid"):
        mech[g[-1] + 1.0, mech.type_labels[0]]


def test_recursive_verifier_finds_a_planted_deviation_like_a_plain_loop():
    """Raise the continuation promised after report H at one state: type L then gains by lying,
    by exactly the amount a plain loop over (state, true type, report) computes."""
    res = solve_model(load(MODELS / "guo_horner_iid.toml"))
    mech = res.mechanism
    st = mech.stages[0]
    s, bump = len(st.states) // 2, 0.05
    st.continuation[s, 1, 0] += bump
    m = res.model
    best = 0.0
    for i in range(len(st.states)):
        for th in range(2):
            pay = [(1 - m.beta) * m.theta[th] * st.allocation[i, k, 0] + m.beta * st.continuation[i, k, 0]
                   for k in range(2)]
            best = max(best, max(pay) - pay[th])
    rep = verify_recursive(mech)
    assert best > 0.01 and rep.max_regret == pytest.approx(best, abs=1e-12)
    assert rep.worst["true_type"] == "L" and rep.worst["report"] == "H"
    assert rep.promise_keeping > 0.01 and not rep.passed()      # the bump also breaks promise keeping


# ------------------------------------------------------------------ the environment core
def test_history_tree_reads_a_joint_process_like_the_product_of_the_agents():
    """The joint kernel of an independent model, handed over as a joint process, gives the
    same truthful node probabilities as the agents' own matrices (two code paths)."""
    from dmd_opt.core.joint import from_environment
    env = random_env(np.random.default_rng(5), 2, 3, 3)
    joint = from_environment(env)
    joint.independent = False
    a, b = HistoryTree(env), HistoryTree(joint)
    for t in range(3):
        np.testing.assert_allclose(a.node_prob[t], b.node_prob[t], atol=1e-15)
        np.testing.assert_allclose(a.node_prob[t].sum(), 1.0, atol=1e-12)


def test_the_three_environments_share_the_core():
    from dmd_opt.core.model import DynamicModel
    env = random_env(np.random.default_rng(6), 2, 2, 3)
    model = _efficient("correlated_counterexample", "team").env
    cont, _, _ = _contingent("liu_spanning")
    for e in (env, model, cont):
        assert isinstance(e, DynamicModel)
        R = e.n_profiles(0)
        assert e.profile_digits(0).shape == (R, e.n_agents) and e.initial.shape == (R,)
        K = e.kernel(0)
        assert K.shape == (e.n_decisions(0), R, e.n_profiles(1)) and np.allclose(K.sum(axis=2), 1)
        assert e.profile_utility(0, 0).shape == (R, e.n_decisions(0))
        W = e.own_type_utility(0, 0)
        # own_type_utility at the truthful own type is the profile utility itself
        own = e.profile_digits(0)[:, 0]
        np.testing.assert_array_equal(W[np.arange(R), own], e.profile_utility(0, 0))
        np.testing.assert_allclose(e.agent_initial(0), e.initial.reshape(e.profile_shape(0)).sum(axis=1))
    assert cont.interdependent and not cont.independent and env.independent and not env.interdependent
