r"""cvxpy adapter: Program → one cvxpy problem in matrix form → Solution.

The program

.. math::
    \text{opt}\; c^\top x + \tfrac12\sum_j Q_j x_j^2 + c_0 \quad
    \text{s.t.}\quad \ell^r\le Ax\le u^r,\; \ell^x\le x\le u^x

becomes one vector ``Variable`` carrying the box as ``bounds=[ℓˣ, uˣ]`` and at
most three sparse-matrix constraints (:func:`dmd_opt.solvers.common.row_blocks`)::

    A_eq @ x == b,    A_lo @ x >= ℓ,    A_hi @ x <= u

with objective ``c @ x`` (+ ``q @ square(x[J])`` over the nonzero diagonal
``J``).  Nothing is created per row: DESIGN.md measured one constraint object
per row at ~500× the bare solver, one per block at ~1.4×.

Solvers are chosen by cvxpy name (``HIGHS`` for LPs and ``CLARABEL`` for QPs by
default; ``SCS``, ``OSQP``, ``SCIPY`` … whatever is installed) and ``options``
go straight to ``Problem.solve`` (solver options and cvxpy keywords alike,
e.g. ``{"time_limit": 60}`` for HiGHS, ``{"tol_gap_rel": 1e-10}`` for Clarabel;
HiGHS' own ``solver`` option, which clashes with cvxpy's keyword, is moved
into cvxpy's ``highs_options``).  Clarabel runs with gap and feasibility
tolerances 1e-10 unless told otherwise (its 1e-8 defaults leave allocation
errors ~1e-4 at a kink of a QP: the objective error is quadratic in them).

Objective.  cvxpy is given the minimisation of κ·f of :mod:`dmd_opt.solvers.transform`
(sense flip and power-of-two scaling, option ``cost_scale``), as every backend is.

Duals.  cvxpy reports each constraint's multiplier for the problem it
minimises; :func:`_block_duals` divides them by κ into the package convention
(``row_dual[r] = ∂ objective*/∂ b_r`` in the program's own sense; checked
against the HiGHS adapter in tests/test_backends.py).  A ranged row's dual is
the sum of its two one-sided duals (at most one is nonzero at a solution).
cvxpy gives no duals for variable bounds, so reduced costs are
:math:`z = c + Qx^* - A^\top y`.  Should a solver path return no duals,
``row_dual``/``col_dual`` stay ``None`` and ``info["duals"]`` says so (with
cvxpy 1.9 HiGHS, Clarabel, SCS and OSQP all return them, QPs included; for
QPs through HiGHS the regularisation is lowered to 1e-10 as in the HiGHS
adapter).  No basis is ever available through cvxpy.

Infeasible programs.  cvxpy's conic HiGHS interface and Clarabel/SCS put a
certificate of infeasibility in the constraints' ``dual_value``; it is
mapped back to rows, checked as a Farkas certificate and turned to HiGHS'
orientation (:func:`dmd_opt.solvers.common.orient_ray`).  Where the solver
path gives none, the ray comes from the duals of the phase-one LP
(:func:`dmd_opt.solvers.common.elastic_ray`), solved with the same backend;
``info["dual_ray_source"]`` says which.

Any failure inside cvxpy or the solver comes back as ``status="error"`` with
cvxpy's words, never as an exception; an unknown solver name or a non-convex
quadratic objective is a usage error (:class:`~dmd_opt.core.errors.SolverError`).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from dmd_opt.core.errors import SolverError
from dmd_opt.optim.program import Program
from dmd_opt.optim.solution import Solution
from dmd_opt.solvers.common import elastic_ray, orient_ray, reduced_costs, row_blocks
from dmd_opt.solvers.highs import new_highs
from dmd_opt.solvers.recession import attach_ray, mark_unbounded, settle_ambiguous, unbounded_qp
from dmd_opt.solvers.transform import ObjectiveTransform

import cvxpy as cp  # imported only when the cvxpy backend is asked for (dmd_opt.solvers.get_backend)

_STATUS = {
    "optimal": "optimal", "optimal_inaccurate": "inaccurate",
    "infeasible": "infeasible", "infeasible_inaccurate": "infeasible",
    "unbounded": "unbounded", "unbounded_inaccurate": "unbounded",
    "infeasible_or_unbounded": "infeasible_or_unbounded",
    "solver_error": "error",
}


def _solver_name(prog: Program, solver: str | None) -> str:
    name = (solver or ("CLARABEL" if prog.q_diag is not None else "HIGHS")).upper()
    installed = cp.installed_solvers()
    if name not in installed:
        raise SolverError(f"cvxpy solver {solver!r} is not installed; installed: {', '.join(installed)}")
    return name


def build_cvxpy(prog: Program, transform: ObjectiveTransform | None = None):
    """The cvxpy problem for ``prog`` and its three constraint blocks.

    The objective is ``transform.factor × f`` in ``transform.sense``
    (:mod:`dmd_opt.solvers.transform`; default: ``f`` as stated).  Returns
    ``(problem, x, blocks)`` with ``blocks`` a list of ``(kind, rows, constraint)``
    for kind in ``"eq" | "lo" | "hi"``.
    """
    tr = ObjectiveTransform.identity(prog) if transform is None else transform
    n = prog.n_vars
    A = prog.matrix()
    x = cp.Variable(n, name="x", bounds=[prog.col_lower, prog.col_upper])
    eq, lo_rows, hi_rows = row_blocks(prog)
    rl, ru = prog.row_lower, prog.row_upper
    blocks = []
    for kind, rows in (("eq", eq), ("lo", lo_rows), ("hi", hi_rows)):
        if rows.size == 0:
            continue
        Ab = A[rows]
        if kind == "eq":
            con = Ab @ x == rl[rows]
        elif kind == "lo":
            con = Ab @ x >= rl[rows]
        else:
            con = Ab @ x <= ru[rows]
        blocks.append((kind, rows, con))
    expr = tr.costs(prog.objective_vector()) @ x + tr.constant(prog.objective_offset)
    if prog.q_diag is not None:
        J = np.nonzero(prog.q_diag)[0]
        expr = expr + 0.5 * (tr.costs(prog.q_diag[J]) @ cp.square(x[J]))
    obj = cp.Maximize(expr) if tr.sense == "max" else cp.Minimize(expr)
    return cp.Problem(obj, [b[2] for b in blocks]), x, blocks


def _min_duals(prog: Program, blocks) -> np.ndarray | None:
    r"""∂(cvxpy's minimum)/∂(row bound) from the blocks' ``dual_value`` (None if missing).

    cvxpy writes ``Maximize f`` as ``Minimize −f`` and reports, for a
    constraint ``g(x) ≤ 0`` (``≥`` rows are ``ℓ − Ax ≤ 0``), the multiplier
    λ ≥ 0 of that minimisation, and for ``Ax == b`` the multiplier ν of
    ``Ax − b``.  Hence ∂(min value)/∂u = −λ, ∂/∂ℓ = +λ, ∂/∂b = −ν.  On an
    infeasible problem the same entries hold the solver's certificate.
    """
    y = np.zeros(prog.n_rows)
    for kind, rows, con in blocks:
        d = con.dual_value
        if d is None:
            return None
        d = np.asarray(d, float).ravel()
        if not np.all(np.isfinite(d)):
            return None
        y[rows] += d if kind == "lo" else -d
    return y


def _block_duals(prog: Program, blocks, tr: ObjectiveTransform) -> np.ndarray | None:
    """Row duals in the package convention.

    cvxpy minimises ``g = κ f`` (or ``−g`` for a maximisation), so ∂g*/∂b is
    :func:`_min_duals` (negated for ``max``), and the program's duals are that over κ.
    """
    y = _min_duals(prog, blocks)
    if y is None:
        return None
    return tr.duals(-y if tr.sense == "max" else y)


def solve_cvxpy(prog: Program, solver: str | None = None, basis: bool = False,
                options: dict | None = None, **kw) -> Solution:
    """Solve ``prog`` through cvxpy with the named solver (see module docstring)."""
    name = _solver_name(prog, solver)
    if prog.q_diag is not None:
        sgn = -1.0 if prog.sense == "max" else 1.0
        if np.any(sgn * prog.q_diag < -1e-14):
            raise SolverError("the quadratic objective is not convex in the program's sense")
    opts = dict(options or {})
    tr = ObjectiveTransform.to_min(prog, opts.pop("cost_scale", "auto"))
    if name == "HIGHS":
        if "solver" in opts:  # HiGHS' "solver" option clashes with Problem.solve(solver=...)
            opts.setdefault("highs_options", {})["solver"] = opts.pop("solver")
        if prog.q_diag is not None:
            opts.setdefault("qp_regularization_value", 1e-10)  # as dmd_opt.solvers.highs
    elif name == "CLARABEL":
        # Clarabel's 1e-8 defaults leave ~1e-4 errors in allocations near a kink of a
        # QP (objective error ~ (Δq)², measured on models/battaglini.toml); 1e-10 → ~1e-5.
        for k in ("tol_gap_abs", "tol_gap_rel", "tol_feas"):
            opts.setdefault(k, 1e-10)
    if name == "HIGHS":
        new_highs()  # swallow HiGHS' banner before cvxpy creates its own instance
    pre = unbounded_qp(prog, "cvxpy")     # QP solvers may stall on an unbounded QP
    if pre is not None:
        pre.info["solver"] = name
        return pre
    t0 = time.perf_counter()
    try:
        prob, x, blocks = build_cvxpy(prog, tr)
    except Exception as exc:
        return Solution("error", f"cvxpy could not build the model: {exc}", "cvxpy")
    build = time.perf_counter() - t0
    info: dict = {"solver": name}
    t1 = time.perf_counter()
    try:
        with warnings.catch_warnings():  # reported as status "inaccurate" instead
            warnings.filterwarnings("ignore", message="Solution may be inaccurate")
            prob.solve(solver=name, **opts)
    except cp.error.SolverError as exc:
        return Solution("error", f"{name}: {exc}", "cvxpy", build_seconds=build,
                        solve_seconds=time.perf_counter() - t1, info=info)
    except (TypeError, ValueError) as exc:  # e.g. an option the solver does not know
        return Solution("error", f"{name} rejected the call: {exc}", "cvxpy", build_seconds=build,
                        solve_seconds=time.perf_counter() - t1, info=info)
    wall = time.perf_counter() - t1
    st = prob.status
    status = _STATUS.get(st)
    if status is None:
        if st == "user_limit":
            status = "time_limit" if any("time" in k.lower() for k in opts) else "iteration_limit"
        else:
            status = "error"
    stats = prob.solver_stats
    info.update({"cvxpy_status": st, "compile_seconds": float(prob.compilation_time or 0.0),
                 "solver_seconds": float(stats.solve_time) if stats.solve_time is not None else None,
                 "iterations": stats.num_iters})
    if st.endswith("_inaccurate"):
        info["inaccurate"] = True
    # cvxpy's wall time covers compilation (matrix stuffing) and the solver run;
    # compilation belongs to building the model.
    compile_s = float(prob.compilation_time or 0.0)
    sol = Solution(status, f"{name}: {st}", "cvxpy", build_seconds=build + compile_s,
                   solve_seconds=max(wall - compile_s, 0.0), info=info)
    if status in ("optimal", "inaccurate", "time_limit", "iteration_limit") and x.value is not None:
        xv = np.asarray(x.value, float).ravel()
        sol.x = xv
        sol.row_activity = prog.matrix() @ xv
        sol.objective = prog.objective_value(xv)
        y = _block_duals(prog, blocks, tr)
        if y is not None:
            sol.row_dual = y
            sol.col_dual = reduced_costs(prog, xv, y)
            info["duals"] = "constraint duals from cvxpy; reduced costs = grad f - A^T y"
        else:
            info["duals"] = f"not available from cvxpy's {name} path for this program"
    if basis:
        info["basis"] = "not available through cvxpy"
    if status in ("infeasible", "infeasible_or_unbounded"):
        ray, gap = orient_ray(prog, _min_duals(prog, blocks))  # orientation fixed there
        if ray is not None:
            sol.dual_ray, info["dual_ray_source"] = ray, f"{name} certificate via cvxpy"
        else:
            ray = elastic_ray(prog, lambda p1: solve_cvxpy(p1, solver=name))
            if ray is not None:
                sol.dual_ray, info["dual_ray_source"] = ray, "phase-one LP duals (cvxpy)"
            else:
                info["dual_ray_source"] = "none: cvxpy/solver gave no valid certificate"
    return attach_ray(prog, settle_ambiguous(prog, mark_unbounded(prog, sol)))
