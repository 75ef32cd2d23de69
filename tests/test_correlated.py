"""Correlated types in the revenue program (Crémer–McLean 1988).

Independent checks: the expected efficient surplus computed here by direct enumeration of the
joint law, the strategy-enumeration LP of ``tests/independent.py`` (which conditions beliefs
by summing joint path probabilities, without the program's Markov bookkeeping), and the
joint-kernel verifier.
"""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dmd_opt.core.environment import Environment
from dmd_opt.core.errors import ModelError
from dmd_opt.families.revenue.correlation import belief_matrix, rank_condition
from dmd_opt.families.revenue.solve import solve_revenue
from dmd_opt.interfaces.models import load
from dmd_opt.mechanisms.tree import TreeMechanism
from dmd_opt.verify import verify
from independent import BruteModel, brute_force_general

TOL = 1e-7


def _surplus(joint, values, cost=0.0):
    """E[max(max_i v_i − cost, 0)] by enumeration of a static joint law."""
    joint = np.asarray(joint, float)
    total = 0.0
    for idx in itertools.product(*[range(len(v)) for v in values]):
        total += joint[idx] * max(0.0, max(v[k] for v, k in zip(values, idx)) - cost)
    return total


def _static(joint, values, cost=0.0):
    return Environment.from_dict({"agents": [{"types": list(v)} for v in values], "joint_initial": joint,
                                  "decisions": {"kind": "allocate", "cost": cost}})


def _brute(env):
    return BruteModel.from_env(env)


def test_full_extraction_model(models_dir):
    m = load(models_dir / "correlated_full_extraction.toml")
    r = m.solve()
    joint = np.array(m.raw["joint_initial"])
    assert r.objective == pytest.approx(_surplus(joint, [[1, 2, 3]] * 2), abs=1e-9) == pytest.approx(2.3)
    assert r.verification.notion == "bayesian" and r.verification.passed("interim")
    c = r.to_dict()["correlation"]
    assert c["full_row_rank"] and [a["belief_rank"] for a in c["agents"]] == [3, 3]
    assert c["extraction_gap"] == pytest.approx(0.0, abs=1e-9)
    # the side bets: some bidder pays (or is paid) at a profile where it does not get the good
    pay, x = r.mechanism.payments[0], r.mechanism.allocation[0]
    assert any(np.any((x[:, 1 + i] <= 1e-9) & (np.abs(pay[:, i]) > 1e-6)) for i in range(2))


def test_rank_deficient_model_falls_short(models_dir):
    m = load(models_dir / "correlated_rank_deficient.toml")
    r = m.solve()
    joint = np.array(m.raw["joint_initial"])
    surplus = _surplus(joint, [[1, 2, 3]] * 2)
    assert r.objective < surplus - 0.1
    assert r.objective == pytest.approx(brute_force_general(_brute(m.data), "bayesian", "interim"), abs=1e-7)
    c = r.to_dict()["correlation"]
    assert not c["full_row_rank"] and [a["belief_rank"] for a in c["agents"]] == [2, 2]
    assert c["efficient_surplus"] == pytest.approx(surplus) and c["extraction_gap"] > 0.1
    assert r.verification.passed("interim")


def test_dominant_strategy_cannot_extract(models_dir):
    """With correlated types the dominant-strategy optimum (ex-post IR) is strictly below the
    Bayesian one; both match strategy enumeration."""
    env = load(models_dir / "correlated_full_extraction.toml").data
    bic = solve_revenue(env)
    dsic = solve_revenue(env, ic="expost", participation="expost")
    assert dsic.objective < bic.objective - 0.1
    assert dsic.objective == pytest.approx(brute_force_general(_brute(env), "expost", "expost"), abs=1e-7)
    assert dsic.verification.notion == "periodic_expost" and dsic.verification.passed("expost")


def test_verifier_sees_the_beliefs():
    """The full-extraction bets are priced by the full-rank beliefs: under the rank-deficient law
    the same rules are no longer incentive compatible (or no longer individually rational)."""
    full = _static([[0.20, 0.05, 0.05], [0.05, 0.20, 0.05], [0.05, 0.05, 0.30]], [[1, 2, 3]] * 2)
    other = _static([[0.30, 0.05, 0.05], [0.05, 0.10, 0.15], [0.05, 0.10, 0.15]], [[1, 2, 3]] * 2)
    r = solve_revenue(full)
    moved = TreeMechanism(other, [a.copy() for a in r.mechanism.allocation], [p.copy() for p in r.mechanism.payments])
    rep = verify(moved)
    assert rep.max_regret > 1e-3 or rep.ir_violation("interim") > 1e-3


@settings(max_examples=12)
@given(st.integers(0, 100_000), st.sampled_from([(2, 2), (3, 3), (2, 3)]))
def test_cremer_mclean_on_random_laws(seed, sizes):
    """Random static joint laws with full-rank beliefs: BIC + interim IR extracts the surplus;
    dominant-strategy IC never does better than Bayesian IC."""
    rng = np.random.default_rng(seed)
    n1, n2 = sizes
    joint = rng.dirichlet(np.ones(n1 * n2)).reshape(n1, n2)
    joint = (joint + 0.02) / (joint + 0.02).sum()
    values = [np.sort(rng.choice(np.arange(1, 9), n1, replace=False)).tolist(),
              np.sort(rng.choice(np.arange(1, 9), n2, replace=False)).tolist()]
    env = _static(joint.tolist(), values)
    bic = solve_revenue(env)
    assert bic.verification.passed("interim")
    if rank_condition(env)["full_row_rank"]:
        assert bic.objective == pytest.approx(_surplus(joint, values), abs=1e-7)
    else:
        assert bic.objective <= _surplus(joint, values) + 1e-7
    dsic = solve_revenue(env, ic="expost", participation="expost")
    assert dsic.objective <= bic.objective + 1e-8
    assert dsic.verification.passed("expost")


@settings(max_examples=6)
@given(st.integers(0, 100_000), st.sampled_from([("bayesian", "interim"), ("expost", "interim"),
                                                  ("bayesian", "periodic"), ("expost", "expost")]))
def test_dynamic_correlated_matches_strategy_enumeration(seed, notions):
    """Two bidders, two periods, a joint Markov law over value profiles: the program (which
    carries each agent's previous true type) equals enumeration over whole strategies."""
    ic, part = notions
    rng = np.random.default_rng(seed)
    K = rng.dirichlet(np.ones(4), size=4)
    env = Environment.from_dict({"horizon": 2, "discount": 0.9,
                                 "agents": [{"types": [1.0, 3.0]}, {"types": [1.0, 2.0]}],
                                 "joint_initial": rng.dirichlet(np.ones(4)).tolist(), "joint_transition": K.tolist(),
                                 "decisions": {"kind": "allocate", "cost": 0.5}, "renormalize": True})
    r = solve_revenue(env, participation=part, ic=ic)
    assert r.status == "optimal"
    assert r.objective == pytest.approx(brute_force_general(_brute(env), ic, part), abs=1e-7)
    assert r.verification.passed(part)
    assert r.objective <= r.correlation()["efficient_surplus"] + 1e-7


def test_joint_law_forms_and_marginals():
    P = [[0.4, 0.1], [0.1, 0.4]]
    a = _static(P, [[1, 2], [1, 2]])
    b = _static([0.4, 0.1, 0.1, 0.4], [[1, 2], [1, 2]])
    assert np.allclose(a.initial, b.initial) and not a.independent
    assert np.allclose(a.agent_initial(0), [0.5, 0.5])
    assert np.allclose(belief_matrix(a, 0), [[0.8, 0.2], [0.2, 0.8]])
    with pytest.raises(ModelError) as e:
        a.transition(0, 0)
    assert e.value.field == "agents[0].transition"


@pytest.mark.parametrize("patch,field", [
    ({"agents": [{"types": [1, 2], "initial": [0.5, 0.5]}, {"types": [1, 2]}]}, "agents[0].initial"),
    ({"joint_initial": [0.5, 0.5]}, "joint_initial"),
    ({"joint_initial": [[0.5, 0.6], [0.0, 0.0]]}, "joint_initial"),
    ({"joint_transition": np.eye(4).tolist()}, "joint_transition"),
    ({"horizon": 2}, "joint_transition"),
    ({"horizon": 2, "joint_transition": np.full((4, 3), 1 / 3).tolist()}, "joint_transition"),
    ({"joint_initial": [[0.4, True], [0.1, 0.4]]}, "joint_initial"),
])
def test_joint_law_validation(patch, field):
    base = {"agents": [{"types": [1, 2]}, {"types": [1, 2]}], "joint_initial": [[0.4, 0.1], [0.1, 0.4]],
            "decisions": {"kind": "allocate"}}
    base.update(patch)
    with pytest.raises(ModelError) as e:
        Environment.from_dict(base)
    assert e.value.field.startswith(field)


def test_correlated_program_scope():
    env = Environment.from_dict({"horizon": 2, "agents": [{"types": [1, 2]}, {"types": [1, 2]}],
                                 "joint_initial": [0.4, 0.1, 0.1, 0.4], "joint_transition": np.full((4, 4), 0.25).tolist(),
                                 "decisions": {"kind": "allocate"}})
    for kw, field in (({"disclosure": "private"}, "disclosure"), ({"method": "cg"}, "method")):
        with pytest.raises(ModelError) as e:
            solve_revenue(env, **kw)
        assert e.value.field == field
    q = Environment.from_dict({"agents": [{"types": [1, 2]}, {"types": [1, 2]}], "joint_initial": [0.4, 0.1, 0.1, 0.4],
                               "decisions": {"kind": "quantity", "cost_quadratic": 1.0}})
    with pytest.raises(ModelError) as e:
        solve_revenue(q)
    assert e.value.field == "decisions.kind"
