"""The verifier against plain-Python recursions and strategy enumeration on random mechanisms."""

import itertools

import numpy as np
import pytest
from hypothesis import given, strategies as st

from dmd_opt.core.environment import Environment
from dmd_opt.mechanisms.tree import TreeMechanism
from dmd_opt.verify import verify


def random_env(rng, N, T, n):
    agents = []
    for i in range(N):
        init = rng.dirichlet(np.ones(n))
        trans = [rng.dirichlet(np.ones(n), size=n).tolist() for _ in range(T - 1)]
        a = {"types": sorted(rng.uniform(0, 3, n).round(3).tolist()), "initial": init.tolist()}
        if T > 1:
            a["transition"] = trans
        agents.append(a)
    return Environment.from_dict({"horizon": T, "discount": 0.8, "agents": agents,
                                  "decisions": {"kind": "allocate"}})


def random_mechanism(rng, env, disclosure="public"):
    from dmd_opt.core.tree import HistoryTree
    tree = HistoryTree(env)
    alloc = [rng.dirichlet(np.ones(env.n_decisions(t)), size=tree.n_nodes(t)) for t in range(tree.T)]
    pay = [rng.uniform(-1, 2, size=(tree.n_nodes(t), env.n_agents)) for t in range(tree.T)]
    return TreeMechanism(env, alloc, pay, disclosure=disclosure)


def node_of(env, hist):
    k = 0
    for s, prof in enumerate(hist):
        for j, r in enumerate(prof):
            k = k * env.n_types(j, s) + r
    return k


def public_values(mech, i):
    """Plain recursion over explicit public histories: (U, V) at the root by initial type."""
    env, T, d = mech.env, mech.T, mech.env.discount
    N = env.n_agents

    def belief(j, t, hist):
        return env.agents[j].initial if t == 0 else env.transition(j, t - 1)[hist[-1][j]]

    def value(t, hist, theta, best):
        if t == T:
            return 0.0
        others = [j for j in range(N) if j != i]
        outcomes = []
        for r in range(env.n_types(i, t)):
            if not best and r != theta:
                continue
            tot = 0.0
            for combo in itertools.product(*[range(env.n_types(j, t)) for j in others]):
                w = np.prod([belief(j, t, hist)[c] for j, c in zip(others, combo)]) if others else 1.0
                prof = [0] * N
                prof[i] = r
                for j, c in zip(others, combo):
                    prof[j] = c
                h2 = hist + [tuple(prof)]
                k = node_of(env, h2)
                flow = mech.allocation[t][k] @ env.utility(i, t)[:, theta] - mech.payments[t][k, i]
                cont = 0.0
                if t < T - 1:
                    P = env.transition(i, t)[theta]
                    cont = sum(P[th2] * value(t + 1, h2, th2, best) for th2 in range(len(P)))
                tot += w * (flow + d * cont)
            outcomes.append(tot)
        return max(outcomes)

    n0 = env.n_types(i, 0)
    U = np.array([value(0, [], th, True) for th in range(n0)])
    V = np.array([value(0, [], th, False) for th in range(n0)])
    return U, V


@given(st.integers(0, 10_000), st.sampled_from([(1, 1, 3), (1, 3, 2), (2, 2, 2), (2, 1, 3), (3, 2, 2)]))
def test_public_verifier_matches_recursion(seed, dims):
    N, T, n = dims
    rng = np.random.default_rng(seed)
    env = random_env(rng, N, T, n)
    mech = random_mechanism(rng, env)
    rep = verify(mech)
    for i in range(N):
        U, V = public_values(mech, i)
        np.testing.assert_allclose(rep.agents[i].root_values, V, atol=1e-10)
        assert rep.agents[i].interim_regret == pytest.approx(max(0, np.max(U - V)), abs=1e-10)
        assert rep.agents[i].ex_ante_regret == pytest.approx(env.agents[i].initial @ (U - V), abs=1e-10)


def private_best_values(mech, i):
    """Strategy enumeration over own-history strategies (others truthful, unseen)."""
    env, T, d, N = mech.env, mech.T, mech.env.discount, mech.env.n_agents
    sizes = [env.n_types(i, t) for t in range(T)]

    def paths(j):
        out = []
        for path in itertools.product(*[range(env.n_types(j, t)) for t in range(T)]):
            p = env.agents[j].initial[path[0]]
            for t in range(1, T):
                p *= env.transition(j, t - 1)[path[t - 1], path[t]]
            out.append((path, p))
        return out

    own, others = paths(i), [paths(j) for j in range(N) if j != i]
    hist = [list(itertools.product(*[range(sizes[s]) for s in range(t + 1)])) for t in range(T)]

    def payoff(th0, strat):
        tot = 0.0
        for path, p in own:
            if path[0] != th0:
                continue
            reps = [strat[t][path[:t + 1]] for t in range(T)]
            for oth in itertools.product(*others):
                w = p * np.prod([o[1] for o in oth])
                full, it = [], iter(oth)
                for j in range(N):
                    full.append(reps if j == i else next(it)[0])
                for t in range(T):
                    k = node_of(env, [tuple(full[j][s] for j in range(N)) for s in range(t + 1)])
                    tot += d ** t * w * (mech.allocation[t][k] @ env.utility(i, t)[:, path[t]]
                                         - mech.payments[t][k, i])
        return tot / env.agents[i].initial[th0]

    truthful = [{h: h[-1] for h in hist[t]} for t in range(T)]
    best = []
    for th0 in range(sizes[0]):
        vals = []
        for combo in itertools.product(*[itertools.product(range(sizes[t]), repeat=len(hist[t]))
                                         for t in range(T)]):
            vals.append(payoff(th0, [dict(zip(hist[t], combo[t])) for t in range(T)]))
        best.append((max(vals), payoff(th0, truthful)))
    return np.array(best)


@given(st.integers(0, 10_000))
def test_private_verifier_matches_strategy_enumeration(seed):
    rng = np.random.default_rng(seed)
    env = random_env(rng, 2, 2, 2)
    mech = random_mechanism(rng, env, disclosure="private")
    rep = verify(mech)
    for i in range(2):
        bv = private_best_values(mech, i)
        np.testing.assert_allclose(rep.agents[i].root_values, bv[:, 1], atol=1e-10)
        assert rep.agents[i].interim_regret == pytest.approx(max(0, np.max(bv[:, 0] - bv[:, 1])), abs=1e-10)


def test_overcharging_the_high_type_shows_regret():
    env = Environment.from_dict({"agents": [{"types": [1, 2, 3], "initial": [1 / 3, 1 / 3, 1 / 3]}],
                                 "decisions": {"kind": "allocate"}})
    x = [np.array([[1.0, 0], [0, 1], [0, 1]])]
    p = [np.array([[0.0], [2.0], [3.0]])]     # type 3 would rather claim 2: regret 1
    rep = verify(TreeMechanism(env, x, p))
    assert rep.max_regret == pytest.approx(1.0)
    assert rep.agents[0].worst["true_type"] == 2 and rep.agents[0].worst["best_report"] == 1
    assert rep.ir_violation("interim") == pytest.approx(0.0)
    p = [np.array([[0.5], [2.0], [2.0]])]     # type 1 pays for nothing: interim IR fails by 0.5
    rep = verify(TreeMechanism(env, x, p))
    assert rep.ir_violation("interim") == pytest.approx(0.5)
    assert rep.ir_violation("ex_ante") == pytest.approx(0.0)
