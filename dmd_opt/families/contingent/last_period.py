r"""The last period of a finite horizon (Liu, Assumption 4 / Corollary 3.3).

No transfer can follow period T, so its incentives must be static:

* ``last_period = "ex_post"`` (Assumption 4): the efficient period-T rule :math:`a^*_T` must
  be ex-post IC with static transfers :math:`q^i(r^i; \theta^{-i})`:

  .. math:: u^i(a^*_T(\theta^i,\theta^{-i}),\theta) - q^i(\theta^i;\theta^{-i}) \ge
            u^i(a^*_T(r,\theta^{-i}),\theta) - q^i(r;\theta^{-i}) \quad \forall i, \theta, r.

  For fixed :math:`(i,\theta^{-i})` these are difference constraints
  :math:`q(s) - q(r) \le w(s\to r) := u^i(a^*_T(s,\cdot),(s,\cdot)) - u^i(a^*_T(r,\cdot),(s,\cdot))`,
  feasible iff the graph with edge lengths :math:`w` has no negative cycle (Rochet's cyclical
  monotonicity).  Shortest paths (Floyd–Warshall, exact and deterministic) give a solution,
  shifted to minimise :math:`\max|q|`; a negative cycle is returned as the certificate that
  Assumption 4 fails (the cycle of misreports with positive total gain).
* ``last_period = "constant"`` (Corollary 3.3): period T takes :math:`\bar a` whatever is
  reported; :math:`q = 0`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dmd_opt.families.contingent.environment import ContingentEnvironment


@dataclass
class LastPeriod:
    """``q`` (R, N): static transfer paid by each agent in period T at each report profile.
    ``ok`` False with ``cycles`` listing violating cycles when Assumption 4 fails."""

    rule: str
    q: np.ndarray
    ok: bool = True
    cycles: list = field(default_factory=list)

    def to_dict(self, env: ContingentEnvironment | None = None) -> dict:
        return {"rule": self.rule, "ex_post_implementable": self.ok, "negative_cycles": self.cycles,
                "max_abs_transfer": float(np.max(np.abs(self.q))) if self.q.size else 0.0}


def _shortest_paths(w: np.ndarray):
    """Floyd–Warshall on an n×n length matrix; returns (dist, next-hop) for cycle recovery."""
    n = w.shape[0]
    d = w.copy()
    np.fill_diagonal(d, np.minimum(np.diag(d), 0.0))
    nxt = np.tile(np.arange(n), (n, 1))
    for k in range(n):
        via = d[:, [k]] + d[[k], :]
        better = via < d - 1e-12
        d = np.where(better, via, d)
        nxt = np.where(better, nxt[:, [k]], nxt)
    return d, nxt


def last_period_transfers(env: ContingentEnvironment, decision: np.ndarray, tol: float = 1e-9) -> LastPeriod:
    """Static transfers of the last period (see module docstring); ``decision`` (R,) is a_T."""
    q = np.zeros((env.R, env.N))
    if env.last_period == "constant":
        return LastPeriod("constant", q)
    cycles = []
    for i in range(env.N):
        prof = env.profile_of(i)                       # (R^-i, n_i)
        n = env.shape[i]
        for o in range(env.n_others(i)):
            ks = prof[o]                               # profile of (s, o) for every own signal s
            d = decision[ks]                           # decision when i reports s
            U = env.utility[i][:, ks]                  # (A, n): u^i(a, (s, o)) as a function of true s
            util = U[d[None, :], np.arange(n)[:, None]]     # util[s, r] = u^i(a(r), (s, o))
            w = np.diag(util)[:, None] - util                # w[s, r] = u(a(s),s) - u(a(r),s) : q(s) - q(r) <= w
            # edge r -> s of length w[s, r] (q(s) <= q(r) + w[s, r])
            dist, nxt = _shortest_paths(w.T)
            if np.any(np.diag(dist) < -tol):
                s0 = int(np.argmin(np.diag(dist)))
                cycles.append({"agent": env.agent_names[i], "others_signals": env.label_others(i, o),
                               "gain": float(-dist[s0, s0]),
                               "signals": [env.signal_labels[i][s0]]})
                continue
            qi = np.min(dist, axis=0)                  # potentials from a virtual source
            qi = qi - 0.5 * (qi.max() + qi.min())      # shift (allowed: depends on o only)
            q[ks, i] = qi
    return LastPeriod("ex_post", q, not cycles, cycles)
