r"""Exact optimality of an LP basis, with a few exact simplex pivots when needed.

The program in bounded standard form (minimisation; a ``max`` program has its
cost negated): variables :math:`w = (x, s)` — the columns and the row
activities — with :math:`Ax - s = 0`, :math:`\ell \le w \le u`.  A basis
:math:`B` (:math:`m` indices) with every nonbasic variable at a bound (or at 0
when free) determines

.. math::  w_B = -B^{-1} N w_N, \qquad B^\top y = c_B, \qquad d_N = c_N - N^\top y,

which are solved exactly (:func:`.exact.solve_sparse`).  The basis is optimal
iff :math:`\ell_B\le w_B\le u_B` (primal feasible) and every :math:`d_j` has
the sign its bound allows (dual feasible); then primal and dual objectives
coincide exactly.

A basis that is optimal for the floating-point solver can be off by a few
units in the last place for the exact rational data (probabilities such as
0.1 are not dyadic, degenerate rows sit at 1e-17 instead of 0).  As in exact
LP solvers that start from a floating basis (Applegate, Cook, Dash & Espinoza
2007, "Exact solutions to linear programming problems", Oper. Res. Letters 35),
a few exact pivots repair it: the dual simplex method when the basis is dual
feasible but primal infeasible, the primal simplex method in the opposite case,
both with Bland's rule (no cycling).  Each pivot re-solves the basis systems
exactly, which is cheap next to anything else on these sizes.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from dmd_opt.certificates import exact as X


class ExactLP:
    """Exact basis algebra for ``min c·x  s.t.  rl ≤ Ax ≤ ru, cl ≤ x ≤ cu``."""

    def __init__(self, A, c, rl, ru, cl, cu, rationalize: bool = False, exact=None, sign: int = 1):
        """``exact``: the program's rational data (:class:`.exact_data.ExactData`, aligned with
        ``A``'s CSR data) used instead of reading the floats; ``sign`` turns its costs into
        the minimisation form (−1 for a ``max`` program)."""
        A = sp.csr_matrix(A)
        self.vec = X.nicevec if rationalize else X.qvec
        one = X.nice if rationalize else X.q
        self.m, self.n = A.shape
        m, n = self.m, self.n
        self.A = A
        if exact is None:
            self.full = sp.hstack([A, -sp.eye(m, format="csr")]).tocsc()
            self.full.sort_indices()
            self.fq = self.vec(self.full.data)        # rationals aligned with CSC data
        else:
            # carry the rational entries through the same CSC conversion by position
            tag = sp.csr_matrix((np.arange(1, A.nnz + 1, dtype=float), A.indices, A.indptr), shape=A.shape)
            full_tag = sp.hstack([tag, sp.csr_matrix((np.zeros(m), (np.arange(m), np.arange(m))),
                                                     shape=(m, m))]).tocsc()
            full_tag.sort_indices()
            self.full = sp.hstack([A, -sp.eye(m, format="csr")]).tocsc()
            self.full.sort_indices()
            if not (np.array_equal(full_tag.indptr, self.full.indptr)
                    and np.array_equal(full_tag.indices, self.full.indices)):
                raise ValueError("exact data do not align with the matrix")
            minus1 = X.Q(-1)
            self.fq = [exact.A[int(t) - 1] if t > 0 else minus1 for t in full_tag.data.tolist()]
        self.lo = np.concatenate([cl, rl])
        self.hi = np.concatenate([cu, ru])
        if exact is None:
            self.lo_q = [one(v) if np.isfinite(v) else None for v in self.lo.tolist()]
            self.hi_q = [one(v) if np.isfinite(v) else None for v in self.hi.tolist()]
            self.c = self.vec(np.concatenate([c, np.zeros(m)]))
        else:
            self.lo_q = list(exact.col_lower) + list(exact.row_lower)
            self.hi_q = list(exact.col_upper) + list(exact.row_upper)
            sg = X.Q(sign)
            self.c = [sg * v for v in exact.c] + [X.ZERO] * m

    # --- sparse column access --------------------------------------------------------
    def col(self, j):
        ip = self.full.indptr
        return self.full.indices[ip[j]:ip[j + 1]], self.fq[ip[j]:ip[j + 1]]

    def _basis_matrix(self, B, transpose: bool = False):
        """The basis columns as a sparse matrix of position tags, and their rationals (from ``fq``)."""
        if not hasattr(self, "_tag"):
            self._tag = sp.csc_matrix((np.arange(1, self.full.nnz + 1, dtype=float), self.full.indices,
                                       self.full.indptr), shape=self.full.shape)
        M = self._tag[:, B]
        M = (M.T if transpose else M).tocsr()
        M.sum_duplicates()
        M.sort_indices()
        return M, [self.fq[int(t) - 1] for t in M.data.tolist()]

    def solve_B(self, B, rhs):
        """Exact solution of ``B w = rhs`` (B = the basis columns of [A, −I])."""
        M, q = self._basis_matrix(B)
        return X.solve_sparse(M, rhs, Mq=q)

    def solve_Bt(self, B, rhs):
        """Exact solution of ``Bᵀ y = rhs``."""
        M, q = self._basis_matrix(B, transpose=True)
        return X.solve_sparse(M, rhs, Mq=q)

    # --- basic solution -------------------------------------------------------------
    def evaluate(self, B, vN: dict):
        """Exact (w, y, d) of basis ``B`` with nonbasic values ``vN`` {index: rational}."""
        m = self.m
        rhs = [X.ZERO] * m
        for j, v in vN.items():
            if v == 0:
                continue
            rows, vals = self.col(j)
            for i, a in zip(rows.tolist(), vals):
                rhs[i] -= a * v
        wB = self.solve_B(B, rhs)
        w = dict(vN)
        for k, j in enumerate(B):
            w[j] = wB[k]
        y = self.solve_Bt(B, [self.c[j] for j in B])
        d = {}
        for j in vN:
            rows, vals = self.col(j)
            s = self.c[j]
            for i, a in zip(rows.tolist(), vals):
                s -= a * y[i]
            d[j] = s
        return w, y, d

    def primal_violation(self, B, w):
        """Basic variables outside their bounds (Bland order: smallest index first)."""
        bad = []
        for j in sorted(B):
            lo, hi = self.lo_q[j], self.hi_q[j]
            if lo is not None and w[j] < lo:
                bad.append((j, "lo"))
            elif hi is not None and w[j] > hi:
                bad.append((j, "hi"))
        return bad

    def dual_violation(self, vN, d):
        bad = []
        for j in sorted(vN):
            dj = d[j]
            if dj == 0:
                continue
            lo, hi = self.lo_q[j], self.hi_q[j]
            v = vN[j]
            if lo is not None and hi is not None and lo == hi:
                continue                         # fixed: any sign
            if dj < 0 and not (hi is not None and v == hi):
                bad.append(j)                    # could increase and lower the cost
            elif dj > 0 and not (lo is not None and v == lo):
                bad.append(j)
        return bad

    # --- pivots -------------------------------------------------------------------------
    def primal_pivot(self, B, vN, w, d, q) -> bool:
        """One primal simplex pivot with entering ``q`` (Bland); False when unbounded."""
        up = d[q] < 0
        rows, vals = self.col(q)
        rhs = [X.ZERO] * self.m
        for i, a in zip(rows.tolist(), vals):
            rhs[i] = a
        alpha = self.solve_B(B, rhs)             # w_B changes by −θ·α per unit step of w_q (up)
        sgn = 1 if up else -1
        best, leave, leave_to = None, None, None
        lo_q, hi_q = self.lo_q[q], self.hi_q[q]
        if lo_q is not None and hi_q is not None:
            best, leave = hi_q - lo_q, -1        # bound flip
        for k, j in enumerate(B):
            a = alpha[k] * sgn
            if a > 0 and self.lo_q[j] is not None:
                t, to = (w[j] - self.lo_q[j]) / a, "lo"
            elif a < 0 and self.hi_q[j] is not None:
                t, to = (self.hi_q[j] - w[j]) / (-a), "hi"
            else:
                continue
            if best is None or t < best or (t == best and leave != -1 and j < B[leave]):
                best, leave, leave_to = t, k, to
        if best is None:
            return False
        if leave == -1:
            vN[q] = hi_q if up else lo_q
            return True
        j_out = B[leave]
        B[leave] = q
        del vN[q]
        vN[j_out] = self.lo_q[j_out] if leave_to == "lo" else self.hi_q[j_out]
        return True

    def dual_pivot(self, B, vN, w, d, j_out, side) -> bool:
        """One dual simplex pivot: basic ``j_out`` leaves at its violated bound."""
        r = B.index(j_out)
        e = [X.ZERO] * self.m
        e[r] = X.Q(1)
        rho = self.solve_Bt(B, e)                 # row r of B^{-1}
        inc = side == "lo"                        # w_out must increase to its lower bound
        best, q = None, None
        for j in sorted(vN):
            rows, vals = self.col(j)
            a = X.ZERO
            for i, v in zip(rows.tolist(), vals):
                a += rho[i] * v
            if a == 0:
                continue
            lo, hi = self.lo_q[j], self.hi_q[j]
            if lo is not None and hi is not None and lo == hi:
                continue
            v = vN[j]
            can_up = hi is None or v != hi
            can_down = lo is None or v != lo
            # Δw_out = −a·Δw_j : to increase w_out need a·Δw_j < 0
            ok = (a < 0 and can_up) or (a > 0 and can_down) if inc else (a > 0 and can_up) or (a < 0 and can_down)
            if not ok:
                continue
            t = abs(d[j] / a)
            if best is None or t < best:
                best, q = t, j
        if q is None:
            return False                          # primal infeasible
        B[r] = q
        vN.pop(q)
        vN[j_out] = self.lo_q[j_out] if side == "lo" else self.hi_q[j_out]
        return True


def basis_split(lp, col_status, row_status):
    """The basic variables of a recorded basis (columns then rows; code 1) and the exact value of
    every nonbasic one: its lower bound (code 0), upper bound (2), zero (3, free), else the finite
    bound it has.  Returns ``(B, {j: value})``, or ``(B, reason)`` when a nonbasic variable
    would sit at an infinite bound."""
    status = np.concatenate([np.asarray(col_status), np.asarray(row_status)])
    B = [int(j) for j in np.nonzero(status == 1)[0]]
    vN = {}
    for j in np.nonzero(status != 1)[0].tolist():
        lo, hi = lp.lo_q[j], lp.hi_q[j]
        v = {0: lo, 2: hi, 3: X.ZERO}.get(int(status[j]), lo if lo is not None else (hi if hi is not None else X.ZERO))
        if v is None:
            return B, f"the basis puts variable {j} at an infinite bound"
        vN[j] = v
    return B, vN


def exact_optimal_basis(A, c, rl, ru, cl, cu, col_status, row_status, max_pivots: int = 60,
                        rationalize: bool = False, max_seconds: float = 20.0, exact=None, sign: int = 1) -> dict:
    """Exact optimum from a (floating) optimal basis, repaired by exact pivots if needed.

    ``exact``/``sign``: rational program data to use instead of the floats (see :class:`ExactLP`).
    Returns ``{"ok", "reason", "objective" (rational, min form), "x", "y", "pivots"}``.
    """
    lp = ExactLP(A, c, rl, ru, cl, cu, rationalize, exact=exact, sign=sign)
    m, n = lp.m, lp.n
    B, vN = basis_split(lp, col_status, row_status)
    if isinstance(vN, str):
        return {"ok": False, "reason": vN}
    if len(B) != m:
        return {"ok": False, "reason": f"the recorded basis has {len(B)} basic variables, the program has {m} rows"}
    pivots = 0
    import time
    t_end = time.perf_counter() + max_seconds
    try:
        while True:
            w, y, d = lp.evaluate(B, vN)
            pbad = lp.primal_violation(B, w)
            dbad = lp.dual_violation(vN, d)
            if not pbad and not dbad:
                break
            if pivots >= max_pivots or time.perf_counter() > t_end:
                return {"ok": False, "reason": f"no exactly optimal basis within {pivots} exact pivots "
                        f"({'pivot' if pivots >= max_pivots else 'time'} limit)", "pivots": pivots}
            if pbad and not dbad:
                j, side = pbad[0]
                if not lp.dual_pivot(B, vN, w, d, j, side):
                    return {"ok": False, "reason": "the exact dual simplex found the program infeasible",
                            "pivots": pivots}
            elif dbad and not pbad:
                if not lp.primal_pivot(B, vN, w, d, dbad[0]):
                    return {"ok": False, "reason": (
                        f"in exact arithmetic the data admit an improving ray through variable {dbad[0]} "
                        f"(reduced cost {X.to_float(d[dbad[0]]):.2g}): round-off in the stored floats makes "
                        "the exact program unbounded along free variables"), "pivots": pivots}
            else:
                return {"ok": False, "reason": f"the recorded basis is both primal infeasible (variable {pbad[0][0]}) "
                        f"and dual infeasible (variable {dbad[0]}) in exact arithmetic", "pivots": pivots}
            pivots += 1
    except X.SingularSystem as exc:
        return {"ok": False, "reason": f"the basis matrix is singular ({exc})", "pivots": pivots}
    x = [w[j] for j in range(n)]
    s = [w[n + i] for i in range(m)]
    P = sum((lp.c[j] * x[j] for j in range(n) if x[j] != 0), X.ZERO)
    # dual objective: Σ_j d_j · (bound at which j sits), d_j = 0 for basic j
    D = X.ZERO
    for j, v in vN.items():
        if d[j] != 0:
            D += d[j] * v
    return {"ok": True, "reason": "", "objective": P, "dual_objective": D, "x": x, "s": s, "y": y,
            "pivots": pivots, "basic_columns": sum(1 for j in B if j < n)}
