r"""The general dynamic revenue program (docs/theory.md#revenue-maximisation): one LP/QP for static screening,
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

Sources: Courty & Li (2000) (the off-path one-shot rows are the double-deviation
constraints of sequential screening); Battaglini (2005); Myerson (1981)
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
from dmd_opt.core.display import fmt, result_html, result_repr
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
from dmd_opt.families.revenue.layout import Layout
from dmd_opt.families.revenue.stages import private_states, stage, stage_utility, truthful_state

PARTICIPATION = ("ex_ante", "interim", "periodic", "expost", "none")
IC_NOTIONS = ("bayesian", "expost")
DISCLOSURE = ("public", "private")
OPTIONS = ("participation", "disclosure", "objective", "fixed_allocation", "budget_balance",
           "backend", "solver", "options", "verify", "method", "ic", "money", "selection",
           "units", "reserve", "constraints", "payments",      # reduced form only
           "ic_rows", "border_chains", "implementation")        # reduced-form certificates only


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
                             "revenue programs require decision-independent transitions")
    if not env.independent and env.quantity is not None:
        raise ModelError("decisions.kind", "correlated types are supported with finite decisions "
                         "('allocate' or 'table'); discretise the quantities into a table")


def efficient_allocation(env: Environment, tree: HistoryTree | None = None) -> list[np.ndarray]:
    """The welfare-maximising allocation at every node, given the reports (ties: first decision).

    With decision-independent transitions the efficient policy is myopic:
    :math:`a^*_t = \\arg\\max_a \\sum_i u_{i,t}(a, r_{i,t}) - c_t(a)` — with utilities of the own
    report history where they read it — (or, for the
    quantity model, :math:`q_i = \\min(\\bar q, \\max(0, (\\theta_i - c_1)/c_2))`).
    """
    tree = tree or HistoryTree(env)
    out = []
    for t in range(tree.T):
        if env.quantity is not None:
            q = env.quantity
            vals = np.stack([_truthful_util(env, tree, i, t) for i in range(env.n_agents)], axis=1)
            if q.cost_quadratic > 0:
                out.append(np.clip((vals - q.cost_linear) / q.cost_quadratic, 0.0, q.qmax))
            else:
                out.append(np.where(vals > q.cost_linear, q.qmax, 0.0))
            continue
        S = -np.broadcast_to(env.cost(t), (tree.n_nodes(t), env.n_decisions(t))).copy()
        for i in range(env.n_agents):
            S += _truthful_util(env, tree, i, t)
        x = np.zeros_like(S)
        x[np.arange(S.shape[0]), np.argmax(S, axis=1)] = 1.0
        out.append(x)
    return out


# ---------------------------------------------------------------------------------------
# builder
# ---------------------------------------------------------------------------------------
def _check_options(env: Environment, participation: str, disclosure: str, ic: str, money: bool) -> None:
    V.choice(participation, "participation", PARTICIPATION)
    V.choice(disclosure, "disclosure", DISCLOSURE)
    V.choice(ic, "ic", IC_NOTIONS)
    if not isinstance(money, bool):
        raise ModelError("money", "expected true or false")
    multi_period = env.horizon is not None and env.horizon > 1
    if disclosure == "private" and env.n_agents > 1 and multi_period and not env.independent:
        raise ModelError("disclosure", "with correlated types an agent's beliefs follow the others' reports: "
                         "use disclosure = 'public' (or a one-period model)")
    if disclosure == "private" and env.n_agents > 1 and multi_period:
        if ic == "expost":
            raise ModelError("ic", "ex-post incentive compatibility is defined on public histories; "
                             "use disclosure = 'public' (or a one-period model)")
        if participation == "expost":
            raise ModelError("participation", "ex-post participation is defined on public histories; "
                             "use disclosure = 'public' (or a one-period model)")


def revenue_program(env: Environment, participation: str = "interim", disclosure: str = "public",
                    objective: Any = "revenue", fixed_allocation: Any = None,
                    budget_balance: bool = False, value_ic_rows: bool = True, ic: str = "bayesian",
                    money: bool = True) -> Program:
    """Build the labelled revenue program for ``env`` (module docstring; docs/theory.md#the-program).

    Parameters
    ----------
    participation : ``"ex_ante" | "interim" | "periodic" | "expost" | "none"``
    disclosure : ``"public" | "private"``
    objective : ``"revenue" | "welfare" | {"revenue": w1, "welfare": w2}``
    fixed_allocation : ``None``, ``"efficient"`` or a list of per-period arrays
        (K_t, |A_t|) (or (K_t, N) quantities): only payments are then free.
    budget_balance : impose :math:`\\sum_i p_i = 0` at every node (ex post).
    value_ic_rows : ``False`` leaves out the "value" and "IC" blocks (the skeleton that
        constraint generation, :mod:`.revenue_cg`, fills in lazily).
    ic : ``"bayesian"`` (rows "IC") or ``"expost"`` (rows "IC_expost": truth-telling is a
        best response to every realisation of the others' current reports).
    money : ``False`` fixes every payment at 0 (allocation without money).
    """
    _check_env(env)
    _check_options(env, participation, disclosure, ic, money)
    if not isinstance(budget_balance, bool):
        raise ModelError("budget_balance", "expected true or false")
    w_rev, w_wel = _objective_weights(objective)
    private = disclosure == "private"
    tree = HistoryTree(env)
    T, N, delta = tree.T, tree.N, env.discount
    quantity = env.quantity is not None

    width = [N if quantity else env.n_decisions(t) for t in range(T)]
    _check_size(env, tree, width, value_ic_rows, ic, participation)
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
    n_pay = sum(tree.n_nodes(t) * N for t in range(T))
    if money:
        pcols = prog.add_variables("p", n_pay, description="payment by agent at each node")
    else:
        pcols = prog.add_variables("p", n_pay, lb=0.0, ub=0.0,
                                   description="payment by agent at each node (fixed at 0: no money)")
    v_states = [[(tree.n_own_histories(i, t - 1) if private and N > 1 else tree.n_histories(t))
                 for t in range(T)] for i in range(N)]
    v_width = [[private_states(tree, i, t) for t in range(T)] for i in range(N)]
    v_sizes = [[v_states[i][t] * v_width[i][t] for t in range(T)] for i in range(N)]
    vcols = prog.add_variables("V", sum(map(sum, v_sizes)),
                               description="truthful continuation value by (agent, state, private state)")
    lay = Layout(tree, width, list(np.r_[0, np.cumsum(sizes_x)[:-1]]),
                  list(np.r_[0, np.cumsum([tree.n_nodes(t) * N for t in range(T)])[:-1]]),
                  [], v_states, int(xcols[0]), int(pcols[0]), int(vcols[0]), v_width)
    flat_v = np.r_[0, np.cumsum([s for row in v_sizes for s in row])]
    lay.v_off = [[int(flat_v[i * T + t]) for t in range(T)] for i in range(N)]

    for i in range(N if value_ic_rows else 0):
        for t in range(T):
            _add_ic_block(prog, env, lay, i, t, private, ic)
    _add_participation(prog, env, lay, participation, private)
    if fixed_allocation is None and not quantity:
        for t in range(T):
            K, A = tree.n_nodes(t), width[t]
            k = np.repeat(np.arange(K), A)
            prog.add_constraints("lottery", K, k, lay.X0 + lay.x_off[t] + np.arange(K * A), np.ones(K * A),
                                 1.0, 1.0, period=t, history=np.arange(K))
    if budget_balance and money:
        for t in range(T):
            K = tree.n_nodes(t)
            prog.add_constraints("budget", K, np.repeat(np.arange(K), N),
                                 lay.P0 + lay.p_off[t] + np.arange(K * N), np.ones(K * N), 0.0, 0.0,
                                 period=t, history=np.arange(K))
    c, q = _objective(env, lay, w_rev, w_wel, prog.n_vars)
    prog.set_objective(c, "max", q_diag=q)
    prog.meta.update({
        "program": "revenue", "participation": participation, "disclosure": disclosure, "ic": ic,
        "money": money,
        "objective": {"revenue": w_rev, "welfare": w_wel}, "budget_balance": budget_balance,
        "fixed_allocation": fixed_allocation is not None, "horizon": T, "discount": delta,
        "payoff_scale": env.payoff_scale, "layout": lay,
        "type_values": [[env.type_values(i, t) for t in range(T)] for i in range(N)],
        "history_kind": "own_history" if private and N > 1 else "public_history",
    })
    return prog


def _check_size(env: Environment, tree: HistoryTree, width: list[int], full: bool, ic: str,
                participation: str) -> None:
    """Refuse, before allocating, a program beyond the configured row / nonzero limits.

    The base estimate (:func:`dmd_opt.core.limits.revenue_program_size`) counts one private
    state per type; memory of earlier own types multiplies the value and IC rows by the
    number of remembered type combinations, and ex-post rows (one per realisation of the
    others' current types) hold the truthful and the deviating payoff: twice the nonzeros."""
    T = tree.T
    size = revenue_program_size(tree.R, [env.profile_shape(t) for t in range(T)], width, full=full)
    factor = max(private_states(tree, i, t) / env.n_types(i, t) for i in range(tree.N) for t in range(T))
    if ic == "expost" or participation == "expost":
        factor *= 2
    check_rows("horizon" if T > 1 else "agents", int(size["rows"] * factor), nonzeros=int(size["nonzeros"] * factor),
               what="the revenue program would have",
               alternative='use method = "cg" (constraint generation adds only the IC rows it needs), '
                           'fewer types or a shorter horizon' if full else 'fewer types or a shorter horizon')


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
        if env.quantity is not None and np.any(a < 0):
            raise ModelError(f"fixed_allocation[{t}]", "quantities must be non-negative")
        out.append(a)
    return out


def _payoff_terms(env: Environment, lay: Layout, i: int, t: int, st):
    r"""Agent i's ex-post continuation payoff :math:`E(s, z, r, c)` as linear terms.

    :math:`E = u_i(x(k), z) - p_i(k) + \delta\sum_{\theta'} q(\theta'\mid z, c)\,V_{i,t+1}(s', z'(z,\theta'))`
    at node :math:`k = \mathrm{node}(s, r, c)`.  Returns ``(cols, coef)`` pairs whose shapes
    broadcast to ``(S, Z, n, C, m)`` (m: decisions, 1, or next types).
    """
    N, delta = lay.tree.N, env.discount
    nd = st.node[:, None, :, :, None]                                             # (S,1,n,C,1)
    terms = []
    if env.quantity is not None:
        terms.append((lay.X0 + lay.x_off[t] + nd * N + i, np.asarray(st.util)[None, :, None, None, None]))
    else:
        A = lay.alloc_width[t]
        terms.append((lay.X0 + lay.x_off[t] + nd * A + np.arange(A), st.util.T[None, :, None, None, :]))
    terms.append((lay.P0 + lay.p_off[t] + nd * N + i, np.float64(-1.0)))
    if st.q is not None:
        Zn = lay.v_width[i][t + 1]
        cols = (lay.V0 + lay.v_off[i][t + 1] + st.nxt[:, None, :, :, None] * Zn
                + st.znext[None, :, None, None, :])                                 # (S,Z,n,C,n')
        terms.append((cols, delta * st.q[None, :, None, :, :]))
    return terms


def _add_ic_block(prog: Program, env: Environment, lay: Layout, i: int, t: int, private: bool,
                  ic: str = "bayesian") -> None:
    """The value rows and the IC (or IC_expost) rows of agent i at period t, as COO blocks."""
    tree = lay.tree
    st = stage(tree, i, t, private)
    S, C, n, Z = st.S, st.C, st.n, st.Z
    terms = _payoff_terms(env, lay, i, t, st)
    W = st.w[:, :, None, :, None]                                                  # (S|1,Z|1,1,C,1)
    full = (S, Z, n, C)
    base = ((np.arange(S)[:, None, None] * Z + np.arange(Z)[None, :, None]) * n
            + np.arange(n)[None, None, :])                                          # (S, Z, r)
    parts_r, parts_c, parts_v = [], [], []

    def emit(rows, cols, vals):
        rows, cols, vals = np.broadcast_arrays(rows, cols, vals)
        keep = vals != 0
        parts_r.append(rows[keep])
        parts_c.append(cols[keep])
        parts_v.append(vals[keep])

    # Bayesian rows (s, z, r):  V_t(s, z) − Σ_c w(s, z, c) E(s, z, r, c)
    emit(base, lay.V0 + lay.v_off[i][t] + (np.arange(S)[:, None, None] * Z + np.arange(Z)[None, :, None]), 1.0)
    for cols, coef in terms:
        m = cols.shape[-1]
        emit(np.broadcast_to(base[..., None, None], full + (m,)), cols, -W * coef)
    rows, cols, vals = (np.concatenate(a) for a in (parts_r, parts_c, parts_v))
    sz, rp = rows // n, rows % n
    th = st.ztype[sz % Z]
    eq = th == rp
    labels = dict(agent=i, period=t, history=np.repeat(np.arange(S), Z), true_type=np.tile(np.arange(Z), S))
    prog.add_constraints("value", S * Z, sz[eq], cols[eq], vals[eq], 0.0, 0.0,
                         report=np.tile(st.ztype, S), **labels)
    if n < 2:
        return
    devr = np.array([np.delete(np.arange(n), st.ztype[z]) for z in range(Z)]).reshape(Z, n - 1)
    if ic == "bayesian":
        ne = ~eq
        pos = rp - (rp > th)
        prog.add_constraints("IC", S * Z * (n - 1), (sz * (n - 1) + pos)[ne], cols[ne], vals[ne], 0.0, np.inf,
                             agent=i, period=t, history=np.repeat(np.arange(S), Z * (n - 1)),
                             true_type=np.tile(np.repeat(np.arange(Z), n - 1), S), report=np.tile(devr.ravel(), S))
        return
    # Ex-post rows (s, z, c, r ≠ θ(z)):  E(s, z, θ(z), c) − E(s, z, r, c) ≥ 0
    _add_expost_rows(prog, lay, i, t, st, terms, devr)


def _truthful_and_deviation(arr: np.ndarray, st, devr: np.ndarray):
    """(S, Z, n, C, m) → the truthful report's slice (S, Z, 1, C, m) and the others' (S, Z, n−1, C, m)."""
    Z = st.Z
    tru = np.take_along_axis(arr, st.ztype[None, :, None, None, None], axis=2)
    dev = arr[:, np.arange(Z)[:, None], devr]
    return tru, dev


def _add_expost_rows(prog: Program, lay: Layout, i: int, t: int, st, terms, devr: np.ndarray) -> None:
    S, C, n, Z = st.S, st.C, st.n, st.Z
    full = (S, Z, n, C)
    rid = ((np.arange(S)[:, None, None, None] * Z + np.arange(Z)[None, :, None, None]) * C
           + np.arange(C)[None, None, None, :]) * (n - 1) + np.arange(n - 1)[None, None, :, None]  # (S,Z,n−1,C)
    R, Cc, Vv = [], [], []
    for cols, coef in terms:
        m = cols.shape[-1]
        cf = np.broadcast_to(cols, full + (m,))
        vf = np.broadcast_to(coef, full + (m,))
        ct, cd = _truthful_and_deviation(cf, st, devr)
        vt, vd = _truthful_and_deviation(vf, st, devr)
        shape = (S, Z, n - 1, C, m)
        for c_, v_ in ((ct, vt), (cd, -vd)):
            r_, c_, v_ = np.broadcast_arrays(rid[..., None], np.broadcast_to(c_, shape), np.broadcast_to(v_, shape))
            keep = v_ != 0
            R.append(r_[keep])
            Cc.append(c_[keep])
            Vv.append(v_[keep])
    knode = st.node[:, st.ztype, :]                                                # (S, Z, C) truthful node
    prog.add_constraints("IC_expost", S * Z * C * (n - 1), np.concatenate(R), np.concatenate(Cc),
                         np.concatenate(Vv), 0.0, np.inf, agent=i, period=t,
                         history=np.broadcast_to(knode[:, :, None, :], (S, Z, n - 1, C)).ravel(),
                         true_type=np.broadcast_to(np.arange(Z)[None, :, None, None], (S, Z, n - 1, C)).ravel(),
                         report=np.broadcast_to(devr[None, :, :, None], (S, Z, n - 1, C)).ravel())


def _add_expost_participation(prog: Program, env: Environment, lay: Layout, i: int, private: bool) -> None:
    """Rows "IR_expost": E(s, z, θ(z), c) ≥ 0 at every information state, private state and
    realisation of the others' current types (periodic ex-post participation)."""
    tree = lay.tree
    for t in range(tree.T):
        st = stage(tree, i, t, private)
        S, C, Z = st.S, st.C, st.Z
        rid = (np.arange(S)[:, None, None] * Z + np.arange(Z)[None, :, None]) * C + np.arange(C)  # (S,Z,C)
        R, Cc, Vv = [], [], []
        for cols, coef in _payoff_terms(env, lay, i, t, st):
            m = cols.shape[-1]
            full = (S, Z, st.n, C, m)
            cf = np.take_along_axis(np.broadcast_to(cols, full), st.ztype[None, :, None, None, None], axis=2)[:, :, 0]
            vf = np.take_along_axis(np.broadcast_to(coef, full), st.ztype[None, :, None, None, None], axis=2)[:, :, 0]
            r_, c_, v_ = np.broadcast_arrays(rid[..., None], cf, vf)
            keep = v_ != 0
            R.append(r_[keep])
            Cc.append(c_[keep])
            Vv.append(v_[keep])
        knode = st.node[:, st.ztype, :]                                            # (S, Z, C)
        prog.add_constraints("IR_expost", S * Z * C, np.concatenate(R), np.concatenate(Cc), np.concatenate(Vv),
                             0.0, np.inf, agent=i, period=t, history=knode.ravel(),
                             true_type=np.broadcast_to(np.arange(Z)[None, :, None], (S, Z, C)).ravel())


def _add_participation(prog: Program, env: Environment, lay: Layout, participation: str,
                       private: bool = False) -> None:
    tree, N = lay.tree, lay.tree.N
    for i in range(N):
        if participation == "expost":
            _add_expost_participation(prog, env, lay, i, private)
            continue
        n0 = lay.v_width[i][0]
        root = lay.V0 + lay.v_off[i][0] + np.arange(n0)
        if participation == "ex_ante":
            prog.add_constraints("IR_ex_ante", 1, np.zeros(n0), root, env.agents[i].initial, 0.0, np.inf,
                                 agent=i, period=0, history=0)
        elif participation == "interim":
            prog.add_constraints("IR_interim", n0, np.arange(n0), root, np.ones(n0), 0.0, np.inf,
                                 agent=i, period=0, history=0, true_type=np.arange(n0))
        elif participation == "periodic":
            for t in range(tree.T):
                Z, S = lay.v_width[i][t], lay.v_states[i][t]
                m = S * Z
                prog.add_constraints("IR_periodic", m, np.arange(m), lay.V0 + lay.v_off[i][t] + np.arange(m),
                                     np.ones(m), 0.0, np.inf, agent=i, period=t,
                                     history=np.repeat(np.arange(S), Z), true_type=np.tile(np.arange(Z), S))


def _objective(env: Environment, lay: Layout, w_rev: float, w_wel: float, n_vars: int):
    tree, N, delta = lay.tree, lay.tree.N, env.discount
    num = tree.node_prob[0].dtype            # object when rebuilt in rationals (certificate checks)
    c = np.zeros(n_vars, num)
    q = np.zeros(n_vars, num) if env.quantity is not None else None
    for t in range(tree.T):
        pr = (delta ** t) * tree.node_prob[t]                                   # (K,)
        K = tree.n_nodes(t)
        xs = slice(lay.X0 + lay.x_off[t], lay.X0 + lay.x_off[t] + K * lay.alloc_width[t])
        ps = slice(lay.P0 + lay.p_off[t], lay.P0 + lay.p_off[t] + K * N)
        c[ps] += w_rev * np.repeat(pr, N)
        if env.quantity is not None:
            qm = env.quantity
            vals = np.stack([_truthful_util(env, tree, i, t) for i in range(N)], axis=1)   # (K, N)
            c[xs] += (-(w_rev + w_wel) * qm.cost_linear * pr[:, None]
                      + w_wel * vals * pr[:, None]).ravel()
            q[xs] += -(w_rev + w_wel) * qm.cost_quadratic * np.repeat(pr, N)
        else:
            gain = np.zeros((K, lay.alloc_width[t]), num)
            if w_wel:
                for i in range(N):
                    gain += w_wel * _truthful_util(env, tree, i, t)
            gain -= (w_rev + w_wel) * env.cost(t)[None, :]
            c[xs] += (pr[:, None] * gain).ravel()
    return c, q


def _truthful_util(env: Environment, tree: HistoryTree, i: int, t: int) -> np.ndarray:
    """Agent i's utility at every period-t node under truthful play: (K_t, |A_t|), or the
    unit values (K_t,) of the quantity family."""
    util = stage_utility(tree, i, t)
    z = truthful_state(tree, i, t)
    return util[z] if util.ndim == 1 else util[:, z].T


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
            Z = lay.v_width[i][t]
            s = lay.V0 + lay.v_off[i][t]
            vi.append(x[s: s + lay.v_states[i][t] * Z].reshape(-1, Z))
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
    selection: Any = None            # .selection.Selection: how the mechanism was chosen on the optimal face

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
                                                               "fixed_allocation", "budget_balance",
                                                               "ic", "money")}
        if path is not None:
            return certificates.write_certificate(path, self.program, self.solution, model=model, options=opts)
        return certificates.make_certificate(self.program, self.solution, model=model, options=opts)

    def to_frame(self):
        return self.mechanism.to_frame()

    def economics(self):
        """Virtual values and ironing, the dynamic virtual surplus (multipliers, handicaps,
        impulse responses, compared with the program's duals) and the interim reduced forms:
        a :class:`~dmd_opt.families.revenue.economics.Economics` (also readable as a mapping)."""
        if getattr(self, "_economics", None) is None:
            from dmd_opt.families.revenue.economics import result_economics
            self._economics = result_economics(self)
        return self._economics

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
        return verification_record(ver.max_regret, passed, notion=ver.notion, tolerance=tol, scale=ver.scale,
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
        if not self.env.independent:
            d["correlation"] = self.correlation()
        if self.selection is not None:
            d["selection"] = self.selection.to_dict()
        if self.mechanism is not None:
            d["economics"] = self.economics().to_dict()
        return result_record("revenue", self.status, self.objective, verification=self.verification_dict(),
                             mechanism=None if self.mechanism is None else self.mechanism.to_dict(),
                             options=_jsonable_opts(self.options), model={"name": self.env.name},
                             message="" if self.status == "optimal" else f"solver status: {self.solver_status}", **d)

    def correlation(self) -> dict:
        """Correlated types: each agent's first-period belief-matrix rank (the Crémer–McLean
        condition, :mod:`.correlation`), the expected efficient surplus and the gap to it."""
        from dmd_opt.families.revenue.correlation import rank_condition
        out = rank_condition(self.env)
        out["efficient_surplus"] = expected_efficient_surplus(self.env)
        out["extraction_gap"] = None if self.revenue is None else out["efficient_surplus"] - self.revenue
        return out

    def summary(self) -> list[str]:
        lines = [f"model: {self.env.name}  (N={self.env.n_agents}, T={self.env.horizon}, δ={self.env.discount:g})",
                 f"program: {self.program.n_rows} rows × {self.program.n_vars} columns; "
                 f"participation={self.options.get('participation')}, disclosure={self.options.get('disclosure')}, "
                 f"ic={self.options.get('ic', 'bayesian')}, objective={self.options.get('objective')}"
                 + ("" if self.options.get("money", True) else ", no money (payments fixed at 0)"),
                 f"status: {self.status} ({self.solver_status})"]
        if self.mechanism is None:
            return lines
        lines += [f"objective: {self.objective:.10g}", f"expected revenue: {self.revenue:.10g}",
                  f"expected welfare: {self.welfare:.10g}"]
        if not self.env.independent:
            c = self.correlation()
            ranks = ", ".join(f"{a['agent']} {a['belief_rank']} of {a['types']}" for a in c["agents"])
            lines.append(f"correlated types: belief-matrix ranks {ranks} (full row rank: "
                         f"{'yes' if c['full_row_rank'] else 'no'}); expected efficient surplus "
                         f"{c['efficient_surplus']:.10g}, gap to revenue {c['extraction_gap']:.6g}")
        if self.selection is not None:
            lines += self.selection.summary_lines()
        lines += self.economics().summary_lines()
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
        sc = ver.scale
        lines.append(f"verification: max IC regret {fmt(ver.max_regret, 3, sc)} (on path "
                     f"{fmt(ver.max_regret_on_path, 3, sc)}, ex ante {fmt(ver.ex_ante_regret, 3, sc)}); "
                     f"payoff scale {fmt(sc)}")
        if part in ("ex_ante", "interim", "periodic"):
            lines.append(f"verification: {part} IR violation {fmt(ver.ir_violation(part), 3, sc)}")
        if self.options.get("budget_balance"):
            lines.append(f"verification: budget max |Σ p| {fmt(ver.budget_max_imbalance, 3, sc)}")
        return lines


def _jsonable_opts(opts: dict) -> dict:
    return {k: (v if isinstance(v, (str, int, float, bool, dict, type(None))) else "<array>")
            for k, v in opts.items()}


def solve_revenue_full(env: Environment, participation: str = "interim", disclosure: str = "public",
                       objective: Any = "revenue", fixed_allocation: Any = None, budget_balance: bool = False,
                       backend: str = "highs", solver: str | None = None, options: dict | None = None,
                       verify: bool = True, basis: bool = False, ic: str = "bayesian",
                       money: bool = True) -> RevenueResult:
    """Build the whole revenue program, solve it on ``backend``, decode and (by default) verify.

    (:func:`dmd_opt.families.revenue.solve.solve_revenue` is the entry point that also
    offers constraint generation.)  The verifier checks the program's own notions:
    Bayesian or periodic ex-post IC, and the participation asked for.
    """
    opts = {"participation": participation, "disclosure": disclosure, "objective": objective,
            "fixed_allocation": fixed_allocation, "budget_balance": budget_balance,
            "backend": backend, "solver": solver, "ic": ic, "money": money}
    t0 = time.perf_counter()
    prog = revenue_program(env, participation, disclosure, objective, fixed_allocation, budget_balance,
                           ic=ic, money=money)
    t1 = time.perf_counter()
    sol = solve(prog, backend=backend, solver=solver, options=options, basis=basis)
    t2 = time.perf_counter()
    mech = ver = None
    if sol.x is not None and sol.status in ("optimal", "inaccurate"):
        mech = decode(env, prog, sol)
    t3 = time.perf_counter()
    if mech is not None and verify:
        ver = run_verify(mech, "periodic_expost" if ic == "expost" else "bayesian")
    t4 = time.perf_counter()
    timings = {"build": t1 - t0, "solve": t2 - t1, "decode": t3 - t2, "verify": t4 - t3,
               "solver_only": sol.solve_seconds}
    return RevenueResult(sol.status, sol.solver_status, sol.objective if mech is not None else None, env,
                         prog, sol, mech, ver, opts, timings)


def expected_efficient_surplus(env: Environment) -> float:
    r"""First-best expected discounted surplus, computed from per-period profile laws.

    Independent of the tree and the LP: with decision-independent transitions the
    period-t profile is distributed as the product of each agent's marginal
    :math:`\pi_i P_{i,0}\cdots P_{i,t-1}` (independent types) or as
    :math:`\pi\,\mu_0\cdots\mu_{t-1}` under a joint law; the first best takes the best
    decision profile by profile.
    """
    _check_env(env)
    if env.reads_own_history:
        return _tree_efficient_surplus(env)
    total = 0.0
    marg = [ag.initial for ag in env.agents]
    joint = None if env.independent else np.asarray(env.initial, float)
    for t in range(env.horizon):
        grids = np.meshgrid(*[np.arange(env.n_types(i, t)) for i in range(env.n_agents)], indexing="ij")
        if joint is None:
            prob = np.ones(grids[0].shape)
            for i, g in enumerate(grids):
                prob = prob * marg[i][g]
        else:
            prob = joint.reshape(grids[0].shape)
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
            if joint is None:
                marg = [marg[i] @ env.transition(i, t) for i in range(env.n_agents)]
            else:
                joint = joint @ env.kernel(t)[0]
    return total


def _tree_efficient_surplus(env: Environment) -> float:
    """The first best node by node on the history tree (utilities that read own type histories)."""
    tree = HistoryTree(env)
    x = efficient_allocation(env, tree)
    total = 0.0
    for t in range(tree.T):
        if env.quantity is not None:
            vals = np.stack([_truthful_util(env, tree, i, t) for i in range(env.n_agents)], axis=1)
            flow = (vals * x[t] - env.quantity.cost(x[t])).sum(axis=1)
        else:
            flow = (x[t] * (sum(_truthful_util(env, tree, i, t) for i in range(env.n_agents))
                            - env.cost(t)[None, :])).sum(axis=1)
        total += env.discount ** t * float(tree.node_prob[t] @ flow)
    return total
