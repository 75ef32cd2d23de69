r"""Helpers shared by the modelling-layer adapters (cvxpy, pyomo).

Row blocks
    Modelling layers want one-sided or equality constraints, so the rows
    :math:`\ell^r \le Ax \le u^r` are split into at most three index sets:
    equalities (:math:`\ell_r = u_r`), finite lower sides and finite upper
    sides (a ranged row sits in both of the last two).  Rows with both sides
    infinite carry no constraint and get dual 0.

Reduced costs
    With the package convention (``row_dual`` :math:`y_r = \partial f^*/\partial b_r`,
    ``col_dual`` :math:`z_j = \partial f^*/\partial \ell_j \text{ or } u_j`),
    stationarity of the Lagrangian reads :math:`\nabla f(x^*) = A^\top y + z`
    for both senses, so :math:`z = c + Qx^* - A^\top y` when a layer gives no
    bound duals.

Farkas rays
    A row vector :math:`y` certifies that :math:`\ell^r\le Ax\le u^r`,
    :math:`\ell^x\le x\le u^x` is empty when

    .. math::
        L(y) = \sum_{y_r>0} y_r\ell^r_r + \sum_{y_r<0} y_r u^r_r
        \;>\; U(y) = \max_{\ell^x\le x\le u^x} (A^\top y)^\top x ,

    because every feasible :math:`x` has :math:`L(y)\le y^\top Ax\le U(y)`
    (Farkas' lemma for a box-constrained system).  This is the orientation of
    HiGHS' ``getDualRay`` (checked numerically in tests/test_backends.py), so
    rays from every backend are turned to it and scaled to max-norm 1.
"""

from __future__ import annotations

import numpy as np

from dmd_opt.optim.program import Program


def row_blocks(prog: Program) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of the equality, lower-bounded and upper-bounded blocks."""
    lo, hi = prog.row_lower, prog.row_upper
    eq = np.nonzero(lo == hi)[0]
    ne = lo != hi
    lo_rows = np.nonzero(ne & np.isfinite(lo))[0]
    hi_rows = np.nonzero(ne & np.isfinite(hi))[0]
    return eq, lo_rows, hi_rows


def gradient(prog: Program, x: np.ndarray) -> np.ndarray:
    """Gradient of the objective at ``x`` (``c + Q x``)."""
    g = prog.objective_vector().astype(float).copy()
    if prog.q_diag is not None:
        g += prog.q_diag * x
    return g


def reduced_costs(prog: Program, x: np.ndarray, row_dual: np.ndarray) -> np.ndarray:
    r"""Column duals :math:`z = \nabla f(x) - A^\top y` (package convention)."""
    return gradient(prog, x) - prog.matrix().T @ row_dual


def farkas_gap(prog: Program, y: np.ndarray, tol: float = 1e-9) -> float:
    r""":math:`L(y) - U(y)` of the module docstring; > 0 certifies infeasibility.

    Entries of :math:`A^\top y` below ``tol`` (relative to :math:`\|y\|_\infty`)
    count as 0: they are rounding noise and would pair with infinite bounds.
    """
    lo, hi = prog.row_lower, prog.row_upper
    pos, neg = y > 0, y < 0
    with np.errstate(invalid="ignore"):
        L = float(np.sum(y[pos] * lo[pos]) + np.sum(y[neg] * hi[neg]))
        w = prog.matrix().T @ y
        w = np.where(np.abs(w) < tol * max(1.0, float(np.max(np.abs(y), initial=0.0))), 0.0, w)
        cl, cu = prog.col_lower, prog.col_upper
        U = float(np.sum(np.where(w > 0, w * cu, 0.0)) + np.sum(np.where(w < 0, w * cl, 0.0)))
    if np.isnan(L) or np.isnan(U):
        return -np.inf
    return L - U


def orient_ray(prog: Program, y: np.ndarray | None, tol: float = 1e-9):
    """Scale a candidate ray to max-norm 1 and turn it to HiGHS' orientation.

    Returns ``(ray, gap)``; ``ray`` is None when neither ``y`` nor ``−y`` is a
    Farkas certificate (``gap`` > 0 relative to the ray's scale).
    """
    if y is None or y.size == 0 or not np.all(np.isfinite(y)):
        return None, None
    m = float(np.max(np.abs(y)))
    if m == 0:
        return None, None
    y = y / m
    y = np.where(np.abs(y) < tol, 0.0, y)  # solver noise would pair with infinite bounds
    best = max((farkas_gap(prog, s * y), s) for s in (1.0, -1.0))
    if best[0] > tol:
        return best[1] * y, best[0]
    return None, best[0]


def finite_or_none(v: float | None) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def phase_one_program(prog: Program) -> Program:
    r"""The elastic (phase-one) LP of ``prog``:

    .. math::
        \min\; \mathbf 1^\top(s^+ + s^-)\quad\text{s.t.}\quad
        \ell^r \le Ax + s^+ - s^- \le u^r,\; \ell^x\le x\le u^x,\; s^\pm\ge 0 .

    Its optimum is positive exactly when ``prog`` is infeasible, and then its
    row duals (package convention, ∂ value/∂ bound of a ``min``) are a Farkas
    ray in HiGHS' orientation with :math:`|y_r|\le 1` — LP duality applied to
    the system of :func:`farkas_gap`.
    """
    m, n = prog.n_rows, prog.n_vars
    A = prog.matrix().tocoo()
    p1 = Program(name=f"phase_one[{prog.name}]", sense="min")
    xc = p1.add_variables("x", n, prog.col_lower, prog.col_upper)
    sp_ = p1.add_variables("s_plus", m, 0.0, np.inf)
    sm = p1.add_variables("s_minus", m, 0.0, np.inf)
    r = np.arange(m)
    p1.add_constraints("rows", m, np.concatenate([A.row, r, r]),
                       np.concatenate([xc[A.col], sp_, sm]),
                       np.concatenate([A.data, np.ones(m), -np.ones(m)]),
                       prog.row_lower, prog.row_upper)
    c = np.zeros(p1.n_vars)
    c[sp_] = c[sm] = 1.0
    p1.set_objective(c, "min")
    return p1


def elastic_ray(prog: Program, solve_fn) -> np.ndarray | None:
    """A Farkas ray for an infeasible ``prog`` from the duals of its phase-one LP,
    solved by ``solve_fn(program) -> Solution`` (the calling backend with its
    solver and options); None if that fails or certifies nothing."""
    try:
        sol = solve_fn(phase_one_program(prog))
    except Exception:
        return None
    if sol.status not in ("optimal", "inaccurate") or sol.row_dual is None or not sol.objective \
            or sol.objective <= 1e-9:
        return None
    ray, _ = orient_ray(prog, sol.row_dual)
    return ray
