r"""Exact optimality of a recorded basis — LPs and the separable convex QPs of the package.

The checker hands :func:`exact_optimum` the rebuilt program, the recorded basis and,
when the model kind can rebuild itself on rational data
(:mod:`.exact_data`), a function returning that rational program.  The data are
read, in this order,

1. **as the model states them**: the rational rebuild — every number of the model
   as the fraction it was written as, every product and sum of them formed
   exactly (node probabilities over long histories, :math:`\delta^t` weights);
2. every stored float read as the simplest fraction within 4 ulps (:func:`.exact.nice`);
3. the stored floats as exact dyadic rationals;

and the first reading under which the recorded basis (repaired by a few exact
simplex pivots, :mod:`.simplex`) is exactly optimal is certified.  The verdict
says which reading it was, and why the earlier ones failed.

**QPs** (quantity models: :math:`\max c^\top x - \tfrac12\sum_j q_jx_j^2`, here in
minimisation form with :math:`q\ge0`).  A recorded QP basis is a basis of the
LP linearised at the optimum, :math:`\min (c+q\circ\hat x)^\top x`, with the quadratic
columns strictly inside their bounds made basic as well (:func:`qp_basis`).  With
:math:`w=(x,s)`, :math:`[A,-I]w=0`, basic set :math:`B` and nonbasic :math:`w_N` at
their bounds, the KKT conditions are the square linear system

.. math::

    [A,-I]_B\,w_B = -[A,-I]_N\,w_N,\qquad
    q_j w_j - ([A,-I]^\top y)_j = -c_j\quad (j\in B),

:math:`|B|+m` equations in :math:`(w_B, y)`; it is nonsingular when the LP basis is
(if :math:`(\Delta w,\Delta y)` solves the homogeneous system then
:math:`\Delta w^\top Q\Delta w = (A\Delta w)^\top\Delta y = 0`, so the quadratic
components vanish and the LP basis forces the rest to).  It is solved exactly
(block-triangular form: the primal part first, then the duals), and optimality is
checked exactly: bounds of :math:`w_B`, and the sign of every reduced cost
:math:`d_j = c_j + q_jw_j - ([A,-I]^\top y)_j` at its bound.  For a convex QP these
KKT conditions are sufficient (Boyd & Vandenberghe 2004, §5.5.3), and the primal
and dual objectives agree identically (:math:`\sum_N d_jw_j = c^\top x + x^\top Qx`).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from dmd_opt.certificates import exact as X


def qp_basis(program, solution, tol: float = 1e-9) -> dict | None:
    """A basis for the exact KKT check of a QP optimum (module docstring), or None.

    Solves the LP linearised at the recorded optimum with HiGHS (certificate
    *writing* may call a solver; checking never does).
    """
    if program.q_diag is None or solution.x is None:
        return None
    import copy
    from dmd_opt.solvers.session import solve_highs
    x = np.asarray(solution.x, float)
    quad = program.q_diag != 0
    cl, cu = program.col_lower, program.col_upper
    span = np.maximum(1.0, np.abs(x))
    at_lo = quad & np.isfinite(cl) & (x <= cl + tol * span)
    at_hi = quad & np.isfinite(cu) & (x >= cu - tol * span) & ~at_lo
    # the linearised LP with the quadratic columns held at their (unique) optimal values:
    # its optimal basis fixes the linear part of a KKT point next to the recorded one
    lin = copy.copy(program)
    lin.meta = dict(program.meta)
    lin.var_blocks = {k: copy.copy(b) for k, b in program.var_blocks.items()}
    xq = np.where(at_lo, cl, np.where(at_hi, cu, x))
    for b in lin.var_blocks.values():
        sl = slice(b.offset, b.offset + b.size)
        q = quad[sl]
        if q.any():
            b.lb = np.where(q, xq[sl], b.lb)
            b.ub = np.where(q, xq[sl], b.ub)
    lin.set_objective(program.objective_vector() + program.q_diag * x, program.sense, q_diag=None,
                      offset=program.objective_offset)
    sol = solve_highs(lin, basis=True)
    if sol.status != "optimal" or sol.basis is None:
        return None
    col = np.asarray(sol.basis["col_status"]).copy()
    row = np.asarray(sol.basis["row_status"]).copy()
    col[quad] = 1                                   # interior quadratic columns: basic
    col[at_lo] = 0
    col[at_hi] = 2
    return {"col_status": col, "row_status": row}


def exact_kkt(lp, col_status, row_status, q_min: list, max_seconds: float = 20.0, max_repairs: int = 30) -> dict:
    """Exact KKT point of the QP ``lp`` (an :class:`.simplex.ExactLP` with its data) at a QP basis.

    ``q_min``: the rational quadratic diagonal in minimisation form (length n).  When
    the point misses a bound (a constraint that binds at the optimum but was basic,
    e.g. the monotonicity row of a bunched pair of types) that variable is moved to its
    bound; when a nonbasic reduced cost has the wrong sign that variable is freed —
    a few exact active-set steps (at most ``max_repairs``).
    Returns the same fields as :func:`.simplex.exact_optimal_basis` (``pivots``: the steps).
    """
    from dmd_opt.certificates.simplex import basis_split
    m, n = lp.m, lp.n
    B, vN = basis_split(lp, col_status, row_status)
    if isinstance(vN, str):
        return {"ok": False, "reason": vN}
    t_end = time.perf_counter() + max_seconds
    seen = set()
    for step in range(max_repairs + 1):
        res = _kkt_point(lp, B, vN, q_min)
        if res["ok"] or "fix" not in res or step == max_repairs or time.perf_counter() > t_end:
            res["pivots"] = step
            return res
        key = (tuple(sorted(B)), tuple(sorted(vN.items(), key=lambda kv: kv[0])))
        if key in seen:
            return res
        seen.add(key)
        kind, j, value = res["fix"]
        if kind == "bound":              # basic j leaves at the violated bound
            B.remove(j)
            vN[j] = value
        else:                            # nonbasic j with a wrong-signed reduced cost enters
            del vN[j]
            B.append(j)
    return res


def _kkt_point(lp, B: list, vN: dict, q_min: list) -> dict:
    """Solve the KKT system of one active set exactly and check it (see :func:`exact_kkt`)."""
    m, n = lp.m, lp.n
    qfull = list(q_min) + [X.ZERO] * m
    nb = len(B)
    # unknowns: w_B (0..nb-1), y (nb..nb+m-1); equations: rows (0..m-1), stationarity of B (m..m+nb-1)
    rows, cols, tags, exact_vals = [], [], [], []
    rhs = [X.ZERO] * (m + nb)
    for j, v in vN.items():
        if v == 0:
            continue
        r, vals = lp.col(j)
        for i, a in zip(r.tolist(), vals):
            rhs[i] -= a * v
    for k, j in enumerate(B):
        r, vals = lp.col(j)
        for i, a in zip(r.tolist(), vals):
            rows.append(i); cols.append(k); exact_vals.append(a)            # primal
            rows.append(m + k); cols.append(nb + i); exact_vals.append(-a)  # stationarity: −(Ãᵀy)_j
        if qfull[j] != 0:
            rows.append(m + k); cols.append(k); exact_vals.append(qfull[j])
        rhs[m + k] = -lp.c[j]
    size = m + nb
    if size != nb + m or not rows:
        return {"ok": False, "reason": "empty KKT system"}
    tag = sp.csr_matrix((np.arange(1, len(rows) + 1, dtype=float), (rows, cols)), shape=(size, size))
    tag.sum_duplicates()
    if tag.nnz != len(rows):
        return {"ok": False, "reason": "duplicate KKT entries"}
    data = [exact_vals[int(t) - 1] for t in tag.data.tolist()]
    try:
        sol = X.solve_sparse(tag, rhs, Mq=data)
    except X.SingularSystem as exc:
        return {"ok": False, "reason": f"the KKT system of the recorded basis is singular ({exc})"}
    w = dict(vN)
    for k, j in enumerate(B):
        w[j] = sol[k]
    y = sol[nb:]
    bad = lp.primal_violation(B, w)
    if bad:
        j, side = bad[0]
        return {"ok": False, "reason": f"the KKT point violates the {'lower' if side == 'lo' else 'upper'} "
                                       f"bound of variable {j} in exact arithmetic",
                "fix": ("bound", j, lp.lo_q[j] if side == "lo" else lp.hi_q[j])}
    d = {}
    for j in vN:
        r, vals = lp.col(j)
        s = lp.c[j] + qfull[j] * w[j]
        for i, a in zip(r.tolist(), vals):
            s -= a * y[i]
        d[j] = s
    dbad = lp.dual_violation(vN, d)
    if dbad:
        return {"ok": False, "reason": f"the reduced cost of variable {dbad[0]} has the wrong sign at its bound "
                                       f"({X.to_float(d[dbad[0]]):.3g}) in exact arithmetic",
                "fix": ("free", dbad[0], None)}
    x = [w[j] for j in range(n)]
    P = X.ZERO
    half = X.Q(1, 2)
    for j in range(n):
        if x[j] != 0:
            P += lp.c[j] * x[j] + half * qfull[j] * x[j] * x[j]
    D = -sum((half * qfull[j] * x[j] * x[j] for j in range(n) if x[j] != 0 and qfull[j] != 0), X.ZERO)
    for j, v in vN.items():
        if d[j] != 0:
            D += d[j] * v
    return {"ok": True, "reason": "", "objective": P, "dual_objective": D, "x": x, "y": y,
            "basic_columns": sum(1 for j in B if j < n)}


def exact_optimum(prog, vals, c, qd, sgn, exact_seconds: float = 8.0) -> dict:
    """Try the three readings of the data (module docstring); the first exactly optimal one wins.

    Returns ``{"ok", "reason", "res", "data_note", "exact_offset"}`` where ``res`` is the
    solver-free result (objective, x, y, pivots, basic_columns) in minimisation form.
    """
    from dmd_opt.certificates.simplex import ExactLP, exact_optimal_basis
    from dmd_opt.certificates.exact_data import exact_program_data
    A = prog.matrix()
    args = (A, c, prog.row_lower, prog.row_upper, prog.col_lower, prog.col_upper)
    cs, rs = vals["col_status"], vals["row_status"]
    t_end = time.perf_counter() + exact_seconds
    reasons = []

    def left():
        return max(1.0, t_end - time.perf_counter())

    def attempt(exact=None, rationalize=False):
        if qd is None:
            return exact_optimal_basis(*args, cs, rs, rationalize=rationalize, max_seconds=left(),
                                       exact=exact, sign=int(sgn))
        lp = ExactLP(*args, rationalize=rationalize, exact=exact, sign=int(sgn))
        if exact is not None:
            q = [X.Q(int(sgn)) * v for v in exact.q]
        else:
            q = (X.nicevec if rationalize else X.qvec)(qd)
        return exact_kkt(lp, cs, rs, q, max_seconds=left())

    builder = prog.meta.get("exact_build")
    if builder is not None:
        try:
            data = exact_program_data(builder(), prog)
        except Exception as exc:          # a builder that cannot run on rationals: say so, go on
            reasons.append(f"the model's data could not be rebuilt exactly ({type(exc).__name__}: {exc})")
        else:
            res = attempt(exact=data)
            if res["ok"]:
                return {"ok": True, "res": res, "exact_offset": data.offset, "reason": "",
                        "data_note": "the model's numbers as the fractions they state, every product and sum "
                                     "of them formed exactly", "tried": reasons}
            reasons.append(f"with the model's numbers as stated: {res['reason']}")
    else:
        reasons.append("the model kind cannot rebuild its program on rational data")
    res = attempt(rationalize=True)
    if res["ok"]:
        return {"ok": True, "res": res, "exact_offset": X.nice(prog.objective_offset), "reason": "",
                "data_note": "every number read as the simple fraction within 4 ulps of its double", "tried": reasons}
    reasons.append(f"with the floats read as simple fractions: {res['reason']}")
    res = attempt()
    if res["ok"]:
        return {"ok": True, "res": res, "exact_offset": X.q(prog.objective_offset), "reason": "",
                "data_note": "the stored doubles as exact dyadic rationals", "tried": reasons}
    reasons.append(f"with the doubles taken literally: {res['reason']}")
    return {"ok": False, "reason": "; ".join(reasons), "tried": reasons}
