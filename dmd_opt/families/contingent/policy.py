r"""The efficient allocation :math:`a^*_t` on joint signal profiles (Liu §2, the social program).

.. math::

    W_t(\theta_t) = \max_{a\in A}\; \sum_i u^i(a,\theta_t) + \delta\, E[W_{t+1}(\theta_{t+1})\mid a,\theta_t],
    \qquad W_{T+1}\equiv 0,

a finite MDP on profiles solved by :func:`dmd_opt.dp.mdp.backward_induction` (finite horizon)
or :func:`dmd_opt.dp.mdp.policy_iteration` (stationary).  With ``last_period = "constant"``
(Corollary 3.3) period T is forced to :math:`\bar a` and the earlier decisions are efficient
given it.  Ties among efficient decisions follow ``tie_break`` (:mod:`dmd_opt.dp.ties`): the
first-listed decision (default), the last-listed, an explicit order of labels, or a uniform
lottery — then ``lottery[t]`` holds the randomised policy and the transfers are computed on
the lotteries (:mod:`dmd_opt.families.contingent.lottery`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from dmd_opt.dp import mdp, ties
from dmd_opt.families.contingent.environment import ContingentEnvironment


@dataclass
class ContingentPolicy:
    """``decision[t]`` (R,) decision per profile and ``values[t]`` (R,) :math:`W_t`
    (one entry each when stationary; finite: T entries, plus ``values[T] = 0``); ``lottery[t]``
    (R, |A|) the policy as lotteries (one-hot unless ties are randomised; then ``decision`` holds
    the first tied decision); ``tie_break`` the rule, ``tied_profiles`` how many (period,
    profile) pairs had several efficient decisions."""

    env: ContingentEnvironment
    decision: list[np.ndarray]
    values: list[np.ndarray]
    method: str
    lottery: list[np.ndarray] | None = None
    tie_break: ties.TieBreak = field(default_factory=ties.TieBreak)
    tied_profiles: int = 0

    @property
    def randomised(self) -> bool:
        """True when some profile's decision is a non-degenerate lottery."""
        return self.lottery is not None and any(bool(np.any((x > 0).sum(axis=1) > 1)) for x in self.lottery)

    def at(self, t: int) -> np.ndarray:
        return self.decision[0 if self.env.stationary else t]

    def value(self, t: int) -> np.ndarray:
        return self.values[0 if self.env.stationary else t]

    def expected_welfare(self) -> float:
        return float(self.env.initial @ self.value(0))


def _transition(K: np.ndarray) -> sp.csr_matrix:
    """(|A|, R, R') kernel → (R·|A|, R') CSR with row ``s*A + a`` (the mdp layout)."""
    return sp.csr_matrix(np.transpose(K, (1, 0, 2)).reshape(-1, K.shape[2]))


def efficient_policy(env: ContingentEnvironment, tie_break=None) -> ContingentPolicy:
    """Solve the social program (see module docstring); ``tie_break`` as in
    :func:`dmd_opt.dp.ties.tie_break`."""
    tb = ties.tie_break(tie_break, labels=env.decision_labels)
    labels = env.decisions(0)
    Rw = env.welfare_flow(0)
    if env.stationary:
        P = _transition(env.kernel(0))
        res = mdp.policy_iteration(Rw, P, env.discount)
        tp = ties.stationary_policy(Rw, P, env.discount, res.values, tb, labels, env.payoff_scale)
        return ContingentPolicy(env, tp.decision, [np.asarray(tp.values[0], float)], "policy_iteration",
                                tp.lottery, tb, tp.tied_states)
    T = env.horizon
    R = [Rw] * T
    if env.last_period == "constant":
        last = np.full_like(Rw, -np.inf)
        last[:, env.last_decision] = Rw[:, env.last_decision]
        R = R[:-1] + [last]
    P = [_transition(env.kernel(t)) for t in range(T - 1)]
    P.append(np.zeros((Rw.size, 1)))           # the process ends after period T
    tp = ties.backward_induction(R, P, env.discount, tb, [labels] * T, env.payoff_scale, terminal=np.zeros(1))
    return ContingentPolicy(env, tp.decision, [np.asarray(v, float) for v in tp.values[:T]] + [np.zeros(env.R)],
                            "backward_induction", tp.lottery, tb, tp.tied_states)
