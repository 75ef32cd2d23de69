r"""The dynamic pivot mechanism (Bergemann–Välimäki 2010; docs/theory.md#dynamic-pivot-mechanism).

With :math:`W_{-i,t}` the optimal welfare of the agents other than ``i`` alone (their
own efficient problem, same decisions and cost), agent ``i`` pays at ``t``

.. math::

    p_{i,t} = W_{-i,t}(\theta_{-i,t}) - \Big[\sum_{j\ne i} u_{j,t}(a^*_t,\theta_{j,t}) - c_t(a^*_t)\Big]
              - \delta\, E\big[W_{-i,t+1}(\theta_{-i,t+1}) \mid a^*_t, \theta_{-i,t}\big],

equivalently :math:`p_{i,t} = u_{i,t}(a^*_t,\theta_{i,t}) - m_{i,t}` with the *flow marginal
contribution* :math:`m_{i,t} = W_t(\theta_t) - W_{-i,t}(\theta_{-i,t}) - \delta E[W_{t+1} - W_{-i,t+1}\mid a^*_t,\theta_t]`.
Each agent's continuation payoff equals its marginal contribution
:math:`W_t - W_{-i,t}`; the mechanism is periodic ex-post IC and ex-post IR.  When the
decision does not affect the transitions and decisions are period-by-period
allocations of one good, the payment is the period's second-highest value (VCG).
"""

from __future__ import annotations

import numpy as np

from dmd_opt.mechanisms.markov import MarkovMechanism
from dmd_opt.core.joint import JointModel
from dmd_opt.families.efficient.policy import EfficientPolicy, _as_model, efficient_policy, others_welfare, profile_to_others
from dmd_opt.families.efficient.team import _periods, others_surplus, policy_allocation


def _others_continuation(mi: JointModel, Wi: EfficientPolicy, t: int, x: np.ndarray, oth: np.ndarray) -> np.ndarray:
    """E[W_{-i,t+1}(θ'_{-i}) | a, θ_{-i}] for each profile, averaged over the decision lottery
    x (R_t, |A|) of χ*; oth (R_t,) the others' profile index."""
    if not mi.stationary and t == mi.horizon - 1:
        return np.zeros(oth.size)
    K = mi.kernel(t)                                   # (A, R_-i, R'_-i)
    KW = K @ Wi.value(0 if mi.stationary else t + 1)   # (A, R_-i)
    return np.sum(x * KW[:, oth].T, axis=1)


def pivot_payments(m: JointModel, pol: EfficientPolicy, others: list[EfficientPolicy], t: int) -> np.ndarray:
    """(R_t, N) pivot payments by profile at period t (model period); under a randomised χ*
    the expectation over its lottery (agents are risk neutral, so incentives are unchanged)."""
    x = pol.allocation(t)
    surplus = others_surplus(m, pol, t)
    out = np.zeros((m.n_profiles(t), m.N))
    for i in range(m.N):
        oth = profile_to_others(m, t, i)
        Wi = others[i]
        out[:, i] = (Wi.value(t)[oth] - surplus[:, i]
                     - m.discount * _others_continuation(Wi.model, Wi, t, x, oth))
    return out


def marginal_contributions(m: JointModel, pol: EfficientPolicy, others: list[EfficientPolicy], t: int) -> np.ndarray:
    r"""(R_t, N) flow marginal contributions (Bergemann–Välimäki 2010, eq. (9)):
    :math:`m_{i,t} = W_t(\theta) - W_{-i,t}(\theta_{-i}) - \delta E[W_{t+1} - W_{-i,t+1} \mid a^*_t, \theta]`,
    with the expectation taken under the *full* joint kernel (an independent route to the
    payments: :math:`p_i = u_i(a^*, \theta_i) - m_i`)."""
    R = m.n_profiles(t)
    last = not m.stationary and t == m.horizon - 1
    nxt = 0 if m.stationary else t + 1
    row = None if last else np.einsum("ra,arq->rq", pol.allocation(t), m.kernel(t))   # (R, R') under χ*
    Wn = np.zeros(R) if last else row @ pol.value(nxt)
    out = np.zeros((R, m.N))
    for i in range(m.N):
        Wi = others[i]
        Wni = np.zeros(R) if last else row @ Wi.value(nxt)[profile_to_others(m, nxt, i)]
        out[:, i] = pol.value(t) - Wi.value(t)[profile_to_others(m, t, i)] - m.discount * (Wn - Wni)
    return out


def pivot_mechanism(model, policy: EfficientPolicy | None = None, method: str = "policy_iteration") -> MarkovMechanism:
    """Dynamic pivot mechanism for an Environment or JointModel (independent types, N ≥ 2)."""
    m = _as_model(model)
    pol = policy if policy is not None else efficient_policy(m, method=method)
    others = [others_welfare(m, i, method=method) for i in range(m.N)]
    pays = [np.broadcast_to(pivot_payments(m, pol, others, tt)[None], (P, m.n_profiles(tt), m.N)).copy()
            for _, tt, P in _periods(m)]
    return MarkovMechanism(m, policy_allocation(pol), pays, name="pivot",
                           meta={"policy": pol, "others_welfare": others,
                                 "construction": "dynamic pivot (Bergemann-Valimaki 2010)"})
