r"""The local-IC relaxation of the revenue program, solved on the tree in closed form.

Constraint generation (:mod:`.revenue_cg`) starts from the *relaxed* program:
the "value" rows, participation, lotteries, and only the adjacent downward IC
rows (type :math:`\theta_{k+1}` reporting :math:`\theta_k`, types sorted by value).
This relaxation needs no LP solver.  Payments :math:`p` and
values :math:`V` are free columns, so their stationarity conditions fix the
dual of every relaxed row, period by period from the root, and the allocation
then maximises a *virtual surplus* node by node — the discrete first-order
approach of Battaglini (2005, §3) and Pavan, Segal & Toikka (2014, §3), here
with its multipliers written out so that they form an LP dual.

**Dual (forward in t).**  Write the program's duals in the package convention
(:math:`y=\partial\,\mathrm{obj}^*/\partial b`, so :math:`y\le0` on binding
:math:`\ge` rows of a maximisation) and :math:`\lambda\ge0` for minus the dual
of the IC row "θ_{k+1} reports θ_k" at information state :math:`s`.  Let
:math:`\pi_t(k)=\delta^t\Pr(k)` be the discounted probability of node
:math:`k=(s,\theta)`, and let node :math:`s` itself have been reached by report
:math:`r` at the parent state, :math:`r^+` the type just above :math:`r`, and
:math:`\ell(s)=\lambda_{t-1}(\mathrm{parent},r^+\!\to r)` (0 when :math:`r` is the
top type).  Stationarity in :math:`p(k)` gives the value row's dual
:math:`y^{val}(s,\theta)=w_{rev}\pi_t(k)+\lambda_t(s,\theta^+\!\to\theta)`, and
stationarity in :math:`V_t(s,\theta)` (free) then telescopes to

.. math::

    \lambda_t(s,\theta_{k+1}\!\to\theta_k) = \delta\,\ell(s)\,
        \big(F_t(\theta_k\mid r)-F_t(\theta_k\mid r^+)\big),\qquad
    \lambda_0(\theta_{k+1}\!\to\theta_k) = w_{rev}\,\big(1-F_0(\theta_k)\big)

(interim or periodic participation, whose root row for :math:`\theta_1` carries
the dual :math:`-w_{rev}`; ex-ante participation gives :math:`\lambda\equiv0`),
where :math:`F` are the cumulative distributions in the value order.  Under
first-order stochastic dominance every :math:`\lambda\ge0` — the dual is feasible.

**Primal.**  Stationarity in the allocation leaves, at node :math:`k=(s,\theta)`,

.. math::

    g(k,a) = (w_{rev}+w_{wel})\,\pi_t(k)\,\big(u(a,\theta)-c(a)\big)
             - \lambda_t(s,\theta^+\!\to\theta)\,\big(u(a,\theta^+)-u(a,\theta)\big),

the lottery row's dual is :math:`\max_a g(k,a)` and the allocation puts mass 1
on a maximiser (reduced costs :math:`g-\max g\le0`).  Values and payments
follow backward in t with every adjacent downward IC row binding and the lowest
type's value 0 at every state (shifted at the root under ex-ante
participation so that that row binds): complementary slackness holds by
construction.

When every :math:`\lambda\ge0` the pair is optimal for the *relaxed* program.
The full program has the same columns and more rows, so the dual padded with
zeros stays feasible there, and the pair is optimal for the full program as soon
as the primal satisfies every other row — which :mod:`.revenue_cg` checks with
its vectorised row check; otherwise (ironing, a non-monotone virtual surplus, no
stochastic dominance) it hands the relaxation to HiGHS.
With several agents (public disclosure) every row is agent i's expectation
over the others' reports :math:`\rho_{-i}` with beliefs :math:`w_{-i}(h,\rho_{-i})`;
the same recursion holds agent by agent with :math:`\ell` multiplied by the
belief in the others' reports that led to the state, and the virtual surplus
at node :math:`(h,\rho)` is :math:`(w_{rev}+w_{wel})\pi_t(k)\,(\sum_i u_i-c)
-\sum_i w_{-i}(h,\rho_{-i})\,\lambda^i_t(h,\rho_i^+\!\to\rho_i)\,\Delta u_i` —
Myerson's (1981) virtual surplus on the tree; payments are set node by node
(:math:`p_i(k)` = node payoff − value), which meets each value row exactly.  Scope: allocations from a finite decision set (not the quantity
QP), no budget rows, public disclosure when there are several agents, and
participation that bounds revenue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dmd_opt.core.environment import Environment
from dmd_opt.families.revenue.layout import completions


@dataclass
class LocalSolution:
    """Primal and dual of the local-IC relaxation on the program's layout.

    ``x`` is the full primal vector and ``z`` the reduced costs of all columns.
    Per agent ``i`` and period ``t``: ``y_value[i][t]`` (S_t, n) the value rows'
    duals, ``lam[i][t]`` (S_t, n − 1, by the lower type's position in the value
    order) minus the duals of the adjacent downward IC rows, ``order[i][t]`` the
    types sorted by value; ``y_root[i]`` the duals of agent i's root participation
    rows; ``y_lottery[t]`` (K_t,) the lottery rows' duals (None with a fixed
    allocation).  ``min_lambda`` < 0 means the dual is infeasible (no stochastic
    dominance).
    """

    x: np.ndarray
    z: np.ndarray
    y_value: list
    lam: list
    order: list
    y_lottery: list | None
    y_root: list
    min_lambda: float


def not_applicable(env: Environment, participation: str, disclosure: str, w_rev: float,
                   budget_balance: bool) -> str | None:
    """Why the closed-form relaxation does not apply (None when it does)."""
    if env.quantity is not None:
        return "quantity model (a QP)"
    if budget_balance:
        return "budget rows"
    if disclosure == "private" and env.n_agents > 1:
        return "private disclosure with several agents"
    if participation == "none" and w_rev > 0:
        return "revenue without participation rows is unbounded"
    return None


def _others_weight(tree, i: int, t: int) -> np.ndarray:
    """(K_t,): at each period-t node (h, ρ), the belief Π_{j≠i} b_j(h)[ρ_j] in the others' reports."""
    last = tree.last_reports(t)
    h = np.arange(tree.n_nodes(t)) // tree.R[t]
    b = tree.beliefs(i, t)
    w = np.ones(tree.n_nodes(t))
    for j in range(tree.N):
        if j != i:
            w = w * b[j][h if b[j].shape[0] > 1 else 0, last[:, j]]
    return w


def solve_local(env: Environment, lay, participation: str, w_rev: float, w_wel: float,
                n_vars: int, fixed_x: np.ndarray | None = None) -> LocalSolution:
    """Primal and dual of the local-IC relaxation (module docstring), by two passes over the tree.

    ``lay`` is the program's :class:`~.layout.Layout` (public histories);
    ``fixed_x`` the fixed allocation's column values, if any.  Cost
    O(nodes × (Σ_i |Θ_i|) × |A|), vectorised per period.
    """
    passes = _Passes(env, lay, participation, w_rev, w_wel)
    x = np.zeros(n_vars) if fixed_x is None else fixed_x.copy()
    z = np.zeros(n_vars)
    lam, y_value, y_lot = passes.forward(x, z, fixed=fixed_x is not None)
    passes.backward(x)
    min_lam = min((float(l.min()) for li in lam for l in li if l.size), default=0.0)
    return LocalSolution(x, z, y_value, lam, passes.order, y_lot, passes.root_duals(), min_lam)


def adjacent_ic_multipliers(env: Environment, tree, participation: str, w_rev: float = 1.0, order=None):
    """The closed-form multipliers λ of the adjacent downward IC rows (module docstring) on
    ``tree``, without a program layout: ``(lam, order)`` with ``lam[i][t]`` (S_t, n − 1) in
    the value order ``order[i][t]`` (or the given ``order``).  Only the transitions enter
    (no utilities), so the quantity family is covered too."""
    passes = _Passes(env, None, participation, w_rev, 0.0, tree=tree)
    if order is not None:
        passes.order = [[np.asarray(o) for o in oi] for oi in order]
        passes.pos = [[np.argsort(o) for o in oi] for oi in passes.order]
    lam = [[] for _ in range(tree.N)]
    for t in range(tree.T):
        for i in range(tree.N):
            lam[i].append(passes.multipliers(i, t, lam[i][t - 1] if t else None))
    return lam, passes.order


class _Passes:
    """The forward (dual, allocation) and backward (values, payments) passes of :func:`solve_local`."""

    def __init__(self, env: Environment, lay, participation: str, w_rev: float, w_wel: float, tree=None):
        self.env, self.lay, self.tree = env, lay, (lay.tree if lay is not None else tree)
        self.participation, self.w_rev, self.w_wel = participation, w_rev, w_wel
        T, N = self.tree.T, self.tree.N
        # types sorted by value, and each type's position in that order
        self.order = [[np.argsort(env.type_values(i, t), kind="stable") for t in range(T)] for i in range(N)]
        self.pos = [[np.argsort(o) for o in self.order[i]] for i in range(N)]
        self.wo = [[_others_weight(self.tree, i, t) for t in range(T)] for i in range(N)]

    def root_duals(self) -> list[np.ndarray]:
        """Duals of each agent's root participation rows (the lowest type's binds)."""
        out = []
        for i in range(self.tree.N):
            yr = np.zeros(1 if self.participation == "ex_ante" else self.env.n_types(i, 0))
            if self.participation in ("interim", "periodic"):
                yr[self.order[i][0][0]] = -self.w_rev
            elif self.participation == "ex_ante":
                yr[0] = -self.w_rev
            out.append(yr)
        return out

    # ---- dual, forward ------------------------------------------------------------
    def multipliers(self, i: int, t: int, prev: np.ndarray | None) -> np.ndarray:
        """λ_t(s, θ_{k+1} → θ_k) of agent i, (S_t, n − 1) in the value order (module docstring)."""
        env, tree, o = self.env, self.tree, self.order[i][t]
        n = env.n_types(i, t)
        if t == 0:
            if self.participation in ("interim", "periodic"):
                F0 = np.cumsum(env.agents[i].initial[o])[:-1]
                return (self.w_rev * (1.0 - F0))[None, :]
            return np.zeros((1, n - 1))               # ex ante, or welfare without participation
        P = env.transition(i, t - 1)                                       # (n_{t-1}, n_t)
        op = self.order[i][t - 1]
        Fc = np.cumsum(P[:, o], axis=1)[:, :-1]                            # (n_{t-1}, n_t − 1)
        diff = np.zeros_like(Fc)                                           # F(·|r) − F(·|r⁺), by r
        diff[op[:-1]] = Fc[op[:-1]] - Fc[op[1:]]
        lpad = np.concatenate([prev, np.zeros((prev.shape[0], 1))], axis=1)
        r = tree.last_reports(t - 1)[:, i]                                 # agent i's report leading to h'
        hpar = np.arange(tree.n_histories(t)) // tree.R[t - 1]
        ell = self.wo[i][t - 1] * lpad[hpar, self.pos[i][t - 1][r]]       # (S,)
        return self.env.discount * ell[:, None] * diff[r]

    def value_duals(self, i: int, t: int, lam_nat: np.ndarray) -> np.ndarray:
        """Duals of agent i's value rows at period t, (S_t, n): w_rev π_t + λ."""
        tree, delta = self.tree, self.env.discount
        S, n = tree.n_histories(t), self.env.n_types(i, t)
        b_i = tree.beliefs(i, t)[i]                                        # (S or 1, n)
        pri = (delta ** t) * (tree.node_prob[t - 1] if t > 0 else np.ones(1))[:, None] * b_i
        return self.w_rev * np.broadcast_to(pri, (S, n)) + lam_nat

    def surplus_share(self, i: int, t: int, lam_nat: np.ndarray, pr: np.ndarray) -> np.ndarray:
        """Agent i's part of the virtual surplus g(k, a) at every period-t node, (K_t, A)."""
        tree, u = self.tree, self.env.utility(i, t)                        # (A, n)
        o = self.order[i][t]
        du = np.zeros_like(u)                                              # u(a, θ⁺) − u(a, θ)
        du[:, o[:-1]] = u[:, o[1:]] - u[:, o[:-1]]
        ri = tree.last_reports(t)[:, i]
        h = np.arange(tree.n_nodes(t)) // tree.R[t]
        return (self.w_rev + self.w_wel) * pr[:, None] * u[:, ri].T \
            - (self.wo[i][t] * lam_nat[h, ri])[:, None] * du[:, ri].T

    def forward(self, x: np.ndarray, z: np.ndarray, fixed: bool):
        """Multipliers period by period from the root; the allocation maximises the virtual
        surplus node by node (written into ``x``; reduced costs into ``z``)."""
        env, tree, lay, N = self.env, self.tree, self.lay, self.tree.N
        lam, y_value = [[] for _ in range(N)], [[] for _ in range(N)]
        y_lot = None if fixed else []
        for t in range(tree.T):
            S, K, A = tree.n_histories(t), tree.n_nodes(t), lay.alloc_width[t]
            pr = (env.discount ** t) * tree.node_prob[t]
            g = -(self.w_rev + self.w_wel) * pr[:, None] * env.cost(t)[None, :]        # (K, A)
            for i in range(N):
                lt = self.multipliers(i, t, lam[i][t - 1] if t else None)
                lam[i].append(lt)
                lam_nat = np.zeros((S, env.n_types(i, t)))
                lam_nat[:, self.order[i][t][:-1]] = lt
                y_value[i].append(self.value_duals(i, t, lam_nat))
                g += self.surplus_share(i, t, lam_nat, pr)
            xs = slice(lay.X0 + lay.x_off[t], lay.X0 + lay.x_off[t] + K * A)
            if fixed:
                z[xs] = g.ravel()
                continue
            best = g.max(axis=1)
            xa = np.zeros_like(g)
            xa[np.arange(K), np.argmax(g, axis=1)] = 1.0
            x[xs] = xa.ravel()
            z[xs] = (g - best[:, None]).ravel()
            y_lot.append(best)
        return lam, y_value, y_lot

    # ---- primal, backward ---------------------------------------------------------
    def backward(self, x: np.ndarray) -> None:
        """Values with every adjacent downward IC row binding and the lowest type's value 0
        (shifted at the root under ex-ante participation), payments node by node."""
        env, tree, lay, N, delta = self.env, self.tree, self.lay, self.tree.N, self.env.discount
        for i in range(N):
            Vnext = None
            for t in reversed(range(tree.T)):
                n, S, K, A = env.n_types(i, t), tree.n_histories(t), tree.n_nodes(t), lay.alloc_width[t]
                xa = x[lay.X0 + lay.x_off[t]: lay.X0 + lay.x_off[t] + K * A].reshape(K, A)
                e = xa @ env.utility(i, t)                                     # (K, θ): flow of true θ
                if Vnext is not None:
                    e = e + delta * (Vnext @ env.transition(i, t).T)
                node, _, w = completions(tree, i, t, False)                   # (S, r, C), (S, C)
                E = np.einsum("sc,srct->srt", w, e[node])                     # (s, report, true type)
                o = self.order[i][t]
                rise = E[:, o[:-1], o[1:]] - E[:, o[:-1], o[:-1]]              # binding θ_{k+1} → θ_k rows
                Vs = np.concatenate([np.zeros((S, 1)), np.cumsum(rise, axis=1)], axis=1)   # sorted order
                if t == 0 and self.participation == "ex_ante":
                    Vs = Vs - env.agents[i].initial[o] @ Vs[0]
                Vt = np.empty((S, n))
                Vt[:, o] = Vs
                ri = tree.last_reports(t)[:, i]
                h = np.arange(K) // tree.R[t]
                p = e[np.arange(K), ri] - Vt[h, ri]                            # value rows hold node by node
                x[lay.P0 + lay.p_off[t] + np.arange(K) * N + i] = p
                vo = lay.V0 + lay.v_off[i][t]
                x[vo: vo + S * n] = Vt.ravel()
                Vnext = Vt      # period-t states are period-(t−1) nodes: their continuation values
