r"""Promised-utility dynamic programming: value iteration with stacked Bellman LPs.

A stationary recursive contract (Spear & Srivastava 1987; Abreu, Pearce &
Stacchetti 1990; Phelan & Townsend 1991) has a state :math:`g` on a finite grid
of promised utilities (a scalar, or a vector indexed by the agent's current type
when types persist) and possibly a *regime* :math:`r` (the principal's belief
about the current type, e.g. the last report).  One Bellman step is, for every
(regime, state) pair, the LP

.. math::

    T V_r(g) = \text{opt}_{y \ge 0}\; c_r^\top y
        + \beta \sum_{\ell} \omega_{r\ell}\, V_{\rho_\ell}(\gamma_\ell)\, y_{j_\ell}
    \quad\text{s.t.}\quad A y \;\{\ge,=\}\; b(g),

where :math:`y` holds the current-period choices (lotteries over a transfer
grid, allocation probabilities) and *continuation lotteries*
:math:`\lambda_{k}(\gamma)` over the promise grid for each report :math:`k`.
Lotteries over continuation promises make the continuation value the concave
(for a maximiser; convex for a minimiser) piecewise-linear interpolant of
:math:`V` — off-grid continuations — and, because payoffs are additively
separable in (current choice, continuation), independent lotteries per
component are equivalent to Phelan–Townsend joint lotteries over
(transfer, continuation) pairs.

The constraint matrix :math:`A` is the same for every grid point (only the
promise-keeping right-hand side :math:`b(g)` changes) and the same at every
iteration (only the continuation *costs* change), so the engine

* builds one labelled :class:`~dmd_opt.optim.program.Program` stacking every
  (regime, state) block block-diagonally (``scipy.sparse.kron``; no per-row
  Python objects), with row families ``promise_keeping``, ``IC``, ``lottery``
  and labels agent 0, period (iteration / horizon step), history = block
  (grid point, and regime for persistent types), true type and report;
* hands that Program to HiGHS once and, between iterations, changes only the
  objective (``changeColsCost``), so every solve is hot-started from the
  previous optimal basis (primal simplex: the old basis stays primal feasible);
* optionally (``window``) loads only the continuation columns near each block's own
  promise and prices the others in by reduced cost after every solve (column
  generation; the optimum is that of the full Program);
* stops when :math:`\|V_{n+1}-V_n\|_\infty <` ``tol`` and keeps the sup-norm
  change of every iteration — its ratio approaches :math:`\beta`, the modulus of
  the Bellman contraction (Blackwell 1965).

The final iteration's Program, objective and Solution are returned, so the
binding rows at every grid point can be read from the labels
(:func:`dmd_opt.audit.binding.audit`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from dmd_opt.optim.program import Program
from dmd_opt.optim.solution import Solution
from dmd_opt.solvers.session import Session


@dataclass
class Template:
    """One Bellman block: local columns, COO rows with families/labels, costs.

    ``groups``: list of ``(name, shape)`` variable groups in column order (the
    Program gets one variable block per group with shape ``(n_blocks,) + shape``).
    ``rows, cols, vals``: COO over ``m`` local rows; ``lo, hi``: row bounds;
    ``family``: family name per local row; ``true_type``, ``report``: label per
    local row (−1 = n/a).  ``state_rows``: local rows whose ``lo = hi`` is the
    state's promise (``state_rhs[g]``, shape ``(n_states, len(state_rows))``; NaN = free row,
    e.g. the principal's choice of the initial promise).
    Objective: ``c0[r]`` (current payoff in regime ``r``) plus, for every
    continuation column ``cont_cols[l]``, ``cont_w[r, l] * V[cont_next[l], cont_grid[l]]``
    (``cont_w`` already includes the discount factor).
    """

    groups: list[tuple[str, tuple[int, ...]]]
    lb: np.ndarray
    ub: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    family: np.ndarray
    true_type: np.ndarray
    report: np.ndarray
    state_rows: np.ndarray
    state_rhs: np.ndarray
    c0: np.ndarray
    cont_cols: np.ndarray
    cont_next: np.ndarray
    cont_grid: np.ndarray
    cont_w: np.ndarray
    sense: str = "max"
    n_regimes: int = 1

    @property
    def n_cols(self) -> int:
        return int(sum(int(np.prod(s)) for _, s in self.groups))

    @property
    def n_rows(self) -> int:
        return int(self.lo.size)

    @property
    def n_states(self) -> int:
        return int(self.state_rhs.shape[0])

    @property
    def n_blocks(self) -> int:
        return self.n_regimes * self.n_states


class TemplateBuilder:
    """Accumulates the local rows of a :class:`Template` family by family."""

    def __init__(self, groups: list[tuple[str, tuple[int, ...]]]):
        self.groups = [(n, tuple(int(s) for s in shape)) for n, shape in groups]
        self.offsets: dict[str, int] = {}
        off = 0
        for n, shape in self.groups:
            self.offsets[n] = off
            off += int(np.prod(shape))
        self.n = off
        self.lb = np.zeros(off)
        self.ub = np.full(off, np.inf)
        self._r: list[np.ndarray] = []
        self._c: list[np.ndarray] = []
        self._v: list[np.ndarray] = []
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.family: list[str] = []
        self.true_type: list[int] = []
        self.report: list[int] = []

    def col(self, name: str, *index) -> int | np.ndarray:
        shape = dict(self.groups)[name]
        return self.offsets[name] + np.ravel_multi_index(index, shape) if index else \
            self.offsets[name] + np.arange(int(np.prod(shape))).reshape(shape)

    def bounds(self, name: str, lb=None, ub=None) -> None:
        idx = np.ravel(self.col(name))
        if lb is not None:
            self.lb[idx] = lb
        if ub is not None:
            self.ub[idx] = ub

    def row(self, family: str, cols, vals, lo, hi, true_type: int = -1, report: int = -1) -> int:
        r = len(self.lo)
        cols = np.asarray(cols, np.int64).ravel()
        self._r.append(np.full(cols.size, r, np.int64))
        self._c.append(cols)
        self._v.append(np.broadcast_to(np.asarray(vals, float), cols.shape).ravel())
        self.lo.append(float(lo))
        self.hi.append(float(hi))
        self.family.append(family)
        self.true_type.append(int(true_type))
        self.report.append(int(report))
        return r

    def finish(self, state_rows, state_rhs, c0, cont_cols, cont_next, cont_grid, cont_w,
               sense: str, n_regimes: int = 1) -> Template:
        return Template(self.groups, self.lb, self.ub, np.concatenate(self._r), np.concatenate(self._c),
                        np.concatenate(self._v), np.array(self.lo), np.array(self.hi),
                        np.array(self.family, dtype=object), np.array(self.true_type, np.int64),
                        np.array(self.report, np.int64), np.asarray(state_rows, np.int64),
                        np.atleast_2d(np.asarray(state_rhs, float)), np.atleast_2d(np.asarray(c0, float)),
                        np.asarray(cont_cols, np.int64), np.asarray(cont_next, np.int64),
                        np.asarray(cont_grid, np.int64), np.atleast_2d(np.asarray(cont_w, float)),
                        sense, int(n_regimes))


@dataclass
class Stacked:
    """The Program stacking every (regime, state) block, with the index maps."""

    program: Program
    template: Template
    colmap: np.ndarray          # (n_blocks, n_cols) global column of each local column
    rowmap: np.ndarray          # (n_blocks, m) global row of each local row

    def costs(self, V: np.ndarray) -> np.ndarray:
        """The full objective vector given continuation values ``V`` (n_regimes, n_grid)."""
        t = self.template
        S = t.n_states
        c = np.empty(self.colmap.shape)
        for r in range(t.n_regimes):
            blk = np.tile(t.c0[r], (S, 1))
            contv = t.cont_w[r] * V[t.cont_next, t.cont_grid]
            blk[:, t.cont_cols] += contv
            c[r * S:(r + 1) * S] = blk
        out = np.empty(self.program.n_vars)
        out[self.colmap.ravel()] = c.ravel()
        return out

    def block_values(self, c: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Objective of each block, shape (n_regimes, n_states)."""
        t = self.template
        return (c[self.colmap] * x[self.colmap]).sum(axis=1).reshape(t.n_regimes, t.n_states)

    def local(self, x: np.ndarray) -> np.ndarray:
        """A global primal vector as (n_regimes, n_states, n_cols) local block vectors."""
        t = self.template
        return x[self.colmap].reshape(t.n_regimes, t.n_states, t.n_cols)


def stack(t: Template, name: str = "bellman", period: int = 0, agent: int = 0,
          meta: dict | None = None) -> Stacked:
    """Build the block-diagonal labelled Program of one Bellman step (costs left unset)."""
    B, S, m, n = t.n_blocks, t.n_states, t.n_rows, t.n_cols
    prog = Program(name=name, sense=t.sense, meta=dict(meta or {}))
    colmap = np.empty((B, n), np.int64)
    start = 0
    for gname, shape in t.groups:
        size = int(np.prod(shape))
        full = (B,) + tuple(shape)
        idx = prog.add_variables(gname, full, np.tile(t.lb[start:start + size], B).reshape(full),
                                 np.tile(t.ub[start:start + size], B).reshape(full))
        colmap[:, start:start + size] = idx.reshape(B, size)
        start += size
    # state-dependent right-hand sides, per block (regime-major, as the blocks)
    lo = np.tile(t.lo, (B, 1))
    hi = np.tile(t.hi, (B, 1))
    rhs = np.tile(t.state_rhs, (t.n_regimes, 1))
    # a NaN promise leaves the row free: the unconstrained first-period problem
    lo[:, t.state_rows] = np.where(np.isnan(rhs), -np.inf, rhs)
    hi[:, t.state_rows] = np.where(np.isnan(rhs), np.inf, rhs)
    rowmap = np.empty((B, m), np.int64)
    blocks = np.arange(B)
    nnz_row = t.rows
    for fam in dict.fromkeys(t.family.tolist()):
        local = np.nonzero(t.family == fam)[0]
        mf = local.size
        rank = np.full(m, -1, np.int64)
        rank[local] = np.arange(mf)
        sel = rank[nnz_row] >= 0
        r_loc, c_loc, v_loc = rank[nnz_row[sel]], t.cols[sel], t.vals[sel]
        rows = (blocks[:, None] * mf + r_loc[None, :]).ravel()
        cols = colmap[:, c_loc].ravel()
        vals = np.tile(v_loc, B)
        off = prog.add_constraints(fam, B * mf, rows, cols, vals, lo[:, local].ravel(), hi[:, local].ravel(),
                                   agent=agent, period=period,
                                   history=np.repeat(blocks, mf),
                                   true_type=np.tile(t.true_type[local], B),
                                   report=np.tile(t.report[local], B))
        rowmap[:, local] = off + blocks[:, None] * mf + np.arange(mf)[None, :]
    prog.meta.update({"n_regimes": t.n_regimes, "n_states": S,
                      "history": "block index = regime * n_states + grid point"})
    return Stacked(prog, t, colmap, rowmap)


@dataclass
class IterationRecord:
    iteration: int
    sup_change: float
    ratio: float | None
    seconds: float
    simplex_iterations: int


@dataclass
class VIResult:
    """Converged value function, last Bellman LP, its solution and the convergence record."""

    status: str
    V: np.ndarray                    # (n_regimes, n_states)
    y: np.ndarray                    # (n_regimes, n_states, n_cols) optimal local choices
    stacked: Stacked
    solution: Solution
    record: list[IterationRecord] = field(default_factory=list)
    seconds: float = 0.0
    tol: float = 0.0
    message: str = ""
    V_in: np.ndarray | None = None   # continuation values in the final LP's costs (V before the last step)

    @property
    def iterations(self) -> int:
        return len(self.record)

    @property
    def sup_norm(self) -> float:
        return self.record[-1].sup_change if self.record else float("nan")

    def rate(self, last: int = 20) -> float:
        """Median ratio of successive sup-norm changes over the last iterations (≈ β)."""
        r = [x.ratio for x in self.record[-last:] if x.ratio is not None and np.isfinite(x.ratio)]
        return float(np.median(r)) if r else float("nan")

    def convergence_table(self) -> list[dict]:
        return [{"iteration": r.iteration, "sup_change": r.sup_change, "ratio": r.ratio} for r in self.record]


HIGHS_OPTIONS = {"primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9,
                 "simplex_strategy": 4,  # primal simplex: a cost change keeps the basis primal feasible
                 "cost_scale": 1}        # the costs change every iteration: no scaling fixed at the start


class _HotModel:
    """The stacked Bellman LP in one :class:`~dmd_opt.solvers.session.Session`, re-solved after cost changes.

    With ``active`` (a column mask) only those columns are loaded; after every solve the
    reduced costs of the others are priced out against the row duals (column generation),
    violating columns are added and the LP re-solved, so the solution returned is optimal
    for the *full* Program: inactive columns at 0 have reduced cost of the right sign.
    """

    def __init__(self, prog: Program, c: np.ndarray, active: np.ndarray | None, options: dict):
        self.session = Session(prog, options=options, columns=active)   # prog's costs are c
        self.sgn = 1.0 if prog.sense == "max" else -1.0
        self.added = 0
        self.sol: Solution | None = None

    def run(self, c: np.ndarray) -> bool:
        ses = self.session
        ses.change_costs(np.arange(c.size), c)
        while True:
            self.sol = sol = ses.solve()
            if sol.status != "optimal":
                return False
            idle = np.ones(c.size, bool)
            idle[ses.loaded] = False
            if not idle.any():
                return True
            # an idle column sits at its lower bound 0: optimal iff its reduced cost does
            # not improve the objective (≤ 0 for max, ≥ 0 for min; package convention)
            idx = np.nonzero(idle)[0]
            bad = idx[self.sgn * sol.col_dual[idx] > 1e-9 * max(1.0, float(np.max(np.abs(c))))]
            if bad.size == 0:
                return True
            ses.add_columns(bad)
            self.added += int(bad.size)

    def x(self) -> np.ndarray:
        return self.sol.x

    def solution(self, c: np.ndarray, seconds: float) -> Solution:
        sol = self.sol
        sol.solve_seconds = seconds
        sol.info["loaded_columns"] = int(self.session.loaded.size)
        sol.info["priced_in_columns"] = self.added
        if sol.status == "optimal":
            sol.basis = self.session.basis()   # the basis behind these duals (idle columns nonbasic at 0)
        return sol


def value_iteration(t: Template, V0: np.ndarray | None = None, *,
                    tol: float = 1e-8, max_iter: int = 5000, progress: bool = False,
                    name: str = "bellman", meta: dict | None = None, options: dict | None = None,
                    callback: Callable[[int, np.ndarray], None] | None = None,
                    window: int | None = None) -> VIResult:
    """Iterate the Bellman operator of template ``t`` from ``V0`` until the sup-norm
    change is below ``tol``.

    ``V0`` has shape (n_regimes, n_states) (default 0).  The LP is loaded into
    HiGHS once; each iteration changes the objective only and re-solves from the
    previous basis.  Returns a :class:`VIResult` whose ``stacked.program`` holds
    the costs of the final iteration (so it *is* the LP whose solution is returned).

    ``window`` (one regime, states = continuation grid): load only continuation
    columns within ``window`` grid points of each block's own state and price the
    rest in by reduced cost after every solve (exact for the full Program; fewer
    columns per simplex iteration).
    """
    t0 = time.perf_counter()
    st = stack(t, name=name, meta=meta)
    prog = st.program
    V = np.zeros((t.n_regimes, t.n_states)) if V0 is None else np.array(V0, float).reshape(t.n_regimes, t.n_states)
    c = st.costs(V)
    prog.set_objective(c, sense=t.sense)
    active = None
    if window is not None:
        if t.n_regimes != 1 or t.cont_grid.max(initial=-1) + 1 != t.n_states:
            raise ValueError("window needs one regime and the state grid as continuation grid")
        active = np.ones(prog.n_vars, bool)
        g = np.arange(t.n_states)[:, None]
        far = np.abs(t.cont_grid[None, :] - g) > int(window)          # (n_states, n_cont)
        active[st.colmap[:, t.cont_cols][far]] = False
    model = _HotModel(prog, c, active, {**HIGHS_OPTIONS, **(options or {})})
    record: list[IterationRecord] = []
    bar = None
    if progress:
        from rich.progress import Progress
        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task(name, total=None)
    status, message = "iteration_limit", f"no convergence to {tol:g} in {max_iter} iterations"
    prev = None
    sol = None
    V_in = V
    try:
        for it in range(1, max_iter + 1):
            ts = time.perf_counter()
            if it > 1:
                c = st.costs(V)
            V_in = V
            if not model.run(c):
                sol = model.solution(c, time.perf_counter() - ts)
                status, message = sol.status if sol.status != "optimal" else "error", \
                    f"Bellman LP at iteration {it}: {sol.solver_status}"
                break
            Vn = st.block_values(c, model.x())
            d = float(np.max(np.abs(Vn - V)))
            record.append(IterationRecord(it, d, None if not prev else d / prev, time.perf_counter() - ts,
                                          int(model.sol.info["simplex_iterations"])))
            prev = d
            V = Vn
            if callback is not None:
                callback(it, V)
            if bar is not None:
                bar.update(task, description=f"{name}: iteration {it}, sup-norm change {d:.2e}")
            if d < tol:
                status, message = "optimal", f"converged: sup-norm change {d:.3g} < {tol:g} after {it} iterations"
                break
    finally:
        if bar is not None:
            bar.stop()
    prog.set_objective(c, sense=t.sense)
    if sol is None:
        sol = model.solution(c, sum(r.seconds for r in record))
    y = st.local(sol.x) if sol.x is not None else np.zeros((t.n_regimes, t.n_states, t.n_cols))
    return VIResult(status, V, y, st, sol, record, time.perf_counter() - t0, tol, message, V_in)


def bellman_step(t: Template, V_next: np.ndarray | None, *, name: str = "bellman", period: int = 0,
                 meta: dict | None = None, backend: str = "highs") -> tuple[np.ndarray, np.ndarray, Stacked, Solution]:
    """One Bellman step (finite-horizon backward induction) through the package solver.

    ``V_next`` (n_regimes', n_grid') are the continuation values the template's
    ``cont_next/cont_grid`` point into (``None`` when the template has no
    continuation columns).  Returns (values (n_regimes, n_states), local choices,
    the stacked Program, the Solution).
    """
    from dmd_opt.solvers import solve
    st = stack(t, name=name, period=period, meta=meta)
    V = np.zeros((1, 1)) if V_next is None else np.asarray(V_next, float)
    c = st.costs(V) if t.cont_cols.size else st.costs(np.zeros((1, 1)))
    st.program.set_objective(c, sense=t.sense)
    sol = solve(st.program, backend=backend,
                options={"primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9}
                if backend == "highs" else None)
    if sol.x is None:
        return np.full((t.n_regimes, t.n_states), np.nan), None, st, sol
    return st.block_values(c, sol.x), st.local(sol.x), st, sol



def bellman_certificate(vi: "VIResult", path=None, model=None):
    """Solver-independent certificate of the final Bellman LP of a value iteration.

    The LP stacks every grid point and its costs use the continuation values
    ``V_in`` of the last iteration; they travel as the program option
    ``continuation_values`` so that ``dmd-opt check`` rebuilds the same LP.  It
    certifies T(V_in) = the returned values; with the recorded sup-norm change
    ‖T(V_in) − V_in‖ < tol it certifies an approximate fixed point.
    """
    from dmd_opt import certificates
    opts = {"continuation_values": np.asarray(vi.V_in).tolist()}
    if path is not None:
        return certificates.write_certificate(path, vi.stacked.program, vi.solution, model=model, options=opts)
    return certificates.make_certificate(vi.stacked.program, vi.solution, model=model, options=opts)

def binding_by_state(st: Stacked, sol: Solution, tol: float = 1e-7) -> dict[str, Any]:
    """Which IC and promise-keeping rows bind at each block, from the Program labels.

    Uses :func:`dmd_opt.audit.binding.audit` (slack and dual per labelled row).  Returns
    ``{"IC": bool array (n_blocks, n_IC_rows_per_block), "IC_rows": [(true_type, report)],
    "IC_dual": array, "promise_keeping_dual": array (n_blocks, n_pk), "audit": Audit}``.
    """
    from dmd_opt.audit.binding import audit
    a = audit(st.program, sol, tol=tol, scale=max(1.0, float(st.program.meta.get("payoff_scale", 1.0))))
    t = st.template
    out: dict[str, Any] = {"audit": a}
    ic = np.nonzero(t.family == "IC")[0]
    rows = st.rowmap[:, ic]
    out["IC_rows"] = [(int(t.true_type[r]), int(t.report[r])) for r in ic]
    out["IC"] = a.columns["binding"][rows]
    out["IC_slack"] = a.columns["slack"][rows]
    out["IC_dual"] = a.columns["dual"][rows]
    pk = np.nonzero(t.family == "promise_keeping")[0]
    out["promise_keeping_dual"] = a.columns["dual"][st.rowmap[:, pk]]
    return out


def cross_section(paths: np.ndarray, dates=None, quantiles=(0.1, 0.5, 0.9)) -> list[dict]:
    """Mean and quantiles of simulated paths (n_paths, T+1) at given dates (default: 0, T/4, T/2, T)."""
    paths = np.asarray(paths, float)
    T = paths.shape[1] - 1
    dates = sorted({0, T // 4, T // 2, T}) if dates is None else [int(d) for d in dates]
    out = []
    for d in dates:
        x = paths[:, d]
        row = {"period": d, "mean": float(x.mean())}
        row.update({f"q{int(round(100 * q))}": float(np.quantile(x, q)) for q in quantiles})
        out.append(row)
    return out
