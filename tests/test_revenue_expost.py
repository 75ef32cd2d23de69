"""Dominant-strategy / ex-post programs, programs without money and uncapped quantities.

Every number is checked against something computed independently: the strategy-enumeration
LP of ``tests/independent.py`` (:func:`brute_force_general`), Myerson's theorem (with
independent private values the Bayesian and dominant-strategy optima agree), closed forms
(Mussa–Rosen, Battaglini) and the recursive Guo–Hörner solver.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dmd_opt.core.environment import Environment
from dmd_opt.core.errors import ModelError
from dmd_opt.families.revenue.program import expected_efficient_surplus, revenue_program
from dmd_opt.families.revenue.solve import solve_revenue
from dmd_opt.interfaces.models import load
from independent import BruteModel, battaglini_low_path, brute_force_general
from test_revenue_properties import make_env

TOL = 1e-7


# ------------------------------------------------------------------ ex-post IC / IR
@pytest.mark.parametrize("name", ["ironing_2", "ironing_3", "bilateral_trade_impossible"])
def test_dsic_equals_bic_on_shipped_static_models(models_dir, name):
    """Myerson (1981) / Manelli–Vincent: independent private values, linear utilities —
    dominant-strategy IC with ex-post IR loses nothing against Bayesian IC with interim IR."""
    env = load(models_dir / f"{name}.toml").data
    bic = solve_revenue(env, participation="interim")
    dsic = solve_revenue(env, participation="expost", ic="expost")
    assert dsic.status == bic.status == "optimal"
    assert dsic.objective == pytest.approx(bic.objective, abs=1e-8)
    fam = dsic.program.summary()["families"]
    N, R = env.n_agents, int(np.prod(env.profile_shape(0)))
    n = env.n_types(0, 0)
    assert fam["IC_expost"] == N * R * (n - 1) and fam["IR_expost"] == N * R and "IC" not in fam


def test_dsic_auction_model(models_dir):
    """The shipped DSIC auction: ex-post IC and IR, and the Bayesian optimum equals it."""
    m = load(models_dir / "dsic_auction.toml")
    assert m.options["ic"] == "expost" and m.options["participation"] == "expost"
    r = m.solve()
    bic = solve_revenue(m.data, participation="interim")
    assert r.objective == pytest.approx(bic.objective, abs=1e-8)
    assert r.objective == pytest.approx(brute_force_general(BruteModel.from_env(m.data), "expost", "expost"),
                                        abs=1e-7)
    x = r.mechanism.allocation[0]
    pay = r.mechanism.payments[0]
    u = [r.mechanism.flow_utility(i, 0) for i in range(2)]
    prof = r.mechanism.tree.last_reports(0)
    for i in range(2):                    # ex-post IR: utility ≥ 0 at every profile
        assert np.all(u[i][np.arange(len(prof)), prof[:, i]] - pay[:, i] >= -TOL)
    assert x.shape == (9, 3)


def test_handicap_auction_public_ex_post_equals_bayesian(models_dir):
    """Esö–Szentes: the handicap auction is periodic ex-post IC; under public disclosure the
    dynamic DSIC optimum equals the Bayesian one (brute force confirms both)."""
    env = load(models_dir / "handicap_auction.toml").data
    bic = solve_revenue(env, participation="interim", disclosure="public")
    ep = solve_revenue(env, participation="interim", disclosure="public", ic="expost")
    assert ep.objective == pytest.approx(bic.objective, abs=1e-8)
    assert ep.verification.max_regret <= TOL * env.payoff_scale   # ex post ⇒ Bayesian


@settings(max_examples=10)
@given(st.integers(0, 100_000), st.sampled_from([(2, 1, 2), (2, 1, 3), (3, 1, 2), (2, 2, 2), (1, 2, 2)]),
       st.sampled_from([("expost", "interim"), ("expost", "expost"), ("bayesian", "interim")]))
def test_matches_strategy_enumeration(seed, dims, notions):
    ic, part = notions
    env = make_env(seed, *dims)
    r = solve_revenue(env, participation=part, ic=ic)
    assert r.status == "optimal"
    assert r.objective == pytest.approx(brute_force_general(BruteModel.from_env(env), ic, part), abs=1e-7)


@settings(max_examples=15)
@given(st.integers(0, 100_000), st.sampled_from([(2, 1, 2), (2, 1, 3), (3, 1, 2), (2, 2, 2)]))
def test_dsic_at_most_bic_equal_for_single_good(seed, dims):
    """Always: ex-post ⊂ Bayesian, so revenue(DSIC) ≤ revenue(BIC).  One good, independent
    private values, one period: equal (Myerson's optimal auction is dominant-strategy IC)."""
    env = make_env(seed, *dims)
    bic = solve_revenue(env, participation="interim")
    dsic = solve_revenue(env, participation="expost", ic="expost")
    assert dsic.objective <= bic.objective + 1e-8
    if env.horizon == 1:
        assert dsic.objective == pytest.approx(bic.objective, abs=1e-7)
    assert dsic.verification.max_regret <= TOL * env.payoff_scale


def test_expost_row_counts_dynamic():
    env = make_env(3, 2, 2, 2)
    prog = revenue_program(env, participation="expost", ic="expost")
    fam = prog.summary()["families"]
    # periods 1, 2: histories 1 and 4; own types 2; others' current types 2; one misreport
    assert fam["IC_expost"] == 2 * (1 + 4) * 2 * 2 * 1
    assert fam["IR_expost"] == 2 * (1 + 4) * 2 * 2


def test_expost_needs_public_histories():
    env = make_env(5, 2, 2, 2)
    with pytest.raises(ModelError) as e:
        revenue_program(env, ic="expost", disclosure="private")
    assert e.value.field == "ic"
    with pytest.raises(ModelError) as e:
        revenue_program(env, participation="expost", disclosure="private")
    assert e.value.field == "participation"
    static = make_env(5, 2, 1, 2)        # one period: private and public coincide
    assert revenue_program(static, ic="expost", disclosure="private").summary()["families"]["IC_expost"] == 8


@pytest.mark.parametrize("bad,field", [({"ic": "dominant"}, "ic"), ({"money": "no"}, "money"),
                                       ({"money": 0}, "money"), ({"participation": "ex-post"}, "participation"),
                                       ({"method": "cg", "ic": "expost"}, "method"),
                                       ({"method": "cg", "money": False}, "method")])
def test_bad_options(bad, field):
    env = make_env(1, 2, 1, 2)
    with pytest.raises(ModelError) as e:
        solve_revenue(env, **bad)
    assert e.value.field == field


# ------------------------------------------------------------------ no money
@settings(max_examples=8)
@given(st.integers(0, 100_000), st.sampled_from([(1, 2, 2), (2, 1, 2), (2, 2, 2)]),
       st.sampled_from(["welfare", "revenue"]))
def test_no_money(seed, dims, objective):
    """Transfers fixed at 0: revenue = −expected cost; the optimum matches strategy enumeration."""
    env = make_env(seed, *dims)
    r = solve_revenue(env, money=False, objective=objective, participation="none")
    assert r.status == "optimal"
    assert np.all(np.concatenate([p.ravel() for p in r.mechanism.payments]) == 0.0)
    cost = r.mechanism._discounted(r.mechanism.principal_cost)
    assert r.revenue == pytest.approx(-cost, abs=1e-9)
    assert r.verification.max_regret <= TOL * env.payoff_scale
    bf = brute_force_general(BruteModel.from_env(env), participation="none", money=False, objective=objective)
    assert r.objective == pytest.approx(bf, abs=1e-7)
    assert r.objective <= solve_revenue(env, objective=objective, participation="none").objective + 1e-8 \
        if objective == "welfare" else True


def test_guo_horner_finite_as_revenue_program():
    """Guo–Hörner's finite problem (values L < c < H i.i.d., no money, the principal earns
    a(v − c)) is the welfare program without money; the recursive solver on a fine grid
    approaches the exact tree optimum from below (payoffs normalised by 1 − β there)."""
    from dmd_opt.interfaces.models import solve_model
    L, H, c, beta, q, T = 0.5, 2.0, 1.0, 0.9, 0.5, 3
    env = Environment.from_dict({"horizon": T, "discount": beta,
                                 "agents": [{"types": [L, H], "labels": ["L", "H"], "initial": [1 - q, q],
                                             "transition": [[1 - q, q], [1 - q, q]]}],
                                 "decisions": {"kind": "allocate", "cost": c}})
    tree = solve_revenue(env, objective="welfare", money=False, participation="none")
    gh = solve_model({"kind": "guo_horner", "L": L, "H": H, "c": c, "beta": beta, "q": q, "horizon": T,
                      "grid": {"n": 201}})
    exact = (1 - beta) * tree.objective
    assert gh.objective <= exact + 1e-9
    assert gh.objective == pytest.approx(exact, abs=1e-4)
    # without money the first best is out of reach: the low type would claim H
    assert tree.objective < expected_efficient_surplus(env) - 0.1


def test_no_money_model(models_dir):
    """The shipped model is Guo–Hörner's finite problem over four periods: the recursive
    solver (promised utility on a grid, normalised by 1 − β) approaches it from below."""
    from dmd_opt.interfaces.models import solve_model
    m = load(models_dir / "no_money_allocation.toml")
    assert m.options["money"] is False
    r = m.solve()
    assert r.status == "optimal"
    assert np.all(np.concatenate([p.ravel() for p in r.mechanism.payments]) == 0.0)
    assert r.revenue == pytest.approx(-r.mechanism._discounted(r.mechanism.principal_cost), abs=1e-9)
    gh = solve_model({"kind": "guo_horner", "L": 0.5, "H": 2.0, "c": 1.0, "beta": 0.9, "q": 0.5, "horizon": 4,
                      "grid": {"n": 201}})
    exact = (1 - 0.9) * r.objective
    assert gh.objective <= exact + 1e-9
    assert gh.objective == pytest.approx(exact, abs=2e-4)


# ------------------------------------------------------------------ quantities without a cap
def _mussa_rosen_two(thL, thH, fL, c2):
    """Closed form, u = θq, c(q) = c2 q²/2, interim IR: q_H efficient, q_L = (θ_L − f_H/f_L Δθ)⁺/c2."""
    fH = 1 - fL
    qH, qL = thH / c2, max(0.0, thL - fH / fL * (thH - thL)) / c2
    surplus = fL * (thL * qL - c2 * qL ** 2 / 2) + fH * (thH * qH - c2 * qH ** 2 / 2)
    return surplus - fH * (thH - thL) * qL, qL, qH


@pytest.mark.parametrize("thL,thH,fL,c2", [(1.0, 2.0, 0.6, 1.0), (3.0, 7.0, 0.8, 0.5), (1.0, 2.0, 0.4, 2.0)])
def test_uncapped_quantity_two_types(thL, thH, fL, c2):
    env = Environment.from_dict({"agents": [{"types": [thL, thH], "initial": [fL, 1 - fL]}],
                                 "decisions": {"kind": "quantity", "cost_quadratic": c2}})
    assert not env.quantity.bounded
    r = solve_revenue(env)
    rev, qL, qH = _mussa_rosen_two(thL, thH, fL, c2)
    assert r.objective == pytest.approx(rev, abs=1e-7)
    assert r.mechanism.allocation[0][:, 0] == pytest.approx([qL, qH], abs=1e-6)
    assert r.verification.max_regret <= TOL * env.payoff_scale
    assert np.isinf(r.program.col_upper[r.program.block_slice("q")]).all()


def test_uncapped_battaglini_low_path(models_dir):
    """Battaglini (2005): along the all-low path q_t = θ_L − μ_H Δθ (P_HH − P_LH)^t / Pr(L^{t+1})."""
    raw = dict(load(models_dir / "battaglini.toml").data.source)
    raw["decisions"] = {"kind": "quantity", "cost_quadratic": 1.0}
    env = Environment.from_dict(raw)
    r = solve_revenue(env)
    P = env.transition(0, 0)
    want = battaglini_low_path(1.0, 2.0, 0.5, P, 3)
    got = [r.mechanism.allocation[t][0, 0] for t in range(3)]       # node 0 = the all-low history
    assert got == pytest.approx(want, abs=1e-6)


def test_quantity_cap_required_without_convex_cost():
    with pytest.raises(ModelError) as e:
        Environment.from_dict({"agents": [{"types": [1, 2], "initial": [0.5, 0.5]}],
                               "decisions": {"kind": "quantity", "cost_linear": 0.5}})
    assert e.value.field == "decisions.qmax"
    with pytest.raises(ModelError) as e:
        Environment.from_dict({"agents": [{"types": [1, 2], "initial": [0.5, 0.5]}],
                               "decisions": {"kind": "quantity", "cost_quadratic": True}})
    assert e.value.field == "decisions.cost_quadratic"


# ------------------------------------------------------------------ the verifier's ex-post check
def _interim_second_price(env):
    """Efficient allocation with each bidder paying the *interim expected* second price of its
    own report: Bayesian IC (same interim rule as the second-price auction) but not ex post."""
    from dmd_opt.mechanisms.tree import TreeMechanism
    from dmd_opt.verify import verify
    v = [env.type_values(i, 0) for i in range(2)]
    f = [env.agents[i].initial for i in range(2)]
    x = np.zeros((4, 3))
    pay = np.zeros((4, 2))
    for k, (a, b) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        x[k, 1 if v[0][a] >= v[1][b] else 2] = 1.0
    for k, (a, b) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        pay[k, 0] = sum(f[1][c] * (v[1][c] if v[0][a] >= v[1][c] else 0.0) for c in range(2))
        pay[k, 1] = sum(f[0][c] * (v[0][c] if v[1][b] > v[0][c] else 0.0) for c in range(2))
    mech = TreeMechanism(env, [x], [pay])
    return mech, verify(mech), verify(mech, "periodic_expost")


def test_verifier_separates_bayesian_from_expost():
    env = Environment.from_dict({"agents": [{"types": [1.0, 3.0], "initial": [0.5, 0.5]},
                                            {"types": [1.0, 3.0], "initial": [0.5, 0.5]}],
                                 "decisions": {"kind": "allocate"}})
    mech, bayes, ep = _interim_second_price(env)
    assert bayes.max_regret <= 1e-12                    # Bayesian IC
    # Ex post, bidder 1 (ties win) with value 3 facing a rival of value 1 pays 2 when truthful
    # and 0.5 when it bids 1 (it still wins): regret 1.5.  Bidder 2 with value 3 facing 3 loses
    # and still pays 0.5: an ex-post participation violation of 0.5.
    assert ep.notion == "periodic_expost" and ep.max_regret == pytest.approx(1.5, abs=1e-12)
    assert ep.ir_violation("expost") == pytest.approx(0.5, abs=1e-12) and bayes.ir_violation("interim") <= 1e-12
    rec = solve_revenue(env, ic="expost", participation="expost").to_dict()["verification"]
    assert rec["notion"] == "periodic_expost" and rec["passed"] and rec["participation"] == "expost"


def test_quantity_expost_checked_by_tree_dp():
    """Two consumers of a quantity (uncapped, quadratic cost): the DSIC optimum passes the
    periodic ex-post check of the tree DP; a Bayesian-only perturbation does not."""
    from dmd_opt.verify import verify
    env = Environment.from_dict({"agents": [{"types": [1.0, 2.0], "initial": [0.5, 0.5]},
                                            {"types": [1.0, 2.0], "initial": [0.5, 0.5]}],
                                 "decisions": {"kind": "quantity", "cost_quadratic": 1.0}})
    r = solve_revenue(env, ic="expost", participation="expost")
    assert r.verification.notion == "periodic_expost"
    assert r.verification.max_regret <= TOL * env.payoff_scale
    assert r.verification.ir_violation("expost") <= TOL * env.payoff_scale
    bic = solve_revenue(env)
    assert r.objective == pytest.approx(bic.objective, abs=1e-7)
    m = r.mechanism
    pay = [p.copy() for p in m.payments]
    pay[0][:, 0] += np.array([0.1, -0.1, -0.1, 0.1])     # zero mean for each own report: Bayesian IC kept
    from dmd_opt.mechanisms.tree import TreeMechanism
    bent = TreeMechanism(env, [a.copy() for a in m.allocation], pay)
    assert verify(bent).max_regret <= 1e-9
    assert verify(bent, "periodic_expost").max_regret > 0.05
