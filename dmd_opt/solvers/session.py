r"""A persistent HiGHS model of a :class:`~dmd_opt.optim.program.Program`: the ``"highs"`` backend.

A :class:`Session` loads a Program into HiGHS once (one ``passModel`` call) and then
lets an algorithm change it in place and re-solve warm from the last basis:

* :meth:`Session.add_rows` — cutting planes / constraint generation (Kelley 1960):
  the old basis stays valid, new rows enter as basic slacks and the dual simplex
  re-optimises;
* :meth:`Session.change_costs` — value iteration on a Bellman LP: the old basis stays
  primal feasible and the primal simplex re-optimises;
* :meth:`Session.change_col_bounds`, :meth:`Session.change_row_bounds` — parametric
  right-hand sides;
* ``columns=`` and :meth:`Session.add_columns` — column generation: only some of the
  Program's columns are loaded (the others are held at 0) and priced in later;
* :meth:`Session.basis` / :meth:`Session.set_basis` — basis out and in.

:meth:`Session.solve` returns a :class:`~dmd_opt.optim.solution.Solution` in the
Program's columns and sign convention: HiGHS minimises ``κ f`` with ``κ = ±2^k``
(:mod:`dmd_opt.solvers.transform`: sense flip and objective scaling, fixed when the
session is made), and the duals are divided by ``κ`` exactly.  Rows are the
Program's rows followed by the rows added since, in order.  Reduced costs of
columns not loaded are :math:`\nabla f(x) - A^\top y` (package convention), so a
caller can price them.  An unbounded QP is reported ``unbounded`` (never a huge
"optimum"; :mod:`dmd_opt.solvers.recession`).

Options are HiGHS option names passed to ``setOptionValue`` (e.g. ``solver="ipm"``,
``time_limit=60``), except ``cost_scale`` (``"auto"``, a power of two, or 1).
Presolve stays on by default: switching it off on tree-of-histories LPs is slower
and less accurate (68 s and an inaccurate status against 3 s at 266k rows).
For QPs HiGHS' regularisation is lowered to 1e-10 (its 1e-7 default moved the
optimum of the quantity programs by ~1e-6).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from dmd_opt.core.errors import SolverError
from dmd_opt.optim.program import Program
from dmd_opt.optim.solution import BASIS_CODES, Solution
from dmd_opt.solvers.highs import (RUN_ERROR, fetch_dual_ray, get_basis, highs_inf, model_status, new_highs,
                                   pass_model, set_basis, set_options)
from dmd_opt.solvers.recession import attach_ray, mark_unbounded, needs_check, settle_ambiguous, unbounded_qp
from dmd_opt.solvers.transform import ObjectiveTransform


class Session:
    """A persistent HiGHS model of ``program`` (module docstring).

    ``options``: HiGHS options and ``cost_scale``.  ``columns``: a boolean mask or
    index array of the columns to load (default: all); the others must have lower
    bound 0 and are held there until :meth:`add_columns` loads them.

    The session keeps its own copy of the costs, bounds and added rows; the
    Program itself is never modified.  Read-only views of the model HiGHS holds, in
    the Program's columns (unloaded columns pinned at 0), are :meth:`matrix`,
    :meth:`objective_vector`, ``q_diag``, ``sense``, ``col_lower``, ``col_upper``,
    ``row_lower`` and ``row_upper`` — the same names as a Program's.
    """

    def __init__(self, program: Program, *, options: dict | None = None, columns=None):
        t0 = time.perf_counter()
        opts = dict(options or {})
        self.program = program
        self.transform = ObjectiveTransform.to_min(program, opts.pop("cost_scale", "auto"))
        self.sense = program.sense
        n = program.n_vars
        self._c = program.objective_vector().astype(float).copy()
        self.q_diag = None if program.q_diag is None else program.q_diag.astype(float).copy()
        self._offset = float(program.objective_offset)
        self._cl, self._cu = program.col_lower.copy(), program.col_upper.copy()
        self._rl, self._ru = program.row_lower.copy(), program.row_upper.copy()
        self._blocks = [program.matrix()]
        self._A: sp.csr_matrix | None = self._blocks[0]
        cols = np.arange(n) if columns is None else np.asarray(columns)
        if cols.dtype == bool:
            cols = np.nonzero(cols)[0]
        cols = np.unique(cols.astype(np.int64))
        self._pos = np.full(n, -1, np.int64)        # program column → loaded position
        self._pos[cols] = np.arange(cols.size)
        self._cols = cols
        idle = self._pos < 0
        if np.any(self._cl[idle] != 0):
            raise SolverError("columns left out of a session must have lower bound 0")
        if self.q_diag is not None:
            opts.setdefault("qp_regularization_value", 1e-10)
        self._options = opts
        self._bounded = False          # a QP known to have no improving recession direction
        self._h = self._fresh(opts)
        self.build_seconds = time.perf_counter() - t0

    # ---- the model as HiGHS holds it, in program columns ------------------------------
    @property
    def name(self) -> str:
        return f"session[{self.program.name}]"

    @property
    def n_rows(self) -> int:
        return self._rl.size

    @property
    def n_vars(self) -> int:
        return self._c.size

    @property
    def loaded(self) -> np.ndarray:
        """Program columns loaded into HiGHS."""
        return self._cols.copy()

    @property
    def col_lower(self) -> np.ndarray:
        return np.where(self._pos >= 0, self._cl, 0.0)

    @property
    def col_upper(self) -> np.ndarray:
        return np.where(self._pos >= 0, self._cu, 0.0)

    @property
    def row_lower(self) -> np.ndarray:
        return self._rl.copy()

    @property
    def row_upper(self) -> np.ndarray:
        return self._ru.copy()

    def objective_vector(self) -> np.ndarray:
        return self._c.copy()

    def matrix(self) -> sp.csr_matrix:
        """The Program's rows and the added ones (all columns)."""
        if self._A is None:
            self._A = sp.vstack(self._blocks, format="csr")
            self._blocks = [self._A]
        return self._A

    def objective_value(self, x: np.ndarray) -> float:
        val = float(self._c @ x) + self._offset
        if self.q_diag is not None:
            val += 0.5 * float(self.q_diag @ (x * x))
        return val

    # ---- loading ----------------------------------------------------------------------
    def _fresh(self, options: dict):
        """A new HiGHS object holding the current model."""
        h = new_highs()
        set_options(h, options)          # before the model: passModel applies small_matrix_value
        tr, cols = self.transform, self._cols
        A = self.matrix()
        sub = A if cols.size == A.shape[1] else A.tocsc()[:, cols]
        q = None if self.q_diag is None else tr.costs(self.q_diag[cols])
        pass_model(h, sub, tr.costs(self._c[cols]), tr.constant(self._offset), q,
                   self._cl[cols], self._cu[cols], self._rl, self._ru)
        return h

    def set_options(self, **options) -> None:
        """Set HiGHS options for the following solves."""
        set_options(self._h, options)
        self._options.update(options)

    # ---- changing the model ---------------------------------------------------------
    def add_rows(self, A, lo, hi) -> np.ndarray:
        """Append rows ``lo ≤ A x ≤ hi`` (``A``: k × n_vars, sparse or dense); returns their indices."""
        A = sp.csr_matrix(A, dtype=float)
        k = A.shape[0]
        if A.shape[1] != self.n_vars:
            raise SolverError(f"add_rows: the rows have {A.shape[1]} columns, the program {self.n_vars}")
        lo = np.broadcast_to(np.asarray(lo, float), (k,)).copy()
        hi = np.broadcast_to(np.asarray(hi, float), (k,)).copy()
        A.sum_duplicates()
        sub = A if self._cols.size == self.n_vars else A[:, self._cols].tocsr()
        first = self.n_rows
        if k:
            self._h.addRows(k, highs_inf(lo), highs_inf(hi), int(sub.nnz), sub.indptr[:-1].astype(np.int32),
                            sub.indices.astype(np.int32), sub.data.astype(float))
            self._blocks.append(A)
            self._A = None
            self._rl = np.concatenate([self._rl, lo])
            self._ru = np.concatenate([self._ru, hi])
        return np.arange(first, first + k)

    def add_columns(self, cols) -> None:
        """Load program columns that were left out (column generation)."""
        self._bounded = False
        cols = np.setdiff1d(np.asarray(cols, np.int64), self._cols)
        if cols.size == 0:
            return
        tr = self.transform
        sub = self.matrix().tocsc()[:, cols]
        self._h.addCols(int(cols.size), tr.costs(self._c[cols]), highs_inf(self._cl[cols]),
                        highs_inf(self._cu[cols]), int(sub.nnz), sub.indptr[:-1].astype(np.int32),
                        sub.indices.astype(np.int32), sub.data.astype(float))
        self._pos[cols] = self._cols.size + np.arange(cols.size)
        self._cols = np.concatenate([self._cols, cols])

    def _loaded_positions(self, cols):
        cols = np.atleast_1d(np.asarray(cols, np.int64))
        pos = self._pos[cols]
        on = pos >= 0
        return cols, pos[on].astype(np.int32), on

    def change_costs(self, cols, values) -> None:
        """New linear costs (program sense and units) for ``cols``."""
        self._bounded = False
        cols, pos, on = self._loaded_positions(cols)
        values = np.broadcast_to(np.asarray(values, float), cols.shape)
        self._c[cols] = values
        if pos.size:
            self._h.changeColsCost(int(pos.size), pos, self.transform.costs(values[on]))

    def change_col_bounds(self, cols, lo, hi) -> None:
        self._bounded = False
        cols, pos, on = self._loaded_positions(cols)
        lo = np.broadcast_to(np.asarray(lo, float), cols.shape)
        hi = np.broadcast_to(np.asarray(hi, float), cols.shape)
        if np.any(lo[~on] != 0):
            raise SolverError("columns left out of a session must keep lower bound 0")
        self._cl[cols], self._cu[cols] = lo, hi
        if pos.size:
            self._h.changeColsBounds(int(pos.size), pos, highs_inf(lo[on]), highs_inf(hi[on]))

    def change_row_bounds(self, rows, lo, hi) -> None:
        self._bounded = False
        rows = np.atleast_1d(np.asarray(rows, np.int64))
        lo = np.broadcast_to(np.asarray(lo, float), rows.shape)
        hi = np.broadcast_to(np.asarray(hi, float), rows.shape)
        self._rl[rows], self._ru[rows] = lo, hi
        if rows.size:
            self._h.changeRowsBounds(int(rows.size), rows.astype(np.int32), highs_inf(lo), highs_inf(hi))

    # ---- bases ----------------------------------------------------------------------
    def basis(self) -> dict | None:
        """The current basis in program columns (unloaded columns: ``lower``), or None."""
        b = get_basis(self._h)
        if b is None:
            return None
        col = np.full(self.n_vars, BASIS_CODES["lower"], np.int8)
        col[self._cols] = b["col_status"]
        return {"col_status": col, "row_status": b["row_status"]}

    def set_basis(self, col_status, row_status) -> None:
        """Start the next solve from this basis (codes ``BASIS_CODES``).

        ``col_status`` covers every program column; ``row_status`` may cover a
        prefix of the rows (the rest enter as basic slacks).
        """
        cs, rs = np.asarray(col_status), np.asarray(row_status)
        if cs.size != self.n_vars or rs.size > self.n_rows:
            raise SolverError(f"set_basis: {cs.size} column and {rs.size} row statuses for a model with "
                              f"{self.n_vars} columns and {self.n_rows} rows")
        rs = np.concatenate([rs, np.full(self.n_rows - rs.size, BASIS_CODES["basic"], np.int8)])
        set_basis(self._h, cs[self._cols], rs)

    # ---- solving ----------------------------------------------------------------------
    def solve(self, *, basis: bool = False) -> Solution:
        """Run HiGHS (warm from the last basis) and return the Solution (module docstring).

        ``basis=True`` also fetches the basis (costs ~0.2 s at 266k rows).
        """
        if self.q_diag is not None and not self._bounded:
            pre = unbounded_qp(self, "highs")      # HiGHS' QP solver may never stop on an unbounded QP
            if pre is not None:
                pre.build_seconds = self.build_seconds
                return pre
            self._bounded = True                   # until costs or bounds change (added rows keep it)
        h, tr = self._h, self.transform
        t1 = time.perf_counter()
        run_status = h.run()
        seconds = time.perf_counter() - t1
        status, words = model_status(h)
        info = h.getInfo()
        sol = Solution(status, words, "highs", solve_seconds=seconds, build_seconds=self.build_seconds,
                       info={"simplex_iterations": int(info.simplex_iteration_count),
                             "ipm_iterations": int(info.ipm_iteration_count),
                             "max_primal_infeasibility": float(info.max_primal_infeasibility),
                             "max_dual_infeasibility": tr.tolerance(info.max_dual_infeasibility)})
        if self._cols.size < self.n_vars:
            sol.info["loaded_columns"] = int(self._cols.size)
        if run_status == RUN_ERROR and status == "optimal":
            sol.status = "error"
        if status == "optimal" and info.primal_solution_status != 2:
            sol.status = "inaccurate"
        if status in ("optimal", "inaccurate", "time_limit", "iteration_limit") and info.primal_solution_status > 0:
            self._read_solution(sol, basis)
        if status in ("infeasible", "infeasible_or_unbounded"):
            sol.dual_ray = self._dual_ray()
        if status == "unbounded":
            sol.primal_ray = self._primal_ray()
        if needs_check(self, sol):
            mark_unbounded(self, sol)
        return attach_ray(self, settle_ambiguous(self, sol))

    def _read_solution(self, sol: Solution, basis: bool) -> None:
        h, tr, cols = self._h, self.transform, self._cols
        s = h.getSolution()
        x = np.zeros(self.n_vars)
        x[cols] = np.asarray(s.col_value)
        sol.x = x
        sol.row_activity = np.asarray(s.row_value)
        sol.objective = self.objective_value(x)
        if s.dual_valid:
            sol.row_dual = tr.duals(np.asarray(s.row_dual))
            if cols.size == self.n_vars:
                sol.col_dual = tr.duals(np.asarray(s.col_dual))
            else:   # reduced costs of every column, loaded or not (package convention)
                g = self._c + (0.0 if self.q_diag is None else self.q_diag * x)
                z = g - self.matrix().T @ sol.row_dual
                z[cols] = tr.duals(np.asarray(s.col_dual))
                sol.col_dual = z
        if basis:
            sol.basis = self.basis()

    def _dual_ray(self) -> np.ndarray | None:
        """A Farkas ray over the rows (HiGHS' orientation), max-norm 1, or None.

        HiGHS only has a ray after a simplex solve that reached infeasibility
        itself (not in presolve), so when none is at hand the model is re-solved
        once with presolve off, which is cheap next to the failed solve on these sizes.
        """
        y = fetch_dual_ray(self._h)
        if y is None:
            try:
                h2 = self._fresh({**self._options, "presolve": "off", "solver": "simplex"})
                h2.run()
                y = fetch_dual_ray(h2)
            except Exception:
                return None
        if y is None:
            return None
        m = np.max(np.abs(y)) if y.size else 0.0
        return y / m if m > 0 else y

    def _primal_ray(self) -> np.ndarray | None:
        """HiGHS' primal ray of an unbounded LP in program columns, max-norm 1, or None."""
        try:
            out = self._h.getPrimalRay()
        except Exception:
            return None
        exists, d = (out[1], out[2]) if len(out) == 3 else out
        if not exists:
            return None
        ray = np.zeros(self.n_vars)
        ray[self._cols] = np.asarray(d, float)
        m = float(np.max(np.abs(ray), initial=0.0))
        return ray / m if m > 0 else None


def solve_highs(prog: Program, *, basis: bool = False, options: dict | None = None,
                warm_basis: dict | None = None) -> Solution:
    """Solve ``prog`` once with HiGHS (the ``"highs"`` backend; module docstring for conventions).

    ``basis=True`` also fetches the optimal basis.  ``warm_basis`` (a
    ``Solution.basis`` of a program with the same columns and a prefix of its
    rows) warm-starts the simplex; one of another shape is ignored.
    """
    try:
        session = Session(prog, options=options)
    except SolverError:
        raise
    except Exception as exc:  # a malformed program is a bug, but report it as a status
        return Solution("error", f"HiGHS could not load the model: {exc}", "highs")
    if warm_basis is not None and len(warm_basis["col_status"]) == prog.n_vars \
            and len(warm_basis["row_status"]) <= prog.n_rows:
        session.set_basis(warm_basis["col_status"], warm_basis["row_status"])
    return session.solve(basis=basis)


__all__ = ["Session", "solve_highs"]
