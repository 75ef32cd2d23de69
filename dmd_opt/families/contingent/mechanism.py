r"""The Markov mechanism of Liu §3: efficient decisions plus contingent transfers.

A :class:`ContingentMechanism` is a direct public mechanism whose rules depend on the
current report profile and the previous one:

* ``decision[t]`` (R,): decision index at each current report profile (:math:`a^*_t`);
* ``payments[t]`` (P_t, R, N): payment *by* each agent in period t, given the previous report
  profile (P_0 = 1: none) and the current one.

A ContingentMechanism is a :class:`~dmd_opt.mechanisms.markov.MarkovMechanism` whose
decisions are deterministic (``allocation`` is the one-hot form of ``decision``) unless the
efficient policy randomises over tied decisions (``lottery``; then ``decision`` holds the first
tied decision of each lottery, see :mod:`dmd_opt.families.contingent.lottery`): it
implements the :class:`~dmd_opt.mechanisms.base.Mechanism` protocol, and
``mech.verify("periodic_expost")`` runs :func:`dmd_opt.verify.periodic.periodic_expost`.

Finite horizon: T entries each.  Stationary: ``payments`` has two entries, ``[0]`` the first
period and ``[1]`` every later one, and ``decision`` one.

Constructors: :func:`vcg_mechanism` (Theorem 3.2: :math:`p^i_{t+1}(\theta^{-i}_{t+1};
a^*_t(r_t), r^{-i}_t)` plus the static last-period transfers), :func:`report_mechanism`
(Theorem 3.1: also indexed by i's own previous report) and :func:`naive_team_mechanism`
(the benchmark: each agent is paid the others' flow utility *evaluated at the reported
profile*, :math:`p^i_t = -\sum_{j\ne i}u^j(a_t, r_t)` — a team mechanism that is IC with
private values but not with interdependent ones).
"""

from __future__ import annotations

import numpy as np

from dmd_opt.mechanisms.markov import MarkovMechanism
from dmd_opt.families.contingent.environment import ContingentEnvironment


class ContingentMechanism(MarkovMechanism):
    """Markov rules with a deterministic decision per current report profile (module docstring)."""

    def __init__(self, env: ContingentEnvironment, decision: list[np.ndarray], payments: list[np.ndarray],
                 name: str = "contingent mechanism", meta: dict | None = None,
                 lottery: list[np.ndarray] | None = None):
        self.decision = [np.asarray(d, dtype=np.int64) for d in decision]
        n = _periods(env)
        alloc = []
        for t in range(n):
            if lottery is not None:
                alloc.append(np.asarray(lottery[t], float))
                continue
            d = self.decision[0 if env.stationary else t]
            x = np.zeros((d.size, env.n_decisions(0)))
            x[np.arange(d.size), d] = 1.0
            alloc.append(x)
        self.randomised = lottery is not None
        super().__init__(env, alloc, list(payments), name, dict(meta or {}))

    def dec(self, t: int) -> np.ndarray:
        return self.decision[0 if self.env.stationary else t]

    def pay(self, t: int) -> np.ndarray:
        if self.env.stationary:
            return self.payments[0 if t == 0 else 1]
        return self.payments[t]

    def max_abs_payment(self) -> float:
        return max(float(np.max(np.abs(p))) for p in self.payments)

    def to_dict(self) -> dict:
        env = self.env
        return {"name": self.name, "form": self.form, "stationary": env.stationary,
                "welfare": self.welfare(), "revenue": self.revenue(),
                "expected_payments": [self.expected_payment(i) for i in range(env.N)],
                "max_abs_payment": self.max_abs_payment(),
                "decision_by_profile": [[env.decisions(0)[a] for a in d] for d in self.decision],
                **({"lottery_by_profile": [[{env.decisions(0)[a]: float(row[a]) for a in np.flatnonzero(row > 0)}
                                            for row in x] for x in self.allocation]} if self.randomised else {}),
                "payments_by_previous_and_current_profile": [p.tolist() for p in self.payments]}

    def to_frame(self):
        """One row per (period, previous profile, current profile): decision and payments."""
        import pandas as pd
        env = self.env
        rows = []
        for t, P in enumerate(self.payments):
            d = self.dec(t)
            for prev in range(P.shape[0]):
                for k in range(env.R):
                    rows.append({"period": ("first" if t == 0 else "later") if env.stationary else t,
                                 "previous": env.label_profile(prev) if P.shape[0] > 1 else "",
                                 "profile": env.label_profile(k), "decision": env.decisions(0)[d[k]],
                                 **{f"pay[{n}]": P[prev, k, i] for i, n in enumerate(env.agent_names)}})
        return pd.DataFrame(rows)


def _periods(env: ContingentEnvironment) -> int:
    return 2 if env.stationary else env.horizon


def _assemble(env, policy, contingent, last, name, meta) -> ContingentMechanism:
    """payments[t+1][prev, cur, i] = contingent(t, i, prev, cur); plus q at the last period."""
    n = _periods(env)
    pays = [np.zeros((1, env.R, env.N))] + [np.zeros((env.R, env.R, env.N)) for _ in range(n - 1)]
    for t in range(1, n):
        step = t - 1
        for i in range(env.N):
            pays[t][:, :, i] = contingent(step, i)
    if last is not None and not env.stationary:
        pays[-1] += last.q[None, :, :]
    dec = list(policy.decision) if env.stationary else [policy.at(t) for t in range(env.horizon)]
    return ContingentMechanism(env, dec, pays, name, meta)


def vcg_mechanism(env: ContingentEnvironment, policy, transfers, last=None) -> ContingentMechanism:
    """Efficient decisions with the VCG-type transfers of Theorem 3.2 (refuses failed blocks)."""
    if not transfers.ok:
        bad = [f for f in transfers.failures if f["used_by_policy"]]
        raise ValueError(f"VCG-type transfers do not exist for {len(bad)} block(s) used by the policy, "
                         f"e.g. {bad[0]}")
    oi = [env.others_index(i) for i in range(env.N)]

    def contingent(step, i):
        a_prev = policy.at(step)                                   # decision at the previous profile
        return transfers.p[step][i][a_prev[:, None], oi[i][:, None], oi[i][None, :]]
    return _assemble(env, policy, contingent, last, "efficient + VCG-type contingent transfers",
                     {"transfers": "vcg"})


def report_mechanism(env: ContingentEnvironment, policy, transfers, last=None) -> ContingentMechanism:
    """Efficient decisions with report-dependent transfers (Theorem 3.1, LP solution)."""
    if not transfers.ok:
        raise ValueError(f"the report-dependent transfer LP has status {transfers.status}")
    oi = [env.others_index(i) for i in range(env.N)]
    own = env.digits

    def contingent(step, i):
        a_prev = policy.at(step)
        return transfers.p[step][i][a_prev[:, None], oi[i][:, None], own[:, i][:, None], oi[i][None, :]]
    return _assemble(env, policy, contingent, last, "efficient + report-dependent contingent transfers",
                     {"transfers": "report"})


def naive_team_mechanism(env: ContingentEnvironment, policy) -> ContingentMechanism:
    """Benchmark: p^i_t = -Σ_{j≠i} u^j(a*_t(r_t), r_t), evaluated at the reported profile."""
    n = _periods(env)
    pays = []
    for t in range(n):
        d = policy.at(0 if env.stationary else t)
        cur = np.stack([-env.others_utility(i)[d, np.arange(env.R)] for i in range(env.N)], axis=1)
        P = 1 if t == 0 else env.R
        pays.append(np.broadcast_to(cur, (P, env.R, env.N)).copy())
    dec = list(policy.decision) if env.stationary else [policy.at(t) for t in range(env.horizon)]
    return ContingentMechanism(env, dec, pays, "efficient + naive team transfers at reports",
                               {"transfers": "naive_team"})
