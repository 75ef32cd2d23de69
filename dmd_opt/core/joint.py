r"""The joint type process: the state space of efficient dynamic mechanisms.

For agents :math:`i = 1..N` with private values, period ``t`` (0-based) has type
profiles :math:`\theta_t \in \prod_i \Theta_{i,t}` numbered by the C-order ravel
index (the same numbering as :mod:`dmd_opt.core.tree`: the last agent's type varies
fastest), decisions :math:`a \in A_t`, flow utilities :math:`u_{i,t}(a, \theta_i)`
and a principal cost :math:`c_t(a)`.  The profile evolves by a *joint* kernel

.. math::  \mu_t(\theta_{t+1} \mid \theta_t, a_t),

which for an :class:`~dmd_opt.core.environment.Environment` (independent types, SPEC §1)
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

from dataclasses import dataclass, field
from functools import cached_property
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from dmd_opt.core import validation as V
from dmd_opt.core.environment import Environment, _parse_types
from dmd_opt.core.errors import ModelError
from dmd_opt.core.limits import check_count, check_dense, check_periods, product


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


def _kron_all(mats: Sequence[np.ndarray]) -> np.ndarray:
    out = np.ones((1, 1))
    for m in mats:
        out = np.kron(out, m)
    return out


@dataclass(eq=False)
class JointModel:
    """Finite profile-state description (see module docstring).

    ``shapes[t]``: types per agent; ``utilities[t][i]``: (|A_t|, n_{i,t});
    ``costs[t]``: (|A_t|,); ``initial``: (R_0,) joint distribution of the first
    profile; ``kernels[t]``: (|A_t|, R_t, R_{t+1}) joint transition (t < T−1; one
    entry when stationary).  ``agent_kernels[t][i]`` (|A_t|, n, n') is kept when the
    types are independent.
    """

    shapes: list[tuple[int, ...]]
    utilities: list[list[np.ndarray]]
    costs: list[np.ndarray]
    initial: np.ndarray
    kernels: list[np.ndarray]
    horizon: int | None
    discount: float
    decision_labels: list[tuple[str, ...]]
    type_values: list[list[np.ndarray]]
    agent_names: list[str]
    independent: bool = True
    agent_initial: list[np.ndarray] | None = None
    agent_kernels: list[list[np.ndarray]] | None = None
    name: str = "joint model"
    env: Environment | None = None
    agents_kept: tuple[int, ...] = ()
    meta: dict = field(default_factory=dict)

    # ---- accessors -----------------------------------------------------------------
    @property
    def N(self) -> int:
        return len(self.shapes[0])

    @property
    def stationary(self) -> bool:
        return self.horizon is None

    @property
    def periods(self) -> int:
        return 1 if self.horizon is None else self.horizon

    def _p(self, t: int) -> int:
        return 0 if self.horizon is None else t

    def shape(self, t: int) -> tuple[int, ...]:
        return self.shapes[self._p(t)]

    def R(self, t: int) -> int:
        return int(np.prod(self.shape(t), dtype=np.int64)) if self.N else 1

    def n_decisions(self, t: int) -> int:
        return len(self.costs[self._p(t)])

    def kernel(self, t: int) -> np.ndarray:
        """(|A_t|, R_t, R_{t+1}) joint transition from period t."""
        return self.kernels[self._p(t)]

    def digits(self, t: int) -> np.ndarray:
        """(R_t, N) the types of each agent in every profile."""
        R = self.R(t)
        if self.N == 0:
            return np.zeros((1, 0), dtype=np.int64)
        return np.stack(np.unravel_index(np.arange(R), self.shape(t)), axis=-1)

    def agent_utility(self, i: int, t: int) -> np.ndarray:
        """(R_t, |A_t|): u_{i,t}(a, θ_i) for every profile."""
        u = self.utilities[self._p(t)][i]
        return u[:, self.digits(t)[:, i]].T

    def welfare_flow(self, t: int) -> np.ndarray:
        """(R_t, |A_t|): Σ_i u_{i,t}(a, θ_i) − c_t(a)."""
        w = -np.broadcast_to(self.costs[self._p(t)], (self.R(t), self.n_decisions(t))).copy()
        for i in range(self.N):
            w += self.agent_utility(i, t)
        allowed = self.meta.get("allowed")
        if allowed is not None:          # decisions infeasible in this (sub-)model
            w[:, ~allowed[self._p(t)]] = -np.inf
        return w

    def transition_matrix(self, t: int) -> sp.csr_matrix:
        """(R_t·|A_t|, R_{t+1}) CSR, row ``s*A + a`` (the :mod:`dmd_opt.dp.mdp` layout)."""
        K = self.kernel(t)
        return sp.csr_matrix(np.transpose(K, (1, 0, 2)).reshape(-1, K.shape[2]))

    @cached_property
    def scale(self) -> float:
        m = max(float(np.max(np.abs(u))) if u.size else 0.0 for us in self.utilities for u in us)
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
        if not self.independent:
            raise ModelError("agents", "the welfare of a subset of agents needs independent types")
        keep = list(keep)
        periods = len(self.shapes)
        shapes = [tuple(self.shapes[t][j] for j in keep) for t in range(periods)]
        utils = [[self.utilities[t][j] for j in keep] for t in range(periods)]
        ak = [[self.agent_kernels[t][j] for j in keep] for t in range(len(self.kernels))]
        kernels = [_product_kernel(k, self.n_decisions(t)) for t, k in enumerate(ak)]
        ai = [self.agent_initial[j] for j in keep]
        return JointModel(shapes, utils, list(self.costs), _kron_all([a[None, :] for a in ai]).ravel(),
                          kernels, self.horizon, self.discount, self.decision_labels,
                          [[self.type_values[t][j] for j in keep] for t in range(periods)],
                          [self.agent_names[j] for j in keep], True, ai, ak,
                          f"{self.name} without {','.join(str(j + 1) for j in range(self.N) if j not in keep)}",
                          self.env, tuple(self.agents_kept[j] for j in keep) if self.agents_kept else tuple(keep))

    def with_discount(self, delta: float) -> "JointModel":
        import copy
        m = copy.copy(self)
        m.discount = float(delta)
        m.__dict__.pop("scale", None)
        return m


def _product_kernel(agent_kernels: Sequence[np.ndarray], n_decisions: int) -> np.ndarray:
    """Kronecker product of per-agent kernels (|A|, n_j, n_j') → (|A|, R, R')."""
    if not agent_kernels:
        return np.ones((n_decisions, 1, 1))
    return np.stack([_kron_all([k[a] for k in agent_kernels]) for a in range(n_decisions)])


def from_environment(env: Environment) -> JointModel:
    """The product joint model of an independent-types :class:`Environment` (finite decisions)."""
    if env.quantity is not None:
        raise ModelError("decisions.kind", "efficient mechanisms need finite decisions "
                         "('allocate' or 'table'); discretise the quantity model into a table")
    N = env.n_agents
    periods = env.periods
    check_profiles(env)
    steps = 1 if env.stationary else periods - 1
    shapes = [env.profile_shape(t) for t in range(periods)]
    utils = [[env.utility(i, t) for i in range(N)] for t in range(periods)]
    costs = [env.cost(t) for t in range(periods)]
    ak = []
    for t in range(steps):
        nA = env.n_decisions(t)
        row = []
        for i in range(N):
            P = env.agents[i].transitions[t]
            row.append(np.broadcast_to(P, (nA,) + P.shape[-2:]) if P.ndim == 2 else P)
        ak.append(row)
    kernels = [_product_kernel(k, env.n_decisions(t)) for t, k in enumerate(ak)]
    ai = [env.agents[i].initial for i in range(N)]
    return JointModel(shapes, utils, costs, _kron_all([a[None, :] for a in ai]).ravel(), kernels,
                      env.horizon, env.discount, [env.decisions(t) for t in range(periods)],
                      [[env.type_values(i, t) for i in range(N)] for t in range(periods)],
                      [ag.name for ag in env.agents], True, ai, ak, env.name, env, tuple(range(N)))


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
    R0 = m.R(0)
    renorm = bool(data.get("renormalize", False))
    init = V.distribution(data["joint_initial"], f("joint_initial"), size=R0, renormalize=renorm)
    steps = 1 if env.stationary else env.periods - 1
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
            nxt = m.R(t + 1)
            P = V.stochastic_matrix(M, f(f"joint_transition[{t}]") if arr.ndim == 3 else f("joint_transition"),
                                    shape=(m.R(t), nxt), renormalize=renorm)
            kernels.append(np.broadcast_to(P, (m.n_decisions(t),) + P.shape).copy())
    elif "joint_transition" in data:
        raise ModelError(f("joint_transition"), "a one-period model has no transitions")
    m.initial = np.asarray(init, float)
    m.kernels = kernels
    m.independent = False
    m.agent_initial = None
    m.agent_kernels = None
    m.name = data.get("name", "correlated model")
    m.env = None
    return m


def is_independent(m: JointModel, tol: float = 1e-12) -> bool:
    """True when the joint initial distribution is the product of its marginals (diagnostic)."""
    p = m.initial.reshape(m.shape(0))
    prod = np.ones(())
    for i in range(m.N):
        marg = p.sum(axis=tuple(j for j in range(m.N) if j != i))
        prod = np.multiply.outer(prod, marg)
    return bool(np.max(np.abs(prod - p)) <= tol)
