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
Ties among optimal decisions follow a stated rule (:mod:`dmd_opt.dp.ties`): the first-listed
decision (default), the last-listed, an explicit order of decision labels, or a uniform
lottery over the tied decisions — then χ* is a randomised policy, ``lottery[t]`` holds it and
every mechanism built on it (team, pivot, balanced, AGV) charges transfers consistent with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dmd_opt.dp import mdp, ties
from dmd_opt.core.errors import ModelError
from dmd_opt.core.joint import JointModel, from_environment

METHODS = ("policy_iteration", "value_iteration", "modified_policy_iteration", "lp", "blackwell")


@dataclass
class EfficientPolicy:
    """χ*: ``decision[t]`` (R_t,) decision index per profile (one entry when stationary; under a
    uniform tie rule the first tied decision, a representative); ``lottery[t]`` (R_t, |A_t|) the
    policy as a lottery over decisions (one-hot unless ties are randomised); ``values[t]`` (R_t,)
    the welfare :math:`W_t` of the policy; ``values[T]`` = 0 for finite horizons; ``tie_break``
    the tie rule applied."""

    model: JointModel
    decision: list[np.ndarray]
    values: list[np.ndarray]
    method: str
    iterations: int
    info: dict = field(default_factory=dict)
    lottery: list[np.ndarray] | None = None
    tie_break: ties.TieBreak = field(default_factory=ties.TieBreak)

    def at(self, t: int) -> np.ndarray:
        return self.decision[0 if self.model.stationary else t]

    def value(self, t: int) -> np.ndarray:
        return self.values[0 if self.model.stationary else t]

    def allocation(self, t: int) -> np.ndarray:
        """(R_t, |A_t|) lottery form of χ*_t (one-hot unless ties are randomised)."""
        if self.lottery is not None:
            return self.lottery[0 if self.model.stationary else t].copy()
        d = self.at(t)
        x = np.zeros((d.size, self.model.n_decisions(t)))
        x[np.arange(d.size), d] = 1.0
        return x

    def chain(self) -> np.ndarray:
        """Stationary case: (R, R) profile transition matrix under χ*."""
        return np.einsum("sa,asr->sr", self.allocation(0), self.model.kernel(0))

    def expected_welfare(self) -> float:
        """Ex-ante optimal welfare :math:`E[W_0(\\theta_0)]`."""
        return float(self.model.initial @ self.value(0))


def _as_model(m) -> JointModel:
    return m if isinstance(m, JointModel) else from_environment(m)


def efficient_policy(model, method: str = "policy_iteration", tol: float = 1e-10, backend: str = "highs",
                     solver: str | None = None, tie_break=None) -> EfficientPolicy:
    """Efficient policy for an Environment or :class:`JointModel` (see module docstring).

    ``tie_break``: ``"lowest"`` (default), ``"highest"``, ``"uniform"`` or a list of decision
    labels (:func:`dmd_opt.dp.ties.tie_break`).  ``method="blackwell"`` keeps its own choice
    among δ-optimal decisions (the Blackwell-optimal one) and accepts no other rule."""
    m = _as_model(model)
    if method not in METHODS:
        raise ModelError("solve.horizon_method", f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    given = tie_break is not None
    tb = ties.tie_break(tie_break, labels=m.decision_labels)
    delta = m.discount
    if not m.stationary:
        T = m.horizon
        R = [m.welfare_flow(t) for t in range(T)]
        P = [m.transition_matrix(t) for t in range(T - 1)]
        P.append(np.zeros((R[-1].size, 1)))  # the process ends after period T
        tp = ties.backward_induction(R, P, delta, tb, m.decision_labels, m.payoff_scale, terminal=np.zeros(1))
        if tb.randomised:
            for t in range(T - 1):
                _check_public_lottery(m, t, tp.lottery[t])
        return EfficientPolicy(m, tp.decision, tp.values[:T] + [np.zeros(1)], "backward_induction", T,
                               {"tie_break": tb.to_dict(), "tied_profiles": tp.tied_states}, tp.lottery, tb)
    if method == "blackwell" and given:
        raise ModelError("solve.tie_break", "horizon_method 'blackwell' chooses among δ-optimal decisions by "
                                            "optimality for δ near 1; choose another horizon_method for a tie rule")
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
                     "delta_threshold": res.info["delta_threshold"],
                     "tie_break": {"rule": "blackwell", "note": "the Blackwell-optimal decision"}})
        return EfficientPolicy(m, [sigma], [values], method, res.iterations, info, None, tb)
    tp = ties.stationary_policy(R, P, delta, values, tb, m.decision_labels[0], m.payoff_scale)
    if tb.randomised:
        _check_public_lottery(m, 0, tp.lottery[0])
    info.update({"tie_break": tb.to_dict(), "tied_profiles": tp.tied_states})
    return EfficientPolicy(m, tp.decision, tp.values, method, res.iterations, info, tp.lottery, tb)


def _check_public_lottery(m: JointModel, t: int, lottery: np.ndarray) -> None:
    """A lottery may only mix decisions with the same type transition at that profile: the
    mechanisms and verifiers condition on reports, and a realised decision that moved the
    types' law would carry information the reports do not."""
    K = m.kernel(t)                                          # (A, R, R')
    for r in np.flatnonzero((lottery > 0).sum(axis=1) > 1):
        a = np.flatnonzero(lottery[r] > 0)
        if np.max(np.abs(K[a, r, :] - K[a[0], r, :])) > 1e-12:
            labels = m.decision_labels[0 if m.stationary else t]
            raise ModelError("solve.tie_break", f"'uniform' would randomise between {labels[a[0]]!r} and "
                                                f"{labels[a[1]]!r}, which lead to different type transitions "
                                                f"(period {t + 1}); the realised decision would be public "
                                                f"information the mechanism ignores — use a deterministic rule")


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
