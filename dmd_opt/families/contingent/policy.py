r"""The efficient allocation :math:`a^*_t` on joint signal profiles (Liu §2, the social program).

.. math::

    W_t(\theta_t) = \max_{a\in A}\; \sum_i u^i(a,\theta_t) + \delta\, E[W_{t+1}(\theta_{t+1})\mid a,\theta_t],
    \qquad W_{T+1}\equiv 0,

a finite MDP on profiles solved by :func:`dmd_opt.dp.mdp.backward_induction` (finite horizon)
or :func:`dmd_opt.dp.mdp.policy_iteration` (stationary).  With ``last_period = "constant"``
(Corollary 3.3) period T is forced to :math:`\bar a` and the earlier decisions are efficient
given it.  Ties go to the lowest decision index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from dmd_opt.dp import mdp
from dmd_opt.families.contingent.environment import ContingentEnvironment


@dataclass
class ContingentPolicy:
    """``decision[t]`` (R,) decision per profile and ``values[t]`` (R,) :math:`W_t`
    (one entry each when stationary; finite: T entries, plus ``values[T] = 0``)."""

    env: ContingentEnvironment
    decision: list[np.ndarray]
    values: list[np.ndarray]
    method: str

    def at(self, t: int) -> np.ndarray:
        return self.decision[0 if self.env.stationary else t]

    def value(self, t: int) -> np.ndarray:
        return self.values[0 if self.env.stationary else t]

    def expected_welfare(self) -> float:
        return float(self.env.initial @ self.value(0))


def _transition(K: np.ndarray) -> sp.csr_matrix:
    """(|A|, R, R') kernel → (R·|A|, R') CSR with row ``s*A + a`` (the mdp layout)."""
    return sp.csr_matrix(np.transpose(K, (1, 0, 2)).reshape(-1, K.shape[2]))


def efficient_policy(env: ContingentEnvironment) -> ContingentPolicy:
    """Solve the social program (see module docstring)."""
    Rw = env.welfare_flow(0)
    if env.stationary:
        res = mdp.policy_iteration(Rw, _transition(env.kernel(0)), env.discount)
        return ContingentPolicy(env, [np.asarray(res.policy, np.int64)], [np.asarray(res.values, float)],
                                "policy_iteration")
    T = env.horizon
    R = [Rw] * T
    if env.last_period == "constant":
        last = np.full_like(Rw, -np.inf)
        last[:, env.last_decision] = Rw[:, env.last_decision]
        R = R[:-1] + [last]
    P = [_transition(env.kernel(t)) for t in range(T - 1)]
    P.append(np.zeros((Rw.size, 1)))           # the process ends after period T
    res = mdp.backward_induction(R, P, env.discount, terminal=np.zeros(1))
    return ContingentPolicy(env, [np.asarray(p, np.int64) for p in res.policy],
                            [np.asarray(v, float) for v in res.values[:T]] + [np.zeros(env.R)],
                            "backward_induction")
