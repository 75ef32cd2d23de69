r"""Constraint generation for the dynamic revenue program (docs/theory.md#revenue-maximisation).

The full one-shot-deviation program of :mod:`.revenue` has, for every agent
:math:`i`, period :math:`t`, information state :math:`s`, true type
:math:`\theta` and report :math:`r`, the row

.. math::

    a_i(s,\theta,r) \;=\; V_{i,t}(s,\theta) - E_i(s,\theta,r),\qquad
    E_i(s,\theta,r) = \sum_c w(s,c)\Big[u_i(x(k),\theta) - p_i(k)
        + \delta\,\big(P_{i,t}V_{i,t+1}\big)(s'(k),\theta)\Big],\; k=k(s,r,c)

with :math:`a = 0` for :math:`r=\theta` ("value") and :math:`a\ge0` otherwise
("IC").  With :math:`n` types and one agent there are :math:`n^{t}\,n(n-1)` IC
rows at period :math:`t`, but at the optimum few bind — with persistent
(first-order stochastically ordered) types typically only the adjacent
downward ones (Battaglini 2005; Courty & Li 2000; Pavan, Segal & Toikka 2014,
"local" IC).  Constraint generation (cutting planes; Dantzig, Fulkerson &
Johnson 1954; Kelley 1960) exploits this:

1. solve the *relaxed* program: all "value" rows (they define :math:`V`),
   participation, lottery and budget rows, and only the adjacent downward IC
   rows (``initial="adjacent_down"``; ``"adjacent"`` adds the upward ones,
   ``"none"`` starts with no IC row).  For the common case —
   a finite decision set, no budget rows, public disclosure when there are
   several agents — the adjacent-downward relaxation is solved *on the tree in
   closed form* (:mod:`.revenue_local`: its dual by a forward pass, the
   virtual-surplus allocation, values and payments by a backward pass), and
   accepted when step 2 finds no violated row of the full program and its dual
   is feasible; otherwise it goes to HiGHS;
2. evaluate *every* IC row's activity :math:`a_i(s,\theta,r)` at the relaxed
   optimum — period by period, in chunks of states, from the node values
   :math:`u_i(x(k),\theta)-p_i(k)` and the continuation :math:`P_{i,t}V_{i,t+1}`
   (never materialising the full IC matrix);
3. append the rows violated by more than ``tol × payoff scale`` to the *same*
   HiGHS model (``addRows``: the old basis stays valid, new rows enter as basic
   slacks, and the dual simplex re-optimises warm);
4. repeat until no ungenerated row is violated.

Since the relaxed program has the same columns and a subset of the rows, its
optimal dual, padded with zeros on the ungenerated rows, is dual feasible for
the full program with the same reduced costs; the final primal satisfies every
full row, so the pair is optimal for the full program (complementary slackness
holds trivially on the zero-dual rows).  :func:`solve_revenue_cg` returns that
pair as a :class:`~dmd_opt.optim.solution.Solution` *of the full program* (row
activities of all rows from step 2, duals zero off the generated rows, the basis
with ungenerated rows' slacks basic), so the audit and the certificate checker
verify it against the full constraint set.  The full :class:`~dmd_opt.optim.program.Program`
itself is built only when it is asked for (audit, certificate, ``result.program``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from dmd_opt.core.environment import Environment
from dmd_opt.core.errors import ModelError
from dmd_opt.optim.program import Program
from dmd_opt.optim.solution import BASIS_CODES, Solution
from dmd_opt.core import validation as V
from dmd_opt.families.revenue.layout import completions
from dmd_opt.families.revenue.program import RevenueResult, decode, revenue_program, solve_revenue_full
from dmd_opt.families.revenue.local import not_applicable, solve_local
from dmd_opt.solvers.session import Session
from dmd_opt.verify import verify as run_verify

INITIAL = ("adjacent_down", "adjacent", "none")
START = ("auto", "tree", "highs")
_CHUNK = 1 << 21          # states × reports × completions × types evaluated at once in the row check


# ---------------------------------------------------------------------------------------
# the value / IC rows of one (agent, period), for any subset of (s, θ, r)
# ---------------------------------------------------------------------------------------
class _Block:
    """Lazy access to agent ``i``'s value and IC rows at period ``t``.

    Holds the completion tables of :func:`.layout.completions` (node, next
    state, weight per state × report × completion) — O(nodes), like the columns —
    and the offsets of this block's rows in the full program.
    """

    def __init__(self, env: Environment, lay, i: int, t: int, private: bool, value_off: int, ic_off: int):
        self.env, self.lay, self.i, self.t = env, lay, i, t
        self.n = env.n_types(i, t)
        self.node, self.nxt, self.w = completions(lay.tree, i, t, private)
        self.S, self.C = self.w.shape
        self.value_off, self.ic_off = value_off, ic_off
        self.present = np.zeros((self.S, self.n, self.n), bool)     # IC rows already in the LP

    @property
    def n_value(self) -> int:
        return self.S * self.n

    @property
    def n_ic(self) -> int:
        return self.S * self.n * (self.n - 1)

    def full_rows(self, s, th, r) -> np.ndarray:
        """Row numbers in the full program (value rows where r == θ)."""
        n = self.n
        return np.where(r == th, self.value_off + s * n + th,
                        self.ic_off + (s * n + th) * (n - 1) + r - (r > th))

    def coo(self, s, th, r):
        """COO triplets (local row = position in s/θ/r, column, value) of the rows (s, θ, r).

        The same coefficients as :func:`.revenue._add_ic_block`, for a subset of rows.
        """
        env, lay, i, t = self.env, self.lay, self.i, self.t
        T, N, delta = lay.tree.T, lay.tree.N, env.discount
        n = self.n
        m = len(s)
        row = np.arange(m)[:, None]                                               # (m,1)
        nd = self.node[s, r]                                                      # (m,C)
        W = self.w[s]                                                             # (m,C)
        R, Cc, Vv = [row[:, 0]], [lay.V0 + lay.v_off[i][t] + s * n + th], [np.ones(m)]
        if env.quantity is not None:
            v = env.type_values(i, t)[th][:, None]
            R.append(np.broadcast_to(row, nd.shape).ravel())
            Cc.append((lay.X0 + lay.x_off[t] + nd * N + i).ravel())
            Vv.append((-W * v).ravel())
        else:
            A = lay.alloc_width[t]
            u = env.utility(i, t)                                                 # (A, n)
            R.append(np.broadcast_to(row[:, :, None], nd.shape + (A,)).ravel())
            Cc.append((lay.X0 + lay.x_off[t] + nd[:, :, None] * A + np.arange(A)).ravel())
            Vv.append((-W[:, :, None] * u.T[th][:, None, :]).ravel())
        R.append(np.broadcast_to(row, nd.shape).ravel())
        Cc.append((lay.P0 + lay.p_off[t] + nd * N + i).ravel())
        Vv.append(W.ravel())
        if t < T - 1:
            P = env.transition(i, t)
            n2 = P.shape[1]
            nx = self.nxt[s, r]                                                   # (m,C)
            R.append(np.broadcast_to(row[:, :, None], nx.shape + (n2,)).ravel())
            Cc.append((lay.V0 + lay.v_off[i][t + 1] + nx[:, :, None] * n2 + np.arange(n2)).ravel())
            Vv.append((-delta * W[:, :, None] * P[th][:, None, :]).ravel())
        rows, cols, vals = np.concatenate(R), np.concatenate(Cc), np.concatenate(Vv)
        keep = vals != 0
        return rows[keep], cols[keep], vals[keep]

    def activities(self, x: np.ndarray, s0: int = 0, s1: int | None = None) -> np.ndarray:
        """(s1−s0, θ, r) activities :math:`V(s,\\theta) - E(s,\\theta,r)` of all rows of states s0..s1."""
        env, lay, i, t = self.env, self.lay, self.i, self.t
        T, N, delta, n = lay.tree.T, lay.tree.N, env.discount, self.n
        s1 = self.S if s1 is None else s1
        nd = self.node[s0:s1]                                                     # (S', r, C)
        K = lay.tree.n_nodes(t)
        if env.quantity is not None:
            q = x[lay.X0 + lay.x_off[t]: lay.X0 + lay.x_off[t] + K * N].reshape(K, N)[:, i]
            flow = q[:, None] * env.type_values(i, t)[None, :]                    # (K, θ)
        else:
            A = lay.alloc_width[t]
            xa = x[lay.X0 + lay.x_off[t]: lay.X0 + lay.x_off[t] + K * A].reshape(K, A)
            flow = xa @ env.utility(i, t)                                         # (K, θ)
        pay = x[lay.P0 + lay.p_off[t]: lay.P0 + lay.p_off[t] + K * N].reshape(K, N)[:, i]
        G = flow[nd] - pay[nd][..., None]                                         # (S', r, C, θ)
        if t < T - 1:
            P = env.transition(i, t)
            n2 = P.shape[1]
            vo = lay.V0 + lay.v_off[i][t + 1]
            Vn = x[vo: vo + lay.v_states[i][t + 1] * n2].reshape(-1, n2)
            G = G + delta * (Vn @ P.T)[self.nxt[s0:s1]]
        E = np.einsum("sc,srct->str", self.w[s0:s1], G, optimize=True) \
            if self.C > 1 else G[:, :, 0, :].transpose(0, 2, 1) * self.w[s0:s1][:, :, None]
        vo = lay.V0 + lay.v_off[i][t]
        Vt = x[vo + s0 * n: vo + s1 * n].reshape(-1, n)
        return Vt[:, :, None] - E

    def adjoint(self, Y: np.ndarray, absolute: bool = False):
        r"""Column indices and values of :math:`A^\top y` over this block's rows.

        ``Y`` (S, θ, r) holds the duals of the value rows (r = θ) and IC rows; returns
        ``(cols, vals)`` to be summed into a column vector (``np.bincount``).  With
        ``absolute`` the values are :math:`|a_{ij}|\,|y_i|` — the scale of each column's
        terms, against which a stationarity residual is judged.
        """
        env, lay, i, t = self.env, self.lay, self.i, self.t
        T, N, delta, n = lay.tree.T, lay.tree.N, env.discount, self.n
        f = np.abs if absolute else (lambda a: a)
        sg = 1.0 if absolute else -1.0
        Ya, W, nd = f(Y), self.w, self.node
        cols = [lay.V0 + lay.v_off[i][t] + np.arange(self.S * n)]          # +V_t(s, θ)
        vals = [Ya.sum(axis=2).ravel()]
        WS = Ya.sum(axis=1)[:, :, None] * W[:, None, :]                    # (S, r, C)
        cols.append((lay.P0 + lay.p_off[t] + nd * N + i).ravel())           # +w p_i(k)
        vals.append(WS.ravel())
        if env.quantity is not None:                                        # −w v(θ) q_i(k)
            v = f(env.type_values(i, t))
            yv = (Ya.transpose(0, 2, 1) @ v)[:, :, None] * W[:, None, :]
            cols.append((lay.X0 + lay.x_off[t] + nd * N + i).ravel())
            vals.append(sg * yv.ravel())
        else:                                                               # −w u(a, θ) x_a(k)
            A = lay.alloc_width[t]
            yu = Ya.transpose(0, 2, 1) @ f(env.utility(i, t)).T              # (S, r, A)
            cols.append((lay.X0 + lay.x_off[t] + nd[..., None] * A + np.arange(A)).ravel())
            vals.append(sg * (yu[:, :, None, :] * W[:, None, :, None]).ravel())
        if t < T - 1:                                                       # −δ w P(θ'|θ) V_{t+1}(s', θ')
            P = f(env.transition(i, t))
            n2 = P.shape[1]
            yp = Ya.transpose(0, 2, 1) @ P                                   # (S, r, n2)
            cols.append((lay.V0 + lay.v_off[i][t + 1] + self.nxt[..., None] * n2 + np.arange(n2)).ravel())
            vals.append(sg * delta * (yp[:, :, None, :] * W[:, None, :, None]).ravel())
        return np.concatenate(cols), np.concatenate(vals)

    def chunks(self):
        step = max(1, _CHUNK // max(1, self.n * self.n * self.C))
        for s0 in range(0, self.S, step):
            yield s0, min(self.S, s0 + step)


def _initial_mask(env: Environment, i: int, t: int, n: int, initial: str) -> np.ndarray:
    """(θ, r) pairs of the starting IC rows: adjacent in the order of the type values."""
    m = np.zeros((n, n), bool)
    if initial == "none" or n < 2:
        return m
    order = np.argsort(env.type_values(i, t), kind="stable")
    upper, lower = order[1:], order[:-1]      # lower[k]: the next lower type of upper[k]
    m[upper, lower] = True                    # downward: the higher type reports the next lower one
    if initial == "adjacent":
        m[lower, upper] = True
    return m


# ---------------------------------------------------------------------------------------
# the solve loop
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CGSettings:
    """How constraint generation runs (the arguments of :func:`solve_revenue_cg` beyond the program's).

    initial : ``"adjacent_down" | "adjacent" | "none"`` — the IC rows of the first round
        (default None: ``"adjacent_down"`` for LPs, ``"adjacent"`` for the quantity QP,
        whose relaxations with fewer rows HiGHS' QP solver can stall on).
    tol : a row is violated when its activity is below ``−tol × payoff scale``.
    max_rounds : give up (status ``iteration_limit``) after this many rounds.
    warm : ``True`` keeps one HiGHS session and appends rows (warm dual simplex);
        ``False`` re-solves each round from scratch (with presolve).
    start : ``"auto" | "tree" | "highs"`` — see :func:`solve_revenue_cg`.
    """

    initial: str | None = None
    tol: float = 1e-9
    max_rounds: int = 200
    warm: bool = True
    start: str = "auto"

    def checked(self, quantity: bool) -> "CGSettings":
        """Validated settings with the default first round filled in."""
        initial = ("adjacent" if quantity else "adjacent_down") if self.initial is None else self.initial
        V.choice(initial, "initial", INITIAL)
        V.choice(self.start, "start", START)
        return CGSettings(initial, V.real(self.tol, "tol", lo=0), V.integer(self.max_rounds, "max_rounds", lo=1),
                          bool(self.warm), self.start)


def solve_revenue_cg(env: Environment, participation: str = "interim", disclosure: str = "public",
                     objective: Any = "revenue", fixed_allocation: Any = None, budget_balance: bool = False,
                     backend: str = "highs", solver: str | None = None, options: dict | None = None,
                     verify: bool = True, basis: bool = False, settings: CGSettings | None = None,
                     **overrides) -> "CGRevenueResult":
    """Solve the revenue program of :func:`.program.revenue_program` by constraint generation.

    Same arguments as :func:`.solve.solve_revenue`, plus ``settings`` (a
    :class:`CGSettings`) or its fields as keywords (``initial``, ``tol``,
    ``max_rounds``, ``warm``, ``start``).

    ``start="auto"`` solves the first (adjacent downward) relaxation on the tree in
    closed form (one agent, or several with public disclosure; allocations from a
    finite decision set; no budget rows) (:mod:`.local`) and stops there when the row
    check finds every row of the full program satisfied and the dual certifies the
    candidate — no LP solver call; otherwise, and with ``"highs"``, the relaxation goes
    to HiGHS.  ``"tree"`` is ``"auto"`` that refuses programs outside the closed form's
    scope.  (With ``basis=True`` HiGHS is always used: the closed form has no basis.)

    The result's ``solution`` is a Solution of the *full* program (see the module
    docstring); ``solution.info["cg"]`` holds rounds, rows generated and the time of
    each round.  The full Program is built on first access to ``result.program``.
    """
    if backend != "highs":
        raise ModelError("backend", "constraint generation (method='cg') runs on HiGHS only")
    unknown = sorted(set(overrides) - {f.name for f in fields(CGSettings)})
    if unknown:
        raise ModelError(unknown[0], f"unknown constraint-generation setting; known: "
                         f"{', '.join(f.name for f in fields(CGSettings))}")
    settings = replace(settings or CGSettings(), **overrides)
    program_options = {"participation": participation, "disclosure": disclosure, "objective": objective,
                       "fixed_allocation": fixed_allocation, "budget_balance": budget_balance}
    run = _ConstraintGeneration(env, program_options, settings, solver, options, basis)
    return run.solve(verify)


class _ConstraintGeneration:
    """One constraint-generation solve: the relaxed program, its rounds and the full Solution."""

    def __init__(self, env: Environment, program_options: dict, settings: CGSettings, solver, options, basis):
        quantity = env.quantity is not None if isinstance(env, Environment) else False
        self.env, self.settings, self.basis = env, settings.checked(quantity), basis
        self.popts = program_options
        self.solver, self.options = solver, options
        self.opts = {**program_options, "backend": "highs", "solver": solver, "method": "cg"}
        hopts = dict(options or {})
        if solver is not None:
            hopts.setdefault("solver", solver)
        if quantity:   # HiGHS' QP solver can stall on a relaxation: bound a round, then solve the full QP
            hopts.setdefault("time_limit", 60.0)
        self.hopts = hopts
        self.t0 = time.perf_counter()
        self.skel = revenue_program(env, **program_options, value_ic_rows=False)
        self.lay = self.skel.meta["layout"]
        self.blocks = self._blocks()
        self.n_value_ic = int(sum(b.n_value + b.n_ic for b in self.blocks))
        self.n_full = self.n_value_ic + self.skel.n_rows
        self.n_skel = self.skel.n_rows            # the skeleton's rows come first in the relaxed program
        self.eps = self.settings.tol * env.payoff_scale
        self.tree_note: str | None = None

    def _blocks(self) -> list[_Block]:
        lay = self.lay
        private = self.popts["disclosure"] == "private" and lay.tree.N > 1
        blocks, off = [], 0
        for i in range(lay.tree.N):
            for t in range(lay.tree.T):
                b = _Block(self.env, lay, i, t, private, 0, 0)
                b.value_off, b.ic_off = off, off + b.n_value
                off += b.n_value + b.n_ic
                blocks.append(b)
        return blocks

    # ---- the whole solve ------------------------------------------------------------
    def solve(self, verify: bool) -> "CGRevenueResult":
        if self.settings.start != "highs":
            res = self._closed_form_first_round(verify)
            if res is not None:
                return res
        full_index = self._relax()
        build = time.perf_counter() - self.t0
        status, words, sol_rel, session, rounds = self._rounds(full_index)
        if sol_rel is None or sol_rel.x is None or status not in ("optimal", "inaccurate", "iteration_limit"):
            # A relaxation that is infeasible proves the full program infeasible, but the Farkas
            # ray must be one of the full program: solve it once, in full.  The same for a round
            # the solver did not finish (time limit, error) or an unbounded relaxation.
            return self._fallback(verify, rounds, status)
        sol = self._full_solution(status, words, sol_rel, session, np.concatenate(full_index), rounds, build)
        return self._finish(self.skel, sol, verify, build)

    # ---- round 1 in closed form ---------------------------------------------------------
    def _closed_form_first_round(self, verify: bool):
        """The result of the closed-form first round, or None (then HiGHS solves the relaxation)."""
        s, p = self.settings, self.popts
        w_rev = self.skel.meta["objective"]["revenue"]
        why = not_applicable(self.env, p["participation"], p["disclosure"], w_rev, p["budget_balance"]) or \
            ("a basis was requested" if self.basis else None) or \
            (f"the first round is initial={s.initial!r}" if s.initial != "adjacent_down" else None)
        if why is not None:
            if s.start == "tree":
                raise ModelError("start", f"the closed-form tree solve does not apply: {why}")
            self.tree_note = f"not used: {why}"
            return None
        res = _TreeRound(self).run(verify)
        if isinstance(res, str):
            self.tree_note = res
            return None
        return res

    # ---- rounds on HiGHS ------------------------------------------------------------
    def _relax(self) -> list[np.ndarray]:
        """Add every value row and the initial IC rows to the skeleton (the relaxed program).

        Returns, per row block of the relaxed program, its row numbers in the full program.
        """
        relaxed = self.skel
        full_index = [self.n_value_ic + np.arange(relaxed.n_rows)]
        for b in self.blocks:
            S, n = b.S, b.n
            s = np.repeat(np.arange(S), n)
            th = np.tile(np.arange(n), S)
            r_, c_, v_ = b.coo(s, th, th)
            relaxed.add_constraints("value", S * n, r_, c_, v_, 0.0, 0.0, agent=b.i, period=b.t,
                                    history=s, true_type=th, report=th)
            full_index.append(b.full_rows(s, th, th))
            pair = _initial_mask(self.env, b.i, b.t, n, self.settings.initial)
            if pair.any():
                ths, rs = np.nonzero(pair)
                s = np.repeat(np.arange(S), len(ths))
                th, r = np.tile(ths, S), np.tile(rs, S)
                r_, c_, v_ = b.coo(s, th, r)
                relaxed.add_constraints("IC", len(s), r_, c_, v_, 0.0, np.inf, agent=b.i, period=b.t,
                                        history=s, true_type=th, report=r)
                b.present[:, ths, rs] = True
                full_index.append(b.full_rows(s, th, r))
        return full_index

    def _rounds(self, full_index: list[np.ndarray]):
        """Solve, check every row, append the violated ones; until none is violated."""
        relaxed, warm = self.skel, self.settings.warm
        rounds: list[dict] = []
        session = sol_rel = None
        status, words = "error", ""
        for rnd in range(self.settings.max_rounds):
            tr = time.perf_counter()
            if session is None or not warm:
                session = Session(relaxed, options=self.hopts)
            sol_rel = session.solve()
            status, words, x = sol_rel.status, sol_rel.solver_status, sol_rel.x
            ts = time.perf_counter()
            rec = {"round": rnd + 1, "solver": "highs", "rows": int(sum(len(f) for f in full_index)),
                   "solve_s": ts - tr, "simplex_iterations": sol_rel.info.get("simplex_iterations", 0),
                   "status": status}
            rounds.append(rec)
            if status not in ("optimal", "inaccurate") or x is None:
                rec.update(check_s=0.0, violated=0, max_violation=None)
                break
            add, worst = _violated(self.blocks, x, self.eps)     # block by block, chunk by chunk
            new_rows = sum(len(a[1]) for a in add)
            rec.update(check_s=time.perf_counter() - ts, violated=int(new_rows), max_violation=worst)
            if not new_rows:
                break
            ta = time.perf_counter()
            self._append(add, session if warm else None, full_index)
            rec["add_s"] = time.perf_counter() - ta
        else:
            status = "iteration_limit"
            words = f"constraint generation stopped after {self.settings.max_rounds} rounds"
        return status, words, sol_rel, session, rounds

    def _append(self, add, session: Session | None, full_index: list[np.ndarray]) -> None:
        """Append violated rows: to the live session (warm), else to the relaxed Program."""
        R, Cc, Vv, base = [], [], [], 0
        for b, s, th, r in add:
            r_, c_, v_ = b.coo(s, th, r)
            R.append(r_ + base)
            Cc.append(c_)
            Vv.append(v_)
            base += len(s)
            b.present[s, th, r] = True
            full_index.append(b.full_rows(s, th, r))
            if session is None:
                self.skel.add_constraints("IC", len(s), r_, c_, v_, 0.0, np.inf, agent=b.i, period=b.t,
                                          history=s, true_type=th, report=r)
        if session is not None:
            M = sp.csr_matrix((np.concatenate(Vv), (np.concatenate(R), np.concatenate(Cc))),
                              shape=(base, self.skel.n_vars))
            session.add_rows(M, 0.0, np.inf)

    def _full_solution(self, status, words, sol_rel: Solution, session: Session, fidx: np.ndarray,
                       rounds: list[dict], build: float) -> Solution:
        """The relaxed optimum as a Solution of the full program (module docstring)."""
        n_full, n_skel = self.n_full, self.n_skel
        sol = Solution(status, words, "highs", build_seconds=build,
                       solve_seconds=float(sum(r["solve_s"] for r in rounds)))
        sol.x = np.asarray(sol_rel.x, float)
        sol.row_activity = _full_activities(self.blocks, sol.x, n_full, self.n_value_ic,
                                            sol_rel.row_activity[:n_skel])
        sol.objective = self.skel.objective_value(sol.x)
        if sol_rel.row_dual is not None:
            y = np.zeros(n_full)
            y[fidx] = sol_rel.row_dual
            sol.row_dual, sol.col_dual = y, sol_rel.col_dual
        rel_basis = session.basis() if self.basis else None
        if rel_basis is not None:
            full_rs = np.full(n_full, BASIS_CODES["basic"], np.int8)
            full_rs[fidx] = rel_basis["row_status"]
            sol.basis = {"col_status": rel_basis["col_status"], "row_status": full_rs}
        blocks = self.blocks
        sol.info["cg"] = {"rounds": len(rounds), "rows_full": int(n_full), "rows_final": int(len(fidx)),
                          "ic_rows_full": int(sum(b.n_ic for b in blocks)),
                          "ic_rows_generated": int(sum(int(b.present.sum()) for b in blocks)),
                          "initial": self.settings.initial, "warm": self.settings.warm, "tol": self.eps,
                          "per_round": rounds, "first_round": "highs", "tree": self.tree_note}
        return sol

    # ---- results ----------------------------------------------------------------------
    def _finish(self, prog: Program, sol: Solution, verify: bool, build: float) -> "CGRevenueResult":
        """Decode, verify and wrap a Solution of the full program."""
        t2 = time.perf_counter()
        mech = ver = None
        if sol.x is not None and sol.status in ("optimal", "inaccurate"):
            mech = decode(self.env, prog, sol)
        t3 = time.perf_counter()
        if mech is not None and verify:
            ver = run_verify(mech)
        t4 = time.perf_counter()
        timings = {"build": build, "solve": t2 - self.t0 - build, "decode": t3 - t2, "verify": t4 - t3,
                   "solver_only": sol.solve_seconds}
        return CGRevenueResult(sol.status, sol.solver_status, sol.objective if mech is not None else None,
                               self.env, None, sol, mech, ver, self.opts, timings)

    def _fallback(self, verify: bool, rounds: list[dict], status: str) -> RevenueResult:
        res = solve_revenue_full(self.env, **self.popts, backend="highs", solver=self.solver,
                                 options=self.options, verify=verify, basis=self.basis)
        res.solution.info["cg"] = {"rounds": len(rounds), "per_round": rounds, "fallback":
                                   f"relaxed program {status}; solved the full program instead"}
        res.options["method"] = "cg"
        return res


def _violated(blocks, x, eps):
    """Ungenerated IC rows with activity below −eps: [(block, s, θ, r)], worst violation."""
    add, worst = [], 0.0
    for b in blocks:
        if b.n < 2:
            continue
        for s0, s1 in b.chunks():
            a = b.activities(x, s0, s1)
            bad = (a < -eps) & ~b.present[s0:s1]
            if bad.any():
                worst = max(worst, float(-a[bad].min()))
                s, th, r = np.nonzero(bad)
                add.append((b, s + s0, th, r))
    return add, worst


def _full_activities(blocks, x, n_full, n_value_ic, skel_act):
    """Activities of every row of the full program: value and IC rows block by block, then the skeleton's."""
    act = np.empty(n_full)
    for b in blocks:
        for s0, s1 in b.chunks():
            a = b.activities(x, s0, s1)
            act[b.value_off + s0 * b.n: b.value_off + s1 * b.n] = np.diagonal(a, axis1=1, axis2=2).ravel()
            if b.n > 1:
                off_diag = ~np.eye(b.n, dtype=bool)
                k = b.n * (b.n - 1)
                act[b.ic_off + s0 * k: b.ic_off + s1 * k] = a[:, off_diag].ravel()
    act[n_value_ic:] = skel_act
    return act


class _TreeRound:
    r"""The closed-form first round (:mod:`.local`), accepted only when certified.

    :meth:`run` returns the result, or a string saying why the candidate was rejected
    (the caller then solves the relaxation with HiGHS).  Accepted means: every row of
    the full program holds within ``eps`` at the candidate (value rows as equalities,
    all IC rows, participation and lottery rows); the dual is feasible (all λ ≥ 0) and
    stationary (:math:`c - A^\top y = z` column by column, from :meth:`_Block.adjoint`);
    the reduced costs have the right sign at the columns' bounds; and every row with a
    nonzero dual binds — the LP optimality conditions of the full program.
    """

    def __init__(self, cg: _ConstraintGeneration):
        self.cg = cg
        self.skel = cg.skel
        self.w_rev = cg.skel.meta["objective"]["revenue"]
        self.w_wel = cg.skel.meta["objective"]["welfare"]

    def run(self, verify: bool):
        cg = self.cg
        build = time.perf_counter() - cg.t0
        tr = time.perf_counter()
        loc = self._candidate()
        ts = time.perf_counter()
        act = _full_activities(cg.blocks, loc.x, cg.n_full, cg.n_value_ic, self.skel.matrix() @ loc.x)
        why = self._primal_check(loc, act)
        if why is None:
            y, aty, mag = self._dual(loc)
            why = self._dual_check(loc, act, y, aty, mag)
        if why is not None:
            return why
        sol = self._solution(loc, act, y, build, solve_s=ts - tr, check_s=time.perf_counter() - ts)
        return cg._finish(self.skel, sol, verify, build)

    def _candidate(self):
        """Primal and dual of the local-IC relaxation, by two passes over the tree."""
        skel, fixed_x = self.skel, None
        if self.cg.popts["fixed_allocation"] is not None:
            xs = skel.block_slice("x")
            fixed_x = np.zeros(skel.n_vars)
            fixed_x[xs] = skel.col_lower[xs]
        return solve_local(self.cg.env, self.cg.lay, self.cg.popts["participation"], self.w_rev, self.w_wel,
                           skel.n_vars, fixed_x)

    def _primal_check(self, loc, act) -> str | None:
        """Why the candidate is not feasible for the full program (or its dual not), else None."""
        eps, skel = self.cg.eps, self.skel
        skel_act = act[self.cg.n_value_ic:]
        skel_bad = int(np.sum((skel_act < skel.row_lower - eps) | (skel_act > skel.row_upper + eps)))
        value_bad = ic_bad = 0
        for b in self.cg.blocks:
            value_bad += int(np.sum(np.abs(act[b.value_off: b.value_off + b.n_value]) > eps))
            ic_bad += int(np.sum(act[b.ic_off: b.ic_off + b.n_ic] < -eps))
        if loc.min_lambda < -1e-12 * max(self.w_rev, 1.0):
            return (f"rejected: dual infeasible (a multiplier {loc.min_lambda:.3g} < 0: the transitions are not "
                    f"stochastically ordered); solved by HiGHS")
        if skel_bad or value_bad or ic_bad:
            return (f"rejected: the closed-form relaxed optimum violates {ic_bad} IC, {value_bad} value and "
                    f"{skel_bad} participation/lottery rows of the full program; solved by HiGHS")
        return None

    def _dual(self, loc):
        """The dual on the full program's rows, Aᵀy, and the column scales Σ|a_ij||y_i|."""
        cg, skel = self.cg, self.skel
        y = np.zeros(cg.n_full)
        nv = skel.n_vars
        parts = {False: ([], []), True: ([], [])}
        for b in cg.blocks:
            t, n, S = b.t, b.n, b.S
            Y = np.zeros((S, n, n))
            idx = np.arange(n)
            Y[:, idx, idx] = loc.y_value[b.i][t]
            y[b.value_off: b.value_off + b.n_value] = loc.y_value[b.i][t].ravel()
            if n > 1:
                o = loc.order[b.i][t]
                Y[:, o[1:], o[:-1]] = -loc.lam[b.i][t]
                s = np.repeat(np.arange(S), n - 1)
                y[b.full_rows(s, np.tile(o[1:], S), np.tile(o[:-1], S))] = -loc.lam[b.i][t].ravel()
            for absolute in (False, True):
                cols, vals = b.adjoint(Y, absolute)
                parts[absolute][0].append(cols)
                parts[absolute][1].append(vals)
        aty, mag = (np.bincount(np.concatenate(parts[a][0]), np.concatenate(parts[a][1]), minlength=nv)
                    for a in (False, True))
        for cb in skel.con_blocks:
            g = cg.n_value_ic + cb.offset
            if cb.family in ("IR_interim", "IR_ex_ante") or \
                    (cb.family == "IR_periodic" and cb.labels["period"][0] == 0):
                yr = loc.y_root[int(cb.labels["agent"][0])]
                y[g: g + len(yr)] = yr
            elif cb.family == "lottery":
                y[g: g + cb.n_rows] = loc.y_lottery[int(cb.labels["period"][0])]
        ys = y[cg.n_value_ic:]
        Ms = skel.matrix()
        return y, aty + Ms.T @ ys, mag + abs(Ms).T @ np.abs(ys)

    def _dual_check(self, loc, act, y, aty, mag) -> str | None:
        """Certify before accepting: stationarity c − Aᵀy = z column by column (judged
        against the size of each column's terms), z ≤ 0 at the allocation's zero columns
        and 0 elsewhere, and every row with a nonzero dual binding.  With the row check
        this is the LP optimality proof that the certificate checker later re-does."""
        skel, eps, nvi = self.skel, self.cg.eps, self.cg.n_value_ic
        c = skel.objective_vector()
        resid = np.abs(c - aty - loc.z)
        scale = np.abs(c) + mag
        bad_stat = int(np.sum(resid > 1e-9 * scale + 1e-13 * scale.max()))
        lb, ub, x = skel.col_lower, skel.col_upper, loc.x
        free = lb != ub
        bad_sign = int(np.sum(free & (((loc.z < 0) & (x > lb + eps)) | ((loc.z > 0) & (x < ub - eps)))))
        lo = np.r_[np.zeros(nvi), skel.row_lower]
        hi = np.r_[np.zeros(nvi), skel.row_upper]
        slack = np.minimum(np.abs(act - lo), np.abs(act - hi))
        bad_cs = int(np.sum((y != 0) & (slack > eps)))
        if bad_stat or bad_sign or bad_cs:
            return (f"rejected: the closed-form dual does not certify the candidate ({bad_stat} stationarity, "
                    f"{bad_sign} reduced-cost sign and {bad_cs} complementary-slackness failures); solved by HiGHS")
        return None

    def _solution(self, loc, act, y, build: float, solve_s: float, check_s: float) -> Solution:
        cg, skel = self.cg, self.skel
        sol = Solution("optimal", "optimal (closed-form local-IC relaxation on the tree; every row of the full "
                       "program and the dual checked)", "tree", build_seconds=build, solve_seconds=solve_s)
        sol.x, sol.row_activity, sol.row_dual, sol.col_dual = loc.x, act, y, loc.z
        sol.objective = skel.objective_value(loc.x)
        n_adj = int(sum(b.S * (b.n - 1) for b in cg.blocks))
        rows_relaxed = int(sum(b.n_value for b in cg.blocks) + n_adj + skel.n_rows)
        sol.info["cg"] = {
            "rounds": 1, "rows_full": int(cg.n_full), "rows_final": rows_relaxed,
            "ic_rows_full": int(sum(b.n_ic for b in cg.blocks)), "ic_rows_generated": n_adj,
            "initial": "adjacent_down", "warm": False, "tol": cg.eps, "first_round": "tree",
            "tree": "accepted: the closed-form relaxed optimum satisfies every row and its dual certifies it",
            "per_round": [{"round": 1, "solver": "tree", "rows": rows_relaxed, "solve_s": solve_s,
                           "simplex_iterations": 0, "status": "optimal", "check_s": check_s,
                           "violated": 0, "max_violation": 0.0}]}
        return sol


class CGRevenueResult(RevenueResult):
    """A :class:`.revenue.RevenueResult` whose full Program is built on first use."""

    @property
    def program(self) -> Program:
        if getattr(self, "_program", None) is None:
            o = self.options
            self._program = revenue_program(self.env, o["participation"], o["disclosure"], o["objective"],
                                            o["fixed_allocation"], o["budget_balance"])
        return self._program

    @program.setter
    def program(self, value) -> None:
        self._program = value

    @property
    def cg(self) -> dict:
        """Rounds, rows generated and time per round (``solution.info["cg"]``)."""
        return self.solution.info.get("cg", {})

    def summary(self) -> list[str]:
        lines = super().summary()
        cg = self.cg
        if "ic_rows_generated" in cg:
            lines.append(f"constraint generation: {cg['rounds']} round{'s' * (cg['rounds'] != 1)}, "
                         f"{cg['ic_rows_generated']} of "
                         f"{cg['ic_rows_full']} IC rows generated; rounds (s): "
                         + ", ".join(f"{r['solve_s'] + r.get('check_s', 0):.3g}" for r in cg["per_round"]))
            if cg.get("tree"):
                lines.append(f"closed-form first round on the tree: {cg['tree']}")
        return lines
