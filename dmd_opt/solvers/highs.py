"""HiGHS adapter: Program → one ``Highs.passModel`` call → Solution.

The CSR matrix and bounds go to highspy in a single call (no per-row API), the
separable quadratic term as a diagonal Hessian.  HiGHS minimises; a ``max``
program is passed as ``min −c``, and its duals are negated back so that they
follow the package convention (∂ objective*/∂ bound in the program's own sense;
HiGHS' own duals for a minimisation are ∂ objective*/∂ bound).

Options are passed through to ``Highs.setOptionValue`` (e.g. ``solver="ipm"``,
``time_limit=60``), except ``cost_scale`` (``"auto"``, a power of two, or 1): the
factor the objective is multiplied by for the solve (see :func:`cost_scale`).
Presolve stays on by default: switching it off on tree-of-histories LPs is
slower and less accurate (DESIGN.md, measured).
"""

from __future__ import annotations

import time

import numpy as np

from dmd_opt.core.errors import SolverError
from dmd_opt.optim.program import Program
from dmd_opt.optim.solution import BASIS_CODES, Solution

_STATUS = {
    "kOptimal": "optimal", "kInfeasible": "infeasible", "kUnbounded": "unbounded",
    "kUnboundedOrInfeasible": "infeasible_or_unbounded", "kTimeLimit": "time_limit",
    "kIterationLimit": "iteration_limit", "kModelEmpty": "optimal",
}


_BANNER_DONE = False


def new_highs():
    """A silent ``highspy.Highs`` object.

    HiGHS prints its banner on stdout when the first instance of a process is
    created; that would corrupt ``--json`` output, so the first construction
    runs with the stdout file descriptor pointed at /dev/null.
    """
    global _BANNER_DONE
    import os
    import sys
    import highspy
    if not _BANNER_DONE:
        _BANNER_DONE = True
        try:
            sys.stdout.flush()
            saved = os.dup(1)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            try:
                h = highspy.Highs()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
                os.close(devnull)
        except OSError:  # no real stdout descriptor (e.g. some notebooks)
            h = highspy.Highs()
    else:
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


def cost_scale(c: np.ndarray, q: np.ndarray | None = None, target: float = 1e3) -> float:
    """The power of two the objective is multiplied by before it goes to HiGHS.

    HiGHS' dual feasibility tolerance (1e-7) is absolute, so columns whose costs
    are far below it — deep nodes of a history tree, weighted by probability ×
    discount, reach 1e-10 — are "optimal" at any value, and the reported optimum
    drifts (measured on the two-type tree with T = 17: 1.3e-9 relative unscaled,
    1e-15 between two different scalings).  When the nonzero
    costs span more than six decades and the largest is below ``target``, the
    objective is scaled up by 2^k so that the largest cost is in
    (target/2, target].  A power of two changes no primal value and scales every
    dual exactly; :func:`_to_highs` divides it out again.  Quadratic programs
    are left alone: HiGHS' QP solver stalled on a scaled quantity QP.
    """
    if q is not None and np.any(q != 0):
        return 1.0
    a = np.abs(c[c != 0]) if c.size else c
    if a.size == 0:
        return 1.0
    big, small = float(a.max()), float(a.min())
    if not np.isfinite(big) or big >= target or small >= 1e-6 * big:
        return 1.0
    return float(2.0 ** np.floor(np.log2(target / big)))


def _to_highs(prog: Program, scale: str | float = "auto"):
    """A HiGHS model of ``prog`` and the factor that maps its duals to the package convention.

    The factor is ``±1/F``: the sign turns HiGHS' minimisation into the program's
    sense, ``F`` is the objective scale of :func:`cost_scale` (``scale="auto"``),
    a given power of two, or 1.
    """
    import highspy
    A = prog.matrix()
    c = prog.objective_vector()
    sgn = -1.0 if prog.sense == "max" else 1.0
    F = cost_scale(c, prog.q_diag) if scale == "auto" else float(scale)
    if not (F > 0 and np.isfinite(F) and np.log2(F) == np.round(np.log2(F))):
        raise SolverError(f"cost_scale must be a power of two, got {scale!r}")
    sgn_out = sgn / F
    sgn = sgn * F
    inf = highspy.kHighsInf
    cl, cu = prog.col_lower, prog.col_upper
    rl, ru = prog.row_lower, prog.row_upper
    cl = np.where(np.isneginf(cl), -inf, cl)
    cu = np.where(np.isposinf(cu), inf, cu)
    rl = np.where(np.isneginf(rl), -inf, rl)
    ru = np.where(np.isposinf(ru), inf, ru)
    h = new_highs()
    n, m = prog.n_vars, prog.n_rows
    fmt_row = int(highspy.MatrixFormat.kRowwise)
    sense = int(highspy.ObjSense.kMinimize)
    a_start = A.indptr.astype(np.int32)
    a_index = A.indices.astype(np.int32)
    a_value = A.data.astype(float)
    integ = np.zeros(n, np.int32)  # all continuous (an empty array is read as garbage)
    if prog.q_diag is not None:
        q = sgn * prog.q_diag
        if np.any(q < -1e-14):
            raise SolverError("the quadratic objective is not convex in the program's sense")
        nzq = np.nonzero(q)[0].astype(np.int32)
        # Triangular (diagonal) Hessian in column-wise CSC form.
        q_start = np.zeros(n + 1, np.int32)
        np.add.at(q_start, nzq + 1, 1)
        q_start = np.cumsum(q_start).astype(np.int32)
        status = h.passModel(n, m, int(A.nnz), len(nzq), fmt_row, int(highspy.HessianFormat.kTriangular),
                             sense, sgn * prog.objective_offset, sgn * c, cl, cu, rl, ru,
                             a_start, a_index, a_value, q_start, nzq, q[nzq].astype(float), integ)
    else:
        status = h.passModel(n, m, int(A.nnz), fmt_row, sense, sgn * prog.objective_offset,
                             sgn * c, cl, cu, rl, ru, a_start, a_index, a_value, integ)
    if status == highspy.HighsStatus.kError:
        raise SolverError("HiGHS rejected the model (passModel returned an error)")
    return h, sgn_out


def solve_highs(prog: Program, *, basis: bool = False, options: dict | None = None,
                warm_basis: dict | None = None) -> Solution:
    """Solve ``prog`` with HiGHS; see the module docstring for conventions.

    ``basis=True`` also fetches the optimal basis (costs a little on large LPs).
    ``warm_basis`` (a ``Solution.basis`` of a program with the same columns and
    a prefix of its rows) warm-starts the simplex.
    """
    import highspy
    t0 = time.perf_counter()
    try:
        opts = dict(options or {})
        h, sgn = _to_highs(prog, opts.pop("cost_scale", "auto"))
        if prog.q_diag is not None:
            # HiGHS' QP solver regularises by 1e-7 by default, which moves the optimum
            # by ~1e-6 on these programs; 1e-10 keeps it stable and accurate.
            opts.setdefault("qp_regularization_value", 1e-10)
        for k, v in opts.items():
            if h.setOptionValue(k, v) == highspy.HighsStatus.kError:
                raise SolverError(f"HiGHS does not accept option {k}={v!r}")
    except SolverError:
        raise
    except Exception as exc:  # a malformed program is a bug, but report it as a status
        return Solution("error", f"HiGHS could not load the model: {exc}", "highs")
    if warm_basis is not None:
        _set_basis(h, prog, warm_basis)
    build = time.perf_counter() - t0
    t1 = time.perf_counter()
    run_status = h.run()
    solve = time.perf_counter() - t1
    ms = h.getModelStatus()
    words = h.modelStatusToString(ms)
    name = str(ms).split(".")[-1]
    status = _STATUS.get(name, "error")
    info = h.getInfo()
    sol = Solution(status, words, "highs", solve_seconds=solve, build_seconds=build,
                   info={"simplex_iterations": int(info.simplex_iteration_count),
                         "ipm_iterations": int(info.ipm_iteration_count),
                         "max_primal_infeasibility": float(info.max_primal_infeasibility),
                         "max_dual_infeasibility": float(info.max_dual_infeasibility) * abs(sgn)})
    if run_status == highspy.HighsStatus.kError and status == "optimal":
        sol.status = "error"
    if status == "optimal" and info.primal_solution_status != 2:
        sol.status = "inaccurate"
    if status in ("optimal", "inaccurate", "time_limit", "iteration_limit") and info.primal_solution_status > 0:
        s = h.getSolution()
        sol.x = np.asarray(s.col_value)
        sol.row_activity = np.asarray(s.row_value)
        if s.dual_valid:
            sol.row_dual = sgn * np.asarray(s.row_dual)
            sol.col_dual = sgn * np.asarray(s.col_dual)
        sol.objective = prog.objective_value(sol.x)
        if basis:
            b = h.getBasis()
            if b.valid:
                sol.basis = {"col_status": np.array([BASIS_CODES[_bname(v)] for v in b.col_status], np.int8),
                             "row_status": np.array([BASIS_CODES[_bname(v)] for v in b.row_status], np.int8)}
    if status in ("infeasible", "infeasible_or_unbounded"):
        sol.dual_ray = _dual_ray(h, prog)
    return sol


def _bname(v) -> str:
    return str(v).split(".")[-1][1:].lower()


def _dual_ray(h, prog: Program) -> np.ndarray | None:
    """A Farkas ray over the rows (HiGHS' sign), scaled to unit max-norm, or None.

    HiGHS only has a ray after a simplex solve that reached infeasibility
    itself (not in presolve), so when none is at hand the LP is re-solved once
    with presolve off, which is cheap next to the failed solve on these sizes.
    """
    def fetch(hh):
        try:
            out = hh.getDualRay()
        except Exception:
            return None
        exists, ray = (out[1], out[2]) if len(out) == 3 else out
        return np.asarray(ray, float) if exists else None

    y = fetch(h)
    if y is None:
        try:
            h2, _ = _to_highs(prog)
            h2.setOptionValue("presolve", "off")
            h2.setOptionValue("solver", "simplex")
            h2.run()
            y = fetch(h2)
        except Exception:
            return None
    if y is None:
        return None
    m = np.max(np.abs(y)) if y.size else 0.0
    return y / m if m > 0 else y


def _set_basis(h, prog: Program, basis: dict) -> None:
    import highspy
    inv = {v: k for k, v in BASIS_CODES.items()}
    names = {"lower": highspy.HighsBasisStatus.kLower, "basic": highspy.HighsBasisStatus.kBasic,
             "upper": highspy.HighsBasisStatus.kUpper, "zero": highspy.HighsBasisStatus.kZero,
             "nonbasic": highspy.HighsBasisStatus.kNonbasic}
    cs, rs = basis["col_status"], basis["row_status"]
    if len(cs) != prog.n_vars or len(rs) > prog.n_rows:
        return
    # New rows (beyond the old basis) enter as basic slacks.
    rs = np.concatenate([rs, np.full(prog.n_rows - len(rs), BASIS_CODES["basic"], np.int8)])
    hb = highspy.HighsBasis()
    hb.col_status = [names[inv[int(v)]] for v in cs]
    hb.row_status = [names[inv[int(v)]] for v in rs]
    hb.valid = True
    h.setBasis(hb)
