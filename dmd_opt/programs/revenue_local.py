r"""The local-IC relaxation of the one-agent revenue program, solved on the tree in closed form.

Constraint generation (:mod:`.revenue_cg`) starts from the *relaxed* program:
the "value" rows, participation, lotteries, and only the adjacent downward IC
rows (type :math:`\theta_{k+1}` reporting :math:`\theta_k`, types sorted by value).
For one agent this relaxation needs no LP solver.  Payments :math:`p` and
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

The pair is optimal for the *relaxed* program.  It is optimal for the full
program exactly when its primal satisfies every other row — which
:mod:`.revenue_cg` checks with its vectorised row check; otherwise (ironing,
non-monotone virtual surplus, no stochastic dominance) it falls back to HiGHS.
Scope: one agent, an allocation from a finite decision set (not the quantity
QP), no budget rows, and participation that bounds revenue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..environment import Environment


@dataclass
class LocalSolution:
    """Primal and dual of the local-IC relaxation on the program's layout.

    ``x`` is the full primal vector; ``y_value[t]`` (S_t, n_t) and ``lam[t]``
    (S_t, n_t − 1, by the lower type's position in the value order) the duals of
    the value rows and (minus) of the adjacent downward IC rows; ``order[t]`` the
    types sorted by value; ``y_lottery[t]`` (K_t,) the lottery rows' duals (None
    with a fixed allocation); ``y_root`` the dual of each root participation row;
    ``z`` the reduced costs of all columns.  ``min_lambda`` < 0 means the dual is
    infeasible (no stochastic dominance).
    """

    x: np.ndarray
    z: np.ndarray
    y_value: list
    lam: list
    order: list
    y_lottery: list | None
    y_root: np.ndarray
    min_lambda: float


def not_applicable(env: Environment, participation: str, w_rev: float, budget_balance: bool) -> str | None:
    """Why the closed-form relaxation does not apply (None when it does)."""
    if env.n_agents != 1:
        return "more than one agent"
    if env.quantity is not None:
        return "quantity model (a QP)"
    if budget_balance:
        return "budget rows"
    if participation == "none" and w_rev > 0:
        return "revenue without participation rows is unbounded"
    return None


def solve_local(env: Environment, lay, participation: str, w_rev: float, w_wel: float,
                n_vars: int, fixed_x: np.ndarray | None = None) -> LocalSolution:
    """Primal and dual of the local-IC relaxation (module docstring), by two passes over the tree.

    ``lay`` is the program's :class:`~.revenue._Layout`; ``fixed_x`` the fixed
    allocation's column values, if any.  Cost O(nodes × |Θ| × |A|), vectorised per period.
    """
    tree = lay.tree
    T, delta = tree.T, env.discount
    order = [np.argsort(env.type_values(0, t), kind="stable") for t in range(T)]
    pos = [np.argsort(o) for o in order]
    pr = [(delta ** t) * tree.node_prob[t] for t in range(T)]
    x = np.zeros(n_vars) if fixed_x is None else fixed_x.copy()
    z = np.zeros(n_vars)

    # ---- dual, forward ------------------------------------------------------------
    lam, y_value, y_lot = [], [], ([] if fixed_x is None else None)
    n0 = env.n_types(0, 0)
    y_root = np.zeros(n0 if participation != "ex_ante" else 1)
    for t in range(T):
        n, S, A = env.n_types(0, t), tree.n_histories(t), lay.alloc_width[t]
        if t == 0:
            if participation in ("interim", "periodic"):
                F0 = np.cumsum(env.agents[0].initial[order[0]])[:-1]
                lt = (w_rev * (1.0 - F0))[None, :]
                y_root[order[0][0]] = -w_rev
            else:                                  # ex ante (or no participation, welfare only)
                lt = np.zeros((1, n - 1))
                if participation == "ex_ante":
                    y_root[0] = -w_rev
        else:
            npv = env.n_types(0, t - 1)
            P = env.transition(0, t - 1)                                   # (n_{t-1}, n_t)
            Fc = np.cumsum(P[:, order[t]], axis=1)[:, :-1]                 # (n_{t-1}, n_t − 1)
            diff = np.zeros_like(Fc)                                       # F(·|r) − F(·|r⁺), by r
            lower, upper = order[t - 1][:-1], order[t - 1][1:]
            diff[lower] = Fc[lower] - Fc[upper]
            lpad = np.concatenate([lam[t - 1], np.zeros((lam[t - 1].shape[0], 1))], axis=1)
            ell = lpad[:, pos[t - 1]].ravel()                              # (S_t,): λ of the row mimicking s's report
            r_of_s = np.arange(S) % npv
            lt = delta * ell[:, None] * diff[r_of_s]
        lam.append(lt)
        # value rows' duals: w_rev π + λ(s, θ⁺ → θ)
        lam_nat = np.zeros((S, n))
        lam_nat[:, order[t][:-1]] = lt
        y_value.append(w_rev * pr[t].reshape(S, n) + lam_nat)
        # virtual surplus and the allocation
        u = env.utility(0, t)                                              # (A, n)
        du = np.zeros((A, n))                                              # u(a, θ⁺) − u(a, θ)
        du[:, order[t][:-1]] = u[:, order[t][1:]] - u[:, order[t][:-1]]
        th = np.arange(S * n) % n
        g = ((w_rev + w_wel) * pr[t])[:, None] * (u[:, th].T - env.cost(t)[None, :]) \
            - lam_nat.ravel()[:, None] * du[:, th].T                       # (K_t, A)
        xs = slice(lay.X0 + lay.x_off[t], lay.X0 + lay.x_off[t] + S * n * A)
        if fixed_x is None:
            best = g.max(axis=1)
            xa = np.zeros_like(g)
            xa[np.arange(len(g)), np.argmax(g, axis=1)] = 1.0
            x[xs] = xa.ravel()
            z[xs] = (g - best[:, None]).ravel()
            y_lot.append(best)
        else:
            z[xs] = g.ravel()
    min_lam = min(float(l.min()) if l.size else 0.0 for l in lam)

    # ---- primal, backward ---------------------------------------------------------
    Vnext = None
    for t in reversed(range(T)):
        n, S, A = env.n_types(0, t), tree.n_histories(t), lay.alloc_width[t]
        K = S * n
        xa = x[lay.X0 + lay.x_off[t]: lay.X0 + lay.x_off[t] + K * A].reshape(K, A)
        E = xa @ env.utility(0, t)                                         # (K, θ): flow payoff of true θ
        if Vnext is not None:
            E = E + delta * (Vnext @ env.transition(0, t).T)
        E = E.reshape(S, n, n)                                             # (s, report, true type)
        o = order[t]
        rise = E[:, o[:-1], o[1:]] - E[:, o[:-1], o[:-1]]                  # binding θ_{k+1} → θ_k rows
        Vs = np.concatenate([np.zeros((S, 1)), np.cumsum(rise, axis=1)], axis=1)   # sorted order
        if t == 0 and participation == "ex_ante":
            Vs = Vs - env.agents[0].initial[o] @ Vs[0]
        Vt = np.empty((S, n))
        Vt[:, o] = Vs
        idx = np.arange(n)
        p = E[:, idx, idx] - Vt                                            # value rows: V = E − p
        x[lay.P0 + lay.p_off[t]: lay.P0 + lay.p_off[t] + K] = p.ravel()
        vo = lay.V0 + lay.v_off[0][t]
        x[vo: vo + K] = Vt.ravel()
        Vnext = Vt          # period-t states are period-(t−1) nodes: their continuation values
    return LocalSolution(x, z, y_value, lam, order, y_lot, y_root, min_lam)
