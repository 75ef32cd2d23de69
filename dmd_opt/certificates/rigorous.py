r"""Rigorous floating-point bounds for LP/QP certificates (no solver, no rationals).

Write the program in minimisation form (a ``max`` program has ``c`` negated)

.. math::

    \min_x\; c^\top x + \tfrac12\sum_j q_j x_j^2
    \quad\text{s.t.}\quad \ell^r\le Ax\le u^r,\;\ \ell^x\le x\le u^x,\qquad q\ge 0 .

**Safe dual bound** (Neumaier & Shcherbina 2004, "Safe bounds in linear and
mixed-integer linear programming", Math. Programming 99, §2; Jansson 2004 for
the interval form).  For *any* multipliers :math:`y` (row duals, first set to 0
where their sign would multiply an infinite bound) put :math:`r = c - A^\top y`.
For every feasible :math:`x`, :math:`c^\top x = y^\top(Ax) + r^\top x`, hence

.. math::

    \text{opt} \;\ge\; \sum_i \min\big(y_i\ell^r_i,\, y_i u^r_i\big)
      + \sum_j \min_{x_j\in[\ell^x_j,u^x_j]}\big(r_j x_j + \tfrac12 q_j x_j^2\big).

The column terms are concave in :math:`r_j`, so with :math:`r_j` known only to
lie in an interval :math:`[\underline r_j,\overline r_j]` (floating evaluation of
:math:`A^\top y` with the a-priori error bound
:math:`|{\rm fl}(a^\top y)-a^\top y|\le\gamma_{n}|a|^\top|y|`,
:math:`\gamma_n = nu/(1-nu)`, Higham 2002, §3.1) their minimum is attained at an
end point.  All sums carry the same kind of error bound, and the result is
rounded down once more with ``np.nextafter``: the number returned is a lower
bound on the true optimum of the program as stored, whatever the rounding.

A column with an infinite bound on the side where :math:`r_j` may be nonzero
(a free payment or value variable whose floating residual is ~1e-17, not 0)
would make the bound :math:`-\infty`.  Following Neumaier–Shcherbina, such
columns are confined to a stated box :math:`|x_j|\le M_j`; the verdict reports
the box and the (tiny) amount it contributes, so the statement is explicit:
the bound is rigorous for every optimal solution inside the box.

**Primal side.**  The certificate's :math:`\hat x` is checked with the same
error bounds: its largest bound violation (rows and columns) is bounded from
above, and its objective value is bounded from above.  The reported gap is
``primal objective (rounded up) − dual bound (rounded down)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

U = np.finfo(float).eps / 2          # unit roundoff 2^-53
TINY = 1e-300                        # covers underflow in the error terms


def gamma(n) -> np.ndarray:
    n = np.asarray(n, float)
    return n * U / (1.0 - n * U)


def up(v):
    return np.nextafter(v, np.inf)


def down(v):
    return np.nextafter(v, -np.inf)


def _safe_sum(terms: np.ndarray) -> tuple[float, float]:
    """Float sum of ``terms`` and a rigorous bound on its rounding error."""
    terms = np.asarray(terms, float)
    s = float(np.sum(terms))
    err = float(2.0 * gamma(terms.size + 2) * np.sum(np.abs(terms))) + TINY
    return s, up(err)


def residual_interval(A: sp.csr_matrix, y: np.ndarray, c: np.ndarray, q_diag=None, x=None):
    """Interval enclosure of ``c (+ q∘x) − Aᵀy``: returns (lo, hi)."""
    At = A.T.tocsr()
    r = c - At @ y
    absA = abs(At)
    mag = np.abs(c) + absA @ np.abs(y)
    n = np.diff(At.indptr) + 2
    err = 2.0 * gamma(n) * mag * (1 + 4 * U) + TINY
    return down(r - err), up(r + err)


def project_dual(y: np.ndarray, rl: np.ndarray, ru: np.ndarray) -> np.ndarray:
    """Zero every multiplier whose sign would multiply an infinite row bound."""
    y = np.array(y, float)
    y[(y > 0) & np.isneginf(rl)] = 0.0
    y[(y < 0) & np.isposinf(ru)] = 0.0
    y[~np.isfinite(y)] = 0.0
    return y


def _row_terms(y, rl, ru):
    t = np.zeros_like(y)
    pos, neg = y > 0, y < 0
    t[pos] = y[pos] * rl[pos]
    t[neg] = y[neg] * ru[neg]
    return t


def _col_min(r, l, u, qd):
    """min over x in [l,u] of r x + q x²/2 (vectorised, q ≥ 0; inf where unbounded below)."""
    out = np.zeros_like(r)
    lin = qd <= 0
    # linear columns
    rp, rn = lin & (r > 0), lin & (r < 0)
    with np.errstate(invalid="ignore", over="ignore"):
        out[rp] = np.where(np.isneginf(l[rp]), -np.inf, r[rp] * np.where(np.isfinite(l[rp]), l[rp], 0.0))
        out[rn] = np.where(np.isposinf(u[rn]), -np.inf, r[rn] * np.where(np.isfinite(u[rn]), u[rn], 0.0))
        quad = ~lin
        if quad.any():
            xs = np.clip(-r[quad] / qd[quad], l[quad], u[quad])
            out[quad] = r[quad] * xs + 0.5 * qd[quad] * xs * xs
    return out


def _col_min_err(r, l, u, qd):
    """A bound on the rounding error of :func:`_col_min` (a few flops per entry)."""
    lin = qd <= 0
    mag = np.zeros_like(r)
    with np.errstate(invalid="ignore", over="ignore"):
        xs = np.where(lin, np.where(r > 0, l, np.where(r < 0, u, 0.0)),
                      np.clip(-r / np.where(lin, 1.0, qd), l, u))
        xs = np.where(np.isfinite(xs), xs, 0.0)
        mag = np.abs(r * xs) + np.abs(0.5 * qd * xs * xs)
    return 8 * U * mag + TINY


@dataclass
class BoundReport:
    """Rigorous floating bounds for one (approximate) primal-dual pair, min form."""

    dual_bound: float            # rigorous lower bound on the min-form optimum
    primal_objective: float      # rigorous upper bound on the min-form objective at x̂
    primal_infeasibility: float  # rigorous upper bound on max bound violation of x̂
    gap: float                   # primal_objective − dual_bound, rounded up
    boxed_columns: int = 0       # free columns confined to |x_j| ≤ M_j
    box_contribution: float = 0.0
    box: float = 0.0
    worst_row: int = -1
    worst_col: int = -1
    details: dict = field(default_factory=dict)


def refine_dual(A: sp.csr_matrix, y: np.ndarray, c: np.ndarray, rl, ru, cl, cu, qd=None,
                sweeps: int = 3) -> tuple[np.ndarray, float]:
    r"""Cancel the floating dual residual on free linear columns (least squares, CGLS).

    A free column (say a payment) needs :math:`(A^\top y)_j = c_j` *exactly* for a
    finite safe bound; a solver's duals miss it by ~1e-10.  The correction
    :math:`\Delta` solves :math:`A_{S,F}^\top\Delta = c_F - A_{:,F}^\top y` in the
    least-squares sense, with :math:`S` the rows whose multiplier may move
    (equalities, and inequalities whose multiplier is already nonzero — signs are
    kept).  Returns the refined multipliers and :math:`\max|\Delta|`; the caller
    must insist that the latter is tiny (otherwise the recorded duals were wrong).
    """
    A = sp.csr_matrix(A)
    n = A.shape[1]
    qd = np.zeros(n) if qd is None else qd
    y = project_dual(y, rl, ru)
    # Columns whose residual must vanish: free on both sides, or one-sided columns
    # already (nearly) at zero reduced cost.  A one-sided column at its finite bound
    # (e.g. a lottery weight at 0) has a signed, non-zero residual: leave it alone.
    z = c - A.T @ y
    zmag = max(1.0, float(np.max(np.abs(c)))) if c.size else 1.0
    free = (np.isneginf(cl) & np.isposinf(cu)) | \
        ((np.isneginf(cl) | np.isposinf(cu)) & (np.abs(z) <= 1e-9 * zmag))
    F = np.nonzero((qd <= 0) & free)[0]
    if F.size == 0:
        return y, 0.0
    S = np.nonzero((rl == ru) | (y != 0))[0]
    if S.size == 0:
        return y, 0.0
    M = A[S][:, F].T.tocsr()
    y0 = y.copy()
    for _ in range(sweeps):
        res = c[F] - A[:, F].T @ y
        if not np.any(res):
            break
        d = cgls(M, res, iters=max(50, 4 * int(np.sqrt(S.size)) + 50))
        y_new = y.copy()
        y_new[S] += d
        # keep every inequality multiplier on its side
        flip = (rl[S] != ru[S]) & (np.sign(y_new[S]) != np.sign(y[S]))
        y_new[S[flip]] = 0.0
        y_new = project_dual(y_new, rl, ru)
        if np.max(np.abs(c[F] - A[:, F].T @ y_new)) >= np.max(np.abs(res)):
            break
        y = y_new
    return y, float(np.max(np.abs(y - y0))) if y.size else 0.0


def _sq(v: np.ndarray) -> float:
    # np.sum, not np.dot: BLAS threads can be 100× slower on an oversubscribed machine
    return float(np.sum(v * v))


def cgls(M: sp.csr_matrix, b: np.ndarray, iters: int = 100, rtol: float = 1e-15) -> np.ndarray:
    """Least-squares solution of ``M d ≈ b`` by CGLS (Hestenes–Stiefel CG on MᵀM d = Mᵀb).

    Written with sparse products and ``np.sum`` only (no BLAS level-1 calls).
    """
    Mt = M.T.tocsr()
    d = np.zeros(M.shape[1])
    r = b.astype(float).copy()
    s = Mt @ r
    p = s.copy()
    gamma = _sq(s)
    g0 = gamma
    for _ in range(iters):
        if gamma <= (rtol ** 2) * g0 or gamma == 0.0:
            break
        q = M @ p
        qq = _sq(q)
        if qq == 0.0:
            break
        alpha = gamma / qq
        d += alpha * p
        r -= alpha * q
        s = Mt @ r
        g_new = _sq(s)
        p = s + (g_new / gamma) * p
        gamma = g_new
    return d


def safe_bounds(A: sp.csr_matrix, c_min: np.ndarray, offset_min: float, rl, ru, cl, cu,
                x: np.ndarray, y_min: np.ndarray, q_diag_min=None, box_factor: float = 1e3,
                refine: bool = True) -> BoundReport:
    """Neumaier–Shcherbina bounds (see the module docstring) for the min-form program.

    With ``refine`` the multipliers are first polished by :func:`refine_dual`;
    ``details["dual_moved_by"]`` reports how far.
    """
    A = sp.csr_matrix(A)
    n = A.shape[1]
    qd = np.zeros(n) if q_diag_min is None else np.asarray(q_diag_min, float)
    moved = 0.0
    if refine:
        y, moved = refine_dual(A, np.asarray(y_min, float), c_min, rl, ru, cl, cu, qd)
    else:
        y = project_dual(y_min, rl, ru)
    r_lo, r_hi = residual_interval(A, y, c_min)
    # free sides that the residual interval touches get a box |x_j| <= M
    scale = max(1.0, float(np.max(np.abs(x))) if x is not None and x.size else 1.0)
    M = box_factor * scale
    lin = qd <= 0
    need_lo = lin & (r_hi > 0) & np.isneginf(cl)
    need_hi = lin & (r_lo < 0) & np.isposinf(cu)
    l = np.where(need_lo, -M, cl)
    u = np.where(need_hi, M, cu)
    boxed = need_lo | need_hi
    g_lo = _col_min(r_lo, l, u, qd)
    g_hi = _col_min(r_hi, l, u, qd)
    g = np.minimum(g_lo, g_hi)
    gerr = np.maximum(_col_min_err(r_lo, l, u, qd), _col_min_err(r_hi, l, u, qd))
    box_contrib = float(np.sum(-np.minimum(g[boxed], 0.0))) if boxed.any() else 0.0
    rows = _row_terms(y, rl, ru)
    terms = np.concatenate([rows, g, [offset_min]])
    if not np.all(np.isfinite(terms)):
        L = -np.inf
    else:
        s, err = _safe_sum(terms)
        err += float(np.sum(gerr)) * (1 + 4 * U) + float(np.sum(np.abs(rows))) * U * 2
        L = down(s - up(err))
    # primal side
    ax = A @ x
    absA = abs(A)
    nr = np.diff(A.indptr) + 2
    e_ax = 2.0 * gamma(nr) * (absA @ np.abs(x)) * (1 + 4 * U) + TINY
    with np.errstate(invalid="ignore"):
        v_lo = np.where(np.isfinite(rl), rl - (ax - e_ax), -np.inf)
        v_hi = np.where(np.isfinite(ru), (ax + e_ax) - ru, -np.inf)
    row_v = np.maximum(v_lo, v_hi)
    col_v = np.maximum(np.where(np.isfinite(cl), cl - x, -np.inf), np.where(np.isfinite(cu), x - cu, -np.inf))
    pinf = max(0.0, float(np.max(row_v, initial=-np.inf)), float(np.max(col_v, initial=-np.inf)))
    pterms = np.concatenate([c_min * x, 0.5 * qd * x * x, [offset_min]])
    ps, perr = _safe_sum(pterms)
    perr += float(np.sum(np.abs(pterms))) * 4 * U
    P = up(ps + up(perr))
    gap = up(P - L) if np.isfinite(L) else np.inf
    return BoundReport(L, P, up(pinf), gap, int(boxed.sum()), box_contrib, M,
                       int(np.argmax(row_v)) if row_v.size else -1,
                       int(np.argmax(col_v)) if col_v.size else -1,
                       {"max_dual_residual": float(np.max(np.maximum(np.abs(r_lo), np.abs(r_hi))[boxed], initial=0.0)),
                        "dual_moved_by": moved})


def farkas_bound(A: sp.csr_matrix, y: np.ndarray, rl, ru, cl, cu) -> tuple[float, float]:
    """Rigorous (max over rows of yᵀs, min over the box of (Aᵀy)ᵀx) for a ray ``y``.

    The program is infeasible when the first is smaller than the second (then
    no ``x`` in the box gives an ``Ax`` inside the row bounds).  Free columns
    get no box here: a residual interval that is not exactly zero on a free
    column makes the second number ``-inf`` (inconclusive).
    """
    A = sp.csr_matrix(A)
    # max_s y^T s over rl <= s <= ru
    t = np.zeros_like(y)
    pos, neg = y > 0, y < 0
    with np.errstate(invalid="ignore"):
        t[pos] = y[pos] * ru[pos]
        t[neg] = y[neg] * rl[neg]
    if not np.all(np.isfinite(t)):
        hi = np.inf
    else:
        s, err = _safe_sum(t)
        hi = up(s + up(err + float(np.sum(np.abs(t))) * 2 * U))
    zl, zh = residual_interval(A, y, np.zeros(A.shape[1]))
    zl, zh = -zh, -zl                      # interval of Aᵀy
    g = np.minimum(_col_min(zl, cl, cu, np.zeros_like(zl)), _col_min(zh, cl, cu, np.zeros_like(zh)))
    if not np.all(np.isfinite(g)):
        return hi, -np.inf
    s, err = _safe_sum(g)
    err += float(np.sum(_col_min_err(zl, cl, cu, np.zeros_like(zl)) + _col_min_err(zh, cl, cu, np.zeros_like(zh))))
    return hi, down(s - up(err))
