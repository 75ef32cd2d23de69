r"""Constraint generation for the dynamic revenue program (SPEC §2, issue 9).

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
from typing import Any

import numpy as np
import scipy.sparse as sp

from dmd_opt.core.environment import Environment
from dmd_opt.core.errors import ModelError
from dmd_opt.optim.program import Program
from dmd_opt.optim.solution import BASIS_CODES, Solution
from dmd_opt.core import validation as V
from dmd_opt.families.revenue.program import RevenueResult, _completions, decode, revenue_program
from dmd_opt.families.revenue.local import not_applicable, solve_local
from dmd_opt.solvers.session import Session

INITIAL = ("adjacent_down", "adjacent", "none")
START = ("auto", "tree", "highs")
_CHUNK = 1 << 21          # states × reports × completions × types evaluated at once in the row check


# ---------------------------------------------------------------------------------------
# the value / IC rows of one (agent, period), for any subset of (s, θ, r)
# ---------------------------------------------------------------------------------------
class _Block:
    """Lazy access to agent ``i``'s value and IC rows at period ``t``.

    Holds the completion tables of :func:`.revenue._completions` (node, next
    state, weight per state × report × completion) — O(nodes), like the columns —
    and the offsets of this block's rows in the full program.
    """

    def __init__(self, env: Environment, lay, i: int, t: int, private: bool, value_off: int, ic_off: int):
        self.env, self.lay, self.i, self.t = env, lay, i, t
        self.n = env.n_types(i, t)
        self.node, self.nxt, self.w = _completions(lay.tree, i, t, private)
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
def solve_revenue_cg(env: Environment, participation: str = "interim", disclosure: str = "public",
                     objective: Any = "revenue", fixed_allocation: Any = None, budget_balance: bool = False,
                     backend: str = "highs", solver: str | None = None, options: dict | None = None,
                     verify: bool = True, basis: bool = False, initial: str | None = None,
                     tol: float = 1e-9, max_rounds: int = 200, warm: bool = True,
                     start: str = "auto") -> "CGRevenueResult":
    """Solve the revenue program of :func:`.revenue.revenue_program` by constraint generation.

    Same arguments as :func:`.revenue.solve_revenue`, plus

    initial : ``"adjacent_down" | "adjacent" | "none"`` — the IC rows of the first round
        (default: ``"adjacent_down"`` for LPs, ``"adjacent"`` for the quantity QP, whose
        relaxations with fewer rows HiGHS' QP solver can stall on).
    tol : a row is violated when its activity is below ``−tol × payoff scale``.
    max_rounds : give up (status ``iteration_limit``) after this many rounds.
    warm : ``True`` keeps one HiGHS model and appends rows (warm dual simplex);
        ``False`` re-solves each round from scratch (with presolve).
    start : ``"auto"`` solves the first (adjacent downward) relaxation on the tree in
        closed form (one agent, or several with public disclosure; allocations from a
        finite decision set; no budget rows) (:mod:`.revenue_local`) and stops there when
        the row check finds every row of the full program satisfied and the dual is
        feasible — no LP solver call; otherwise, and with ``"highs"``, the relaxation goes
        to HiGHS.  ``"tree"`` is ``"auto"`` that refuses programs outside the closed
        form's scope.  (With ``basis=True`` HiGHS is always used: the closed form has no basis.)

    The result's ``solution`` is a Solution of the *full* program (see the module
    docstring); ``solution.info["cg"]`` holds rounds, rows generated and the time
    of each round.  The full Program is built on first access to ``result.program``.
    """
    if backend != "highs":
        raise ModelError("backend", "constraint generation (method='cg') runs on HiGHS only")
    quantity = env.quantity is not None if isinstance(env, Environment) else False
    initial = ("adjacent" if quantity else "adjacent_down") if initial is None else initial
    V.choice(initial, "initial", INITIAL)
    V.choice(start, "start", START)
    tol = V.real(tol, "tol", lo=0)
    max_rounds = V.integer(max_rounds, "max_rounds", lo=1)
    opts = {"participation": participation, "disclosure": disclosure, "objective": objective,
            "fixed_allocation": fixed_allocation, "budget_balance": budget_balance,
            "backend": backend, "solver": solver, "method": "cg"}
    hopts = dict(options or {})
    scale = hopts.pop("cost_scale", "auto")
    if solver is not None:
        hopts.setdefault("solver", solver)
    if quantity:
        hopts.setdefault("qp_regularization_value", 1e-10)      # as solvers.highs does for QPs
        # HiGHS' QP solver can stall on a relaxation; bound a round, then fall back to the full QP
        hopts.setdefault("time_limit", 60.0)

    t0 = time.perf_counter()
    skel = revenue_program(env, participation, disclosure, objective, fixed_allocation, budget_balance,
                           value_ic_rows=False)
    lay = skel.meta["layout"]
    private = disclosure == "private" and lay.tree.N > 1
    blocks, off = [], 0
    for i in range(lay.tree.N):
        for t in range(lay.tree.T):
            b = _Block(env, lay, i, t, private, 0, 0)
            b.value_off, b.ic_off = off, off + b.n_value
            off += b.n_value + b.n_ic
            blocks.append(b)
    n_value_ic = off
    n_full = n_value_ic + skel.n_rows
    eps = tol * env.payoff_scale

    # ---- first round on the tree, in closed form -----------------------------------------
    tree_note = None
    if start != "highs":
        w_rev, w_wel = skel.meta["objective"]["revenue"], skel.meta["objective"]["welfare"]
        why = not_applicable(env, participation, disclosure, w_rev, budget_balance) or \
            ("a basis was requested" if basis else None) or \
            (f"the first round is initial={initial!r}" if initial != "adjacent_down" else None)
        if why is not None and start == "tree":
            raise ModelError("start", f"the closed-form tree solve does not apply: {why}")
        if why is None:
            res = _tree_round(env, skel, lay, blocks, participation, w_rev, w_wel, fixed_allocation is not None,
                              n_value_ic, n_full, eps, t0, opts, verify)
            if not isinstance(res, str):
                return res
            tree_note = res
        else:
            tree_note = f"not used: {why}"

    # relaxed program: skeleton rows, then every value row and the initial IC rows
    relaxed, n_skel = skel, skel.n_rows
    full_index = [n_value_ic + np.arange(skel.n_rows)]
    for b in blocks:
        S, n = b.S, b.n
        s = np.repeat(np.arange(S), n)
        th = np.tile(np.arange(n), S)
        r_, c_, v_ = b.coo(s, th, th)
        relaxed.add_constraints("value", S * n, r_, c_, v_, 0.0, 0.0, agent=b.i, period=b.t,
                                history=s, true_type=th, report=th)
        full_index.append(b.full_rows(s, th, th))
        pair = _initial_mask(env, b.i, b.t, n, initial)
        if pair.any():
            ths, rs = np.nonzero(pair)
            s = np.repeat(np.arange(S), len(ths))
            th, r = np.tile(ths, S), np.tile(rs, S)
            r_, c_, v_ = b.coo(s, th, r)
            relaxed.add_constraints("IC", len(s), r_, c_, v_, 0.0, np.inf, agent=b.i, period=b.t,
                                    history=s, true_type=th, report=r)
            b.present[:, ths, rs] = True
            full_index.append(b.full_rows(s, th, r))
    build = time.perf_counter() - t0

    rounds: list[dict] = []
    session = sol_rel = None
    status, words = "error", ""
    for rnd in range(max_rounds):
        tr = time.perf_counter()
        if session is None or not warm:
            session = Session(relaxed, options={**hopts, "cost_scale": scale})
        sol_rel = session.solve()
        status, words, x = sol_rel.status, sol_rel.solver_status, sol_rel.x
        ts = time.perf_counter()
        rec = {"round": rnd + 1, "solver": "highs", "rows": int(sum(len(f) for f in full_index)),
               "solve_s": ts - tr, "simplex_iterations": sol_rel.info.get("simplex_iterations", 0),
               "status": status}
        if status not in ("optimal", "inaccurate") or x is None:
            rec.update(check_s=0.0, violated=0, max_violation=None)
            rounds.append(rec)
            break
        # row check, block by block, chunk by chunk: violated ungenerated rows
        add, worst = _violated(blocks, x, eps)
        new_rows = sum(len(a[1]) for a in add)
        rec.update(check_s=time.perf_counter() - ts, violated=int(new_rows), max_violation=worst)
        rounds.append(rec)
        if not new_rows:
            break
        # append the violated rows
        ta = time.perf_counter()
        R, Cc, Vv, base = [], [], [], 0
        for b, s, th, r in add:
            r_, c_, v_ = b.coo(s, th, r)
            R.append(r_ + base)
            Cc.append(c_)
            Vv.append(v_)
            base += len(s)
            b.present[s, th, r] = True
            full_index.append(b.full_rows(s, th, r))
            if not warm:
                relaxed.add_constraints("IC", len(s), r_, c_, v_, 0.0, np.inf, agent=b.i, period=b.t,
                                        history=s, true_type=th, report=r)
        if warm:
            rows, cols, vals = np.concatenate(R), np.concatenate(Cc), np.concatenate(Vv)
            session.add_rows(sp.csr_matrix((vals, (rows, cols)), shape=(base, relaxed.n_vars)), 0.0, np.inf)
        rec["add_s"] = time.perf_counter() - ta
    else:
        status, words = "iteration_limit", f"constraint generation stopped after {max_rounds} rounds"

    # the Solution of the full program
    fidx = np.concatenate(full_index)
    sol = Solution(status, words, "highs", build_seconds=build,
                   solve_seconds=float(sum(r["solve_s"] for r in rounds)))
    if status in ("optimal", "inaccurate", "iteration_limit") and x is not None:
        sol.x = np.asarray(x, float)
        sol.row_activity = _full_activities(blocks, sol.x, n_full, n_value_ic, sol_rel.row_activity[:n_skel])
        sol.objective = relaxed.objective_value(sol.x)
        if sol_rel.row_dual is not None:
            y = np.zeros(n_full)
            y[fidx] = sol_rel.row_dual
            sol.row_dual, sol.col_dual = y, sol_rel.col_dual
        rel_basis = session.basis() if basis else None
        if rel_basis is not None:
            full_rs = np.full(n_full, BASIS_CODES["basic"], np.int8)
            full_rs[fidx] = rel_basis["row_status"]
            sol.basis = {"col_status": rel_basis["col_status"], "row_status": full_rs}
    else:
        # A relaxation that is infeasible proves the full program infeasible, but the Farkas
        # ray must be one of the full program: solve it once, in full.  The same for a round
        # the solver did not finish (time limit, error).
        return _fallback(env, opts, options, verify, basis, rounds, status)
    generated = int(sum(int(b.present.sum()) for b in blocks))
    sol.info["cg"] = {"rounds": len(rounds), "rows_full": int(n_full), "rows_final": int(len(fidx)),
                      "ic_rows_full": int(sum(b.n_ic for b in blocks)), "ic_rows_generated": generated,
                      "initial": initial, "warm": warm, "tol": eps, "per_round": rounds,
                      "first_round": "highs", "tree": tree_note}
    return _finish(env, relaxed, sol, status, words, opts, verify, t0, build)


def _finish(env, prog, sol, status, words, opts, verify, t0, build) -> "CGRevenueResult":
    """Decode, verify and wrap a Solution of the full program."""
    t2 = time.perf_counter()
    mech = ver = None
    if sol.x is not None and status in ("optimal", "inaccurate"):
        mech = decode(env, prog, sol)
    t3 = time.perf_counter()
    if mech is not None and verify:
        from dmd_opt.verify import verify as run_verify
        ver = run_verify(mech)
    t4 = time.perf_counter()
    timings = {"build": build, "solve": t2 - t0 - build, "decode": t3 - t2, "verify": t4 - t3,
               "solver_only": sol.solve_seconds}
    res = CGRevenueResult(status, words, sol.objective if mech is not None else None, env, None, sol, mech, ver,
                          opts, timings)
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


def _tree_round(env, skel, lay, blocks, participation, w_rev, w_wel, fixed, n_value_ic, n_full, eps, t0,
                opts, verify):
    """The closed-form first round (:mod:`.revenue_local`), accepted only when certified.

    Returns the result, or a string saying why the candidate was rejected (the caller
    then solves the relaxation with HiGHS).  Accepted means: every row of the full
    program holds within ``eps`` at the candidate (value rows as equalities, all IC rows,
    participation and lottery rows); the dual is feasible (all λ ≥ 0) and stationary
    (:math:`c - A^\top y = z` column by column, from :meth:`_Block.adjoint`); the reduced
    costs have the right sign at the columns' bounds; and every row with a nonzero dual
    binds — the LP optimality conditions of the full program.
    """
    build = time.perf_counter() - t0
    tr = time.perf_counter()
    fixed_x = None
    if fixed:
        xs = skel.block_slice("x")
        fixed_x = np.zeros(skel.n_vars)
        fixed_x[xs] = skel.col_lower[xs]
    loc = solve_local(env, lay, participation, w_rev, w_wel, skel.n_vars, fixed_x)
    ts = time.perf_counter()
    x = loc.x
    skel_act = skel.matrix() @ x
    act = _full_activities(blocks, x, n_full, n_value_ic, skel_act)
    lo, hi = skel.row_lower, skel.row_upper
    skel_bad = int(np.sum((skel_act < lo - eps) | (skel_act > hi + eps)))
    value_bad = ic_bad = 0
    for b in blocks:
        value_bad += int(np.sum(np.abs(act[b.value_off: b.value_off + b.n_value]) > eps))
        ic_bad += int(np.sum(act[b.ic_off: b.ic_off + b.n_ic] < -eps))
    if loc.min_lambda < -1e-12 * max(w_rev, 1.0):
        return (f"rejected: dual infeasible (a multiplier {loc.min_lambda:.3g} < 0: the transitions are not "
                f"stochastically ordered); solved by HiGHS")
    if skel_bad or value_bad or ic_bad:
        return (f"rejected: the closed-form relaxed optimum violates {ic_bad} IC, {value_bad} value and "
                f"{skel_bad} participation/lottery rows of the full program; solved by HiGHS")
    # the dual on the full program's rows, and A^T y block by block
    y = np.zeros(n_full)
    nv = skel.n_vars
    parts = {False: ([], []), True: ([], [])}
    for b in blocks:
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
        g = n_value_ic + cb.offset
        if cb.family in ("IR_interim", "IR_ex_ante") or (cb.family == "IR_periodic" and cb.labels["period"][0] == 0):
            yr = loc.y_root[int(cb.labels["agent"][0])]
            y[g: g + len(yr)] = yr
        elif cb.family == "lottery":
            y[g: g + cb.n_rows] = loc.y_lottery[int(cb.labels["period"][0])]
    # Certify before accepting: stationarity c − Aᵀy = z column by column (judged against the
    # size of each column's terms), z ≤ 0 at the allocation's zero columns and 0 elsewhere, and
    # every row with a nonzero dual binding.  Together with the row check above this is the
    # LP optimality proof that the certificate checker later re-does from the file.
    ys = y[n_value_ic:]
    Ms = skel.matrix()
    aty += Ms.T @ ys
    mag += abs(Ms).T @ np.abs(ys)
    c = skel.objective_vector()
    resid = np.abs(c - aty - loc.z)
    scale = np.abs(c) + mag
    bad_stat = int(np.sum(resid > 1e-9 * scale + 1e-13 * scale.max()))
    lb, ub = skel.col_lower, skel.col_upper
    fixed_col = lb == ub
    bad_sign = int(np.sum(~fixed_col & (((loc.z < 0) & (x > lb + eps)) | ((loc.z > 0) & (x < ub - eps)))))
    nz = y != 0
    slack = np.minimum(np.abs(act - np.r_[np.zeros(n_value_ic), lo]), np.abs(act - np.r_[np.zeros(n_value_ic), hi]))
    bad_cs = int(np.sum(nz & (slack > eps)))
    check = time.perf_counter() - ts
    if bad_stat or bad_sign or bad_cs:
        return (f"rejected: the closed-form dual does not certify the candidate ({bad_stat} stationarity, "
                f"{bad_sign} reduced-cost sign and {bad_cs} complementary-slackness failures); solved by HiGHS")
    sol = Solution("optimal", "optimal (closed-form local-IC relaxation on the tree; every row of the full "
                   "program and the dual checked)", "tree", build_seconds=build, solve_seconds=ts - tr)
    sol.x, sol.row_activity, sol.row_dual, sol.col_dual = x, act, y, loc.z
    sol.objective = skel.objective_value(x)
    n_adj = int(sum(b.S * (b.n - 1) for b in blocks))
    rows_relaxed = int(sum(b.n_value for b in blocks) + n_adj + skel.n_rows)
    sol.info["cg"] = {"rounds": 1, "rows_full": int(n_full), "rows_final": rows_relaxed,
                      "ic_rows_full": int(sum(b.n_ic for b in blocks)), "ic_rows_generated": n_adj,
                      "initial": "adjacent_down", "warm": False, "tol": eps, "first_round": "tree",
                      "tree": "accepted: the closed-form relaxed optimum satisfies every row and its dual certifies it",
                      "per_round": [{"round": 1, "solver": "tree", "rows": rows_relaxed, "solve_s": ts - tr,
                                     "simplex_iterations": 0, "status": "optimal", "check_s": check,
                                     "violated": 0, "max_violation": 0.0}]}
    return _finish(env, skel, sol, "optimal", sol.solver_status, opts, verify, t0, build)


def _fallback(env, opts, options, verify, basis, rounds, status):
    from dmd_opt.families.revenue.program import solve_revenue
    res = solve_revenue(env, opts["participation"], opts["disclosure"], opts["objective"], opts["fixed_allocation"],
                        opts["budget_balance"], backend="highs", solver=opts["solver"], options=options,
                        verify=verify, basis=basis)
    res.solution.info["cg"] = {"rounds": len(rounds), "per_round": rounds, "fallback":
                               f"relaxed program {status}; solved the full program instead"}
    res.options["method"] = "cg"
    return res


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
