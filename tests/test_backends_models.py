"""Every shipped revenue model solves on all three backends with the same answer.

For each models/*.toml of kind "revenue": the same status everywhere; for
optimal ones the same objective (1e-6 relative), a decoded mechanism that the
independent verifier (dmd_opt.verify, no LP) accepts, and the same allocation
wherever the optimal-face analysis (dmd_opt.face) certifies the allocation
unique.  The Myerson–Satterthwaite grid (efficient trade fixed, budget
balance, interim IR) is infeasible on every backend, with a Farkas ray.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("dmd_opt.programs.revenue") is None,
                                reason="dmd_opt.programs.revenue (the revenue program) is missing")

MODELS = Path(__file__).resolve().parents[1] / "models"
# cvxpy default = HIGHS for LPs, CLARABEL for QPs; Clarabel is also run on the LPs.
ROUTES = [("cvxpy", None), ("cvxpy", "CLARABEL"), ("pyomo", None), ("pyomo", "appsi_highs")]


def _revenue_models():
    from dmd_opt import io
    out = []
    for f in sorted(MODELS.glob("*.toml")):
        if io.load(f).kind == "revenue":
            out.append(f.name)
    return out


@pytest.mark.parametrize("name", _revenue_models())
def test_shipped_revenue_model_agrees_on_every_backend(name):
    from dmd_opt import io
    from dmd_opt.face import optimal_face
    from dmd_opt.solvers.common import farkas_gap

    model = io.load(MODELS / name)
    part = model.options.get("participation", "interim")
    bb = bool(model.options.get("budget_balance", False))
    ref = io.solve_model(model)
    quadratic = ref.program.q_diag is not None
    unique = None
    if ref.status == "optimal":
        face = optimal_face(ref.program, ref.solution, blocks=("x", "q"))
        unique = all(face.unique(b) for b in face.ranges)
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
        if unique:
            # an interior-point objective error ε moves a QP's allocation by ~√ε
            atol = 1e-4 if r.solution.info.get("solver") == "CLARABEL" else 1e-6
            for a, b in zip(r.mechanism.allocation, ref.mechanism.allocation):
                assert np.allclose(a, b, atol=atol), route


def test_bilateral_trade_is_infeasible_on_every_backend_from_python():
    """Efficient trade fixed + budget balance + interim IR on an 8-point grid (SPEC §2)."""
    from dmd_opt.environment import Environment
    from dmd_opt.programs.revenue import solve_revenue

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
