"""Every shipped revenue model solves on all three backends with the same answer.

For each models/*.toml of kind "revenue": the same status everywhere; for
optimal ones the same objective (1e-6 relative), a decoded mechanism that the
independent verifier (dmd_opt.verify.bayesian, no LP) accepts, and the same allocation
wherever the optimal-face analysis (dmd_opt.audit.face) certifies the allocation
unique.  The Myerson–Satterthwaite grid (efficient trade fixed, budget
balance, interim IR) is infeasible on every backend, with a Farkas ray.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("dmd_opt.families.revenue.program") is None,
                                reason="dmd_opt.families.revenue.program (the revenue program) is missing")

MODELS = Path(__file__).resolve().parents[1] / "models"
# cvxpy default = HIGHS for LPs, CLARABEL for QPs; Clarabel is also run on the LPs.
ROUTES = [("cvxpy", None), ("cvxpy", "CLARABEL"), ("pyomo", None), ("pyomo", "appsi_highs")]


def unique_dual_rows(prog, sol, tol=1e-9):
    """Rows whose dual is the same at every optimal dual solution.

    The optimal dual set is {(y, z) : Aᵀy + z = ∇f(x*), y, z complementary to
    the optimum x* with the signs of the package convention} — complementary
    slackness with one primal optimum characterises all dual optima (for a
    convex QP with the gradient at its unique optimal Qx* term).  For each
    binding row, min and max of y_r over that polyhedron are two LPs (solved
    with HiGHS); the row's dual is unique when they agree.
    """
    from dmd_opt.optim.program import Program
    from dmd_opt.solvers import solve
    from dmd_opt.solvers.common import gradient

    s = 1.0 if prog.sense == "max" else -1.0
    x, act = sol.x, sol.row_activity
    lo, hi, cl, cu = prog.row_lower, prog.row_upper, prog.col_lower, prog.col_upper
    at_lo, at_hi = np.abs(act - lo) <= tol, np.abs(act - hi) <= tol
    c_lo, c_hi = np.abs(x - cl) <= tol, np.abs(x - cu) <= tol
    # dual bounds: binding upper side → s·y ≥ 0, binding lower side → s·y ≤ 0, free when both
    y_lb = np.where(at_lo, -np.inf, 0.0)
    y_ub = np.where(at_hi, np.inf, 0.0)
    z_lb = np.where(c_lo, -np.inf, 0.0)
    z_ub = np.where(c_hi, np.inf, 0.0)
    if s < 0:
        y_lb, y_ub, z_lb, z_ub = -y_ub, -y_lb, -z_ub, -z_lb
    A = prog.matrix().tocsc()
    At = A.T.tocoo()
    d = Program(name="dual face", sense="min")
    yc = d.add_variables("y", prog.n_rows, y_lb, y_ub)
    zc = d.add_variables("z", prog.n_vars, z_lb, z_ub)
    g = gradient(prog, x)
    n = prog.n_vars
    d.add_constraints("stationarity", n, np.concatenate([At.row, np.arange(n)]),
                      np.concatenate([yc[At.col], zc]), np.concatenate([At.data, np.ones(n)]), g, g)
    unique = []
    for r in np.nonzero(at_lo | at_hi)[0]:
        ext = []
        for sense in ("min", "max"):
            c = np.zeros(d.n_vars)
            c[yc[r]] = 1.0
            d.set_objective(c, sense)
            ds = solve(d)
            # never infeasible: sol's own duals lie in the set; unbounded: y_r not unique
            assert ds.status in ("optimal", "unbounded"), ds.solver_status
            ext.append(ds.objective if ds.status == "optimal" else np.inf)
        if np.isfinite(ext).all() and ext[1] - ext[0] <= 1e-7 * max(1.0, abs(ext[0])):
            unique.append(r)
    return np.asarray(unique, int)


def _revenue_models():
    from dmd_opt.interfaces import models as io
    out = []
    for f in sorted(MODELS.glob("*.toml")):
        if io.load(f).kind == "revenue":
            out.append(f.name)
    return out


@pytest.mark.parametrize("name", _revenue_models())
def test_shipped_revenue_model_agrees_on_every_backend(name):
    from dmd_opt.interfaces import models as io
    from dmd_opt.audit.face import optimal_face
    from dmd_opt.solvers.common import farkas_gap

    model = io.load(MODELS / name)
    part = model.options.get("participation", "interim")
    bb = bool(model.options.get("budget_balance", False))
    ref = io.solve_model(model)
    quadratic = ref.program.q_diag is not None
    unique = None
    if ref.status == "optimal":
        face = optimal_face(ref.program, ref.solution,
                            blocks=tuple(b for b in ("x", "q", "Q") if b in ref.program.var_blocks))
        unique = all(face.unique(b) for b in face.ranges)
        dual_rows = unique_dual_rows(ref.program, ref.solution)
    for backend, solver in ROUTES:
        if quadratic and solver == "appsi_highs":
            continue  # APPSI's HiGHS interface has no quadratic objectives (error status; test_backends)
        r = io.solve_model(model, backend=backend, solver=solver)
        route = (backend, solver)
        assert r.status == ref.status, (route, r.solution.solver_status)
        if ref.status == "infeasible":
            ray = r.solution.dual_ray
            assert ray is not None and farkas_gap(r.program, ray) > 1e-9, (route, r.solution.info)
            continue
        assert abs(r.objective - ref.objective) <= 1e-6 * max(1.0, abs(ref.objective)), route
        assert r.verification is not None and r.verification.passed(part, budget_balance=bb, tol=1e-6), route
        if dual_rows.size:
            dtol = 1e-4 if r.solution.info.get("solver") == "CLARABEL" else 1e-6
            scale = max(1.0, float(np.max(np.abs(ref.solution.row_dual))))
            assert np.allclose(r.solution.row_dual[dual_rows], ref.solution.row_dual[dual_rows],
                               atol=dtol * scale), route
        if unique:
            # an interior-point objective error ε moves a QP's allocation by ~√ε
            atol = 1e-4 if r.solution.info.get("solver") == "CLARABEL" else 1e-6
            for a, b in zip(r.mechanism.allocation, ref.mechanism.allocation):
                assert np.allclose(a, b, atol=atol), route


def test_bilateral_trade_is_infeasible_on_every_backend_from_python():
    """Efficient trade fixed + budget balance + interim IR on an 8-point grid (docs/theory.md#revenue-maximisation)."""
    from dmd_opt.core.environment import Environment
    from dmd_opt.families.revenue.solve import solve_revenue

    vals = list(np.linspace(0.0, 1.0, 8))
    env = Environment.from_dict({
        "agents": [{"name": "buyer", "types": vals, "initial": [1 / 8] * 8},
                   {"name": "seller", "types": vals, "initial": [1 / 8] * 8}],
        "decisions": {"kind": "table", "labels": ["no trade", "trade"],
                      "utilities": [[[0] * 8, vals], [[0] * 8, [-v for v in vals]]]}})
    for backend, solver in [("highs", None)] + ROUTES + [("cvxpy", "SCS"), ("pyomo", "contrib_highs")]:
        r = solve_revenue(env, fixed_allocation="efficient", budget_balance=True, participation="interim",
                          backend=backend, solver=solver)
        assert r.status == "infeasible", (backend, solver, r.solution.solver_status)
        assert r.mechanism is None
        # without budget balance the same program is feasible (it runs a deficit)
    r = solve_revenue(env, fixed_allocation="efficient", participation="interim", backend="cvxpy",
                      solver="CLARABEL")
    assert r.status == "optimal" and r.objective < 0


@pytest.mark.parametrize("backend,solver", [("cvxpy", "CLARABEL"), ("pyomo", "appsi_highs"), ("pyomo", None)])
def test_cli_backend_and_solver_flags(backend, solver):
    """`dmd-opt solve FILE --backend … --solver … --json`: Myerson's posted price 2, revenue 4/3."""
    import json

    from typer.testing import CliRunner

    from dmd_opt.interfaces.cli import app

    args = ["solve", str(MODELS / "static_monopoly.toml"), "--backend", backend, "--json"]
    if solver:
        args += ["--solver", solver]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["status"] == "optimal"
    assert abs(out["objective"] - 4 / 3) < 1e-6
