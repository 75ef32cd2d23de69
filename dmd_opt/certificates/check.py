r"""The certificate checker: rebuild the program, then verify — without any solver.

``check_certificate(path, model=None, program=None)``

1. reads the certificate (and its ``.npz`` sidecar, whose SHA-256 must match);
2. rebuilds the :class:`~dmd_opt.optim.program.Program` from the model —
   ``dmd_opt.interfaces.models.KINDS[kind].build(data, **options)`` with the options stored in
   the certificate, from the embedded model data or from ``model`` — and
   **refuses** when the model data or the program's fingerprint differ from
   the recorded ones;
3. verifies the claim of the recorded status:

   * ``optimal`` LP/QP, small enough (``exact_limit``): the optimal basis (LP;
     recorded in the certificate) or the active set read off the recorded
     solution (QP) defines a square linear system — primal
     :math:`A_B x_B - s_B = -A_N x_N + s_N` and dual (KKT) rows
     :math:`c_j + q_jx_j - (A^\top y)_j = 0` for basic columns — solved
     exactly in rational arithmetic (:mod:`.exact`).  Then exact checks:
     primal bounds of the basic variables, dual signs
     (:math:`y_i>0 \Rightarrow s_i=\ell_i`, :math:`y_i<0\Rightarrow s_i=u_i`,
     same for reduced costs), and primal objective = dual objective (gap 0).
     Verdict ``"optimal, exact: gap 0"``.
   * otherwise: Neumaier–Shcherbina safe bounds (:mod:`.rigorous`) from the
     recorded duals; verdict ``"optimal within g (rigorous bound)"``.

   In both cases the *recorded* primal and dual vectors are checked too
   (rigorous floating bounds): primal infeasibility, the dual bound they
   imply and their objective must agree with the optimum within
   ``tol × scale`` — so a changed digit in a primal or dual value fails.
   * ``infeasible``: the recorded Farkas ray :math:`\hat y` (the solvers' orientation) must prove,
     with :math:`y = -\hat y`,
     :math:`\max_{\ell^r\le s\le u^r} y^\top s < \min_{\ell^x\le x\le u^x}(A^\top y)^\top x`
     (no :math:`x` in the box has :math:`Ax` within the row bounds); a ray of the other sign fails.  Exactly:
     the ray is rationalised and, where free columns need
     :math:`(A^\top y)_j = 0` exactly, projected onto that subspace in rational
     arithmetic (it must stay within ``tol`` of the recorded ray).
     For large programs: the same inequality with rigorous floating bounds.

Tolerances: ``tol`` (default 1e-6) is relative to ``scale = max(1, payoff
scale, |objective|)``; exact checks use no tolerance at all.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from dmd_opt.core.display import result_html, result_repr
from dmd_opt.core.errors import ModelError
from dmd_opt.core.record import result_record, verification_record
from dmd_opt.core.serialise import to_jsonable
from dmd_opt.optim.program import Program
from dmd_opt.certificates import exact as X
from dmd_opt.certificates import rigorous as R
from dmd_opt.certificates.format import model_fingerprint
from dmd_opt.certificates.reader import IntegrityError, read_certificate, validate

#: Programs with at most this many rows + columns are checked in exact arithmetic.
EXACT_LIMIT = 40_000


@dataclass
class CheckResult:
    """Outcome of :func:`check_certificate`; ``passed`` (alias ``ok``) is the verdict."""

    __repr__ = result_repr
    _repr_html_ = result_html

    ok: bool
    verdict: str
    method: str                 # "exact" | "rigorous" | "refused" | "failed"
    status: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    kind: str | None = None     # the certified model's kind and claimed objective (when readable)
    objective: float | None = None
    source: str | None = None   # the certificate file
    error: ModelError | None = None   # set when the certificate could not be read as one (bad input)

    @property
    def passed(self) -> bool:
        return self.ok

    def to_dict(self) -> dict:
        """The result record (``docs/result.schema.json``) of command ``check``."""
        details = to_jsonable(self.details)
        ver = verification_record(None, self.ok, notion="certificate", tolerance=details.get("tolerance"),
                                  scale=None, method=self.method, verdict=self.verdict)
        cert = {"file": self.source or "", "method": self.method, "verdict": self.verdict, "details": details,
                "seconds": self.seconds}
        return result_record(self.kind or "unknown", self.status or self.method, self.objective, command="check",
                             verification=ver, message="" if self.ok else self.verdict, certificate=cert)

    def summary_lines(self) -> list[str]:
        lines = [self.verdict]
        for k, v in self.details.items():
            if isinstance(v, (int, float, str, bool)):
                lines.append(f"  {k}: {v}")
        return lines

    def __bool__(self) -> bool:
        return self.ok


def row_name(labels: dict, r: int) -> str:
    """A readable label of row ``r`` (0-based agent/period/type indices as in the Program)."""
    from dmd_opt.audit.binding import row_name as rn
    return rn(labels, r)


def col_name(prog: Program, j: int) -> str:
    for name, b in prog.var_blocks.items():
        if b.offset <= j < b.offset + b.size:
            return f"column {j} ({name}{list(np.unravel_index(j - b.offset, b.shape))})"
    return f"column {j}"


# ---------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------
def check_certificate(path, *, model=None, program: Program | None = None, tol: float = 1e-6,
                      exact_limit: int = EXACT_LIMIT, force: str | None = None,
                      exact_seconds: float = 8.0) -> CheckResult:
    """Check a certificate file (or dict) without calling any solver; see the module docstring.

    ``force="exact"|"rigorous"`` overrides the size rule (for tests and benchmarks);
    ``exact_seconds`` bounds the exact attempt (then the rigorous bound is used).
    A certificate that cannot be read as one (a malformed file, an unknown key, a path
    for its array file …) gives ``method="refused"`` with the :class:`ModelError` in
    ``error`` (the command line exits 2 on it); every other refusal or failure is a verdict.
    """
    t0 = time.perf_counter()

    def refused(msg, status=None, error=None):
        r = CheckResult(False, f"REFUSED: {msg}", "refused", status, seconds=time.perf_counter() - t0)
        r.error = error
        if error is not None:
            r.details["field"] = error.field
        return r

    try:
        cert = validate(path) if isinstance(path, dict) else read_certificate(path)
    except IntegrityError as exc:                 # the array file was altered: a refusal, not bad input
        return refused(str(exc))
    except ModelError as exc:
        return refused(str(exc), error=exc)
    status = cert["status"]
    try:
        if program is not None:
            prog, opts = program, dict((cert.get("model") or {}).get("options") or {})
        else:
            prog, opts = _rebuild(cert, model)
    except _Refused as exc:
        return refused(str(exc), status)
    except ModelError as exc:                     # the embedded model data or options are invalid
        return refused(f"{exc}", status, error=exc)
    fp = prog.fingerprint()
    if fp != cert["program"]["fingerprint"]:
        return refused("the program rebuilt from the model has fingerprint "
                       f"{fp[:12]}…, the certificate was made for {cert['program']['fingerprint'][:12]}… "
                       "(different model data or options)", status)
    claim = _program_claims(prog, cert["program"])
    if claim:
        return refused(claim, status)
    vals = cert["arrays"]["values"]
    try:
        _check_shapes(prog, vals)
        if status == "optimal":
            res = _check_optimal(prog, cert, vals, tol, exact_limit, force, exact_seconds)
        elif status == "infeasible" or (status == "infeasible_or_unbounded" and "dual_ray" in vals):
            res = _check_infeasible(prog, cert, vals, tol, exact_limit, force)
        else:
            res = CheckResult(False, f"FAILED: status {status!r} carries no checkable claim "
                              "(only optimal and infeasible certificates can be verified)", "failed", status)
    except _Failed as exc:
        res = CheckResult(False, f"FAILED: {exc}", "failed", status, dict(exc.details))
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        res = CheckResult(False, f"FAILED: the recorded numbers cannot be checked ({type(exc).__name__}: {exc})",
                          "failed", status)
    shown = describe_options(opts)
    res.details["program_options"] = to_jsonable(_options_record(opts))
    if res.ok:
        res.verdict += f" [program options checked: {shown}]"
    res.status = status
    res.kind = (cert.get("model") or {}).get("kind")
    res.objective = cert.get("objective")
    res.source = None if isinstance(path, dict) else str(path)
    res.seconds = time.perf_counter() - t0
    res.details.setdefault("rows", prog.n_rows)
    res.details.setdefault("columns", prog.n_vars)
    return res


class _Refused(Exception):
    pass


class _Failed(Exception):
    def __init__(self, msg, **details):
        super().__init__(msg)
        self.details = details


#: Solve options that do not determine the program (never stored; refused in a certificate).
NOT_PROGRAM_OPTIONS = ("backend", "solver", "options", "verify", "progress")
#: Options a certificate carries that no model file sets: the state of an iterative solve
#: (the continuation values of the last Bellman iteration), not a modelling choice.
CERTIFICATE_ONLY_OPTIONS = ("continuation_values", "continuation_set", "promises", "punishments", "cuts",
                            "border_chains", "implementation")


def _options_record(opts: dict) -> dict:
    out = {}
    for k, v in sorted(opts.items()):
        if isinstance(v, (list, tuple, np.ndarray)) and np.asarray(v, dtype=object).size > 8:
            out[k] = f"<array of {np.asarray(v, dtype=object).size} numbers>"
        else:
            out[k] = v
    return out


def describe_options(opts: dict) -> str:
    """``participation='interim', disclosure='public', …`` (arrays summarised); ``none`` if empty."""
    rec = _options_record(opts)
    return ", ".join(f"{k}={v!r}" if not (isinstance(v, str) and v.startswith("<array")) else f"{k}={v}"
                     for k, v in rec.items()) or "none"


def _rebuild(cert: dict, model) -> tuple[Program, dict]:
    """The program from the model data with the certificate's own options (see the module docstring).

    With ``model`` (``--model FILE``) the model file's ``[solve]`` options must build the same
    program as the certificate's options: a difference is refused naming the option."""
    from dmd_opt.core.kinds import KINDS, check_options, ensure_kinds
    from dmd_opt.core.serialise import to_jsonable
    ensure_kinds()
    rec = cert.get("model") or {}
    kind = rec.get("kind") if rec.get("kind") is not None else (model.kind if model is not None else None)
    if kind is None:
        raise _Refused("the certificate carries no model data; pass the model file (--model FILE)")
    if kind not in KINDS:
        raise ModelError("certificate.model.kind", f"unknown model kind {kind!r}; known kinds: "
                                                   f"{', '.join(sorted(KINDS))}")
    raw_opts = dict(rec.get("options") or {})
    for k in raw_opts:
        if k in NOT_PROGRAM_OPTIONS:
            raise ModelError(f"certificate.model.options.{k}", "is not a program option (certificates record "
                                                               "only the options that determine the program)")
    opts = check_options(kind, raw_opts, field="certificate.model.options")
    build = KINDS[kind].build
    if build is None:
        raise _Refused(f"models of kind {kind!r} have no program builder to check against")
    if model is not None:
        if rec.get("kind") not in (None, model.kind):
            raise _Refused(f"the model is of kind {model.kind!r}, the certificate of kind {rec.get('kind')!r}")
        if rec.get("fingerprint") is not None and \
                model_fingerprint(kind, to_jsonable(model.raw), raw_opts) != rec["fingerprint"]:
            raise _Refused("the model data differ from those the certificate was made for "
                           "(model fingerprint mismatch)")
        prog = _with_exact(build(model.data, **opts), build, model.data, opts)
        _same_options(kind, build, model, opts, prog)
        return prog, opts
    if "data" not in rec:
        raise _Refused("the certificate carries no model data; pass the model file (--model FILE)")
    if model_fingerprint(kind, rec["data"], raw_opts) != rec.get("fingerprint"):
        raise _Refused("the embedded model data do not match their fingerprint (the file was altered)")
    data = KINDS[kind].parse(_copy(rec["data"]))
    return _with_exact(build(data, **opts), build, data, opts), opts


def _with_exact(prog: Program, build, data, opts: dict) -> Program:
    """Attach the same builder run on the model's numbers as rationals (for the exact check; exact_data)."""
    from dmd_opt.certificates.exact_data import build_exact
    prog.meta.setdefault("exact_build", lambda: build_exact(build, data, **opts))
    return prog


_UNSET = object()


def _same_options(kind, build, model, cert_opts: dict, prog: Program) -> None:
    """Refuse when the model file's [solve] options build another program than the certificate's."""
    file_opts = {k: v for k, v in (model.options or {}).items() if k not in NOT_PROGRAM_OPTIONS}
    effective = {**{k: v for k, v in cert_opts.items() if k in CERTIFICATE_ONLY_OPTIONS}, **file_opts}
    keys = sorted((set(file_opts) | set(cert_opts)) - set(CERTIFICATE_ONLY_OPTIONS))
    differ = [k for k in keys if _norm(file_opts.get(k, _UNSET)) != _norm(cert_opts.get(k, _UNSET))]
    if not differ:
        return
    base = build(model.data, **effective).fingerprint()
    if base == prog.fingerprint():
        return                                    # written differently (a default spelled out), same program
    # name the options that matter: an option the file leaves at its default is named only if
    # setting it to the certificate's value changes the program
    named = [k for k in differ if k in file_opts]
    for k in [k for k in differ if k not in file_opts][:8]:
        if build(model.data, **{**effective, k: cert_opts[k]}).fingerprint() != base:
            named.append(k)
    parts = []
    for k in sorted(named or differ):
        fv, cv = file_opts.get(k, _UNSET), cert_opts.get(k, _UNSET)
        parts.append(f"solve.{k}: the model file has {'its default' if fv is _UNSET else repr(fv)}, "
                     f"the certificate {'its default' if cv is _UNSET else repr(cv)}")
    raise _Refused("the model file's [solve] options build a different program than the certificate's "
                   "options (" + "; ".join(parts) + "); check the certificate against a model file with "
                   "the same options")


def _norm(v):
    from dmd_opt.core.serialise import to_jsonable
    return json.dumps(to_jsonable(v), sort_keys=True) if v is not _UNSET else "<unset>"


def _program_claims(prog: Program, claimed: dict) -> str:
    """The certificate's description of the program must be the rebuilt program's."""
    summ = prog.summary()
    have = {"sense": prog.sense, "rows": prog.n_rows, "columns": prog.n_vars, "nonzeros": summ["nonzeros"],
            "quadratic": prog.q_diag is not None, "objective_offset": float(prog.objective_offset),
            "families": summ["families"]}
    for k, v in have.items():
        if k in claimed and _norm(claimed[k]) != _norm(v):
            return (f"certificate.program.{k} claims {claimed[k]!r}, the program rebuilt from the model has "
                    f"{v!r}")
    return ""       # payoff_scale is informative: tolerances use the rebuilt program's own scale


def _copy(obj):
    import copy
    return copy.deepcopy(obj)


def _check_shapes(prog: Program, vals: dict) -> None:
    n, m = prog.n_vars, prog.n_rows
    want = {"x": n, "row_activity": m, "row_dual": m, "col_dual": n, "col_status": n, "row_status": m,
            "dual_ray": m}
    for k, size in want.items():
        if k in vals and vals[k].shape != (size,):
            raise _Failed(f"array {k!r} has shape {vals[k].shape}, the program needs ({size},)")
        if k in vals and not k.endswith("_status") and not np.all(np.isfinite(vals[k])):
            raise _Failed(f"array {k!r} holds non-finite numbers")


# ---------------------------------------------------------------------------------------
# optimal
# ---------------------------------------------------------------------------------------
def _scale(prog: Program, obj) -> float:
    return max(1.0, float(prog.meta.get("payoff_scale", 1.0) or 1.0), abs(obj) if obj is not None else 0.0)


def _check_optimal(prog, cert, vals, tol, exact_limit, force, exact_seconds=8.0) -> CheckResult:
    if "x" not in vals or "row_dual" not in vals:
        raise _Failed("an optimal certificate needs primal (x) and dual (row_dual) values")
    sgn = 1.0 if prog.sense == "min" else -1.0
    x, yhat = vals["x"], sgn * vals["row_dual"]
    A = prog.matrix()
    c = sgn * prog.objective_vector()
    qd = None if prog.q_diag is None else sgn * prog.q_diag
    off = sgn * prog.objective_offset
    rl, ru, cl, cu = prog.row_lower, prog.row_upper, prog.col_lower, prog.col_upper
    scale = _scale(prog, cert.get("objective"))
    eps = tol * scale
    bounds = R.safe_bounds(A, c, off, rl, ru, cl, cu, x, yhat, qd)
    details: dict[str, Any] = {
        "tolerance": eps, "primal_infeasibility_bound": bounds.primal_infeasibility,
        "dual_bound": sgn * bounds.dual_bound, "primal_objective": sgn * bounds.primal_objective,
        "gap_bound": bounds.gap, "boxed_free_columns": bounds.boxed_columns,
        "box": bounds.box, "box_contribution": bounds.box_contribution,
        "dual_refinement": bounds.details.get("dual_moved_by", 0.0)}
    if bounds.details.get("dual_moved_by", 0.0) > eps:
        raise _Failed(f"the recorded duals are {bounds.details['dual_moved_by']:.3g} away from duals that "
                      "cancel the free columns (a dual value was changed?)" + _worst_dual(prog, yhat, c, prog.row_labels()),
                      **details)
    labels = prog.row_labels()
    _check_recorded_claims(prog, cert, vals, sgn, c, qd, eps, labels, details)
    # LPs and QPs: exact when a basis is recorded (for a QP, a basis of the LP
    # linearised at the optimum: see exact_check).
    want_exact = "col_status" in vals and \
        (force == "exact" or (force is None and prog.n_rows + prog.n_vars <= exact_limit))
    exact_res = None
    if want_exact:
        exact_res = _exact_optimal(prog, vals, c, qd, off, sgn, scale, labels, exact_seconds)
        details.update(exact_res["details"])
    # --- the recorded vectors must agree with the (exact or rigorous) optimum ---
    if bounds.primal_infeasibility > eps:
        r = bounds.worst_row
        where = row_name(labels, r) if r >= 0 else "a column bound"
        raise _Failed(f"the recorded primal solution violates {where} by up to "
                      f"{bounds.primal_infeasibility:.3g} (> {eps:.3g})", **details)
    recorded = cert.get("objective")
    p_sense = sgn * bounds.primal_objective
    if recorded is None or not np.isfinite(recorded) or abs(recorded - p_sense) > eps:
        raise _Failed(f"the recorded objective {recorded} differs from the objective of the recorded "
                      f"primal solution, {p_sense:.12g}", **details)
    note = ""
    if exact_res is not None and exact_res["ok"]:
        opt = exact_res["optimum"]
        if abs(p_sense - opt) > eps:
            raise _Failed(f"the recorded primal solution has objective {p_sense:.12g}, the exact optimum "
                          f"is {opt:.12g}", **details)
        if not np.isfinite(bounds.dual_bound) or abs(sgn * bounds.dual_bound - opt) > eps:
            raise _Failed("the recorded duals do not prove the optimum: their safe dual bound is "
                          f"{sgn * bounds.dual_bound:.12g}, the exact optimum {opt:.12g}"
                          + _worst_dual(prog, yhat, c, labels), **details)
        proof = _feasibility_proof(prog, exact_res.get("x"), x, details)
        if proof is not None and not proof["ok"]:
            raise _Failed(proof["message"], **details)
        if proof is None or proof["exact"]:
            verdict = (f"optimal, exact: gap 0 (optimum {exact_res['optimum_str']} ≈ {opt:.12g}, "
                       f"{exact_res['how']} re-solved in rational arithmetic; recorded primal/dual "
                       f"agree within {max(abs(p_sense - opt), abs(sgn * bounds.dual_bound - opt)):.2g})"
                       + ("" if proof is None else f"; {proof['message']}"))
            return CheckResult(True, verdict, "exact", details=details)
        note = f"; exact LP optimum {opt:.12g}, but {proof['message']}"
    elif exact_res is not None:
        details["exact_attempt"] = exact_res["reason"]
        note = f"; exact re-solve of the recorded basis: {exact_res['reason']}"
    if prog.meta.get("certify") is not None and "feasibility_proof" not in details:
        proof = _feasibility_proof(prog, None, x, details)
        if not proof["ok"]:
            raise _Failed(proof["message"], **details)
        note += f"; {proof['message']}"
    # --- rigorous floating bounds ---
    if not np.isfinite(bounds.dual_bound) or bounds.gap > eps:
        raise _Failed(f"duality gap bound {bounds.gap:.3g} exceeds {eps:.3g}"
                      + _worst_dual(prog, yhat, c, labels), **details)
    lo, hi = sorted((sgn * bounds.dual_bound, sgn * bounds.primal_objective))
    kind = "KKT of the convex QP, " if qd is not None else ""
    box = (f"; {bounds.boxed_columns} free columns confined to |x| ≤ {bounds.box:.3g}, contributing "
           f"≤ {bounds.box_contribution:.2g}") if bounds.boxed_columns else ""
    verdict = (f"optimal within {max(bounds.gap, 0.0):.2g} (rigorous bound: {kind}optimum in [{lo:.12g}, {hi:.12g}] "
               f"up to primal infeasibility ≤ {bounds.primal_infeasibility:.2g}{box}{note})")
    return CheckResult(True, verdict, "rigorous", details=details)


def _check_recorded_claims(prog, cert, vals, sgn, c, qd, eps, labels, details) -> None:
    r"""Every number the certificate records must be what it claims — no silent projection.

    * ``row_activity`` equals :math:`A\hat x`;
    * every row multiplier has the sign its row allows (min form: :math:`y_i > 0` needs a
      finite lower bound, :math:`y_i < 0` a finite upper bound) — a wrong-signed dual beyond
      round-off fails instead of being set to zero;
    * ``col_dual`` equals the reduced cost :math:`c + q\circ\hat x - A^\top y` and has the sign its
      column bounds allow;
    * ``bound`` equals the dual objective of the recorded duals and the recorded objective.

    A recorded basis is evidence, not a claim: it is where the exact re-solve starts, and exact
    pivots repair it when it is not optimal for the exact data.
    """
    A = prog.matrix()
    x, y = vals["x"], sgn * vals["row_dual"]
    rl, ru, cl, cu = prog.row_lower, prog.row_upper, prog.col_lower, prog.col_upper
    ymag = max(1.0, float(np.max(np.abs(y)))) if y.size else 1.0
    tol_rel = eps / max(1.0, _scale(prog, cert.get("objective")))
    ax = A @ x
    if "row_activity" in vals:
        d = np.abs(vals["row_activity"] - ax)
        lim = eps * (1.0 + np.abs(ax))
        if np.any(d > lim):
            r = int(np.argmax(d - lim))
            raise _Failed(f"the recorded row_activity of {row_name(labels, r)} is {vals['row_activity'][r]!r}, "
                          f"A·x gives {ax[r]!r}", **details)
    dtol = tol_rel * ymag
    bad = ((y > dtol) & np.isneginf(rl)) | ((y < -dtol) & np.isposinf(ru))
    if np.any(bad):
        r = int(np.argmax(np.where(bad, np.abs(y), 0.0)))
        side = "lower" if y[r] > 0 else "upper"
        raise _Failed(f"the recorded dual of {row_name(labels, r)} is {vals['row_dual'][r]!r}: its sign needs a "
                      f"finite {side} bound, which this row does not have (a wrong-signed dual is not a proof)",
                      **details)
    if "col_dual" in vals:
        z = sgn * vals["col_dual"]
        r_lo, r_hi = R.residual_interval(A, y, c if qd is None else c + qd * x)
        scale_z = np.maximum(1.0, np.maximum(np.abs(r_lo), np.abs(r_hi)))
        off = np.maximum(r_lo - z, z - r_hi)
        if np.any(off > dtol * scale_z):
            j = int(np.argmax(off / scale_z))
            raise _Failed(f"the recorded reduced cost (col_dual) of {col_name(prog, j)} is {vals['col_dual'][j]!r}, "
                          f"c − Aᵀy gives {sgn * 0.5 * (r_lo[j] + r_hi[j])!r}", **details)
        zmag = max(1.0, float(np.max(np.abs(z)))) if z.size else 1.0
        badz = ((z > tol_rel * zmag) & np.isneginf(cl)) | ((z < -tol_rel * zmag) & np.isposinf(cu))
        if qd is not None:
            badz &= qd == 0
        if np.any(badz):
            j = int(np.argmax(np.where(badz, np.abs(z), 0.0)))
            raise _Failed(f"the recorded reduced cost of {col_name(prog, j)} is {vals['col_dual'][j]!r}: its sign "
                          "needs a finite bound on that side of the column", **details)
    bound = cert.get("bound")
    if bound is not None:
        from dmd_opt.certificates.format import _float_dual_objective
        cd = vals.get("col_dual")
        if cd is None:
            cd = prog.objective_vector() - A.T @ vals["row_dual"]
        mine = _float_dual_objective(prog, vals["row_dual"], cd)
        obj = cert.get("objective")
        # an LP's dual objective equals the optimum; a QP's recorded bound is the linear part only
        off_obj = qd is None and obj is not None and abs(bound - obj) > eps
        if not np.isfinite(mine) or abs(bound - mine) > eps or off_obj:
            raise _Failed(f"the recorded bound {bound!r} is not the dual objective of the recorded duals "
                          f"({mine!r}) and the recorded objective ({obj!r})", **details)


def _worst_dual(prog, y, c, labels) -> str:
    """Name the column whose dual constraint is most violated (for messages)."""
    A = prog.matrix()
    r = c - A.T @ R.project_dual(y, prog.row_lower, prog.row_upper)
    cl, cu = prog.col_lower, prog.col_upper
    bad = np.where(r > 0, np.where(np.isneginf(cl), r, 0.0), np.where(np.isposinf(cu), -r, 0.0))
    if prog.q_diag is not None:
        bad = np.where(prog.q_diag != 0, 0.0, bad)
    j = int(np.argmax(bad)) if bad.size else -1
    if j < 0 or bad[j] <= 0:
        return ""
    rows = A[:, j].nonzero()[0]
    near = ", ".join(row_name(labels, int(i)) for i in rows[:3])
    return f"; worst dual residual {bad[j]:.3g} at {col_name(prog, j)} (rows {near})"


def _exact_optimal(prog, vals, c, qd, off, sgn, scale, labels, exact_seconds: float = 8.0) -> dict:
    """Exact optimum from the recorded basis (LP: :mod:`.simplex`; QP: exact KKT), see :mod:`.exact_check`."""
    from dmd_opt.certificates.exact_check import exact_optimum
    out = exact_optimum(prog, vals, c, qd, sgn, exact_seconds)
    if not out["ok"]:
        return {"ok": False, "reason": out["reason"], "optimum": np.nan, "details": {}}
    res, data_note = out["res"], out["data_note"]
    gap = res["objective"] - res["dual_objective"]
    if gap != 0:  # cannot happen for an exactly optimal basis; keep the check honest
        return {"ok": False, "reason": f"exact duality gap {X.to_float(gap):.3g} ≠ 0", "optimum": np.nan,
                "details": {}}
    opt_q = (res["objective"] + X.Q(int(sgn)) * out["exact_offset"]) * X.Q(int(sgn))
    opt = X.to_float(opt_q)
    fr = X.as_fraction(opt_q)
    opt_str = str(fr) if len(str(fr)) <= 40 else f"a rational with a {len(str(fr.denominator))}-digit denominator"
    piv = res["pivots"]
    what = "KKT point of the recorded QP basis" if qd is not None else "recorded optimal basis"
    how = (f"the {what} ({res['basic_columns']} basic columns, {prog.n_rows} rows"
           + (f", {piv} exact {'active-set step' if qd is not None else 'simplex pivot'}{'s' if piv != 1 else ''} "
              "to repair floating round-off" if piv else "")
           + f"; data: {data_note})")
    kind = "model" if data_note.startswith("the model") else \
        ("dyadic" if data_note.startswith("the stored") else "simple fractions")
    return {"ok": True, "reason": "", "optimum": opt, "optimum_str": opt_str, "how": how, "x": res["x"],
            "details": {"exact_optimum": opt, "exact_optimum_rational": str(fr) if len(str(fr)) <= 200 else None,
                        "exact_gap": 0.0, "exact_pivots": piv, "exact_method": how, "exact_data": kind,
                        "exact_other_readings": "; ".join(out["tried"]) or None}}


def _feasibility_proof(prog, x_exact, x_float, details) -> dict | None:
    """Run the program's own feasibility proof (``meta["certify"]``, e.g. the reduced form's
    implementation of its interim rule) on the exact or the recorded optimum."""
    hook = prog.meta.get("certify")
    if hook is None:
        return None
    try:
        out = hook(x_exact, np.asarray(x_float, float))
    except (KeyError, TypeError, ValueError, ModelError) as exc:
        out = {"ok": False, "exact": False, "message": f"the feasibility proof is malformed ({exc})"}
    details["feasibility_proof"] = out.get("message")
    return out


def _nonbasic_values(status: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Value of each nonbasic variable from its basis code (lower/upper/zero/nonbasic)."""
    v = np.where(status == 0, lo, np.where(status == 2, hi, np.where(status == 3, 0.0, np.nan)))
    other = status == 4
    v[other] = np.where(np.isfinite(lo[other]), lo[other], np.where(np.isfinite(hi[other]), hi[other], 0.0))
    return v


def _active(v: np.ndarray, lo: np.ndarray, hi: np.ndarray, e: float):
    """(basic mask, nonbasic values) of an active set read off a solution."""
    at_lo = np.isfinite(lo) & (np.abs(v - lo) <= e)
    at_hi = np.isfinite(hi) & (np.abs(v - hi) <= e) & ~at_lo
    basic = ~(at_lo | at_hi)
    return basic, np.where(at_lo, lo, np.where(at_hi, hi, np.nan))


# ---------------------------------------------------------------------------------------
# infeasible
# ---------------------------------------------------------------------------------------
def _check_infeasible(prog, cert, vals, tol, exact_limit, force) -> CheckResult:
    if "dual_ray" not in vals:
        raise _Failed("an infeasibility certificate needs a Farkas ray (dual_ray)")
    A = prog.matrix()
    yhat = vals["dual_ray"]
    labels = prog.row_labels()
    rl, ru, cl, cu = prog.row_lower, prog.row_upper, prog.col_lower, prog.col_upper
    if not np.any(yhat):
        raise _Failed("the Farkas ray is zero")
    claimed = (cert.get("farkas") or {}).get("rows")
    if claimed is not None:
        from dmd_opt.certificates.format import farkas_rows
        mine = farkas_rows(prog, vals["dual_ray"])
        if [(r["row"], r["family"]) for r in mine] != [(int(r["row"]), r.get("family", "")) for r in claimed] \
                and [r["row"] for r in mine] != [int(r["row"]) for r in claimed]:
            raise _Failed("the labelled rows listed under farkas.rows are not the rows of the recorded ray")
    yhat = yhat / np.max(np.abs(yhat))
    want_exact = force == "exact" or (force is None and prog.n_rows + prog.n_vars <= exact_limit)
    support = np.nonzero(np.abs(yhat) > 1e-9)[0]
    names = [row_name(labels, int(i)) for i in support[np.argsort(-np.abs(yhat[support]))][:5]]
    details = {"ray_rows": int(support.size), "largest_rows": names}
    if want_exact:
        reasons = []
        # the recorded ray has the solvers' orientation (min over admissible row activities of
        # yᵀs above the max of (Aᵀy)ᵀx over the box); in the checker's form that is −y.  The other
        # sign is not tried: a flipped ray is a changed claim, not a certificate.
        for sign, nice in ((-1.0, True), (-1.0, False)):
            ok, msg, info = _exact_farkas(prog, sign * yhat, support, tol, nice)
            if ok:
                details.update(info)
                return CheckResult(True, f"infeasible, exact: {msg}", "exact", details=details)
            reasons.append(msg)
        raise _Failed("the recorded ray is not a Farkas certificate: " + " / ".join(dict.fromkeys(reasons)),
                      **details)
    for sign in (-1.0,):
        hi, lo = R.farkas_bound(A, sign * yhat, rl, ru, cl, cu)
        if hi < lo:
            details.update({"sup_row_combination": hi, "inf_column_combination": lo})
            return CheckResult(True, f"infeasible (rigorous bound): the Farkas ray over {support.size} rows gives "
                               f"sup yᵀs ≤ {hi:.6g} < {lo:.6g} ≤ inf (Aᵀy)ᵀx", "rigorous", details=details)
    raise _Failed("the recorded ray does not prove infeasibility within rigorous floating bounds "
                  "(free columns need an exact zero combination; try the exact check)", **details)


def _exact_farkas(prog, yhat, support, tol, rationalize=True):
    A = prog.matrix()
    rl, ru, cl, cu = prog.row_lower, prog.row_upper, prog.col_lower, prog.col_upper
    m, n = A.shape
    # wrong-signed multipliers on infinite row bounds cannot be part of a certificate
    ys = yhat.copy()
    As = A[support]
    # columns whose combination must vanish exactly: free on both sides, or one-sided
    # with a floating combination that is (numerically) zero
    zf = As.T @ ys[support]
    zmag = abs(As).T @ np.abs(ys[support]) + 1e-300
    free_cols = (np.isneginf(cl) & np.isposinf(cu)) | \
        ((np.isneginf(cl) | np.isposinf(cu)) & (np.abs(zf) <= 1e-9 * zmag))
    Fc = np.nonzero(free_cols & (abs(As).sum(axis=0).A1 > 0))[0]
    y_s = X.nullspace_vector_near(As[:, Fc].T, ys[support], rationalize)
    if y_s is None:
        return False, "projecting the ray onto the free columns' null space leaves zero", {}
    yq = [X.ZERO] * m
    for a, i in enumerate(support.tolist()):
        yq[i] = y_s[a]
    moved = max(abs(X.to_float(y_s[a]) - ys[i]) for a, i in enumerate(support.tolist()))
    if moved > tol:
        return False, f"the ray is {moved:.3g} away from any exact combination that cancels the free columns", {}
    Aq = X.RationalCSR(A, rationalize)
    num = X.nice if rationalize else X.q
    z = Aq.rmatvec(yq, support.tolist())
    sup_s = X.ZERO
    for i in support.tolist():
        yi = yq[i]
        if yi > 0:
            if not np.isfinite(ru[i]):
                return False, "a positive multiplier sits on a row without an upper bound", {}
            sup_s += yi * num(ru[i])
        elif yi < 0:
            if not np.isfinite(rl[i]):
                return False, "a negative multiplier sits on a row without a lower bound", {}
            sup_s += yi * num(rl[i])
    inf_x = X.ZERO
    for j in range(n):
        zj = z[j]
        if zj > 0:
            if not np.isfinite(cl[j]):
                return False, f"the combination does not cancel {col_name(prog, j)}", {}
            inf_x += zj * num(cl[j])
        elif zj < 0:
            if not np.isfinite(cu[j]):
                return False, f"the combination does not cancel {col_name(prog, j)}", {}
            inf_x += zj * num(cu[j])
    if not sup_s < inf_x:
        return False, (f"the combination gives sup yᵀs = {X.to_float(sup_s):.6g} ≥ inf (Aᵀy)ᵀx = "
                       f"{X.to_float(inf_x):.6g}: no contradiction"), {}
    margin = X.as_fraction(inf_x - sup_s)
    data = "data read as simple fractions" if rationalize else "the stored doubles as exact rationals"
    msg = (f"Farkas ray over {len(support)} labelled rows ({data}): every x within the column bounds has "
           f"(Aᵀy)ᵀx ≥ {X.to_float(inf_x):.6g} while every admissible row activity gives yᵀAx ≤ "
           f"{X.to_float(sup_s):.6g} (margin {margin if len(str(margin)) < 30 else X.to_float(inf_x - sup_s)})")
    return True, msg, {"sup_row_combination": X.to_float(sup_s), "inf_column_combination": X.to_float(inf_x),
                       "margin": X.to_float(inf_x - sup_s), "ray_moved_by": moved}
