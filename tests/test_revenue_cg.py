"""Constraint generation (method="cg") for the revenue program: same optimum as the full LP,
a mechanism that passes the independent verifier, and a Solution of the FULL program whose
certificate checks against the full constraint set."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import dmd_opt.interfaces.models as io
from dmd_opt.core.environment import Environment
from dmd_opt.core.errors import ModelError
from dmd_opt.families.revenue.solve import solve_revenue
from dmd_opt.families.revenue.cg import solve_revenue_cg

from conftest import MODELS
from test_revenue_properties import make_env

REVENUE_MODELS = sorted(p.name for p in MODELS.glob("*.toml") if io.load(p).kind == "revenue")
REL = 1e-9


def _same_optimum(cg, full, env):
    assert cg.status == full.status == "optimal"
    assert cg.objective == pytest.approx(full.objective, rel=REL, abs=REL * env.payoff_scale)


def _full_program_solution(cg, tol=1e-7):
    """The CG Solution is one of the full program: its x satisfies every row, its
    activities are A x, its duals (zeros off the generated rows) price the full program."""
    prog, sol = cg.program, cg.solution
    eps = tol * cg.env.payoff_scale
    assert len(sol.row_activity) == len(sol.row_dual) == prog.n_rows
    A = prog.matrix()
    act = A @ sol.x
    assert np.max(np.abs(act - sol.row_activity)) <= 1e-9 * cg.env.payoff_scale
    assert np.all(act >= prog.row_lower - eps) and np.all(act <= prog.row_upper + eps)
    # reduced costs of the full program from the padded dual agree with HiGHS' column duals
    # (within HiGHS' tolerances: solved in presolve, these programs' duals are off by ~1e-6)
    rc = prog.objective_vector() - A.T @ sol.row_dual
    if prog.q_diag is not None:
        rc = rc + prog.q_diag * sol.x
    assert np.max(np.abs(rc - sol.col_dual)) <= 1e-5 * max(1.0, np.abs(sol.row_dual).max())
    # complementary slackness on the full program
    fam = prog.row_families()
    ic = fam == "IC"
    assert np.all(np.abs(sol.row_dual[ic] * (act[ic] - prog.row_lower[ic])) <= 1e-7 * cg.env.payoff_scale)
    cgi = sol.info["cg"]
    assert cgi["ic_rows_generated"] <= cgi["ic_rows_full"] == int(ic.sum())
    assert np.count_nonzero(sol.row_dual[ic]) <= cgi["ic_rows_generated"]


@pytest.mark.parametrize("name", REVENUE_MODELS)
def test_shipped_models_cg_equals_full(name, tmp_path):
    m = io.load(MODELS / name)
    if m.options.get("ic", "bayesian") != "bayesian" or m.options.get("money") is False \
            or m.options.get("participation") == "expost" or not m.data.independent or m.data.reads_own_history:
        pytest.skip("constraint generation covers Bayesian IC with money")
    if m.options.get("method") == "reduced_form":
        pytest.skip("an auction over interim rules (its options need the reduced form)")
    full = io.solve_model(m)
    if full.status == "infeasible":
        pytest.skip("infeasible model")
    cg = io.solve_model(m, method="cg")
    env = m.data
    _same_optimum(cg, full, env)
    part = cg.options["participation"]
    assert cg.verification.passed(part, budget_balance=cg.options["budget_balance"])
    _full_program_solution(cg)
    # certificate of the full program, checked without a solver against the full constraint set
    from dmd_opt.certificates import check_certificate
    path = tmp_path / "cg.cert.json"
    cg.certificate(path, model=m)
    res = check_certificate(path, model=io.load(MODELS / name))
    assert res.ok, res.verdict


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 100_000),
       st.sampled_from([(1, 3, 3), (1, 4, 2), (1, 2, 4), (2, 2, 2), (2, 1, 3), (1, 3, 4)]),
       st.sampled_from(["ex_ante", "interim", "periodic"]),
       st.sampled_from(["public", "private"]),
       st.sampled_from(["adjacent_down", "none"]))
def test_random_environments_cg_equals_full(seed, dims, part, disclosure, initial):
    env = make_env(seed, *dims)
    full = solve_revenue(env, participation=part, disclosure=disclosure, verify=False)
    cg = solve_revenue_cg(env, participation=part, disclosure=disclosure, initial=initial, basis=True)
    _same_optimum(cg, full, env)
    assert cg.verification.passed(part)
    _full_program_solution(cg)
    info = cg.solution.info["cg"]
    assert info["rounds"] == len(info["per_round"]) >= 1
    assert info["per_round"][-1]["violated"] == 0
    # the basis is one of the full program: ungenerated rows' slacks are basic
    assert len(cg.solution.basis["row_status"]) == cg.program.n_rows


def test_rounds_are_needed_from_an_empty_start_and_cold_equals_warm():
    """Non-persistent transitions (types tend to flip): upward and non-adjacent IC rows bind,
    so a start without IC rows needs several rounds; warm (addRows) and cold re-solves agree."""
    env = Environment.from_dict({
        "horizon": 3, "discount": 0.9,
        "agents": [{"types": [1.0, 2.0, 4.0], "initial": [0.3, 0.3, 0.4],
                    "transition": [[0.1, 0.1, 0.8], [0.4, 0.2, 0.4], [0.8, 0.1, 0.1]]}],
        "decisions": {"kind": "allocate", "cost": 0.5}})
    full = solve_revenue(env, verify=False)
    warm = solve_revenue_cg(env, initial="none")
    cold = solve_revenue_cg(env, initial="none", warm=False)
    for r in (warm, cold):
        _same_optimum(r, full, env)
        assert r.verification.passed("interim")
        assert r.solution.info["cg"]["rounds"] >= 2
        assert r.solution.info["cg"]["ic_rows_generated"] < r.solution.info["cg"]["ic_rows_full"]


def test_quantity_model_and_multi_agent_private():
    for kw in ({"dims": (1, 3, 3), "quantity": True}, {"dims": (2, 2, 2), "quantity": False}):
        env = make_env(7, *kw["dims"], quantity=kw["quantity"])
        for disc in ("public", "private"):
            full = solve_revenue(env, disclosure=disc, verify=False)
            cg = solve_revenue(env, disclosure=disc, method="cg")
            _same_optimum(cg, full, env)
            assert cg.verification.passed("interim")


def test_fixed_allocation_and_budget_balance_options():
    env = make_env(3, 2, 2, 2)
    for kw in ({"fixed_allocation": "efficient"}, {"budget_balance": True, "participation": "ex_ante"}):
        full = solve_revenue(env, verify=False, **kw)
        cg = solve_revenue(env, method="cg", **kw)
        assert cg.status == full.status
        if full.status == "optimal":
            _same_optimum(cg, full, env)


def test_bad_options_name_the_field():
    env = make_env(1, 1, 2, 2)
    with pytest.raises(ModelError, match="method"):
        solve_revenue(env, method="lazy")
    with pytest.raises(ModelError, match="backend"):
        solve_revenue(env, method="cg", backend="cvxpy")
    with pytest.raises(ModelError, match="initial"):
        solve_revenue_cg(env, initial="all")


def test_model_file_option_and_cg_report():
    m = io.load(MODELS / "battaglini.toml")
    r = io.solve_model(m, method="cg")
    cg = r.solution.info["cg"]
    assert set(cg["per_round"][0]) >= {"round", "rows", "solve_s", "check_s", "violated"}
    assert any("constraint generation" in line for line in r.summary())
