r"""The general dynamic revenue program (SPEC §2): one LP/QP for static screening,
automated auction design, sequential screening and multi-period Markov screening.

For every agent :math:`i`, information state :math:`s` of i before its period-t
report (the public history :math:`h^t` under ``public`` disclosure, i's own
report history under ``private``), true type :math:`\theta` and report
:math:`r`, let

.. math::

    E_i(s,\theta,r) = \sum_c w(s,c)\Big[u_i(x(k),\theta) - p_i(k)
        + \delta\sum_{\theta'}P_{i,t}(\theta'\mid\theta)\,V_{i,t+1}(s'(k),\theta')\Big],
    \quad k = k(s,r,c),

where :math:`c` runs over what i does not control — the others' current types
(public; weights = beliefs from their last reports) or the others' whole
truthful histories (private; prior weights) — and :math:`k` is the resulting node.
The program has the rows (family names in quotes)

* ``"value"``: :math:`V_{i,t}(s,\theta) - E_i(s,\theta,\theta) = 0`,
* ``"IC"``: :math:`V_{i,t}(s,\theta) - E_i(s,\theta,r) \ge 0` for :math:`r\ne\theta`,

at *every* information state (including those reached only after a lie): by the
one-shot deviation principle with Markov types these are necessary and
sufficient for truthful reporting after every history.  Participation rows:
``"IR_ex_ante"`` :math:`\sum_\theta\pi_i(\theta)V_{i,0}(\varnothing,\theta)\ge0`,
``"IR_interim"`` :math:`V_{i,0}(\varnothing,\theta)\ge 0`, ``"IR_periodic"``
:math:`V_{i,t}(s,\theta)\ge0`.  Optional ``"budget"`` rows
:math:`\sum_i p_i(k)=0` and the ``"lottery"`` rows :math:`\sum_a x_a(k)=1`.
The objective is expected discounted revenue :math:`\sum_t\delta^t E[\sum_i p_i - c_t(x)]`,
welfare, or a weighted sum; with quadratic cost (quantity model) it is a concave QP.

Sources: Courty & Li (2000) and seed 004 (Lemma 12.3: the off-path one-shot
rows are the double-deviation constraints); Battaglini (2005); Myerson (1981)
and automated mechanism design (Conitzer–Sandholm) for T = 1.

Rows are assembled per (agent, period) as whole COO blocks with numpy
broadcasting; nothing is created per constraint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dmd_opt.core.environment import Environment
from dmd_opt.core.display import result_html, result_repr
from dmd_opt.core.errors import ModelError
from dmd_opt.core.record import result_record, verification_record
from dmd_opt.core.limits import check_rows, revenue_program_size
from dmd_opt.mechanisms.tree import TreeMechanism
from dmd_opt.optim.program import Program
from dmd_opt.optim.solution import Solution
from dmd_opt.solvers import solve
from dmd_opt.verify import verify as run_verify
from dmd_opt.core.tree import HistoryTree
from dmd_opt.core import validation as V
from dmd_opt.families.revenue.layout import Layout, completions

PARTICIPATION = ("ex_ante", "interim", "periodic", "none")
DISCLOSURE = ("public", "private")
OPTIONS = ("participation", "disclosure", "objective", "fixed_allocation", "budget_balance",
           "backend", "solver", "options", "verify", "method")


# ---------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------
def _objective_weights(objective) -> tuple[float, float]:
    if isinstance(objective, str):
        V.choice(objective, "objective", ("revenue", "welfare"))
        return (1.0, 0.0) if objective == "revenue" else (0.0, 1.0)
    if isinstance(objective, dict):
        V.mapping(objective, "objective", optional=("revenue", "welfare"))
        w = (V.real(objective.get("revenue", 0.0), "objective.revenue", lo=0),
             V.real(objective.get("welfare", 0.0), "objective.welfare", lo=0))
        if w == (0.0, 0.0):
            raise ModelError("objective", "weights must not both be 0")
        return w
    raise ModelError("objective", "expected 'revenue', 'welfare' or a table {revenue = w1, welfare = w2}")


def _check_env(env: Environment) -> None:
    if not isinstance(env, Environment):
        raise ModelError("env", f"expected an Environment, got {type(env).__name__}")
    if env.horizon is None:
        raise ModelError("horizon", "the revenue program needs a finite horizon")
    for i, ag in enumerate(env.agents):
        if any(P.ndim == 3 for P in ag.transitions):
            raise ModelError(f"agents[{i}].transition_by_decision",
                             "revenue programs require decision-independent transitions (SPEC §2)")


def efficient_allocation(env: Environment, tree: HistoryTree | None = None) -> list[np.ndarray]:
    """The welfare-maximising allocation at every node, given the reports (ties: first decision).

    With decision-independent transitions the efficient policy is myopic:
    :math:`a^*_t = \\arg\\max_a \\sum_i u_{i,t}(a, r_{i,t}) - c_t(a)` (or, for the
    quantity model, :math:`q_i = \\min(\\bar q, \\max(0, (\\theta_i - c_1)/c_2))`).
    """
    tree = tree or HistoryTree(env)
    out = []
    for t in range(tree.T):
        last = tree.last_reports(t)
        if env.quantity is not None:
            q = env.quantity
            vals = np.stack([env.type_values(i, t)[last[:, i]] for i in range(env.n_agents)], axis=1)
            if q.cost_quadratic > 0:
                out.append(np.clip((vals - q.cost_linear) / q.cost_quadratic, 0.0, q.qmax))
            else:
                out.append(np.where(vals > q.cost_linear, q.qmax, 0.0))
            continue
        S = -np.broadcast_to(env.cost(t), (tree.n_nodes(t), env.n_decisions(t))).copy()
        for i in range(env.n_agents):
            S += env.utility(i, t)[:, last[:, i]].T
        x = np.zeros_like(S)
        x[np.arange(S.shape[0]), np.argmax(S, axis=1)] = 1.0
        out.append(x)
    return out


# ---------------------------------------------------------------------------------------
# builder
# ---------------------------------------------------------------------------------------
def revenue_program(env: Environment, participation: str = "interim", disclosure: str = "public",
                    objective: Any = "revenue", fixed_allocation: Any = None,
                    budget_balance: bool = False, value_ic_rows: bool = True) -> Program:
    """Build the labelled revenue program of SPEC §2 for ``env`` (see module docstring).

    Parameters
    ----------
    participation : ``"ex_ante" | "interim" | "periodic" | "none"``
    disclosure : ``"public" | "private"``
    objective : ``"revenue" | "welfare" | {"revenue": w1, "welfare": w2}``
    fixed_allocation : ``None``, ``"efficient"`` or a list of per-period arrays
        (K_t, |A_t|) (or (K_t, N) quantities): only payments are then free.
    budget_balance : impose :math:`\\sum_i p_i = 0` at every node (ex post).
    value_ic_rows : ``False`` leaves out the "value" and "IC" blocks (the skeleton that
        constraint generation, :mod:`.revenue_cg`, fills in lazily).
    """
    _check_env(env)
    V.choice(participation, "participation", PARTICIPATION)
    V.choice(disclosure, "disclosure", DISCLOSURE)
    if not isinstance(budget_balance, bool):
        raise ModelError("budget_balance", "expected true or false")
    w_rev, w_wel = _objective_weights(objective)
    private = disclosure == "private"
    tree = HistoryTree(env)
    T, N, delta = tree.T, tree.N, env.discount
    quantity = env.quantity is not None

    width = [N if quantity else env.n_decisions(t) for t in range(T)]
    size = revenue_program_size(tree.R, [env.profile_shape(t) for t in range(T)], width, full=value_ic_rows)
    check_rows("horizon" if T > 1 else "agents", size["rows"], nonzeros=size["nonzeros"],
               what="the revenue program would have",
               alternative='use method = "cg" (constraint generation adds only the IC rows it needs), '
                           'fewer types or a shorter horizon' if value_ic_rows else 'fewer types or a shorter horizon')
    prog = Program(name=f"revenue[{env.name}]", sense="max")
    sizes_x = [tree.n_nodes(t) * width[t] for t in range(T)]
    if fixed_allocation is not None:
        fixed = _fixed_allocation(env, tree, fixed_allocation, width)
        flat = np.concatenate([f.ravel() for f in fixed])
        xcols = prog.add_variables("q" if quantity else "x", sum(sizes_x), lb=flat, ub=flat)
    else:
        ub = env.quantity.qmax if quantity else 1.0
        xcols = prog.add_variables("q" if quantity else "x", sum(sizes_x), lb=0.0, ub=ub,
                                   description="allocation by node (lottery weights or quantities)")
    pcols = prog.add_variables("p", sum(tree.n_nodes(t) * N for t in range(T)),
                               description="payment by agent at each node")
    v_states = [[(tree.n_own_histories(i, t - 1) if private and N > 1 else tree.n_histories(t))
                 for t in range(T)] for i in range(N)]
    v_sizes = [[v_states[i][t] * env.n_types(i, t) for t in range(T)] for i in range(N)]
    vcols = prog.add_variables("V", sum(map(sum, v_sizes)),
                               description="truthful continuation value by (agent, state, true type)")
    lay = Layout(tree, width, list(np.r_[0, np.cumsum(sizes_x)[:-1]]),
                  list(np.r_[0, np.cumsum([tree.n_nodes(t) * N for t in range(T)])[:-1]]),
                  [], v_states, int(xcols[0]), int(pcols[0]), int(vcols[0]))
    flat_v = np.r_[0, np.cumsum([s for row in v_sizes for s in row])]
    lay.v_off = [[int(flat_v[i * T + t]) for t in range(T)] for i in range(N)]

    for i in range(N if value_ic_rows else 0):
        for t in range(T):
            _add_ic_block(prog, env, lay, i, t, private)
    _add_participation(prog, env, lay, participation)
    if fixed_allocation is None and not quantity:
        for t in range(T):
            K, A = tree.n_nodes(t), width[t]
            k = np.repeat(np.arange(K), A)
            prog.add_constraints("lottery", K, k, lay.X0 + lay.x_off[t] + np.arange(K * A), np.ones(K * A),
                                 1.0, 1.0, period=t, history=np.arange(K))
    if budget_balance:
        for t in range(T):
            K = tree.n_nodes(t)
            prog.add_constraints("budget", K, np.repeat(np.arange(K), N),
                                 lay.P0 + lay.p_off[t] + np.arange(K * N), np.ones(K * N), 0.0, 0.0,
                                 period=t, history=np.arange(K))
    c, q = _objective(env, lay, w_rev, w_wel, prog.n_vars)
    prog.set_objective(c, "max", q_diag=q)
    prog.meta.update({
        "program": "revenue", "participation": participation, "disclosure": disclosure,
        "objective": {"revenue": w_rev, "welfare": w_wel}, "budget_balance": budget_balance,
        "fixed_allocation": fixed_allocation is not None, "horizon": T, "discount": delta,
        "payoff_scale": env.payoff_scale, "layout": lay,
        "type_values": [[env.type_values(i, t) for t in range(T)] for i in range(N)],
        "history_kind": "own_history" if private and N > 1 else "public_history",
    })
    return prog


def _fixed_allocation(env, tree, spec, width) -> list[np.ndarray]:
    if isinstance(spec, str):
        V.choice(spec, "fixed_allocation", ("efficient",))
        return efficient_allocation(env, tree)
    seq = V.sequence(spec, "fixed_allocation")
    if len(seq) != tree.T:
        raise ModelError("fixed_allocation", f"expected {tree.T} per-period arrays, got {len(seq)}")
    out = []
    for t, a in enumerate(seq):
        a = V.array(a, f"fixed_allocation[{t}]", shape=(tree.n_nodes(t), width[t]))
        if env.quantity is None and (np.any(a < -1e-12) or np.any(np.abs(a.sum(axis=1) - 1) > 1e-9)):
            raise ModelError(f"fixed_allocation[{t}]", "rows must be lotteries (non-negative, summing to 1)")
        out.append(a)
    return out


def _add_ic_block(prog: Program, env: Environment, lay: Layout, i: int, t: int, private: bool) -> None:
    """The value and IC rows of agent i at period t, as two COO blocks."""
    tree, T, N, delta = lay.tree, lay.tree.T, lay.tree.N, env.discount
    n = env.n_types(i, t)
    node, nxt, w = completions(tree, i, t, private)
    S, C = w.shape
    base_row = ((np.arange(S)[:, None, None] * n + np.arange(n)[None, :, None]) * n
                + np.arange(n)[None, None, :])                                   # (S, θ, r)
    parts_r, parts_c, parts_v = [], [], []

    def emit(rows, cols, vals):
        rows, cols, vals = np.broadcast_arrays(rows, cols, vals)
        keep = vals != 0
        parts_r.append(rows[keep])
        parts_c.append(cols[keep])
        parts_v.append(vals[keep])

    # +V_{i,t}(s, θ)
    emit(base_row, lay.V0 + lay.v_off[i][t] + (np.arange(S)[:, None, None] * n + np.arange(n)[None, :, None]),
         1.0)
    W = w[:, None, None, :]                                                     # (S,1,1,C)
    nd = node[:, None, :, :]                                                    # (S,1,r,C)
    R4 = base_row[:, :, :, None]
    # −w · u_i(x(k), θ)
    if env.quantity is not None:
        v = env.type_values(i, t)[None, :, None, None]
        emit(R4, lay.X0 + lay.x_off[t] + nd * N + i, -W * v)
    else:
        A = lay.alloc_width[t]
        u = env.utility(i, t)                                                   # (A, n)
        emit(R4[..., None], lay.X0 + lay.x_off[t] + nd[..., None] * A + np.arange(A),
             -W[..., None] * u.T[None, :, None, None, :])
    # +w · p_i(k)
    emit(R4, lay.P0 + lay.p_off[t] + nd * N + i, W)
    # −δ w Σ_θ' P(θ'|θ) V_{i,t+1}(s', θ')
    if t < T - 1:
        P = env.transition(i, t)
        n2 = P.shape[1]
        emit(R4[..., None], lay.V0 + lay.v_off[i][t + 1] + nxt[:, None, :, :, None] * n2 + np.arange(n2),
             -delta * W[..., None] * P[None, :, None, None, :])
    rows = np.concatenate(parts_r)
    cols = np.concatenate(parts_c)
    vals = np.concatenate(parts_v)
    # Split rows into the value equalities (r == θ) and the IC inequalities (r ≠ θ).
    th = (rows // n) % n
    rp = rows % n
    eq = th == rp
    s_idx = rows // (n * n)
    # value rows: local index s*n + θ
    prog.add_constraints("value", S * n, (s_idx * n + th)[eq], cols[eq], vals[eq], 0.0, 0.0,
                         agent=i, period=t, history=np.repeat(np.arange(S), n),
                         true_type=np.tile(np.arange(n), S), report=np.tile(np.arange(n), S))
    if n > 1:
        # IC rows: local index (s*n + θ)*(n-1) + position of r among reports ≠ θ
        pos = rp - (rp > th)
        ne = ~eq
        s_all = np.repeat(np.arange(S), n * (n - 1))
        th_all = np.tile(np.repeat(np.arange(n), n - 1), S)
        r_all = np.tile(np.concatenate([np.delete(np.arange(n), k) for k in range(n)]), S)
        prog.add_constraints("IC", S * n * (n - 1), ((s_idx * n + th) * (n - 1) + pos)[ne], cols[ne], vals[ne],
                             0.0, np.inf, agent=i, period=t, history=s_all, true_type=th_all, report=r_all)


def _add_participation(prog: Program, env: Environment, lay: Layout, participation: str) -> None:
    tree, N = lay.tree, lay.tree.N
    for i in range(N):
        n0 = env.n_types(i, 0)
        root = lay.V0 + lay.v_off[i][0] + np.arange(n0)
        if participation == "ex_ante":
            prog.add_constraints("IR_ex_ante", 1, np.zeros(n0), root, env.agents[i].initial, 0.0, np.inf,
                                 agent=i, period=0, history=0)
        elif participation == "interim":
            prog.add_constraints("IR_interim", n0, np.arange(n0), root, np.ones(n0), 0.0, np.inf,
                                 agent=i, period=0, history=0, true_type=np.arange(n0))
        elif participation == "periodic":
            for t in range(tree.T):
                n, S = env.n_types(i, t), lay.v_states[i][t]
                m = S * n
                prog.add_constraints("IR_periodic", m, np.arange(m), lay.V0 + lay.v_off[i][t] + np.arange(m),
                                     np.ones(m), 0.0, np.inf, agent=i, period=t,
                                     history=np.repeat(np.arange(S), n), true_type=np.tile(np.arange(n), S))


def _objective(env: Environment, lay: Layout, w_rev: float, w_wel: float, n_vars: int):
    tree, N, delta = lay.tree, lay.tree.N, env.discount
    c = np.zeros(n_vars)
    q = np.zeros(n_vars) if env.quantity is not None else None
    for t in range(tree.T):
        pr = (delta ** t) * tree.node_prob[t]                                   # (K,)
        K = tree.n_nodes(t)
        xs = slice(lay.X0 + lay.x_off[t], lay.X0 + lay.x_off[t] + K * lay.alloc_width[t])
        ps = slice(lay.P0 + lay.p_off[t], lay.P0 + lay.p_off[t] + K * N)
        c[ps] += w_rev * np.repeat(pr, N)
        last = tree.last_reports(t)
        if env.quantity is not None:
            qm = env.quantity
            vals = np.stack([env.type_values(i, t)[last[:, i]] for i in range(N)], axis=1)   # (K, N)
            c[xs] += (-(w_rev + w_wel) * qm.cost_linear * pr[:, None]
                      + w_wel * vals * pr[:, None]).ravel()
            q[xs] += -(w_rev + w_wel) * qm.cost_quadratic * np.repeat(pr, N)
        else:
            gain = np.zeros((K, lay.alloc_width[t]))
            if w_wel:
                for i in range(N):
                    gain += w_wel * env.utility(i, t)[:, last[:, i]].T
            gain -= (w_rev + w_wel) * env.cost(t)[None, :]
            c[xs] += (pr[:, None] * gain).ravel()
    return c, q


# ---------------------------------------------------------------------------------------
# decoding and the result object
# ---------------------------------------------------------------------------------------
def decode(env: Environment, prog: Program, sol: Solution) -> TreeMechanism:
    """Turn a solution of :func:`revenue_program` into a :class:`TreeMechanism`."""
    lay: Layout = prog.meta["layout"]
    tree, N, T = lay.tree, lay.tree.N, lay.tree.T
    x = sol.x
    alloc, pay, vals = [], [], []
    for t in range(T):
        K = tree.n_nodes(t)
        a = x[lay.X0 + lay.x_off[t]: lay.X0 + lay.x_off[t] + K * lay.alloc_width[t]].reshape(K, -1)
        if env.quantity is None:
            a = np.clip(a, 0.0, 1.0)
        alloc.append(a)
        pay.append(x[lay.P0 + lay.p_off[t]: lay.P0 + lay.p_off[t] + K * N].reshape(K, N))
    for i in range(N):
        vi = []
        for t in range(T):
            n = env.n_types(i, t)
            s = lay.V0 + lay.v_off[i][t]
            vi.append(x[s: s + lay.v_states[i][t] * n].reshape(-1, n))
        vals.append(vi)
    return TreeMechanism(env, alloc, pay, disclosure=prog.meta["disclosure"],
                         name=f"optimal ({prog.meta['participation']}, {prog.meta['disclosure']})",
                         values=vals, meta={"program": "revenue"})


@dataclass
class RevenueResult:
    """Result of :func:`solve_revenue`: status, objective, mechanism, verification, timings."""

    __repr__ = result_repr
    _repr_html_ = result_html

    status: str
    solver_status: str
    objective: float | None
    env: Environment
    program: Program
    solution: Solution
    mechanism: TreeMechanism | None
    verification: Any
    options: dict
    timings: dict = field(default_factory=dict)

    @property
    def revenue(self) -> float | None:
        return None if self.mechanism is None else self.mechanism.revenue()

    @property
    def welfare(self) -> float | None:
        return None if self.mechanism is None else self.mechanism.welfare()

    def audit(self, **kw):
        from dmd_opt.audit.binding import audit
        return audit(self.program, self.solution, **kw)

    def certificate(self, path=None, model=None):
        """The solver-independent certificate (written atomically to ``path`` if given)."""
        from dmd_opt import certificates
        opts = {k: v for k, v in self.options.items() if k in ("participation", "disclosure", "objective",
                                                               "fixed_allocation", "budget_balance")}
        if path is not None:
            return certificates.write_certificate(path, self.program, self.solution, model=model, options=opts)
        return certificates.make_certificate(self.program, self.solution, model=model, options=opts)

    def to_frame(self):
        return self.mechanism.to_frame()

    def binding_count(self, tol: float = 1e-7) -> dict:
        """Number of binding IC / IR rows (slack ≤ tol × payoff scale)."""
        if self.solution.row_activity is None:
            return {}
        fam = self.program.row_families()
        lo = self.program.row_lower
        slack = self.solution.row_activity - lo
        eps = tol * self.env.payoff_scale
        out = {}
        for f in ("IC", "IR_ex_ante", "IR_interim", "IR_periodic"):
            m = fam == f
            if m.any():
                out[f] = int(np.sum(slack[m] <= eps))
        return out

    def verification_dict(self, tol: float = 1e-7) -> dict | None:
        """The record's ``verification`` (:func:`dmd_opt.core.record.verification_record`):
        the Bayesian verifier's regrets and the verdict at relative tolerance ``tol`` for the
        result's participation notion (and budget balance, when imposed)."""
        ver = self.verification
        if ver is None:
            return None
        part = self.options.get("participation")
        passed = ver.passed(None if part == "none" else part, tol=tol,
                            budget_balance=bool(self.options.get("budget_balance")))
        details = {k: v for k, v in ver.to_dict().items() if k not in ("max_regret", "scale")}
        return verification_record(ver.max_regret, passed, notion="bayesian", tolerance=tol, scale=ver.scale,
                                   participation=part, **details)

    def to_dict(self) -> dict:
        """The result record (``docs/result.schema.json``) of kind ``revenue``."""
        d = {"solver_status": self.solver_status, "revenue": self.revenue, "welfare": self.welfare,
             "program": self.program.summary(), "timings": self.timings,
             "environment": {"name": self.env.name, "agents": self.env.n_agents, "horizon": self.env.horizon,
                             "discount": self.env.discount}}
        if self.mechanism is not None and self.verification is not None:
            d["rents_by_initial_type"] = [a.root_values.tolist() for a in self.verification.agents]
            d["binding"] = self.binding_count()
        return result_record("revenue", self.status, self.objective, verification=self.verification_dict(),
                             mechanism=None if self.mechanism is None else self.mechanism.to_dict(),
                             options=_jsonable_opts(self.options), model={"name": self.env.name},
                             message="" if self.status == "optimal" else f"solver status: {self.solver_status}", **d)

    def summary(self) -> list[str]:
        lines = [f"model: {self.env.name}  (N={self.env.n_agents}, T={self.env.horizon}, δ={self.env.discount:g})",
                 f"program: {self.program.n_rows} rows × {self.program.n_vars} columns; "
                 f"participation={self.options.get('participation')}, disclosure={self.options.get('disclosure')}, "
                 f"objective={self.options.get('objective')}",
                 f"status: {self.status} ({self.solver_status})"]
        if self.mechanism is None:
            return lines
        lines += [f"objective: {self.objective:.10g}", f"expected revenue: {self.revenue:.10g}",
                  f"expected welfare: {self.welfare:.10g}"]
        clean = (lambda v: 0.0 if abs(v) < 1e-12 * self.env.payoff_scale else v)
        for i, a in enumerate(self.verification.agents):
            rents = ", ".join(f"{lab}: {clean(v):.6g}" for lab, v in zip(self.env.type_labels(i, 0), a.root_values))
            lines.append(f"rents of {a.name} by initial type: {rents}")
        for t, xa in enumerate(self.mechanism.allocation_by_period()):
            names = self.mechanism.decision_names(t)
            lines.append(f"period {t + 1} expected allocation: "
                         + ", ".join(f"{nm}={clean(v):.6g}" for nm, v in zip(names, xa)))
        fam = self.program.row_families()
        bc = self.binding_count()
        lines.append("binding rows: " + ", ".join(f"{k} {v} of {int(np.sum(fam == k))}" for k, v in bc.items()))
        ver = self.verification
        part = self.options.get("participation")
        lines.append(f"verification: max IC regret {ver.max_regret:.3g} (on path {ver.max_regret_on_path:.3g}, "
                     f"ex ante {ver.ex_ante_regret:.3g}); payoff scale {ver.scale:g}")
        if part in ("ex_ante", "interim", "periodic"):
            lines.append(f"verification: {part} IR violation {ver.ir_violation(part):.3g}")
        if self.options.get("budget_balance"):
            lines.append(f"verification: budget max |Σ p| {ver.budget_max_imbalance:.3g}")
        return lines


def _jsonable_opts(opts: dict) -> dict:
    return {k: (v if isinstance(v, (str, int, float, bool, dict, type(None))) else "<array>")
            for k, v in opts.items()}


def solve_revenue_full(env: Environment, participation: str = "interim", disclosure: str = "public",
                       objective: Any = "revenue", fixed_allocation: Any = None, budget_balance: bool = False,
                       backend: str = "highs", solver: str | None = None, options: dict | None = None,
                       verify: bool = True, basis: bool = False) -> RevenueResult:
    """Build the whole revenue program, solve it on ``backend``, decode and (by default) verify.

    (:func:`dmd_opt.families.revenue.solve.solve_revenue` is the entry point that also
    offers constraint generation.)
    """
    opts = {"participation": participation, "disclosure": disclosure, "objective": objective,
            "fixed_allocation": fixed_allocation, "budget_balance": budget_balance,
            "backend": backend, "solver": solver}
    t0 = time.perf_counter()
    prog = revenue_program(env, participation, disclosure, objective, fixed_allocation, budget_balance)
    t1 = time.perf_counter()
    sol = solve(prog, backend=backend, solver=solver, options=options, basis=basis)
    t2 = time.perf_counter()
    mech = ver = None
    if sol.x is not None and sol.status in ("optimal", "inaccurate"):
        mech = decode(env, prog, sol)
    t3 = time.perf_counter()
    if mech is not None and verify:
        ver = run_verify(mech)
    t4 = time.perf_counter()
    timings = {"build": t1 - t0, "solve": t2 - t1, "decode": t3 - t2, "verify": t4 - t3,
               "solver_only": sol.solve_seconds}
    return RevenueResult(sol.status, sol.solver_status, sol.objective if mech is not None else None, env,
                         prog, sol, mech, ver, opts, timings)


def expected_efficient_surplus(env: Environment) -> float:
    """First-best expected discounted surplus, computed from per-period type marginals.

    Independent of the tree and the LP: with independent types and
    decision-independent transitions, period-t profiles are distributed as the
    product of each agent's marginal :math:`\\pi_i P_{i,0}\\cdots P_{i,t-1}`.
    """
    _check_env(env)
    total = 0.0
    marg = [ag.initial for ag in env.agents]
    for t in range(env.horizon):
        grids = np.meshgrid(*[np.arange(env.n_types(i, t)) for i in range(env.n_agents)], indexing="ij")
        prob = np.ones(grids[0].shape)
        for i, g in enumerate(grids):
            prob = prob * marg[i][g]
        if env.quantity is not None:
            q = env.quantity
            best = np.zeros(grids[0].shape)
            for i, g in enumerate(grids):
                v = env.type_values(i, t)[g]
                qi = np.clip((v - q.cost_linear) / q.cost_quadratic, 0, q.qmax) if q.cost_quadratic > 0 \
                    else np.where(v > q.cost_linear, q.qmax, 0.0)
                best = best + v * qi - q.cost(qi)
        else:
            surplus = -env.cost(t).reshape((-1,) + (1,) * env.n_agents)
            for i, g in enumerate(grids):
                surplus = surplus + env.utility(i, t)[:, g]
            best = surplus.max(axis=0)
        total += env.discount ** t * float((prob * best).sum())
        if t < env.horizon - 1:
            marg = [marg[i] @ env.transition(i, t) for i in range(env.n_agents)]
    return total
