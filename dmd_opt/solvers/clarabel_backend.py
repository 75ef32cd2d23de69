r"""Clarabel adapter (direct, without cvxpy): Program → one conic problem → Solution.

Clarabel (an interior-point solver for convex quadratic objectives over cones)
solves

.. math:: \min\; \tfrac12 x^\top P x + q^\top x \quad\text{s.t.}\quad Ax + s = b,\; s\in\mathcal K,

so the program's rows and bounds become at most five stacked blocks: equality rows
(and fixed columns) in the zero cone, and :math:`a^\top x\le u`,
:math:`-a^\top x\le-\ell`, :math:`x\le u^x`, :math:`-x\le-\ell^x` in the non-negative
orthant (finite bounds only).  The objective goes through the same transform as every
backend (:mod:`dmd_opt.solvers.transform`), ``P = κ·diag(Q)``, ``q = κ c``.

Used where a QP must be solved robustly and HiGHS' active-set QP solver is not (it
reports "Solve error" on degenerate least-squares programs with badly scaled rows,
e.g. the payment-selection stage of the revenue program); importing ``clarabel`` takes
~0.1 s, cvxpy's Clarabel path ~1–3 s.

Duals.  Clarabel's multipliers :math:`z\in\mathcal K^*` satisfy
:math:`Px + q + A^\top z = 0`, so :math:`\partial g^*/\partial b = -z`; a row's dual in
the package convention is :math:`(z_\ell - z_u)/\kappa` (:math:`-z_{eq}/\kappa` for an
equality), column duals are the reduced costs :math:`\nabla f(x) - A^\top y`.
Infeasible programs: Clarabel's certificate is mapped the same way and checked as a
Farkas ray (:func:`dmd_opt.solvers.common.orient_ray`), else the phase-one LP's duals.
Options are Clarabel settings (``tol_gap_abs``, ``tol_feas``, ``max_iter``,
``time_limit`` …); gap and feasibility tolerances default to 1e-10.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from dmd_opt.core.errors import SolverError
from dmd_opt.optim.program import Program
from dmd_opt.optim.solution import Solution
from dmd_opt.solvers.common import elastic_ray, orient_ray, reduced_costs, row_blocks
from dmd_opt.solvers.transform import ObjectiveTransform

DEFAULTS = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10, "verbose": False}


def _stack(prog: Program):
    """(A, b, n_zero, n_nonneg, maps) of the conic form; maps rebuild row duals from z."""
    A = prog.matrix().tocsr()
    n = prog.n_vars
    eq, lo_rows, hi_rows = row_blocks(prog)
    cl, cu = prog.col_lower, prog.col_upper
    fixed = np.nonzero(cl == cu)[0]
    free = cl != cu
    col_hi = np.nonzero(free & np.isfinite(cu))[0]
    col_lo = np.nonzero(free & np.isfinite(cl))[0]
    I = sp.identity(n, format="csr")
    blocks = [A[eq], I[fixed], A[hi_rows], -A[lo_rows], I[col_hi], -I[col_lo]]
    rhs = [prog.row_upper[eq], cl[fixed], prog.row_upper[hi_rows], -prog.row_lower[lo_rows], cu[col_hi], -cl[col_lo]]
    M = sp.vstack(blocks, format="csc")
    b = np.concatenate(rhs).astype(float)
    n_zero = eq.size + fixed.size
    return M, b, n_zero, M.shape[0] - n_zero, (eq, lo_rows, hi_rows, fixed.size)


def _row_derivative(z: np.ndarray, m: int, maps) -> np.ndarray:
    """∂g*/∂(row bound) of every program row from Clarabel's z (solver's units)."""
    eq, lo_rows, hi_rows, n_fixed = maps
    y = np.zeros(m)
    k = 0
    y[eq] = -z[k:k + eq.size]
    k += eq.size + n_fixed
    y[hi_rows] -= z[k:k + hi_rows.size]
    k += hi_rows.size
    y[lo_rows] += z[k:k + lo_rows.size]
    return y


def solve_clarabel(prog: Program, *, solver: str | None = None, basis: bool = False,
                   options: dict | None = None, **_) -> Solution:
    """Solve ``prog`` with Clarabel (module docstring).  ``basis`` is ignored (an
    interior-point method has none); ``solver`` must be None or ``"CLARABEL"``."""
    import clarabel
    if solver not in (None, "CLARABEL", "clarabel"):
        raise SolverError(f"the clarabel backend has no solver {solver!r}")
    t0 = time.perf_counter()
    tr = ObjectiveTransform.to_min(prog)
    n = prog.n_vars
    q = tr.costs(prog.objective_vector())
    if prog.q_diag is not None:
        d = tr.costs(prog.q_diag)
        if np.any(d < -1e-14):
            raise SolverError("the quadratic objective is not convex in the program's sense")
        P = sp.diags(np.maximum(d, 0.0), format="csc")
    else:
        P = sp.csc_matrix((n, n))
    M, b, n_zero, n_pos, maps = _stack(prog)
    cones = ([clarabel.ZeroConeT(n_zero)] if n_zero else []) + ([clarabel.NonnegativeConeT(n_pos)] if n_pos else [])
    settings = clarabel.DefaultSettings()
    for k, v in {**DEFAULTS, **(options or {})}.items():
        if not hasattr(settings, k):
            raise SolverError(f"Clarabel has no setting {k!r}")
        setattr(settings, k, v)
    try:
        slv = clarabel.DefaultSolver(P, q, M, b, cones, settings)
    except Exception as exc:  # a malformed program is a bug, but report it as a status
        return Solution("error", f"Clarabel could not load the model: {exc}", "clarabel")
    build = time.perf_counter() - t0
    t1 = time.perf_counter()
    res = slv.solve()
    secs = time.perf_counter() - t1
    words = str(res.status).split(".")[-1]
    status = {"Solved": "optimal", "AlmostSolved": "inaccurate", "PrimalInfeasible": "infeasible",
              "AlmostPrimalInfeasible": "infeasible", "DualInfeasible": "unbounded",
              "AlmostDualInfeasible": "unbounded", "MaxIterations": "iteration_limit",
              "MaxTime": "time_limit"}.get(words, "error")
    sol = Solution(status, words, "clarabel", solve_seconds=secs, build_seconds=build,
                   info={"solver": "CLARABEL", "iterations": int(res.iterations)})
    z = np.asarray(res.z, float)
    if status in ("optimal", "inaccurate"):
        x = np.asarray(res.x, float)
        sol.x = x
        sol.row_activity = prog.matrix() @ x
        sol.objective = prog.objective_value(x)
        sol.row_dual = tr.duals(_row_derivative(z, prog.n_rows, maps))
        sol.col_dual = reduced_costs(prog, x, sol.row_dual)
    elif status == "infeasible":
        ray, _ = orient_ray(prog, _row_derivative(z, prog.n_rows, maps))
        if ray is None:
            ray = elastic_ray(prog, lambda p: solve_clarabel(p, options=options))
        sol.dual_ray = ray
    return sol
