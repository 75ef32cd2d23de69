"""Unbounded LPs and QPs are reported ``unbounded`` on every backend, never as a huge "optimum".

Programs are built with a *planted* improving recession direction d: every row and
bound is oriented so that x0 + τd stays feasible for all τ ≥ 0, the quadratic term
lives on columns with d_j = 0 (so it is constant along d) and the costs have
c·d > 0 for ``max`` (< 0 for ``min``): the objective runs off to infinity, which is
known before any solver runs.  Boxing every column makes the same program bounded,
and then every route must still say ``optimal`` and agree on the value.

The shipped revenue models with participation ``none`` are unbounded for an
independent reason: adding the same constant to every payment changes no IC row
(both sides of each comparison move by the same amount) and raises revenue, so with
no participation and no budget rows revenue has no upper bound.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmd_opt.interfaces import models as io
from dmd_opt.optim.program import Program
from dmd_opt.solvers import solve
from dmd_opt.solvers.recession import improving_direction

MODELS = Path(__file__).resolve().parents[1] / "models"
LP_ROUTES = [("highs", None), ("cvxpy", "HIGHS"), ("cvxpy", "CLARABEL"), ("cvxpy", "SCS"),
             ("pyomo", "highs"), ("pyomo", "appsi_highs")]
QP_ROUTES = [("highs", None), ("cvxpy", "CLARABEL"), ("cvxpy", "HIGHS"), ("cvxpy", "SCS"),
             ("pyomo", "highs"), ("pyomo", "contrib_highs")]


def planted_unbounded(seed: int, n: int, m: int, sense: str, quadratic: bool, boxed: bool = False):
    """A feasible LP/QP with an improving recession direction ``d`` planted (module docstring).

    A QP gets one more column than ``n`` (with ``d_j = 0``) so that it always has a
    quadratic term.  ``boxed=True`` gives every column finite bounds around the same
    point: bounded.
    """
    rng = np.random.default_rng(seed)
    s = 1.0 if sense == "max" else -1.0
    d = rng.uniform(-1, 1, n) * (rng.uniform(size=n) < 0.7)
    if not np.any(d):
        d[rng.integers(n)] = 1.0
    if quadratic:                                            # one more column, still along d
        d = np.r_[d, 0.0]
        n += 1
    x0 = rng.uniform(-2, 2, n)
    rows, lo, hi = [], [], []
    for _ in range(m):
        a = rng.uniform(-1, 1, n) * (rng.uniform(size=n) < 0.7)
        kind = rng.choice(["eq", "lo", "hi", "range", "free"])
        if kind in ("eq", "range"):
            a = a - (a @ d) / (d @ d) * d                    # orthogonal to d: A d = 0
        elif kind == "lo" and a @ d < 0 or kind == "hi" and a @ d > 0:
            a = -a                                           # A d ≥ 0 on ≥ rows, ≤ 0 on ≤ rows
        v = float(a @ x0)
        lo.append({"eq": v, "lo": v - rng.uniform(0, 1), "hi": -np.inf, "range": v - 1.0, "free": -np.inf}[kind])
        hi.append({"eq": v, "lo": np.inf, "hi": v + rng.uniform(0, 1), "range": v + 1.0, "free": np.inf}[kind])
        rows.append(a)
    cl = np.where(d > 0, x0 - rng.uniform(0, 1, n), np.where(d < 0, -np.inf, x0 - 1.0))
    cu = np.where(d < 0, x0 + rng.uniform(0, 1, n), np.where(d > 0, np.inf, x0 + 1.0))
    if boxed:
        cl, cu = np.minimum(cl, x0 - 3.0), np.maximum(cu, x0 + 3.0)
        cl, cu = np.where(np.isfinite(cl), cl, x0 - 3.0), np.where(np.isfinite(cu), cu, x0 + 3.0)
    c = rng.uniform(-1, 1, n)
    c = c + s * (1.0 - s * (c @ d)) / (d @ d) * d            # s·c·d = 1: improving along d
    q = None
    if quadratic:                                            # on the columns d leaves alone
        q = np.where(d == 0, -s * rng.uniform(0.5, 2.0, n), 0.0)
    A = np.array(rows).reshape(m, n)
    p = Program(name=f"unbounded[{seed}]", sense=sense)
    cols = p.add_variables("x", n, cl, cu)
    r, cc = np.nonzero(A)
    p.add_constraints("rows", m, r, cols[cc], A[r, cc], np.array(lo), np.array(hi))
    p.set_objective(c, sense, q_diag=q, offset=0.5)
    return p, d


def _is_improving_ray(p: Program, d: np.ndarray, tol: float = 1e-7) -> bool:
    """Independent check of a reported ray: in the recession cone, Qd = 0, improving."""
    Ad = p.matrix() @ d
    s = 1.0 if p.sense == "max" else -1.0
    ok = np.all(Ad[np.isfinite(p.row_lower)] >= -tol) and np.all(Ad[np.isfinite(p.row_upper)] <= tol)
    ok &= np.all(d[np.isfinite(p.col_lower)] >= -tol) and np.all(d[np.isfinite(p.col_upper)] <= tol)
    if p.q_diag is not None:
        ok &= np.all(np.abs(p.q_diag * d) <= tol)
    return bool(ok and s * (p.objective_vector() @ d) > tol)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 6), m=st.integers(0, 5),
       sense=st.sampled_from(["max", "min"]), quadratic=st.booleans())
def test_planted_unbounded_programs_are_unbounded_on_every_route(seed, n, m, sense, quadratic):
    p, d = planted_unbounded(seed, n, m, sense, quadratic)
    assert _is_improving_ray(p, d)                           # the plant itself
    for route in (QP_ROUTES if p.q_diag is not None else LP_ROUTES):
        sol = solve(p, backend=route[0], solver=route[1])
        assert sol.status == "unbounded", (route, sol.status, sol.solver_status)
        assert sol.objective is None, route
        if sol.primal_ray is not None:
            assert _is_improving_ray(p, sol.primal_ray), route


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 5), m=st.integers(0, 4),
       sense=st.sampled_from(["max", "min"]), quadratic=st.booleans())
def test_boxed_versions_stay_optimal_and_agree(seed, n, m, sense, quadratic):
    p, _ = planted_unbounded(seed, n, m, sense, quadratic, boxed=True)
    assert improving_direction(p)[0] is None
    ref = solve(p)
    assert ref.status == "optimal"
    for route in (QP_ROUTES if p.q_diag is not None else LP_ROUTES)[1:]:
        sol = solve(p, backend=route[0], solver=route[1])
        assert sol.status in ("optimal", "inaccurate"), (route, sol.solver_status)
        tol = 1e-3 if route[1] == "SCS" else 1e-6
        assert sol.objective == pytest.approx(ref.objective, rel=tol, abs=tol), route


def test_the_reported_quantity_qp():
    """``mussa_rosen_2`` without participation: HiGHS' QP solver stopped at 2.5e9 and said
    "optimal"; every backend now says unbounded, and the ray raises payments."""
    m = io.load(MODELS / "mussa_rosen_2.toml")
    for backend, solver in [("highs", None), ("cvxpy", None), ("cvxpy", "HIGHS"), ("pyomo", None)]:
        r = io.solve_model(m, participation="none", backend=backend, solver=solver, verify=False)
        assert r.status == "unbounded", (backend, solver, r.status, r.objective)
        assert r.objective is None and r.mechanism is None
    r = io.solve_model(m, participation="none", verify=False)
    ray = r.solution.primal_ray
    assert ray is not None and _is_improving_ray(r.program, ray)
    assert np.all(r.program.values(ray, "p") >= 0) and np.any(r.program.values(ray, "p") > 0)
    # with participation the same QP is bounded: Mussa–Rosen's optimum q_H = θ_H = 2,
    # q_L = θ_L − (θ_H − θ_L)·0.4/0.6 = 1/3, p_L = θ_L q_L, p_H = θ_H q_H − (θ_H − θ_L) q_L:
    # profit 0.6 (1/3 − 1/18) + 0.4 (11/3 − 2) = 5/6
    for backend in ("highs", "cvxpy", "pyomo"):
        b = io.solve_model(m, backend=backend, verify=False)
        assert b.status == "optimal", backend
        assert b.objective == pytest.approx(5 / 6, abs=1e-7), backend


REVENUE = sorted(f.name for f in MODELS.glob("*.toml") if io.load(f).kind == "revenue")


@pytest.mark.parametrize("name", REVENUE)
def test_shipped_models_without_participation_are_unbounded(name):
    m = io.load(MODELS / name)
    if m.options.get("budget_balance"):
        pytest.skip("budget rows bound the payments")
    if m.options.get("money") is False:
        pytest.skip("no money: payments are fixed at 0")
    for backend in ("highs", "cvxpy", "pyomo"):
        r = io.solve_model(m, participation="none", backend=backend, verify=False)
        assert r.status == "unbounded", (name, backend, r.status, r.objective)


def test_presolve_ambiguity_is_settled():
    """HiGHS' presolve says "infeasible or unbounded" for max x s.t. x − y ≥ 0, y free (unbounded)
    and for an empty box program; the adapters settle both (elastic LP + recession direction)."""
    p = Program(sense="max")
    p.add_variables("x", 2, -np.inf, np.inf)
    p.add_constraints("r", 1, [0, 0], [0, 1], [1.0, -1.0], 0.0, np.inf)
    p.set_objective(np.array([1.0, 0.0]), "max")
    q = Program(sense="min")
    q.add_variables("x", 2, 0.0, np.inf)
    q.add_constraints("r", 2, [0, 0, 1, 1], [0, 1, 0, 1], [1.0, 1.0, 1.0, 1.0], [2.0, -np.inf], [np.inf, 1.0])
    q.set_objective(np.array([-1.0, 0.0]), "min")
    for route in LP_ROUTES:
        assert solve(p, backend=route[0], solver=route[1]).status == "unbounded", route
        s = solve(q, backend=route[0], solver=route[1])
        assert s.status == "infeasible", (route, s.status)
