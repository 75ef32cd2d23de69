"""Payment selection on the optimal face (families/revenue/selection.py).

Independent numbers: Myerson's ironed revenue (tests/independent.py) for R*, and the
least-squares payments recomputed by a second formulation written here by enumeration
(BIC + interim IR + ex-post IR + equal treatment + revenue floor, min Σp²) and solved by
cvxpy/Clarabel; the independent verifier checks every selected mechanism.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

from dmd_opt.core.environment import Environment
from dmd_opt.core.errors import ModelError
from dmd_opt.families.revenue.solve import solve_revenue
from dmd_opt.families.revenue.selection import decision_swap, parse_selection, symmetric_classes
from dmd_opt.interfaces.cli import app
from dmd_opt.interfaces.models import load, solve_model

from conftest import MODELS
from independent import ironed_virtual_values

V4, F4 = [1.0, 2.0, 3.0, 4.0], [0.3, 0.05, 0.3, 0.35]


def auction(values, probs, n=2, horizon=1):
    return Environment.from_dict({"horizon": horizon,
                                  "agents": [{"types": list(values), "initial": list(probs)}] * n,
                                  "decisions": {"kind": "allocate"}})


def myerson_revenue(values, probs, n):
    phib = ironed_virtual_values(values, probs)
    f = np.asarray(probs)
    grids = np.meshgrid(*[np.arange(len(values))] * n, indexing="ij")
    prob = np.prod([f[g] for g in grids], axis=0)
    return float((prob * np.maximum(np.max([phib[g] for g in grids], axis=0), 0)).sum())


def least_squares_payments(values, probs, R, n=2):
    """min Σ p² over BIC, interim IR, ex-post IR, equal-treatment, revenue ≥ R auctions
    (static, one good), written by enumeration of profiles; cvxpy/Clarabel."""
    cp = pytest.importorskip("cvxpy")
    v, f = np.asarray(values), np.asarray(probs)
    m = len(v)
    prof = list(itertools.product(range(m), repeat=n))
    idx = {k: j for j, k in enumerate(prof)}
    x = cp.Variable((len(prof), n), nonneg=True)      # x[k, i] = P(i gets the good)
    p = cp.Variable((len(prof), n))
    pr = np.array([np.prod(f[list(k)]) for k in prof])
    cons = [cp.sum(x, axis=1) <= 1]
    for i in range(n):
        for th in range(m):
            others = [k for k in prof if k[i] == th]
            w = np.array([pr[idx[k]] / f[th] for k in others])

            def payoff(report, true):
                rows = [idx[k[:i] + (report,) + k[i + 1:]] for k in others]
                return w @ (v[true] * x[rows, i] - p[rows, i])
            cons.append(payoff(th, th) >= 0)
            cons += [payoff(th, th) >= payoff(r, th) for r in range(m) if r != th]
    for j, k in enumerate(prof):
        for i in range(n):
            cons.append(v[k[i]] * x[j, i] - p[j, i] >= 0)                      # ex-post IR
            sw = list(k)
            for a in range(n - 1):                                             # equal treatment
                sw2 = sw.copy()
                sw2[a], sw2[a + 1] = sw2[a + 1], sw2[a]
                j2 = idx[tuple(sw2)]
                perm = list(range(n))
                perm[a], perm[a + 1] = perm[a + 1], perm[a]
                cons.append(x[j2, perm[i]] == x[j, i])
                cons.append(p[j2, perm[i]] == p[j, i])
    cons.append(pr @ cp.sum(p, axis=1) >= R - 1e-12)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(p)), cons)
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    assert prob.status in ("optimal", "optimal_inaccurate")
    return prof, np.asarray(p.value), float(prob.value)


def _node_payments(mech, prof):
    """Payments of a static mechanism indexed like ``prof`` (C order = the tree's)."""
    return mech.payments[0]


def test_ironing_auction_default_selection_against_independent_least_squares():
    r = solve_model(load(MODELS / "ironing_2.toml"))
    R = myerson_revenue(V4, F4, 2)
    assert r.objective == pytest.approx(R, abs=1e-12)
    sel = r.selection
    assert sel.status == "optimal" and sel.rules == ("expost_ir", "symmetric", "min_square")
    assert sel.chosen_by == "min_square" and sel.symmetric_classes == [[0, 1]]
    assert -1e-12 <= sel.objective_loss <= sel.epsilon + 1e-12 and sel.epsilon <= 1e-9 * r.env.payoff_scale
    assert r.revenue == pytest.approx(R, abs=1e-9)
    m = r.mechanism
    # ex-post IR: no loser pays, no winner pays above its value
    u = np.stack([m.truthful_utility(i, 0) for i in range(2)], axis=1)
    assert np.all(u - m.payments[0] >= -1e-9)
    # equal treatment: symmetric rents and the permuted mechanism
    rents = [a.root_values for a in r.verification.agents]
    np.testing.assert_allclose(rents[0], rents[1], atol=1e-9)
    P = m.payments[0].reshape(4, 4, 2)
    np.testing.assert_allclose(P[:, :, 0], P[:, :, 1].T, atol=1e-9)
    X = m.allocation[0].reshape(4, 4, 3)
    np.testing.assert_allclose(X[:, :, 1], X[:, :, 2].T, atol=1e-9)
    # the least-squares payments, recomputed independently
    prof, p_ref, val = least_squares_payments(V4, F4, R)
    np.testing.assert_allclose(m.payments[0], p_ref, atol=1e-6)
    assert sel.norm_value == pytest.approx(val, rel=1e-7)
    assert r.verification.passed("interim")
    d = r.to_dict()
    assert d["selection"]["chosen_by"] == "min_square" and d["options"]["selection"] == "expost_ir,symmetric,min_square"
    assert any("payment selection" in line for line in r.summary())


def test_none_keeps_the_vertex_and_presets():
    r = solve_model(load(MODELS / "ironing_2.toml"), selection="none")
    assert r.selection.rules == () and r.selection.chosen_by.startswith("the solver")
    assert r.revenue == pytest.approx(myerson_revenue(V4, F4, 2), abs=1e-9)
    assert parse_selection("min_abs") == ("symmetric", "min_abs")
    assert parse_selection(["expost_ir", "min_abs"]) == ("expost_ir", "min_abs")
    assert parse_selection("expost_ir, symmetric") == ("expost_ir", "symmetric")
    for bad in ("magic", ["min_square", "min_abs"], ["symmetric", "expost_ir"], 3, ["symmetric", "symmetric"]):
        with pytest.raises(ModelError, match="^selection"):
            parse_selection(bad)
    with pytest.raises(ModelError, match="^selection"):
        solve_model(load(MODELS / "ironing_2.toml"), selection="magic")


def test_min_abs_and_symmetric_only():
    env = auction(V4, F4)
    R = myerson_revenue(V4, F4, 2)
    for rule in ("min_abs", "symmetric", "expost_ir,symmetric,min_abs"):
        r = solve_revenue(env, selection=rule)
        assert r.selection.status == "optimal", r.selection.message
        assert r.revenue == pytest.approx(R, abs=1e-9)
        assert r.verification.passed("interim")
        rents = [a.root_values for a in r.verification.agents]
        np.testing.assert_allclose(rents[0], rents[1], atol=1e-9)
    assert r.selection.norm == "sum of absolute payments"
    assert r.selection.norm_value == pytest.approx(np.abs(r.mechanism.payments[0]).sum(), rel=1e-9)


def test_dynamic_models_where_expost_ir_is_infeasible_or_not():
    """Handicap auction (two periods, two bidders): the selected mechanism keeps the optimum,
    passes the verifier and treats the bidders alike; ex-post IR violations are minimised
    and reported."""
    for name in ("handicap_auction.toml", "courty_li_fosd.toml", "battaglini.toml", "mussa_rosen_3_bunching.toml"):
        model = load(MODELS / name)
        ref = solve_model(model, selection="none")
        r = solve_model(model)
        sel = r.selection
        assert sel.status == "optimal", (name, sel.message)
        assert r.objective == pytest.approx(ref.objective, abs=1e-12)
        assert abs(r.revenue - ref.revenue) <= sel.epsilon + 1e-9 * r.env.payoff_scale
        part = r.options["participation"]
        assert r.verification.passed(None if part == "none" else part), name
        assert sel.ir_violation_total is not None and sel.ir_violation_total >= 0
        if name == "handicap_auction.toml":
            assert sel.symmetric_classes == [[0, 1]]
            rents = [a.root_values for a in r.verification.agents]
            np.testing.assert_allclose(rents[0], rents[1], atol=1e-8)
        if r.env.quantity is not None:          # quantities stay the optimum's
            for a, b in zip(r.mechanism.allocation, ref.mechanism.allocation):
                np.testing.assert_allclose(a, b, atol=1e-6)


def test_symmetry_detection():
    env = auction(V4, F4, n=3)
    assert symmetric_classes(env) == [[0, 1, 2]]
    np.testing.assert_array_equal(decision_swap(env, 0, 2, 0), [0, 3, 2, 1])
    asym = Environment.from_dict({"agents": [{"types": V4, "initial": F4},
                                             {"types": V4, "initial": [0.25] * 4}],
                                  "decisions": {"kind": "allocate"}})
    assert symmetric_classes(asym) == []
    # table decisions: a permutation of the labels exchanging the agents' utilities
    tab = Environment.from_dict({
        "agents": [{"types": [1, 2], "initial": [0.5, 0.5]}] * 2,
        "decisions": {"kind": "table", "labels": ["A to 2", "none", "A to 1"],
                      "utilities": [[[0, 0], [0, 0], [1, 2]], [[1, 2], [0, 0], [0, 0]]]}})
    assert symmetric_classes(tab) == [[0, 1]]
    np.testing.assert_array_equal(decision_swap(tab, 0, 1, 0), [2, 1, 0])
    r = solve_revenue(tab)
    X = r.mechanism.allocation[0].reshape(2, 2, 3)
    np.testing.assert_allclose(X[:, :, 0], X[:, :, 2].T, atol=1e-9)


def test_cli_and_model_file_option(tmp_path):
    raw = (MODELS / "ironing_2.toml").read_text().replace('participation = "interim"',
                                                          'participation = "interim"\nselection = "min_abs"')
    f = tmp_path / "m.toml"
    f.write_text(raw)
    assert load(f).options["selection"] == "min_abs"
    out = CliRunner().invoke(app, ["solve", str(f), "--json"])
    assert out.exit_code == 0, out.output
    d = json.loads(out.stdout)
    assert d["selection"]["rules"] == ["symmetric", "min_abs"] and d["verification"]["passed"]
    out = CliRunner().invoke(app, ["solve", str(f), "--selection", "none"])
    assert out.exit_code == 0 and "payment selection: none" in out.output
    out = CliRunner().invoke(app, ["solve", str(f), "--selection", "nonsense"])
    assert out.exit_code == 2 and "selection" in out.output


@settings(max_examples=10, deadline=None)
@given(n=st.integers(2, 3), m=st.integers(2, 3), seed=st.integers(0, 10_000),
       part=st.sampled_from(["interim", "ex_ante"]))
def test_random_symmetric_auctions_keep_the_optimum(n, m, seed, part):
    rng = np.random.default_rng(seed)
    vals = np.sort(rng.choice(np.arange(1, 10), m, replace=False)).astype(float)
    env = auction(vals, rng.dirichlet(np.ones(m)), n=n)
    ref = solve_revenue(env, participation=part, selection="none")
    r = solve_revenue(env, participation=part)
    assert r.selection.status == "optimal"
    assert r.revenue >= ref.revenue - r.selection.epsilon - 1e-10 * env.payoff_scale
    assert r.verification.passed(part)
    rents = np.array([a.root_values for a in r.verification.agents])
    assert np.allclose(rents, rents[0], atol=1e-8)
    assert r.selection.norm_value <= float(np.sum(ref.mechanism.payments[0] ** 2)) + 1e-6


def test_default_preset_skips_large_programs_and_named_rules_do_not(monkeypatch):
    """The "default" preset keeps the solver's vertex above its column limit (and says so, with
    the vertex verified); naming the rules runs them whatever the size."""
    import dmd_opt.families.revenue.solve as S
    env = auction([1, 2, 3, 4], [0.25] * 4)
    vertex = solve_revenue(env, selection="none")
    monkeypatch.setattr(S, "DEFAULT_COLUMN_LIMIT", vertex.program.n_vars - 1)
    skipped = solve_revenue(env)
    assert skipped.selection.status == "skipped" and "columns" in skipped.selection.message
    assert any("skipped" in line for line in skipped.summary())
    np.testing.assert_array_equal(skipped.mechanism.payments[0], vertex.mechanism.payments[0])
    assert skipped.verification is not None and skipped.verification.max_regret <= 1e-9 * env.payoff_scale
    named = solve_revenue(env, selection="expost_ir,symmetric,min_square")
    assert named.selection.status == "optimal"
    assert named.objective == pytest.approx(vertex.objective, abs=1e-9)


def test_selection_time_limit_keeps_the_verified_vertex(monkeypatch):
    """A selection that runs out of time keeps the solver's vertex, says so, and the vertex is
    verified (a badly scaled program — one value of 2^31 — once kept the QP stage busy for minutes)."""
    import dmd_opt.families.revenue.selection as S
    monkeypatch.setattr(S, "TIME_LIMIT", 0.0)
    env = auction([1, 2, 2 ** 31], [0.4, 0.4, 0.2])
    vertex = solve_revenue(env, selection="none")
    r = solve_revenue(env)
    assert r.selection.status == "failed" and "time limit" in r.selection.message
    np.testing.assert_array_equal(r.mechanism.payments[0], vertex.mechanism.payments[0])
    assert r.objective == vertex.objective
    assert r.verification is not None and r.verification.max_regret <= 1e-9 * env.payoff_scale
