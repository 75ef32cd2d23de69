r"""VCG-type contingent transfers by pseudo-inverse (Liu, Lemma A.4 and Theorem 3.2).

For each transition ``t → t+1``, agent i, decision a and others' signals :math:`\theta^{-i}`,
the transfer :math:`p^i_{t+1}(\theta^{-i}_{t+1}; a, \theta^{-i}_t)`, paid by i in period t+1,
solves one equation per own signal :math:`\theta^i`:

.. math::

    \delta \sum_{\theta^{-i}_{t+1}} p(\theta^{-i}_{t+1})\, \mu^{-i}(\theta^{-i}_{t+1}\mid a,\theta^i,\theta^{-i})
        = -\tilde u^{-i}(a, \theta^i, \theta^{-i}),
    \qquad\text{i.e.}\qquad \delta\, (M^{-i})^\top p = -\tilde u^{-i},

taken as the minimum-norm solution :math:`p = -(M^{-i})^{\top +}\tilde u^{-i}/\delta`
(written :math:`M^+` in some statements; the dimensions need the transpose; docs/theory.md#contingent-transfers-with-interdependent-values).  The target is
the others' flow utility :math:`\tilde u^{-i} = \sum_{j\ne i} u^j(a,\theta)` — plus, on the
last transition of a finite horizon, :math:`\delta E[C^i_T \mid a,\theta]` with
:math:`C^i_T(\theta') = \sum_{j\ne i}u^j(a_T(\theta'),\theta') + q^i_T(\theta')`, the gap between
the social surplus :math:`W_T` and agent i's own period-T value (zero in the interior, where
i's continuation value is :math:`W_{t+1}` minus a transfer that depends on others' signals
only).  With that term the one-shot-deviation argument of Theorem 3.2 holds verbatim even
when the transition depends on the decision.

Then agent i's expected payoff from reporting :math:`r` at :math:`\theta_t` equals the social
value of the decision :math:`a^*_t(r,\theta^{-i})` (minus terms independent of r), so truth
is a best response: periodic ex-post IC.  If :math:`M^{-i}` is rank deficient and the target
is outside the range of :math:`(M^{-i})^\top`, no such transfer exists; the block and its
residual :math:`\|\delta (M^{-i})^\top p + \tilde u^{-i}\|_\infty` are reported, never returned
as if they worked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dmd_opt.families.contingent.environment import ContingentEnvironment

RESIDUAL_TOL = 1e-9


def targets(env: ContingentEnvironment, policy, last=None) -> list[list[np.ndarray]]:
    r"""``targets[t][i]`` (|A|, R^{-i}, n_i): :math:`\tilde u^{-i}(a, \theta^i, \theta^{-i})` (see module doc)."""
    out = []
    for t in range(env.steps):
        row = []
        for i in range(env.N):
            tgt = env.others_utility(i).copy()                       # (A, R)
            if not env.stationary and t == env.horizon - 2 and last is not None:
                dT = policy.at(env.horizon - 1)
                C = env.others_utility(i)[dT, np.arange(env.R)] + last.q[:, i]
                tgt = tgt + env.discount * (env.kernel(t) @ C)        # (A, R)
            row.append(tgt[:, env.profile_of(i)])                    # (A, R^-i, n_i)
        out.append(row)
    return out


@dataclass
class VCGTransfers:
    """``p[t][i]`` (|A|, R^{-i}, R'^{-i}): transfer paid by i in period t+1 given the decision and
    the others' signals at t (rows) and their signals at t+1.  ``residual[t][i]`` (|A|, R^{-i}):
    sup-norm residual of the defining equations.  ``failures``: blocks whose target lies outside
    the range (the transfer does not exist there); ``ok`` is False if a block used by the
    efficient policy fails."""

    env: ContingentEnvironment
    p: list[list[np.ndarray]]
    residual: list[list[np.ndarray]]
    used: list[list[np.ndarray]]
    failures: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f["used_by_policy"] for f in self.failures)

    @property
    def status(self) -> str:
        return "optimal" if self.ok else "spanning_fails"

    @property
    def max_residual(self) -> float:
        return max((float(np.max(r)) for row in self.residual for r in row), default=0.0)

    @property
    def max_abs(self) -> float:
        return max((float(np.max(np.abs(p))) for row in self.p for p in row), default=0.0)

    def frame(self):
        """Long table (pandas): step, agent, decision, others' signals now and next, transfer, residual."""
        import pandas as pd
        e = self.env
        rows = []
        for t, row in enumerate(self.p):
            for i, p in enumerate(row):
                for a, o, o2 in np.ndindex(*p.shape):
                    rows.append({"step": t, "agent": e.agent_names[i], "decision": e.decisions(0)[a],
                                 "others_now": e.label_others(i, o), "others_next": e.label_others(i, o2),
                                 "transfer": float(p[a, o, o2]), "residual": float(self.residual[t][i][a, o]),
                                 "used_by_policy": bool(self.used[t][i][a, o])})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        e = self.env
        return {"status": self.status, "max_residual": self.max_residual, "max_abs_transfer": self.max_abs,
                "failures": self.failures,
                "transfers": [[{"agent": e.agent_names[i], "by_decision_others_now_others_next": p.tolist()}
                               for i, p in enumerate(row)] for row in self.p]}


def used_blocks(env: ContingentEnvironment, policy, t: int, i: int) -> np.ndarray:
    """(|A|, R^{-i}) True where a is a*_t(r, θ^{-i}) for some report r of agent i."""
    dec = policy.at(t)[env.profile_of(i)]
    used = np.zeros((env.n_decisions(0), env.n_others(i)), bool)
    used[dec, np.arange(env.n_others(i))[:, None]] = True
    return used


def vcg_transfers(env: ContingentEnvironment, policy, last=None, tol: float = RESIDUAL_TOL) -> VCGTransfers:
    """Minimum-norm VCG-type contingent transfers for every block (see module docstring)."""
    d = env.discount
    tg = targets(env, policy, last)
    P, RES, USED, fails = [], [], [], []
    for t in range(env.steps):
        prow, rrow, urow = [], [], []
        for i in range(env.N):
            MT = env.others_marginal(t, i)                 # (A, R^-i, n_i, R'^-i) = (M^-i)^T per block
            b = -tg[t][i] / d                              # (A, R^-i, n_i)
            p = np.einsum("aons,aos->aon", np.linalg.pinv(MT), b)   # pinv of (n_i × R'^-i) is (R'^-i × n_i)
            res = np.max(np.abs(np.einsum("aosn,aon->aos", MT, p) - b), axis=2) * d
            used = used_blocks(env, policy, t, i)
            scale = max(1.0, float(np.max(np.abs(tg[t][i]))))
            for a, o in zip(*np.nonzero(res > tol * scale)):
                fails.append({"step": t, "agent": env.agent_names[i], "agent_index": i,
                              "decision": env.decisions(0)[a], "others_signals": env.label_others(i, int(o)),
                              "residual": float(res[a, o]), "rank": int(np.linalg.matrix_rank(MT[a, o])),
                              "used_by_policy": bool(used[a, o])})
            prow.append(p)
            rrow.append(res)
            urow.append(used)
        P.append(prow)
        RES.append(rrow)
        USED.append(urow)
    return VCGTransfers(env, P, RES, USED, fails)
