r"""Optimal-face analysis: what holds at *every* optimal solution, not only at the returned one.

Let :math:`z^*` be the optimal value of a labelled program.  Its optimal face is

.. math::

    F = \{x : \ell^r \le Ax \le u^r,\; \ell^x\le x\le u^x,\; c^\top x \ge z^* - \tau\}

(``max``; ``min`` reversed).  For a separable convex QP every optimal solution
has the same :math:`q_j x_j` (the objective is strictly convex along those
coordinates), so the face is the polyhedron above with the quadratic columns
fixed at their returned values (within :math:`\tau`) and the linear part of the
objective held at its optimum.  :math:`\tau` = ``tol`` × max(1, |z*|) absorbs
the solver's tolerance.

**Rows.** A row binding at the returned solution binds at every optimal
solution when

* its dual is nonzero: by complementary slackness every optimal primal
  solution is complementary to every optimal dual solution (Goldman & Tucker
  1956; Schrijver 1986, §7.9) — no LP needed; or
* the auxiliary LP :math:`\max\{\,s_r : x\in F\}` (its slack over the face) is
  0.  ``mode="full"`` solves one such LP per undecided row; ``mode="fast"``
  solves the batched LP :math:`\max \sum_r t_r`, :math:`0\le t_r\le\min(s_r,\,\bar t)`,
  drops the rows it shows can be slack, and repeats until the batch optimum is
  0 — a face is convex, so the rows left are exactly those that bind on all
  of :math:`F`.

**Allocations.** A column with a nonzero reduced cost sits at its bound at
every optimum (complementarity again).  For the others, ``full`` computes
:math:`\min` and :math:`\max\,x_j` over :math:`F` (two LPs per column); ``fast``
uses the same batched LPs (:math:`\max\sum_j\min(x_j-x_j^*,\bar t)` and the
reverse) and asks, for the columns sitting at a bound, whether the bound can be slack —
batched exactly like rows, so a column never moved is certified fixed — and
solves min/max LPs for the (few) columns strictly inside their bounds; the
ranges it reports are those *witnessed* by the face points it visited (inner
bounds of the true range).  Every auxiliary LP is a
:class:`~dmd_opt.optim.program.Program` solved with :func:`dmd_opt.solvers.solve`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from dmd_opt.core.serialise import to_jsonable
from dmd_opt.optim.program import LABEL_FIELDS, Program
from dmd_opt.optim.solution import Solution
from dmd_opt.solvers import solve


@dataclass
class FaceReport:
    """Which rows bind on the whole optimal face, and allocation ranges over it."""

    mode: str
    objective: float
    tau: float
    eps: float
    rows: dict[str, np.ndarray]              # candidate (binding) rows and their verdicts
    ranges: dict[str, dict[str, np.ndarray]]  # block -> {"value", "lo", "hi", "exact"}
    n_lps: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    def to_frame(self):
        import pandas as pd
        return pd.DataFrame(self.rows)

    def range_frame(self, block: str = "x"):
        import pandas as pd
        r = self.ranges[block]
        return pd.DataFrame({"column": np.arange(r["value"].size), "value": r["value"], "lo": r["lo"],
                             "hi": r["hi"], "width": r["hi"] - r["lo"]})

    def always_binding(self) -> np.ndarray:
        return self.rows["row"][self.rows["always"]]

    def sometimes_binding(self) -> np.ndarray:
        return self.rows["row"][~self.rows["always"]]

    def unique(self, block: str = "x") -> bool:
        r = self.ranges[block]
        return bool(np.all(r["hi"] - r["lo"] <= self.eps))

    def summary(self) -> dict:
        fam = self.rows["family"]
        by = {}
        for f in dict.fromkeys(fam.tolist()):
            m = fam == f
            by[str(f)] = {"binding_at_returned": int(m.sum()), "binding_at_every_optimum": int((m & self.rows["always"]).sum()),
                          "certified_by_dual": int((m & (self.rows["reason"] == "nonzero dual")).sum())}
        out = {"mode": self.mode, "objective": self.objective, "objective_tolerance": self.tau,
               "binding_tolerance": self.eps, "auxiliary_lps": self.n_lps, "seconds": self.seconds,
               "rows_by_family": by, "allocation": {}}
        for b, r in self.ranges.items():
            w = r["hi"] - r["lo"]
            nonuniq = np.nonzero(w > self.eps)[0]
            out["allocation"][b] = {"columns": int(w.size), "unique": bool(nonuniq.size == 0),
                                    "non_unique_columns": nonuniq.tolist()[:200],
                                    "largest_range": float(w.max(initial=0.0)),
                                    "ranges": "exact (min/max LPs)" if r["exact"] else
                                    "witnessed (inner bounds; columns never moved are certified fixed)"}
        out["notes"] = list(self.notes)
        return out

    def summary_lines(self) -> list[str]:
        s = self.summary()
        lines = [f"optimal face ({self.mode} mode, {self.n_lps} auxiliary LPs, {self.seconds:.2f} s; objective held "
                 f"within {self.tau:.2g} of {self.objective:.10g})"]
        for f, d in s["rows_by_family"].items():
            lines.append(f"  {f}: {d['binding_at_every_optimum']} of {d['binding_at_returned']} rows binding at the "
                         f"returned solution bind at every optimum ({d['certified_by_dual']} by a nonzero dual)")
        for b, d in s["allocation"].items():
            if d["unique"]:
                lines.append(f"  block {b}: unique over the optimal face ({d['columns']} columns)")
            else:
                lines.append(f"  block {b}: NOT unique — {len(d['non_unique_columns'])} columns vary over the optimal "
                             f"face (largest range {d['largest_range']:.4g}; {d['ranges']})")
        lines += ["  note: " + n for n in self.notes]
        return lines

    def to_dict(self) -> dict:
        return to_jsonable({"summary": self.summary(),
                            "rows": {k: v.tolist() for k, v in self.rows.items()},
                            "ranges": {b: {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in r.items()}
                                       for b, r in self.ranges.items()}})


# ---------------------------------------------------------------------------------------
def _copy_program(program: Program, name: str) -> Program:
    P = Program(name=name, sense="max")
    for bname, b in program.var_blocks.items():
        P.add_variables(bname, b.shape, b.lb.reshape(b.shape), b.ub.reshape(b.shape), b.description)
    for b in program.con_blocks:
        P.add_constraints(b.family, b.n_rows, b.rows, b.cols, b.vals, b.lo, b.hi, **b.labels)
    P.meta = {k: v for k, v in program.meta.items() if k in ("payoff_scale", "type_values")}
    return P


class _Face:
    """Builds auxiliary LPs over the optimal face of ``program``."""

    def __init__(self, program: Program, solution: Solution, tol: float, backend: str):
        self.prog = program
        self.sol = solution
        self.backend = backend
        self.n_lps = 0
        x = np.asarray(solution.x, float)
        z = program.objective_value(x)
        self.z = z
        self.tau = tol * max(1.0, abs(z))
        c = program.objective_vector()
        lb, ub = program.col_lower.copy(), program.col_upper.copy()
        target = z - program.objective_offset
        if program.q_diag is not None:
            qn = np.nonzero(program.q_diag)[0]
            w = tol * np.maximum(1.0, np.abs(x[qn]))
            lb[qn], ub[qn] = np.maximum(lb[qn], x[qn] - w), np.minimum(ub[qn], x[qn] + w)
            target -= 0.5 * float(program.q_diag[qn] @ (x[qn] ** 2))
            # linear part of the objective on the fixed columns is part of the target too
        self.lb, self.ub = lb, ub
        nz = np.nonzero(c)[0]
        if program.sense == "max":
            self.obj_row = (nz, c[nz], target - self.tau, np.inf)
        else:
            self.obj_row = (nz, c[nz], -np.inf, target + self.tau)
        self.A = program.matrix()

    def base(self) -> Program:
        P = _copy_program(self.prog, f"face[{self.prog.name}]")
        off = 0
        for b in P.var_blocks.values():
            b.lb[:] = self.lb[off:off + b.size]
            b.ub[:] = self.ub[off:off + b.size]
            off += b.size
        nz, v, lo, hi = self.obj_row
        P.add_constraints("optimal_value", 1, np.zeros(nz.size), nz, v, lo, hi)
        return P

    def solve(self, P: Program):
        self.n_lps += 1
        return solve(P, backend=self.backend)

    def max_row_slack(self, rows: np.ndarray, lower_side: np.ndarray, cap: float):
        """max Σ t_r, t_r ≤ slack_r, 0 ≤ t ≤ cap over the face; returns (value, x) or (None, None)."""
        P = self.base()
        k = rows.size
        t = P.add_variables("_t", k, 0.0, cap)
        sub = self.A[rows].tocoo()
        lo = np.where(lower_side, self.prog.row_lower[rows], -np.inf)
        hi = np.where(lower_side, np.inf, self.prog.row_upper[rows])
        sgn = np.where(lower_side, -1.0, 1.0)     # a x − t ≥ lo   or   a x + t ≤ hi
        P.add_constraints("face_slack", k, np.concatenate([sub.row, np.arange(k)]),
                          np.concatenate([sub.col, t]), np.concatenate([sub.data, sgn]), lo, hi)
        return self._max_sum(P, t)

    def _max_sum(self, P: Program, t: np.ndarray):
        """Solve max Σ t over ``P``; (optimum, x restricted to the original columns) or (None, None)."""
        c = np.zeros(P.n_vars)
        c[t] = 1.0
        P.set_objective(c, "max")
        s = self.solve(P)
        if s.status != "optimal":
            return None, None
        return s.objective, s.x[: self.prog.n_vars]

    def move_columns(self, cols: np.ndarray, x0: np.ndarray, direction: float, cap: float):
        """max Σ t_j, t_j ≤ direction·(x_j − x0_j), 0 ≤ t ≤ cap over the face.

        With ``x0`` a bound of every column in ``cols`` (lower for direction +1,
        upper for −1) the constraint ``t ≥ 0`` is implied by feasibility, so the
        batch LP answers "can any of these columns leave its bound" exactly.
        """
        P = self.base()
        k = cols.size
        t = P.add_variables("_t", k, 0.0, cap)
        # direction·x_j − t_j ≥ direction·x0_j
        P.add_constraints("face_move", k, np.concatenate([np.arange(k), np.arange(k)]),
                          np.concatenate([cols, t]), np.concatenate([np.full(k, direction), -np.ones(k)]),
                          direction * x0[cols], np.inf)
        return self._max_sum(P, t)

    def extreme(self, j: int, sense: str):
        P = self.base()
        c = np.zeros(P.n_vars)
        c[j] = 1.0
        P.set_objective(c, sense)
        s = self.solve(P)
        return None if s.status != "optimal" else float(s.x[j])


def optimal_face(program: Program, solution: Solution, mode: str = "fast", blocks=("x",), *,
                 tol: float = 1e-11, binding_tol: float = 1e-7, backend: str = "highs",
                 max_lps: int = 2000) -> FaceReport:
    """Optimal-face analysis of ``solution`` (see the module docstring).

    ``blocks`` names the variable blocks whose range over the face is wanted
    (``"x"``: lottery weights of the revenue program, ``"q"``: quantities);
    blocks the program lacks are skipped.  ``binding_tol`` × payoff scale is
    the slack below which a row counts as binding.
    """
    if mode not in ("fast", "full"):
        raise ValueError("mode must be 'fast' or 'full'")
    if solution.x is None or solution.status != "optimal":
        raise ValueError(f"no optimal solution to analyse (status {solution.status})")
    t0 = time.perf_counter()
    run = _Analysis(_Face(program, solution, tol, backend), mode, binding_tol, max_lps)
    rows = run.rows()
    ranges = {b: run.block_range(b) for b in blocks if b in program.var_blocks}
    if program.q_diag is not None:
        run.notes.append("convex QP: quadratic columns are unique at the optimum and were held at their "
                         "returned values")
    face = run.face
    return FaceReport(mode, face.z, face.tau, run.eps, rows, ranges, face.n_lps, time.perf_counter() - t0,
                      run.notes)


class _Analysis:
    """One optimal-face analysis: the rows that bind on the face, then block ranges.

    Keeps the face points visited (every auxiliary LP's optimum is one), from which
    the ``fast`` ranges are read, and the notes on anything left undecided.
    """

    def __init__(self, face: _Face, mode: str, binding_tol: float, max_lps: int):
        program, solution = face.prog, face.sol
        self.face, self.mode, self.max_lps = face, mode, max_lps
        scale = float(program.meta.get("payoff_scale", 1.0) or 1.0)
        self.eps = binding_tol * scale
        self.eps_d = binding_tol * max(1.0, abs(face.z), scale)
        self.cap = max(1.0, scale)
        self.x = np.asarray(solution.x, float)
        self.points = [self.x]
        self.notes: list[str] = []

    # ---- rows -----------------------------------------------------------------------
    def rows(self) -> dict[str, np.ndarray]:
        """Rows binding at the returned solution, and whether they bind at every optimum."""
        program, face = self.face.prog, self.face
        act = face.A @ self.x
        lo, hi = program.row_lower, program.row_upper
        s_lo = np.where(np.isfinite(lo), act - lo, np.inf)
        s_hi = np.where(np.isfinite(hi), hi - act, np.inf)
        self.lower_side = s_lo <= s_hi
        cand = np.nonzero((lo < hi) & (np.minimum(s_lo, s_hi) <= self.eps))[0]
        sol = face.sol
        dual = np.zeros(program.n_rows) if sol.row_dual is None else np.asarray(sol.row_dual, float)
        always = np.abs(dual[cand]) > self.eps_d            # complementary slackness: certified
        reason = np.where(always, "nonzero dual", "").astype(object)
        max_slack = np.zeros(cand.size)
        undecided = np.nonzero(~always)[0]                  # positions in cand
        if undecided.size:
            decide = self._rows_fast if self.mode == "fast" else self._rows_full
            decide(cand, undecided, always, reason, max_slack)
        reason = np.where(reason == "", "not analysed", reason)
        lab = program.row_labels()
        return {"row": cand, "family": lab["family"][cand], **{k: lab[k][cand] for k in LABEL_FIELDS},
                "dual": dual[cand], "always": always, "reason": reason.astype(str),
                "max_slack_on_face": max_slack}

    def _slack(self, r: np.ndarray, xp: np.ndarray) -> np.ndarray:
        prog = self.face.prog
        a2 = self.face.A[r] @ xp
        return np.where(self.lower_side[r], a2 - prog.row_lower[r], prog.row_upper[r] - a2)

    def _rows_fast(self, cand, undecided, always, reason, max_slack) -> None:
        """Batched slack LPs until the rows left bind on the whole (convex) face."""
        face = self.face
        while undecided.size and face.n_lps < self.max_lps:
            r = cand[undecided]
            val, xp = face.max_row_slack(r, self.lower_side[r], self.cap)
            if val is None:
                self.notes.append("an auxiliary LP failed; undecided rows reported as binding only at the "
                                  "returned point")
                return
            self.points.append(xp)
            s2 = self._slack(r, xp)
            moved = s2 > self.eps
            max_slack[undecided[moved]] = np.maximum(max_slack[undecided[moved]], s2[moved])
            reason[undecided[moved]] = "slack at another optimum"
            if val <= self.eps or not moved.any():
                always[undecided[~moved]] = True
                reason[undecided[~moved]] = "batch LP: slack 0 on the face"
                return
            undecided = undecided[~moved]

    def _rows_full(self, cand, undecided, always, reason, max_slack) -> None:
        """One slack LP per undecided row."""
        face = self.face
        for pos in undecided.tolist():
            if face.n_lps >= self.max_lps:
                self.notes.append(f"stopped after {self.max_lps} auxiliary LPs; remaining rows not analysed")
                return
            r = cand[pos]
            val, xp = face.max_row_slack(np.array([r]), self.lower_side[[r]], self.cap)
            if val is None:
                continue
            self.points.append(xp)
            if val <= self.eps:
                always[pos] = True
                reason[pos] = "LP: slack 0 on the face"
            else:
                max_slack[pos] = val
                reason[pos] = "slack at another optimum"

    # ---- block ranges -----------------------------------------------------------------
    def block_range(self, b: str) -> dict:
        """Range of block ``b``'s columns over the face (exact in ``full`` mode)."""
        face, program = self.face, self.face.prog
        sl = program.block_slice(b)
        cols = np.arange(sl.start, sl.stop)
        val = self.x[cols]
        rlo, rhi = val.copy(), val.copy()
        free = face.lb[cols] < face.ub[cols]
        cd = face.sol.col_dual
        if cd is not None:
            free &= np.abs(np.asarray(cd, float)[cols]) <= self.eps_d   # nonzero reduced cost: at its bound
        movable = cols[free]
        exact = self.mode == "full"
        if movable.size:
            if self.mode == "full":
                exact = self._range_full(movable, sl.start, rlo, rhi)
            else:
                self._range_fast(movable)
            pts = np.stack([p[cols] for p in self.points])
            rlo = np.minimum(rlo, pts.min(axis=0))
            rhi = np.maximum(rhi, pts.max(axis=0))
        return {"value": val, "lo": rlo, "hi": rhi, "exact": exact}

    def _range_full(self, movable, start: int, rlo, rhi) -> bool:
        """min and max LPs per column; False when the LP budget ran out."""
        face = self.face
        for j in movable.tolist():
            if face.n_lps + 2 > self.max_lps:
                self.notes.append(f"stopped after {self.max_lps} auxiliary LPs; later ranges are witnessed only")
                return False
            mn, mx = face.extreme(j, "min"), face.extreme(j, "max")
            k = j - start
            if mn is not None:
                rlo[k] = min(rlo[k], mn)
            if mx is not None:
                rhi[k] = max(rhi[k], mx)
        return True

    def _range_fast(self, movable) -> None:
        """Columns at a bound: "can it leave the bound?" is the slack of the bound, batched
        exactly like rows (certified); interior columns: min/max LPs.  Adds face points."""
        face, x, eps = self.face, self.x, self.eps
        at_lo = np.abs(x[movable] - face.lb[movable]) <= eps
        at_hi = ~at_lo & (np.abs(x[movable] - face.ub[movable]) <= eps)
        for group, bound, direction in ((movable[at_lo], face.lb, 1.0), (movable[at_hi], face.ub, -1.0)):
            pending = group
            while pending.size and face.n_lps < self.max_lps:
                v, xp = face.move_columns(pending, bound, direction, self.cap)
                if v is None:
                    self.notes.append("an auxiliary LP failed; some allocation ranges are witnessed only")
                    break
                self.points.append(xp)
                moved = direction * (xp[pending] - bound[pending]) > eps
                if v <= eps or not moved.any():
                    break
                pending = pending[~moved]
        for j in movable[~at_lo & ~at_hi].tolist():
            if face.n_lps + 2 > self.max_lps:
                self.notes.append(f"stopped after {self.max_lps} auxiliary LPs; later ranges are witnessed only")
                break
            for sense in ("min", "max"):
                e = face.extreme(j, sense)
                if e is not None:
                    xp = x.copy()
                    xp[j] = e
                    self.points.append(xp)


def dual_ranges(program: Program, solution: Solution, rows=None, *, tol: float = 1e-9,
                backend: str = "highs") -> dict:
    r"""Range of each row's shadow price over the *dual* optimal face (LP only).

    At a degenerate optimum the duals are not unique, and neither is a statement
    such as "one more unit of rent costs 2/3": the value function is then only
    one-sided differentiable.  With the program in minimisation form
    :math:`\min c^\top x` (``max``: :math:`c\to-c`), its dual is

    .. math::

        \max\; \ell^{r\top} y^+ - u^{r\top} y^- + \ell^{x\top} z^+ - u^{x\top} z^-
        \quad\text{s.t.}\quad A^\top(y^+-y^-) + z^+ - z^- = c,\; y^\pm, z^\pm\ge 0

    (a multiplier of an infinite bound is fixed at 0).  Holding its objective at
    the optimum (within ``tol`` × max(1, |z*|)) and minimising / maximising
    :math:`y_i = y_i^+ - y_i^-` gives the range of row ``i``'s dual, reported in
    the package sign convention.  Two auxiliary LPs per row (``rows`` selects
    a subset).  Returns ``{"rows", "lo", "hi", "unique"}``.
    """
    if program.q_diag is not None:
        raise ValueError("dual ranges are implemented for LPs only")
    sgn = 1.0 if program.sense == "min" else -1.0
    A = program.matrix().tocsc()
    m, n = A.shape
    c = sgn * program.objective_vector()
    rl, ru, cl, cu = program.row_lower, program.row_upper, program.col_lower, program.col_upper
    z = sgn * (program.objective_value(np.asarray(solution.x, float)) - program.objective_offset)
    D = Program(name=f"dual[{program.name}]", sense="max")
    fin = lambda v: np.where(np.isfinite(v), v, 0.0)  # noqa: E731
    yp = D.add_variables("yp", m, 0.0, np.where(np.isfinite(rl), np.inf, 0.0))
    ym = D.add_variables("ym", m, 0.0, np.where(np.isfinite(ru), np.inf, 0.0))
    zp = D.add_variables("zp", n, 0.0, np.where(np.isfinite(cl), np.inf, 0.0))
    zm = D.add_variables("zm", n, 0.0, np.where(np.isfinite(cu), np.inf, 0.0))
    At = A.T.tocoo()
    D.add_constraints("dual", n, np.concatenate([At.row, At.row, np.arange(n), np.arange(n)]),
                      np.concatenate([yp[At.col], ym[At.col], zp, zm]),
                      np.concatenate([At.data, -At.data, np.ones(n), -np.ones(n)]), c, c)
    obj = np.concatenate([fin(rl), -fin(ru), fin(cl), -fin(cu)])
    tau = tol * max(1.0, abs(z))
    nz = np.nonzero(obj)[0]
    D.add_constraints("dual_value", 1, np.zeros(nz.size), nz, obj[nz], z - tau, np.inf)
    rows = np.arange(m) if rows is None else np.asarray(rows, np.int64)
    lo, hi = np.full(rows.size, np.nan), np.full(rows.size, np.nan)
    for k, i in enumerate(rows.tolist()):
        for sense in ("min", "max"):
            cc = np.zeros(D.n_vars)
            cc[yp[i]], cc[ym[i]] = 1.0, -1.0
            D.set_objective(cc, sense)
            s = solve(D, backend=backend)
            if s.status == "optimal":
                (lo if sense == "min" else hi)[k] = s.objective
            elif s.status == "unbounded":
                (lo if sense == "min" else hi)[k] = -np.inf if sense == "min" else np.inf
    # back to the package convention: row_dual = sgn · y
    a, b = sgn * lo, sgn * hi
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    scale = max(1.0, float(np.nanmax(np.abs(np.where(np.isfinite(lo), lo, 0.0)), initial=0.0)))
    return {"rows": rows, "lo": lo, "hi": hi, "unique": (hi - lo) <= 1e-7 * scale}
