"""HiGHS specifics: a silent ``Highs`` object, one ``passModel`` call, statuses, bases, rays.

These are the only places that speak highspy's language; the persistent model
built on them is :class:`dmd_opt.solvers.session.Session`, and
:func:`dmd_opt.solvers.session.solve_highs` is the ``"highs"`` backend.

The CSR matrix and bounds go to highspy in a single call (no per-row API; filling
a ``HighsLp`` field by field is ~8× slower to assemble), the separable quadratic
term as a diagonal Hessian.  HiGHS minimises: the objective it gets is
``transform.factor × f`` (:mod:`dmd_opt.solvers.transform`).
"""

from __future__ import annotations

import os
import sys

import highspy
import numpy as np
import scipy.sparse as sp

from dmd_opt.core.errors import SolverError
from dmd_opt.optim.solution import BASIS_CODES

INF = highspy.kHighsInf
RUN_ERROR = highspy.HighsStatus.kError

#: HiGHS model status name → package status (dmd_opt.optim.solution.STATUSES)
STATUS = {
    "kOptimal": "optimal", "kInfeasible": "infeasible", "kUnbounded": "unbounded",
    "kUnboundedOrInfeasible": "infeasible_or_unbounded", "kTimeLimit": "time_limit",
    "kIterationLimit": "iteration_limit", "kModelEmpty": "optimal",
}

_BANNER_DONE = False


def new_highs() -> highspy.Highs:
    """A silent ``highspy.Highs`` object.

    HiGHS prints its banner on stdout when the first instance of a process is
    created; that would corrupt ``--json`` output, so the first construction
    runs with the stdout file descriptor pointed at /dev/null.
    """
    global _BANNER_DONE
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


def highs_inf(a: np.ndarray) -> np.ndarray:
    """Bounds with ±inf replaced by HiGHS' infinity."""
    a = np.asarray(a, float)
    return np.where(np.isposinf(a), INF, np.where(np.isneginf(a), -INF, a))


def pass_model(h: highspy.Highs, A: sp.spmatrix, c: np.ndarray, offset: float, q: np.ndarray | None,
               cl: np.ndarray, cu: np.ndarray, rl: np.ndarray, ru: np.ndarray) -> None:
    """Load ``min c·x + ½ Σ q_j x_j² + offset`` s.t. ``rl ≤ Ax ≤ ru``, ``cl ≤ x ≤ cu`` in one call.

    ``A`` is CSR (row-wise) or CSC (column-wise); the costs are already transformed.
    """
    n, m = A.shape[1], A.shape[0]
    fmt = int(highspy.MatrixFormat.kColwise if sp.isspmatrix_csc(A) or getattr(A, "format", "") == "csc"
              else highspy.MatrixFormat.kRowwise)
    sense = int(highspy.ObjSense.kMinimize)
    args = (highs_inf(cl), highs_inf(cu), highs_inf(rl), highs_inf(ru),
            A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data.astype(float))
    integ = np.zeros(n, np.int32)  # all continuous (an empty array is read as garbage)
    if q is not None and np.any(q != 0):
        if np.any(q < -1e-14):
            raise SolverError("the quadratic objective is not convex in the program's sense")
        nzq = np.nonzero(q)[0].astype(np.int32)
        # diagonal Hessian in column-wise (triangular) CSC form
        q_start = np.zeros(n + 1, np.int32)
        np.add.at(q_start, nzq + 1, 1)
        q_start = np.cumsum(q_start).astype(np.int32)
        status = h.passModel(n, m, int(A.nnz), len(nzq), fmt, int(highspy.HessianFormat.kTriangular),
                             sense, float(offset), np.asarray(c, float), *args,
                             q_start, nzq, np.asarray(q, float)[nzq], integ)
    else:
        status = h.passModel(n, m, int(A.nnz), fmt, sense, float(offset), np.asarray(c, float), *args, integ)
    if status == highspy.HighsStatus.kError:
        raise SolverError("HiGHS rejected the model (passModel returned an error)")


def set_options(h: highspy.Highs, options: dict) -> None:
    """``setOptionValue`` for each option; an unknown name or value is a usage error."""
    for k, v in options.items():
        if h.setOptionValue(k, v) == highspy.HighsStatus.kError:
            raise SolverError(f"HiGHS does not accept option {k}={v!r}")


def model_status(h: highspy.Highs) -> tuple[str, str]:
    """(package status, HiGHS' words) of the last run."""
    ms = h.getModelStatus()
    return STATUS.get(str(ms).split(".")[-1], "error"), h.modelStatusToString(ms)


_CODE = {"kLower": BASIS_CODES["lower"], "kBasic": BASIS_CODES["basic"], "kUpper": BASIS_CODES["upper"],
         "kZero": BASIS_CODES["zero"], "kNonbasic": BASIS_CODES["nonbasic"]}
_HIGHS_STATUS = {BASIS_CODES["lower"]: highspy.HighsBasisStatus.kLower,
                 BASIS_CODES["basic"]: highspy.HighsBasisStatus.kBasic,
                 BASIS_CODES["upper"]: highspy.HighsBasisStatus.kUpper,
                 BASIS_CODES["zero"]: highspy.HighsBasisStatus.kZero,
                 BASIS_CODES["nonbasic"]: highspy.HighsBasisStatus.kNonbasic}


_BY_CODE = [_HIGHS_STATUS[k] for k in range(len(_HIGHS_STATUS))]
assert all(_CODE[name] == int(_HIGHS_STATUS[_CODE[name]].value) for name in _CODE)


def basis_codes(statuses) -> np.ndarray:
    """HiGHS basis statuses as package codes (``BASIS_CODES``)."""
    # HiGHS' enum values coincide with BASIS_CODES (kLower 0, kBasic 1, kUpper 2, kZero 3, kNonbasic 4)
    return np.fromiter((v.value for v in statuses), np.int8, count=len(statuses))


def get_basis(h: highspy.Highs) -> dict | None:
    b = h.getBasis()
    if not b.valid:
        return None
    return {"col_status": basis_codes(b.col_status), "row_status": basis_codes(b.row_status)}


def set_basis(h: highspy.Highs, col_status: np.ndarray, row_status: np.ndarray) -> None:
    hb = highspy.HighsBasis()
    hb.col_status = [_BY_CODE[v] for v in np.asarray(col_status, np.int64).tolist()]
    hb.row_status = [_BY_CODE[v] for v in np.asarray(row_status, np.int64).tolist()]
    hb.valid = True
    h.setBasis(hb)


def fetch_dual_ray(h: highspy.Highs) -> np.ndarray | None:
    """HiGHS' Farkas ray over the rows (its own orientation), or None."""
    try:
        out = h.getDualRay()
    except Exception:
        return None
    exists, ray = (out[1], out[2]) if len(out) == 3 else out
    return np.asarray(ray, float) if exists else None


__all__ = ["INF", "RUN_ERROR", "STATUS", "new_highs", "highs_inf", "pass_model", "set_options", "model_status",
           "basis_codes", "get_basis", "set_basis", "fetch_dual_ray"]
