"""Property tests of the revenue program on random small environments (hypothesis)."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from dmd_opt.core.environment import Environment
from dmd_opt.families.revenue.program import expected_efficient_surplus
from dmd_opt.families.revenue.solve import solve_revenue
from independent import brute_force_env

DIMS = st.sampled_from([(1, 1, 3), (1, 2, 2), (1, 2, 3), (1, 3, 2), (2, 1, 2), (2, 1, 3), (2, 2, 2)])


def make_env(seed, N, T, n, quantity=False):
    rng = np.random.default_rng(seed)
    agents = []
    for _ in range(N):
        a = {"types": np.sort(rng.choice(np.arange(1, 10), n, replace=False)).astype(float).tolist(),
             "initial": rng.dirichlet(np.ones(n)).round(6).tolist()}
        a["initial"][-1] = round(1 - sum(a["initial"][:-1]), 12)
        if T > 1:
            P = rng.dirichlet(np.ones(n) * 0.7, size=n)
            a["transition"] = (P / P.sum(axis=1, keepdims=True)).tolist()
        agents.append(a)
    dec = {"kind": "quantity", "qmax": 10.0, "cost_quadratic": 1.0} if quantity else \
        {"kind": "allocate", "cost": float(rng.choice([0.0, 2.0]))}
    return Environment.from_dict({"horizon": T, "discount": 0.85, "agents": agents, "decisions": dec,
                                  "renormalize": True})


@given(st.integers(0, 100_000), DIMS)
def test_verifier_passes_and_revenue_bounded(seed, dims):
    env = make_env(seed, *dims)
    surplus = expected_efficient_surplus(env)
    revs = {}
    for part in ("ex_ante", "interim", "periodic"):
        r = solve_revenue(env, participation=part)
        assert r.status == "optimal"
        assert r.verification.max_regret <= 1e-7 * env.payoff_scale
        assert r.verification.ir_violation(part) <= 1e-7 * env.payoff_scale
        assert r.revenue <= surplus + 1e-7
        revs[part] = r.revenue
    assert revs["ex_ante"] >= revs["interim"] - 1e-8 >= revs["periodic"] - 2e-8
    w = solve_revenue(env, objective="welfare")
    assert w.objective == pytest.approx(surplus, abs=1e-7)


@given(st.integers(0, 100_000), st.sampled_from([(2, 1, 2), (2, 2, 2), (2, 1, 3)]))
def test_private_disclosure_revenue_at_least_public(seed, dims):
    env = make_env(seed, *dims)
    pub = solve_revenue(env, disclosure="public")
    priv = solve_revenue(env, disclosure="private")
    assert priv.revenue >= pub.revenue - 1e-8
    assert priv.verification.max_regret <= 1e-7 * env.payoff_scale


@given(st.integers(0, 100_000), st.sampled_from([(1, 2, 2), (1, 1, 3), (2, 1, 2)]),
       st.sampled_from(["interim", "ex_ante"]))
def test_matches_strategy_enumeration(seed, dims, part):
    env = make_env(seed, *dims)
    r = solve_revenue(env, participation=part, disclosure="private")
    assert r.objective == pytest.approx(brute_force_env(env, part), abs=1e-7)


@given(st.integers(0, 100_000), st.sampled_from([(1, 1, 3), (1, 2, 2), (2, 1, 2)]))
def test_quantity_qp_passes_verifier(seed, dims):
    env = make_env(seed, *dims, quantity=True)
    r = solve_revenue(env)
    assert r.status == "optimal"
    assert r.verification.max_regret <= 1e-7 * env.payoff_scale
    assert r.revenue <= expected_efficient_surplus(env) + 1e-6
