r"""The efficient decision policy χ* on the joint type state (docs/theory.md#efficient-dynamic-mechanisms).

Finite horizon (backward induction, Puterman §4.5):

.. math::

    W_t(\theta) = \max_{a\in A_t} \Big[\sum_i u_{i,t}(a,\theta_i) - c_t(a)
        + \delta\, E\big[W_{t+1}(\theta') \mid a, \theta\big]\Big], \qquad W_T \equiv 0,

with decision-dependent joint transitions.  Stationary infinite horizon: the same
Bellman equation without ``t``, solved by policy iteration (default), value
iteration, modified policy iteration or the LP; ``method="blackwell"`` returns a
Blackwell-optimal policy (optimal for all δ close to 1; Puterman ch. 10), whose
discounted values at the model's δ are then computed exactly.

:func:`others_welfare` solves the same problem for the agents other than ``i``
(:math:`W_{-i}`, the pivot mechanism's outside option; Bergemann–Välimäki 2010).
Ties are broken towards the lowest decision index, so χ* is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dmd_opt.dp import mdp
from dmd_opt.core.errors import ModelError
from dmd_opt.core.joint import JointModel, from_environment

METHODS = ("policy_iteration", "value_iteration", "modified_policy_iteration", "lp", "blackwell")


@dataclass
class EfficientPolicy:
    """χ*: ``decision[t]`` (R_t,) decision index per profile (one entry when stationary);
    ``values[t]`` (R_t,) the optimal welfare :math:`W_t`; ``values[T]`` = 0 for finite horizons."""

    model: JointModel
    decision: list[np.ndarray]
    values: list[np.ndarray]
    method: str
    iterations: int
    info: dict = field(default_factory=dict)

    def at(self, t: int) -> np.ndarray:
        return self.decision[0 if self.model.stationary else t]

    def value(self, t: int) -> np.ndarray:
        return self.values[0 if self.model.stationary else t]

    def allocation(self, t: int) -> np.ndarray:
        """(R_t, |A_t|) one-hot lottery form of χ*_t."""
        d = self.at(t)
        x = np.zeros((d.size, self.model.n_decisions(t)))
        x[np.arange(d.size), d] = 1.0
        return x

    def chain(self) -> np.ndarray:
        """Stationary case: (R, R) profile transition matrix under χ*."""
        K = self.model.kernel(0)
        d = self.at(0)
        return K[d, np.arange(d.size), :]

    def expected_welfare(self) -> float:
        """Ex-ante optimal welfare :math:`E[W_0(\\theta_0)]`."""
        return float(self.model.initial @ self.value(0))


def _as_model(m) -> JointModel:
    return m if isinstance(m, JointModel) else from_environment(m)


def efficient_policy(model, method: str = "policy_iteration", tol: float = 1e-10, backend: str = "highs",
                     solver: str | None = None) -> EfficientPolicy:
    """Efficient policy for an Environment or :class:`JointModel` (see module docstring)."""
    m = _as_model(model)
    if method not in METHODS:
        raise ModelError("solve.horizon_method", f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    delta = m.discount
    if not m.stationary:
        T = m.horizon
        R = [m.welfare_flow(t) for t in range(T)]
        P = [m.transition_matrix(t) for t in range(T - 1)]
        P.append(np.zeros((R[-1].size, 1)))  # the process ends after period T
        res = mdp.backward_induction(R, P, delta, terminal=np.zeros(1))
        dec = [np.asarray(p, np.int64) for p in res.policy]
        return EfficientPolicy(m, dec, list(res.values[:T]) + [np.zeros(1)], "backward_induction", T)
    R = m.welfare_flow(0)
    P = m.transition_matrix(0)
    if method == "policy_iteration":
        res = mdp.policy_iteration(R, P, delta)
    elif method == "value_iteration":
        res = mdp.value_iteration(R, P, delta, tol=tol)
    elif method == "modified_policy_iteration":
        res = mdp.modified_policy_iteration(R, P, delta, tol=tol)
    elif method == "lp":
        res = mdp.lp_solve(R, P, delta, backend=backend, solver=solver)
        if res.policy is None:
            raise ModelError("solve.horizon_method", f"the MDP LP failed: {res.info.get('status')}")
    else:
        res = mdp.blackwell_optimal(R, P)
    sigma = np.asarray(res.policy, np.int64)
    if method in ("blackwell", "value_iteration", "modified_policy_iteration", "lp"):
        values = mdp.policy_value(R, P, delta, sigma)   # exact discounted value of the policy
    else:
        values = res.values
    info = {"converged": res.converged}
    if method == "blackwell":
        info.update({"gain": res.values, "bias": res.info["bias"],
                     "delta_threshold": res.info["delta_threshold"]})
    return EfficientPolicy(m, [sigma], [values], method, res.iterations, info)


def others_welfare(model, i: int, method: str = "policy_iteration") -> EfficientPolicy:
    """:math:`W_{-i}`: the efficient policy and welfare of the agents other than ``i``."""
    m = _as_model(model)
    # W_{-i} is needed at the model's δ; a Blackwell policy is δ-optimal only above its threshold.
    return efficient_policy(m.without(i), method="policy_iteration" if method == "blackwell" else method)


def profile_to_others(m: JointModel, t: int, i: int) -> np.ndarray:
    """(R_t,) index of θ_{-i} (C order over the others) for every profile θ."""
    d = m.profile_digits(t)
    keep = [j for j in range(m.N) if j != i]
    if not keep:
        return np.zeros(m.n_profiles(t), dtype=np.int64)
    return np.ravel_multi_index(tuple(d[:, keep].T), tuple(m.profile_shape(t)[j] for j in keep))
