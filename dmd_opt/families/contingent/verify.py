r"""Periodic ex-post IC verification of a :class:`ContingentMechanism` (Liu §2, Definition).

For every agent i, period t, previous report profile :math:`r_{t-1}` (the only part of the
public history the Markov rules read, so every history is covered), every true current
profile :math:`\theta_t` and every one-shot misreport :math:`r` of agent i — the others
truthful, i truthful from t+1 on — the regret is

.. math::

    \max_r \Big[u^i(a_t(\hat r), \theta_t) - p^i_t(r_{t-1}, \hat r)
      + \delta \sum_{\theta'} \mu(\theta'\mid a_t(\hat r), \theta_t)\, V^i_{t+1}(\hat r, \theta')\Big]
      - V^i_t(r_{t-1}, \theta_t), \qquad \hat r = (r, \theta^{-i}_t),

where the truthful continuation is :math:`V^i_t(r_{t-1},\theta) = G^i_t(\theta) - p^i_t(r_{t-1},\theta)`
with :math:`G^i_t(\theta) = u^i(a_t(\theta),\theta) + \delta\sum_{\theta'}\mu(\theta'\mid a_t(\theta),\theta)
V^i_{t+1}(\theta,\theta')` (backward induction; a linear system in the stationary case).
By the one-shot deviation principle, zero regret everywhere is periodic ex-post IC.
Pure numpy: no LP, no use of how the transfers were built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dmd_opt.families.contingent.mechanism import ContingentMechanism


@dataclass
class PeriodicExPostReport:
    max_regret: float
    by_agent: list[float]
    by_period: list[float]
    worst: dict
    truthful_values: list[list[np.ndarray]] = field(default_factory=list, repr=False)  # G[i][t] (R,)

    scale: float = 1.0

    def ok(self, tol: float = 1e-9) -> bool:
        return self.max_regret <= tol

    def passed(self, participation=None, tol: float = 1e-7, budget_balance: bool = False) -> bool:
        """CLI hook (``dmd-opt verify``): periodic ex-post regret ≤ tol × payoff scale."""
        return self.max_regret <= tol * self.scale

    def summary_lines(self) -> list[str]:
        return self.summary()

    def to_dict(self) -> dict:
        return {"periodic_expost_max_regret": self.max_regret, "scale": self.scale, "by_agent": self.by_agent,
                "by_period": self.by_period, "worst": self.worst}

    def summary(self) -> list[str]:
        w = self.worst
        s = [f"periodic ex-post IC: max regret {self.max_regret:.3g}"]
        if self.max_regret > 1e-9 and w:
            s.append(f"  worst: agent {w['agent']}, period {w['period']}, previous reports {w['previous']}, "
                     f"true profile {w['profile']}, misreport {w['report']} gains {w['regret']:.6g}")
        return s


def _cont(mech: ContingentMechanism, t: int, G_next: np.ndarray, i: int) -> np.ndarray:
    """(R_s, R_θ): δ Σ_θ' μ(θ'|a(s), θ) [G_{t+1}(θ') − p_{t+1}(s, θ')] for reported s, true θ."""
    env = mech.env
    K, dec = env.kernel(t), mech.dec(t)
    X = G_next[None, :] - mech.pay(t + 1)[:, :, i]   # (R_s, R')
    out = np.empty((X.shape[0], env.R))
    for a in np.unique(dec):                         # rows reported with decision a: X_S K[a]^T
        S = dec == a
        out[S] = X[S] @ K[a].T
    return env.discount * out


def periodic_expost(mech: ContingentMechanism) -> PeriodicExPostReport:
    """Largest one-shot-deviation regret (see module docstring)."""
    env = mech.env
    R = env.R
    T = 2 if env.stationary else env.horizon
    by_agent, by_period = [], [0.0] * T
    worst = {"regret": -np.inf}
    Gs = []
    for i in range(env.N):
        G = [None] * T
        if env.stationary:
            d = mech.dec(0)
            C = env.kernel(0)[d, np.arange(R), :]
            u = env.utility[i][d, np.arange(R)]
            rhs = u - env.discount * np.sum(C * mech.pay(1)[:, :, i], axis=1)
            G[0] = G[1] = np.linalg.solve(np.eye(R) - env.discount * C, rhs)
        else:
            for t in range(T - 1, -1, -1):
                u = env.utility[i][mech.dec(t), np.arange(R)]
                G[t] = u if t == T - 1 else u + np.diagonal(_cont(mech, t, G[t + 1], i))
        Gs.append(G)
        reg_i = 0.0
        for t in range(T):
            pay = mech.pay(t)[:, :, i]                          # (P, R)
            V = G[t][None, :] - pay                             # truthful value (prev, θ)
            last = (not env.stationary) and t == T - 1
            cont = None if last else _cont(mech, t, G[min(t + 1, T - 1)], i)   # (R_s, R_θ)
            best = V.copy()
            arg = np.full(V.shape, -1)
            for r in range(env.shape[i]):
                rhat = env.replace_own(i, r)                    # (R,) reported profile for each true θ
                a = mech.dec(t)[rhat]
                D = env.utility[i][a, np.arange(R)][None, :] - pay[:, rhat]
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
            if m > worst["regret"]:
                worst = {"regret": m, "agent": env.agent_names[i], "period": t,
                         "previous": env.label_profile(k[0]) if pay.shape[0] > 1 else "-",
                         "profile": env.label_profile(k[1]),
                         "report": env.signal_labels[i][arg[k]] if arg[k] >= 0 else "truth"}
        by_agent.append(reg_i)
    scale = max(1.0, float(np.max(np.abs(env.utility))), mech.max_abs_payment())
    return PeriodicExPostReport(max(by_agent), by_agent, by_period, worst, Gs, scale)
