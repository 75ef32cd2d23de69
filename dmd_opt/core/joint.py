r"""The joint type process: the state space of efficient dynamic mechanisms.

For agents :math:`i = 1..N` with private values, period ``t`` (0-based) has type
profiles :math:`\theta_t \in \prod_i \Theta_{i,t}` numbered by the C-order ravel
index (the same numbering as :mod:`dmd_opt.core.tree`: the last agent's type varies
fastest), decisions :math:`a \in A_t`, flow utilities :math:`u_{i,t}(a, \theta_i)`
and a principal cost :math:`c_t(a)`.  The profile evolves by a *joint* kernel

.. math::  \mu_t(\theta_{t+1} \mid \theta_t, a_t),

which for an :class:`~dmd_opt.core.environment.Environment` (independent types, docs/theory.md#environments)
is the product :math:`\prod_i P_{i,t}(\theta_{i,t+1}\mid\theta_{i,t}, a_t)` — a
Kronecker product of the agents' matrices — and may be any joint kernel for the
correlated-types counter-example (Athey–Segal §5: balancing needs independence).

A :class:`JointModel` is what the efficient policy (a finite MDP on profiles,
:mod:`dmd_opt.dp.mdp`), the team / pivot / balanced / AGV constructions and the
ex-post verifier (:mod:`dmd_opt.verify.expost`) work on.  ``agents=`` restricts
it to a subset of agents (the others' welfare problem :math:`W_{-i}` of the pivot
mechanism, Bergemann–Välimäki 2010), which needs independent types.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cached_property
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from dmd_opt.core import validation as V
from dmd_opt.core.environment import Environment, _parse_types
from dmd_opt.core.errors import ModelError
from dmd_opt.core.limits import check_count, check_dense, check_periods, product
from dmd_opt.core.model import DynamicModel, kron_all, product_kernel


MAX_PROFILES = 4096   # the default of the ``profiles`` limit (dmd_opt.core.limits)


def check_profiles(env: Environment) -> None:
    """Refuse a joint type space too large for dense joint kernels (before any is built).

    Per period: ``R_t`` profiles against the ``profiles`` limit, and the dense kernel
    :math:`|A_t| \times R_t \times R_{t+1}` (plus a transposed copy) against ``memory``.
    """
    periods = env.periods
    R = [product(env.profile_shape(t)) for t in range(periods)]
    for t in range(periods):
        check_count("agents", R[t], "profiles", noun="profiles",
                    what=f"period {t + 1}'s joint type space (product of the agents' types) would have",
                    alternative="use fewer agents or types")
        nxt = R[t + 1] if t + 1 < periods else R[0]
        check_dense("agents", (env.n_decisions(t), R[t], nxt), copies=2,
                    what=f"period {t + 1}'s joint transition kernel would take",
                    alternative="use fewer agents, types or decisions")


@dataclass(eq=False)
class JointModel(DynamicModel):
    """Finite profile-state description (see module docstring).

    ``shapes[t]``: types per agent; ``utilities[t][i]``: (|A_t|, n_{i,t}) with private values
    or (|A_t|, R_t) with ``interdependent=True``; ``costs[t]``: (|A_t|,); ``initial``: (R_0,)
    joint distribution of the first profile; ``kernels[t]``: (|A_t|, R_t, R_{t+1}) joint
    transition (t < T−1; one entry when stationary); ``period_type_values[t][i]``: the type
    values.  ``agent_kernels[t][i]`` (|A_t|, n, n') is kept when the types are independent.
    """

    shapes: list[tuple[int, ...]]
    utilities: list[list[np.ndarray]]
    costs: list[np.ndarray]
    initial: np.ndarray
    kernels: list[np.ndarray]
    horizon: int | None
    discount: float
    decision_labels: list[tuple[str, ...]]
    period_type_values: list[list[np.ndarray]]
    agent_names: list[str]
    independent: bool = True
    agent_initial_laws: list[np.ndarray] | None = None
    agent_kernels: list[list[np.ndarray]] | None = None
    name: str = "joint model"
    env: Environment | None = None
    agents_kept: tuple[int, ...] = ()
    meta: dict = field(default_factory=dict)
    period_type_labels: list[list[tuple[str, ...]]] | None = None
    interdependent: bool = False

    # ---- accessors (the rest comes from DynamicModel) ----------------------------------
    def type_values(self, i: int, t: int) -> np.ndarray:
        return self.period_type_values[self.period_index(t)][i]

    def type_labels(self, i: int, t: int) -> tuple[str, ...]:
        p = self.period_index(t)
        if self.period_type_labels is not None:
            return tuple(self.period_type_labels[p][i])
        return tuple(f"{v:g}" for v in self.period_type_values[p][i])

    def profile_shape(self, t: int) -> tuple[int, ...]:
        return tuple(self.shapes[self.period_index(t)])

    def cost(self, t: int) -> np.ndarray:
        return self.costs[self.period_index(t)]

    def kernel(self, t: int) -> np.ndarray:
        """(|A_t|, R_t, R_{t+1}) joint transition from period t."""
        return self.kernels[self.period_index(t)]

    def profile_utility(self, i: int, t: int) -> np.ndarray:
        """(R_t, |A_t|): u_{i,t}(a, θ) for every profile."""
        u = self.utilities[self.period_index(t)][i]
        if self.interdependent:
            return u.T
        return u[:, self.profile_digits(t)[:, i]].T

    def agent_initial(self, i: int) -> np.ndarray:
        if self.agent_initial_laws is not None:
            return self.agent_initial_laws[i]
        return super().agent_initial(i)

    def agent_transition(self, i: int, t: int) -> np.ndarray:
        if not self.independent or self.agent_kernels is None:
            raise ModelError("agents", "correlated types have no per-agent transition matrices")
        K = self.agent_kernels[self.period_index(t)][i]
        if K.shape[0] > 1 and float(np.ptp(K, axis=0).max()) > 0:
            raise ModelError(f"agents[{i}].transition", "depends on the decision")
        return K[0]

    def welfare_flow(self, t: int) -> np.ndarray:
        """(R_t, |A_t|): Σ_i u_{i,t}(a, θ) − c_t(a); decisions outside ``meta["allowed"]`` get −∞."""
        w = -np.broadcast_to(self.cost(t), (self.n_profiles(t), self.n_decisions(t))).copy()
        for i in range(self.N):
            w += self.profile_utility(i, t)
        allowed = self.meta.get("allowed")
        if allowed is not None:          # decisions infeasible in this (sub-)model
            w[:, ~allowed[self.period_index(t)]] = -np.inf
        return w

    def transition_matrix(self, t: int) -> sp.csr_matrix:
        """(R_t·|A_t|, R_{t+1}) CSR, row ``s*A + a`` (the :mod:`dmd_opt.dp.mdp` layout)."""
        K = self.kernel(t)
        return sp.csr_matrix(np.transpose(K, (1, 0, 2)).reshape(-1, K.shape[2]))

    @cached_property
    def payoff_scale(self) -> float:
        """A typical payoff size (largest |utility| or |cost|), for scaled tolerances."""
        m = max((float(np.max(np.abs(u))) if u.size else 0.0 for us in self.utilities for u in us), default=0.0)
        m = max([m] + [float(np.max(np.abs(c))) for c in self.costs])
        return max(1.0, m)

    # ---- sub-models --------------------------------------------------------------------
    def without(self, i: int) -> "JointModel":
        """The others-only model (agent ``i`` removed; same decisions and cost).

        ``meta["outside_options"][i]`` (decision indices), when given, restricts the others'
        problem to the decisions feasible without agent ``i`` (e.g. no trade without the
        seller); by default every decision stays available (Bergemann–Välimäki's setting,
        where excluding i just drops its utility)."""
        keep = [j for j in range(self.N) if j != i]
        sub = self.subset(keep)
        outside = self.meta.get("outside_options")
        if outside is not None and outside[i] is not None:
            allowed = []
            for t in range(len(self.costs)):
                mask = np.zeros(self.n_decisions(t), bool)
                mask[np.asarray(outside[i], dtype=np.int64)] = True
                allowed.append(mask)
            sub.meta = {**sub.meta, "allowed": allowed}
        return sub

    def subset(self, keep: Sequence[int]) -> "JointModel":
        if not self.independent or self.interdependent:
            raise ModelError("agents", "the welfare of a subset of agents needs independent types "
                                       "and private values")
        keep = list(keep)
        periods = len(self.shapes)
        shapes = [tuple(self.shapes[t][j] for j in keep) for t in range(periods)]
        utils = [[self.utilities[t][j] for j in keep] for t in range(periods)]
        ak = [[self.agent_kernels[t][j] for j in keep] for t in range(len(self.kernels))]
        kernels = [product_kernel(k, self.n_decisions(t)) for t, k in enumerate(ak)]
        ai = [self.agent_initial_laws[j] for j in keep]
        labels = None if self.period_type_labels is None else \
            [[self.period_type_labels[t][j] for j in keep] for t in range(periods)]
        return JointModel(shapes, utils, list(self.costs), kron_all([a[None, :] for a in ai]).ravel(),
                          kernels, self.horizon, self.discount, self.decision_labels,
                          [[self.period_type_values[t][j] for j in keep] for t in range(periods)],
                          [self.agent_names[j] for j in keep], True, ai, ak,
                          f"{self.name} without {','.join(str(j + 1) for j in range(self.N) if j not in keep)}",
                          self.env, tuple(self.agents_kept[j] for j in keep) if self.agents_kept else tuple(keep),
                          period_type_labels=labels)

    def with_discount(self, delta: float) -> "JointModel":
        m = copy.copy(self)
        m.discount = float(delta)
        m.__dict__.pop("payoff_scale", None)
        return m


def from_environment(env: Environment) -> JointModel:
    """The joint model of an :class:`Environment` (finite decisions): the product of the agents'
    laws, or the environment's joint (correlated) law."""
    if env.quantity is not None:
        raise ModelError("decisions.kind", "efficient mechanisms need finite decisions "
                         "('allocate' or 'table'); discretise the quantity model into a table")
    if env.reads_own_history:
        return _carry_persistent(env)
    N = env.n_agents
    periods = env.periods
    check_profiles(env)
    shapes = [env.profile_shape(t) for t in range(periods)]
    utils = [[env.utility(i, t) for i in range(N)] for t in range(periods)]
    costs = [env.cost(t) for t in range(periods)]
    ak = None
    if env.independent:
        ak = []
        for t in range(env.steps):
            nA = env.n_decisions(t)
            row = []
            for i in range(N):
                P = env.agents[i].transitions[t]
                row.append(np.broadcast_to(P, (nA,) + P.shape[-2:]) if P.ndim == 2 else P)
            ak.append(row)
    return JointModel(shapes, utils, costs, env.initial, [env.kernel(t) for t in range(env.steps)],
                      env.horizon, env.discount, [env.decisions(t) for t in range(periods)],
                      [[env.type_values(i, t) for i in range(N)] for t in range(periods)],
                      list(env.agent_names), env.independent,
                      [ag.initial for ag in env.agents] if env.independent else None, ak, env.name, env,
                      tuple(range(N)),
                      period_type_labels=[[env.type_labels(i, t) for i in range(N)] for t in range(periods)])


def _carry_persistent(env: Environment) -> JointModel:
    r"""The profile state of an environment with persistent agents: on the joint state a
    persistent agent's first type is carried along (its component of the state never moves),
    so every period's utility reads the current state.  Other utilities of the own type
    history have no Markov profile state and are refused.  The profile tree then differs from
    the environment's report tree (a persistent agent reports once there), so the model keeps
    the environment in ``meta["environment"]`` rather than as ``env``."""
    N, periods = env.n_agents, env.periods
    pers = []
    for i, sp in enumerate(env.own):
        if not sp.current_only and not sp.persistent:
            raise ModelError(f"agents[{i}].utility_of", "efficient mechanisms run on the type profile: they need "
                             "utilities of the current type (or persistent types)")
        pers.append(sp.persistent)
    n = lambda i, t: env.n_types(i, 0 if pers[i] else t)  # noqa: E731
    shapes = [tuple(n(i, t) for i in range(N)) for t in range(periods)]
    for t in range(periods):
        check_count("agents", product(shapes[t]), "profiles", noun="profiles",
                    what=f"period {t + 1}'s joint type space would have")
    utils = [[env.history_utility(i, t)[..., 0] if pers[i] and t > 0 else env.utility(i, t) for i in range(N)]
             for t in range(periods)]
    ak = []
    for t in range(env.steps):
        nA = env.n_decisions(t)
        ak.append([np.broadcast_to(np.eye(n(i, t)) if pers[i] else env.transition(i, t), (nA, n(i, t), n(i, t + 1)))
                   for i in range(N)])
    kernels = [product_kernel(k, env.n_decisions(t)) for t, k in enumerate(ak)]
    per = lambda i, t: 0 if pers[i] else t  # noqa: E731
    return JointModel(shapes, utils, [env.cost(t) for t in range(periods)], env.initial, kernels,
                      env.horizon, env.discount, [env.decisions(t) for t in range(periods)],
                      [[env.type_values(i, per(i, t)) for i in range(N)] for t in range(periods)],
                      list(env.agent_names), True, [ag.initial for ag in env.agents], ak, env.name, None,
                      tuple(range(N)), meta={"environment": env},
                      period_type_labels=[[env.type_labels(i, per(i, t)) for i in range(N)] for t in range(periods)])


# ------------------------------------------------------------------ correlated types
_CORR_KEYS = ("name", "horizon", "discount", "renormalize", "agents", "decisions",
              "joint_initial", "joint_transition")


def correlated_from_dict(data: dict, field_prefix: str = "") -> JointModel:
    """A joint-types model: an Environment-style table plus ``joint_initial`` (R_0 probabilities,
    C order over profiles) and, for T > 1, ``joint_transition`` — one (R, R) matrix (or one per
    period) of profile-to-profile probabilities, decision independent.

    The per-agent fields give types, names and decisions/utilities; their ``initial`` and
    ``transition`` entries (required by the Environment format) are replaced by the joint ones.
    """
    f = (lambda k: f"{field_prefix}{k}")
    V.mapping(data, field_prefix.rstrip("."), required=("agents", "decisions", "joint_initial"),
              optional=_CORR_KEYS)
    base = {k: v for k, v in data.items() if k not in ("joint_initial", "joint_transition")}
    hz = data.get("horizon", 1)
    horizon = None if hz == "infinite" else V.integer(hz, f("horizon"), lo=1)
    periods = 1 if horizon is None else horizon
    check_periods(f("horizon"), periods)
    # The Environment validator wants marginals; give it uniform placeholders of the right sizes
    # (sizes read from the validated type lists).
    agents = []
    for i, a in enumerate(V.sequence(data["agents"], f("agents"))):
        V.mapping(a, f(f"agents[{i}]"), required=("types",),
                  optional=("name", "types", "labels", "initial", "transition"))
        a = dict(a)
        vals, _labels = _parse_types(a, f(f"agents[{i}]"), periods)
        n = [len(v) for v in vals]
        a.setdefault("initial", [1.0 / n[0]] * n[0])
        if periods > 1 or horizon is None:
            if "transition" not in a:
                if horizon is None:
                    a["transition"] = np.eye(n[0]).tolist()
                else:
                    a["transition"] = [np.full((n[t], n[t + 1]), 1.0 / n[t + 1]).tolist()
                                       for t in range(periods - 1)]
        agents.append(a)
    base["agents"] = agents
    env = Environment.from_dict(base, field_prefix=field_prefix)
    m = from_environment(env)
    R0 = m.n_profiles(0)
    renorm = bool(data.get("renormalize", False))
    init = V.distribution(data["joint_initial"], f("joint_initial"), size=R0, renormalize=renorm)
    steps = env.steps
    kernels = m.kernels
    if steps and env.periods > 1 or env.stationary:
        if "joint_transition" not in data:
            raise ModelError(f("joint_transition"), "is required when the horizon is longer than one period")
        raw = data["joint_transition"]
        arr = V.array(raw, f("joint_transition"))
        mats = [raw] * steps if arr.ndim == 2 else list(raw)
        if len(mats) != steps:
            raise ModelError(f("joint_transition"), f"gives {len(mats)} matrices, expected {steps}")
        kernels = []
        for t, M in enumerate(mats):
            nxt = m.n_profiles(t + 1)
            P = V.stochastic_matrix(M, f(f"joint_transition[{t}]") if arr.ndim == 3 else f("joint_transition"),
                                    shape=(m.n_profiles(t), nxt), renormalize=renorm)
            kernels.append(np.broadcast_to(P, (m.n_decisions(t),) + P.shape).copy())
    elif "joint_transition" in data:
        raise ModelError(f("joint_transition"), "a one-period model has no transitions")
    m.initial = np.asarray(init, float)
    m.kernels = kernels
    m.independent = False
    m.agent_initial_laws = None
    m.agent_kernels = None
    m.name = data.get("name", "correlated model")
    m.env = None
    return m


def is_independent(m: JointModel, tol: float = 1e-12) -> bool:
    """True when the joint initial distribution is the product of its marginals (diagnostic)."""
    p = m.initial.reshape(m.profile_shape(0))
    prod = np.ones(())
    for i in range(m.N):
        marg = p.sum(axis=tuple(j for j in range(m.N) if j != i))
        prod = np.multiply.outer(prod, marg)
    return bool(np.max(np.abs(prod - p)) <= tol)
