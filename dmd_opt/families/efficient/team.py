r"""The team mechanism (Athey–Segal 2013 §4; docs/theory.md#team-mechanism).

Decisions follow the efficient policy χ*; each period every agent receives the
reported surplus of everybody else,

.. math::  \psi_{i,t}(\theta_t) = \sum_{j\ne i} u_{j,t}(\chi^*_t(\theta_t), \theta_{j,t}) - c_t(\chi^*_t(\theta_t)),

so that each agent's payoff equals total surplus and truth-telling is optimal for
every realisation of the others' reports (within-period ex-post IC).  The
principal's cost is charged to every agent's transfer (with ``c ≡ 0`` this is the
formula of the paper).  Payments ``p = −ψ`` are returned in the convention of
:class:`~dmd_opt.mechanisms.markov.MarkovMechanism` (paid *by* the agent).
"""

from __future__ import annotations

import numpy as np

from dmd_opt.mechanisms.markov import MarkovMechanism
from dmd_opt.core.joint import JointModel
from dmd_opt.families.efficient.policy import EfficientPolicy, _as_model, efficient_policy


def _periods(m: JointModel):
    """(entry index, model period, number of previous-profile rows) for each payment entry."""
    if m.stationary:
        return [(0, 0, 1), (1, 0, m.n_profiles(0))]
    return [(t, t, 1 if t == 0 else m.n_profiles(t - 1)) for t in range(m.horizon)]


def policy_allocation(pol: EfficientPolicy) -> list[np.ndarray]:
    m = pol.model
    return [pol.allocation(tt) for _, tt, _ in _periods(m)]


def others_surplus(m: JointModel, pol: EfficientPolicy, t: int) -> np.ndarray:
    """(R_t, N): Σ_{j≠i} u_j(χ*(θ), θ_j) − c(χ*(θ)) at each profile, in expectation over the
    policy's lottery x_t(·|θ) when ties are randomised."""
    x = pol.allocation(t)
    u = np.stack([np.sum(x * np.where(x > 0, m.profile_utility(j, t), 0.0), axis=1) for j in range(m.N)],
                 axis=1)                                                                      # (R, N)
    c = x @ m.costs[0 if m.stationary else t]
    return u.sum(axis=1, keepdims=True) - u - c[:, None]


def team_mechanism(model, policy: EfficientPolicy | None = None, method: str = "policy_iteration") -> MarkovMechanism:
    """Team mechanism for an Environment or JointModel (finite or stationary horizon)."""
    m = _as_model(model)
    pol = policy if policy is not None else efficient_policy(m, method=method)
    pays = [np.broadcast_to(-others_surplus(m, pol, tt)[None], (P, m.n_profiles(tt), m.N)).copy()
            for _, tt, P in _periods(m)]
    return MarkovMechanism(m, policy_allocation(pol), pays, name="team",
                           meta={"policy": pol, "construction": "team (Athey-Segal 2007, section 4)"})
