"""Property tests on random environments (N ≤ 3, ≤ 3 types, T ≤ 4 and stationary):
team and pivot are periodic ex-post IC, pivot = u − flow marginal contribution, the balanced
team mechanism is exactly budget balanced and Bayesian IC, its history and Markov forms agree,
and our verifier agrees with the lead's on decision-independent trees."""

import numpy as np
from hypothesis import given, settings, strategies as st

from dmd_opt.families.efficient import (agv_tree, balanced_markov, balanced_tree, efficient_policy, from_environment,
                               marginal_contributions, others_welfare, pivot_mechanism, team_mechanism)
from dmd_opt.core.environment import Environment
from dmd_opt.verify import verify
from dmd_opt.verify.expost import verify_dynamic, verify_tree

TOL = 1e-9


def _stoch(rng, n, m):
    P = rng.dirichlet(np.ones(m) * 0.7, size=n)
    P = np.round(P, 3)
    P[:, -1] = 1 - P[:, :-1].sum(axis=1)
    bad = P[:, -1] < 0
    P[bad] = 1.0 / m
    return P


@st.composite
def environments(draw, stationary: bool):
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    N = draw(st.integers(2, 3))
    ns = [draw(st.integers(1, 3)) for _ in range(N)]
    R = int(np.prod(ns))
    if stationary:
        horizon = "infinite"
    else:
        tmax = max(1, min(4, int(np.floor(np.log(3000) / np.log(max(R, 2))))))
        horizon = draw(st.integers(1, tmax))
    table = draw(st.booleans())
    A = draw(st.integers(2, 3)) if table else N + 1
    dd = draw(st.booleans()) and (stationary or horizon > 1)
    agents = []
    for i in range(N):
        vals = np.sort(np.round(rng.uniform(0, 3, size=ns[i]), 2))
        if len(set(vals)) < ns[i]:
            vals = np.arange(ns[i], dtype=float) + 0.5
        a = {"types": vals.tolist(), "initial": _stoch(rng, 1, ns[i])[0].tolist()}
        steps = 1 if stationary else horizon - 1
        if steps >= 1:
            if dd and i == 0:
                a["transition_by_decision"] = [_stoch(rng, ns[i], ns[i]).tolist() for _ in range(A)]
            else:
                a["transition"] = _stoch(rng, ns[i], ns[i]).tolist()
        agents.append(a)
    if table:
        dec = {"kind": "table", "labels": [f"d{k}" for k in range(A)],
               "utilities": [np.round(rng.uniform(-1, 2, size=(A, ns[i])), 2).tolist() for i in range(N)],
               "cost": np.round(rng.uniform(0, 0.5, size=A), 2).tolist()}
    else:
        dec = {"kind": "allocate", "cost": float(np.round(rng.uniform(0, 1), 2))}
    return Environment.from_dict({"horizon": horizon, "discount": float(np.round(rng.uniform(0.3, 0.95), 2)),
                                  "agents": agents, "decisions": dec})


def _check_family(env):
    m = from_environment(env)
    pol = efficient_policy(m)
    team = team_mechanism(m, policy=pol)
    piv = pivot_mechanism(m, policy=pol)
    bal = balanced_markov(team)
    scale = m.payoff_scale / (1 - m.discount) if m.stationary else m.payoff_scale * m.horizon
    for mech in (team, piv):
        r = verify_dynamic(mech)
        assert r.expost_max_regret <= TOL * scale, mech.name
        assert r.bayes_max_regret <= TOL * scale, mech.name
    rb = verify_dynamic(bal)
    assert rb.budget_max_imbalance <= 1e-12 * scale
    assert rb.bayes_max_regret_on_path <= TOL * scale
    assert rb.ex_ante_regret <= TOL * scale
    # pivot payments: u_i(a*, θ_i) − m_i (eq. (9) of Bergemann–Välimäki, computed separately)
    others = [others_welfare(m, i) for i in range(m.N)]
    entries = [(0, 0), (1, 0)] if m.stationary else [(t, t) for t in range(m.horizon)]
    for e, t in entries:
        u = np.stack([m.profile_utility(i, t)[np.arange(m.n_profiles(t)), pol.at(t)] for i in range(m.N)], axis=1)
        np.testing.assert_allclose(piv.payments[e][0], u - marginal_contributions(m, pol, others, t),
                                   atol=1e-9 * scale)
    return m, team, piv, bal


@settings(max_examples=20, deadline=None)
@given(environments(stationary=False))
def test_finite_horizon_properties(env):
    m, team, piv, bal = _check_family(env)
    # history form (5.1)-(5.2) on the tree = Markov form (6.1)
    bt = balanced_tree(team.to_tree())
    for t in range(env.horizon):
        np.testing.assert_allclose(bt.payments[t], bal.to_tree().payments[t], atol=1e-10 * m.payoff_scale * env.horizon)
    if not env.transition_depends_on_decision():
        # the lead's verifier (independent code) gives the same Bayesian regret
        for mech in (team.to_tree(), piv.to_tree(), bal.to_tree(), agv_tree(team)):
            assert abs(verify(mech).max_regret - verify_tree(mech).bayes_max_regret) <= 1e-9 * m.payoff_scale * env.horizon


@settings(max_examples=15, deadline=None)
@given(environments(stationary=True))
def test_stationary_properties(env):
    _check_family(env)
