r"""Unboundedness of a convex LP/QP, decided by an improving recession direction.

For the program of :mod:`dmd_opt.optim.program` (separable :math:`Q\succeq 0` in the
minimisation form) with a nonempty feasible set
:math:`P=\{x:\ell^r\le Ax\le u^r,\ \ell^x\le x\le u^x\}`, the objective is unbounded
exactly when some direction :math:`d` of the recession cone

.. math::
    \operatorname{rec}P = \{d:\ (Ad)_r \ge 0 \text{ if } \ell^r_r>-\infty,\
        (Ad)_r\le 0 \text{ if } u^r_r<\infty,\
        d_j\ge0 \text{ if } \ell^x_j>-\infty,\ d_j\le 0 \text{ if } u^x_j<\infty\}

has :math:`Qd=0` and improves the linear part (:math:`c^\top d<0` for ``min``,
:math:`>0` for ``max``).  Sufficiency: along :math:`x+\tau d` the quadratic term is
constant and the linear term runs off.  Necessity is the Frank–Wolfe theorem (a
convex quadratic bounded on a nonempty polyhedron attains its infimum; Frank &
Wolfe 1956, and for the recession characterisation Eaves 1971): if no such
:math:`d` exists the infimum is finite.  With :math:`Q` diagonal, :math:`Qd=0`
means :math:`d_j=0` wherever :math:`Q_j\ne0`.

:func:`improving_direction` finds such a :math:`d` by one LP over the cone cut to
the box :math:`-1\le d\le 1` (always feasible, at :math:`d=0`, and bounded), and
checks the answer itself.  The solvers' own unboundedness detection is trusted for
LPs solved by simplex.  QP solvers are not: HiGHS' active-set QP solver reported a huge
"optimum" (2.5e9) on a revenue QP whose payments are unbounded, and on other unbounded
QPs it never stops.  So every adapter decides a QP's unboundedness *before* handing it
to a QP solver (:func:`unbounded_qp`: the recession LP, then — only when a ray exists —
the elastic LP for feasibility), and checks every solution a solver calls inaccurate
afterwards (:func:`mark_unbounded`).
"""

from __future__ import annotations

import numpy as np

from dmd_opt.optim.program import Program
from dmd_opt.optim.solution import Solution
from dmd_opt.solvers.common import orient_ray, phase_one_program
from dmd_opt.solvers.highs import model_status, new_highs, pass_model, set_options

#: a direction is accepted when it improves the objective by more than GAIN × ‖c‖∞ ...
GAIN = 1e-6
#: ... and leaves the recession cone by at most CONE × max|A| (per row and bound)
CONE = 1e-9


def improving_direction(prog: Program) -> tuple[np.ndarray | None, float]:
    """An improving recession direction of ``prog`` with ``Q d = 0`` (max-norm 1), or None.

    Returns ``(d, gain)`` with ``gain`` the improvement of the linear objective per
    unit step along ``d`` (in the program's own sense, > 0), or ``(None, 0.0)``.
    """
    c = prog.objective_vector().astype(float)
    cmax = float(np.max(np.abs(c), initial=0.0))
    if cmax == 0.0 or not np.isfinite(cmax):
        return None, 0.0
    sgn = 1.0 if prog.sense == "max" else -1.0           # improving: maximise sgn·c·d
    cl, cu = prog.col_lower, prog.col_upper
    lb = np.where(np.isfinite(cl), 0.0, -1.0)
    ub = np.where(np.isfinite(cu), 0.0, 1.0)
    if prog.q_diag is not None:
        quad = prog.q_diag != 0
        lb[quad] = ub[quad] = 0.0
    if not np.any(sgn * c * np.where(sgn * c > 0, ub, lb) > 0):
        return None, 0.0                                  # no column can move the objective up
    A = prog.matrix()
    rl, ru = prog.row_lower, prog.row_upper
    dl = np.where(np.isfinite(rl), 0.0, -np.inf)
    du = np.where(np.isfinite(ru), 0.0, np.inf)
    h = new_highs()
    pass_model(h, A, -sgn * c / cmax, 0.0, None, lb, ub, dl, du)
    set_options(h, {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})
    h.run()
    status, _ = model_status(h)
    if status != "optimal":
        return None, 0.0
    d = np.clip(np.asarray(h.getSolution().col_value, float), lb, ub)
    gain = float(sgn * c @ d)
    Ad = A @ d
    amax = float(np.max(np.abs(A.data), initial=1.0))
    viol = max(float(np.max(np.where(np.isfinite(rl), -Ad, 0.0), initial=0.0)),
               float(np.max(np.where(np.isfinite(ru), Ad, 0.0), initial=0.0)))
    if gain > GAIN * cmax and viol <= CONE * max(1.0, amax):
        m = float(np.max(np.abs(d)))
        return d / m, gain / m
    return None, 0.0


def feasible_point(prog: Program, x: np.ndarray | None, tol: float = 1e-6) -> bool:
    """Whether ``x`` satisfies the rows and bounds of ``prog`` (relative tolerance)."""
    if x is None or not np.all(np.isfinite(x)):
        return False
    ax = prog.matrix() @ x
    scale = 1.0 + np.abs(ax)
    xs = 1.0 + np.abs(x)
    return bool(np.all(ax >= prog.row_lower - tol * scale) and np.all(ax <= prog.row_upper + tol * scale)
                and np.all(x >= prog.col_lower - tol * xs) and np.all(x <= prog.col_upper + tol * xs))


def needs_check(prog: Program, sol: Solution) -> bool:
    """Whether the adapters run :func:`mark_unbounded` on ``sol`` (module docstring)."""
    return sol.status == "inaccurate"


def mark_unbounded(prog: Program, sol: Solution) -> Solution:
    """Turn a claimed optimum of an unbounded program into status ``unbounded``.

    Applies when the solver returned a point (feasible: that is the other half of
    unboundedness) and :func:`improving_direction` finds a ray; the ray is kept in
    ``sol.primal_ray`` and the point's values are dropped (they are not an optimum).
    """
    if not needs_check(prog, sol) or not feasible_point(prog, sol.x):
        return sol
    d, gain = improving_direction(prog)
    if d is None:
        return sol
    sol.info["claimed_status"] = sol.status
    sol.info["claimed_objective"] = sol.objective
    sol.info["unbounded_ray_gain"] = gain
    sol.status = "unbounded"
    sol.solver_status = f"{sol.solver_status}; unbounded: an improving recession direction exists"
    sol.primal_ray = d
    sol.objective = None
    sol.x = sol.row_activity = sol.row_dual = sol.col_dual = sol.basis = None
    return sol


def _phase_one(prog: Program) -> tuple[float | None, np.ndarray | None]:
    """Optimum and row duals of the elastic LP of ``prog`` (HiGHS): 0 exactly when feasible."""
    p1 = phase_one_program(prog)
    h = new_highs()
    pass_model(h, p1.matrix(), p1.objective_vector(), 0.0, None, p1.col_lower, p1.col_upper,
               p1.row_lower, p1.row_upper)
    set_options(h, {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})
    h.run()
    if model_status(h)[0] != "optimal":
        return None, None
    s = h.getSolution()
    return float(h.getInfo().objective_function_value), np.asarray(s.row_dual, float) if s.dual_valid else None


def unbounded_qp(prog: Program, backend: str) -> Solution | None:
    """For a QP: the Solution ``unbounded`` (with its ray) when it is feasible and has an
    improving recession direction with Qd = 0; None when it has none (bounded or
    infeasible: a QP solver may be called) or it is not a QP."""
    if prog.q_diag is None:
        return None
    d, gain = improving_direction(prog)
    if d is None:
        return None
    if not _feasible(prog):
        return None                       # infeasible: the solver's phase one says so
    sol = Solution("unbounded", "unbounded: feasible, with an improving recession direction (Qd = 0), "
                   "decided before the QP solver ran", backend)
    sol.primal_ray = d
    sol.info["unbounded_ray_gain"] = gain
    return sol


def _feasible(prog: Program) -> bool | None:
    """Feasibility by the elastic LP (None when that LP fails)."""
    b = np.r_[prog.row_lower, prog.row_upper]
    scale = max(1.0, float(np.max(np.abs(b[np.isfinite(b)]), initial=0.0)))
    val, _ = _phase_one(prog)
    return None if val is None else val <= 1e-9 * scale


def settle_ambiguous(prog: Program, sol: Solution) -> Solution:
    """Decide a status ``infeasible_or_unbounded`` (HiGHS' presolve, some conic solvers).

    The elastic LP (:func:`dmd_opt.solvers.common.phase_one_program`) decides feasibility:
    optimum > 0 → ``infeasible``, with its duals as the Farkas ray (when the backend gave
    none); optimum 0 → feasible, and then :func:`improving_direction` must find the ray
    that makes the program ``unbounded``.
    """
    if sol.status != "infeasible_or_unbounded":
        return sol
    b = np.r_[prog.row_lower, prog.row_upper]
    scale = max(1.0, float(np.max(np.abs(b[np.isfinite(b)]), initial=0.0)))
    val, y = _phase_one(prog)
    if val is None:
        return sol
    if val > 1e-9 * scale:
        sol.status = "infeasible"
        sol.solver_status += "; infeasible: the elastic (phase-one) LP has a positive optimum"
        if sol.dual_ray is None and y is not None:
            sol.dual_ray, _ = orient_ray(prog, y)
        return sol
    d, gain = improving_direction(prog)
    if d is not None:
        sol.status = "unbounded"
        sol.solver_status += "; unbounded: feasible, with an improving recession direction"
        sol.primal_ray = d
        sol.info["unbounded_ray_gain"] = gain
    return sol


def attach_ray(prog: Program, sol: Solution) -> Solution:
    """Give an ``unbounded`` Solution without a ray the one of :func:`improving_direction`."""
    if sol.status == "unbounded" and sol.primal_ray is None:
        sol.primal_ray, _ = improving_direction(prog)
    return sol
