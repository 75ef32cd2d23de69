r"""Periodic ex-post IC of Markov rules by one-shot deviations (Liu, Definition of periodic ex-post IC).

Markov rules (``form = "markov"``, :mod:`dmd_opt.mechanisms.base`) read only the previous
and the current report profile: a decision lottery :math:`x_t(\cdot\mid r_t)` and payments
:math:`p^i_t(r_{t-1}, r_t)`.  For every agent i, period t, previous report profile
:math:`r_{t-1}` (the only part of the public history the rules read, so every history is
covered), every true current profile :math:`\theta_t` and every one-shot misreport
:math:`r` of agent i — the others truthful, i truthful from t+1 on — the regret is

.. math::

    \max_r \Big[\sum_a x_t(a\mid\hat r)\Big(u^i(a, \theta_t)
      + \delta \sum_{\theta'} \mu(\theta'\mid\theta_t, a)\, V^i_{t+1}(\hat r, \theta')\Big)
      - p^i_t(r_{t-1}, \hat r)\Big] - V^i_t(r_{t-1}, \theta_t), \qquad \hat r = (r, \theta^{-i}_t),

where the truthful continuation is :math:`V^i_t(r_{t-1},\theta) = G^i_t(\theta) - p^i_t(r_{t-1},\theta)`
with :math:`G^i_t(\theta) = \sum_a x_t(a\mid\theta)\big(u^i(a,\theta) + \delta\sum_{\theta'}\mu(\theta'\mid\theta,a)
V^i_{t+1}(\theta,\theta')\big)` (backward induction; a linear system in the stationary case).
Utilities may be interdependent (:math:`u^i` reads the whole true profile).  By the one-shot
deviation principle zero regret everywhere is periodic ex-post IC; a positive regret is the
gain of the best single misreport (a lower bound on the gain of the best deviation plan).
Pure numpy: no LP, no use of how the rules were built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dmd_opt.core.display import fmt
from dmd_opt.core.truthful import by_own_initial_type, markov_chain, markov_present_value, markov_truthful_G
from dmd_opt.verify.report import ReportHead


@dataclass(repr=False)
class PeriodicExPostReport(ReportHead):
    """Regrets of one-shot deviations (see module docstring); ``worst`` locates the largest."""

    max_regret: float
    by_agent: list[float]
    by_period: list[float]
    worst: dict
    truthful_values: list[list[np.ndarray]] = field(default_factory=list)   # G[i][t] (R_t,)
    scale: float = 1.0
    max_regret_on_path: float = 0.0
    ir_min: dict = field(default_factory=dict)        # participation → smallest truthful value
    budget_max_imbalance: float = 0.0
    revenue: float = float("nan")
    welfare: float = float("nan")
    notion: str = "periodic_expost"

    def ir_violation(self, participation: str) -> float:
        return max(0.0, -self.ir_min.get(participation, 0.0))

    def summary_lines(self) -> list[str]:
        return self.summary()

    def to_dict(self) -> dict:
        return {**self.head_numbers(), "periodic_expost_max_regret": self.max_regret, "by_agent": self.by_agent,
                "by_period": self.by_period, "worst": self.worst}

    def summary(self) -> list[str]:
        w = self.worst
        s = [f"periodic ex-post IC: max regret {fmt(self.max_regret, 3, self.scale)} (on path "
             f"{fmt(self.max_regret_on_path, 3, self.scale)}); payoff scale {fmt(self.scale)}"]
        if self.max_regret > 1e-9 and w:
            s.append(f"  worst: agent {w['agent']}, period {w['period']}, previous reports {w['previous']}, "
                     f"true profile {w['profile']}, misreport {w['report']} gains {w['regret']:.6g}")
        return s


def _entries(env) -> int:
    return 2 if env.stationary else env.horizon


def _flow(env, x: np.ndarray, i: int, t: int) -> np.ndarray:
    """(R_s, R_θ): Σ_a x(a|s) u_i(a, θ) for reported profile s and true profile θ."""
    return x @ env.profile_utility(i, 0 if env.stationary else t).T


def _cont(env, x: np.ndarray, t: int, G_next: np.ndarray, pay_next: np.ndarray) -> np.ndarray:
    """(R_s, R_θ): δ Σ_a x(a|s) Σ_θ' μ(θ'|θ, a) [G_{t+1}(θ') − p_{t+1}(s, θ')]."""
    K = env.kernel(t)
    X = G_next[None, :] - pay_next                     # (R_s, R')
    out = np.zeros((X.shape[0], K.shape[1]))
    for a in range(K.shape[0]):                        # rows that put weight on decision a
        S = x[:, a] > 0
        if np.any(S):
            out[S] += x[S, a, None] * (X[S] @ K[a].T)
    return env.discount * out


def _reach(env, alloc) -> list[np.ndarray]:
    """(P_t, R_t) True where (previous, current) profiles occur under truthful play."""
    init = np.asarray(env.initial) > 0
    if env.stationary:
        C0, C = markov_chain(env, alloc[0], 0), markov_chain(env, alloc[1], 0)
        seen = (init @ C0) > 0                      # profiles of period 2 ...
        frontier = seen.copy()
        while frontier.any():                       # ... and of every later period
            nxt = ((frontier @ C) > 0) & ~seen
            seen |= nxt
            frontier = nxt
        return [init[None, :], (init[:, None] & (C0 > 0)) | (seen[:, None] & (C > 0))]
    out = [env.initial[None, :] > 0]
    prob = env.initial.copy()
    for t in range(1, env.horizon):
        C = markov_chain(env, alloc[t - 1], t - 1)
        out.append((prob[:, None] > 0) & (C > 0))
        prob = prob @ C
    return out


def periodic_expost(mech) -> PeriodicExPostReport:
    """Largest one-shot-deviation regret of Markov rules (see module docstring).

    ``mech`` exposes ``env`` (a :class:`~dmd_opt.core.model.DynamicModel`), ``allocation``
    and ``payments`` in the Markov form."""
    env = mech.env
    T = _entries(env)
    alloc = [np.asarray(x, float) for x in mech.allocation]
    pay = [np.asarray(p, float) for p in mech.payments]
    reach = _reach(env, alloc)
    by_agent, by_period = [], [0.0] * T
    worst = {"regret": -np.inf}
    on_path = 0.0
    ir = {"ex_ante": np.inf, "interim": np.inf, "periodic": np.inf}
    Gs = []
    for i in range(env.N):
        G = markov_truthful_G(env, alloc, pay, i)
        Gs.append(G)
        reg_i = 0.0
        for t in range(T):
            tt = 0 if env.stationary else t
            R = env.n_profiles(tt)
            P = pay[t][:, :, i]                                   # (P, R)
            V = G[t][None, :] - P                                 # truthful value (prev, θ)
            last = (not env.stationary) and t == T - 1
            cont = None if last else _cont(env, alloc[t], tt, G[min(t + 1, T - 1)], pay[min(t + 1, T - 1)][:, :, i])
            flow = _flow(env, alloc[t], i, t)                     # (R_s, R_θ)
            best, arg = V.copy(), np.full(V.shape, -1)
            own = env.with_own_type(i, tt)                        # (R, n_i)
            for r in range(own.shape[1]):
                rhat = own[:, r]                                  # reported profile for each true θ
                D = flow[rhat, np.arange(R)][None, :] - P[:, rhat]
                if not last:
                    D = D + cont[rhat, np.arange(R)][None, :]
                better = D > best
                best = np.where(better, D, best)
                arg = np.where(better, r, arg)
            reg = best - V
            k = np.unravel_index(int(np.argmax(reg)), reg.shape)
            m = float(reg[k])
            reg_i = max(reg_i, m)
            by_period[t] = max(by_period[t], m)
            if reach[t].any():
                on_path = max(on_path, float(reg[reach[t]].max()))
                ir["periodic"] = min(ir["periodic"], float(V[reach[t]].min()))
            if m > worst["regret"]:
                worst = {"regret": m, "agent": env.agent_names[i], "period": t,
                         "previous": env.profile_label(tt, k[0]) if P.shape[0] > 1 else "-",
                         "profile": env.profile_label(tt, k[1]),
                         "report": env.type_labels(i, tt)[arg[k]] if arg[k] >= 0 else "truth"}
        rents = by_own_initial_type(env, i, G[0] - pay[0][0, :, i])
        prior = env.agent_initial(i)
        ir["ex_ante"] = min(ir["ex_ante"], float(prior @ rents))
        ir["interim"] = min(ir["interim"], float(rents[prior > 0].min()))
        by_agent.append(max(0.0, reg_i))
    cost = [alloc[t] @ env.cost(0 if env.stationary else t) for t in range(T)]
    imb = max(float(np.max(np.abs(pay[t].sum(axis=2) - cost[t][None, :]))) for t in range(T))
    util = [sum(np.sum(alloc[t] * env.profile_utility(j, 0 if env.stationary else t), axis=1) for j in range(env.N))
            for t in range(T)]
    revenue = markov_present_value(env, alloc, lambda t: pay[t].sum(axis=2) - cost[t][None, :])
    welfare = markov_present_value(env, alloc, lambda t: np.broadcast_to(util[t] - cost[t], pay[t].shape[:2]))
    scale = max(1.0, max(float(np.max(np.abs(env.profile_utility(j, t)))) for j in range(env.N)
                         for t in range(env.periods)),
                max(float(np.max(np.abs(p))) for p in pay))
    return PeriodicExPostReport(max(0.0, max(by_agent)), by_agent, by_period, worst, Gs, scale,
                                max(0.0, on_path), ir, imb, revenue, welfare)
