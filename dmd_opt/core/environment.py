r"""Finite dynamic environments (docs/theory.md#environments).

An :class:`Environment` describes, for agents :math:`i = 1..N` and periods
:math:`t = 1..T` (or a stationary infinite horizon),

* a finite ordered type set :math:`\Theta_{i,t}` with real values
  :math:`v_{i,t}(\theta)` (and optional labels),
* an initial distribution :math:`\pi_i` over :math:`\Theta_{i,1}` and Markov
  transitions :math:`P_{i,t}(\theta'\mid\theta)` from :math:`\Theta_{i,t}` to
  :math:`\Theta_{i,t+1}` (non-stationary allowed; optionally depending on the
  public decision :math:`a_t`),
* finite decision sets :math:`A_t`, private-value utilities
  :math:`u_{i,t}(a, \theta_i)` as tables of shape :math:`|A_t| \times |\Theta_{i,t}|`
  and a principal cost :math:`c_t(a)`;
* or, instead of finite decisions, the *quantity* family: each agent gets
  :math:`q_i \in [0, \bar q]` (or :math:`q_i \ge 0` without a cap when :math:`c_2 > 0`),
  :math:`u_i = \theta_i q_i`, and the principal pays
  :math:`c(q_i) = c_1 q_i + \tfrac12 c_2 q_i^2` (a convex QP; Mussa–Rosen).

Types are independent across agents unless the model gives a *joint law*: a distribution
:math:`\pi(\theta_1,\dots,\theta_N)` of the first profile (``joint_initial``) and, for longer
horizons, profile-to-profile transitions :math:`\mu_t(\theta_{t+1}\mid\theta_t)`
(``joint_transition``) — correlated types (Crémer–McLean 1988), decision-independent.  An
Environment is the private-value specialisation of the environment core
:class:`dmd_opt.core.model.DynamicModel`, whose joint views (``initial``, ``kernel(t)``,
``profile_utility``) it provides as products over the agents, or from the joint law.
Periods are 0-based in code
(``t = 0`` is the math's period 1).  Environments are immutable: arrays are
made read-only at construction.

Example
-------
>>> env = Environment.from_dict({
...     "horizon": 1,
...     "agents": [{"types": [1, 2, 3], "initial": [0.25, 0.5, 0.25]}],
...     "decisions": {"kind": "allocate"}})
>>> env.n_agents, env.horizon, env.decisions(0)
(1, 1, ('keep', 'sell to agent 1'))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Sequence

import numpy as np

from dmd_opt.core import validation as V
from dmd_opt.core.errors import ModelError
from dmd_opt.core.limits import check_count, check_dense, check_periods, product
from dmd_opt.core.model import DynamicModel, check_discount, check_horizon, kron_all, product_kernel
from dmd_opt.core.own_history import OwnSpec, parse_own, persistent_table, table_shape, value_table


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class QuantityModel:
    """Continuous quantity decisions: :math:`q_i\\in[0,\\bar q]`, cost :math:`c_1q+c_2q^2/2`."""

    qmax: float
    cost_linear: float = 0.0
    cost_quadratic: float = 0.0

    def cost(self, q):
        q = np.asarray(q, dtype=float)
        return self.cost_linear * q + 0.5 * self.cost_quadratic * q * q

    @property
    def bounded(self) -> bool:
        """False when ``qmax`` was left out (q ≥ 0 only; needs ``cost_quadratic > 0``)."""
        return bool(np.isfinite(float(self.qmax)))       # float(): qmax may be an exact rational (certificates)

    def quantity_bound(self, vmax: float) -> float:
        """A bound on every quantity worth producing for marginal values ≤ ``vmax``:
        ``qmax``, or without it the first-best quantity :math:`(v_{max}-c_1)/c_2` of the top value."""
        if self.bounded:
            return self.qmax
        return max(0.0, (vmax - self.cost_linear) / self.cost_quadratic)


@dataclass(frozen=True, eq=False)
class Agent:
    """One agent's private-type process.

    ``type_values[t]`` are the values of :math:`\\Theta_{i,t}`; ``transitions[t]``
    maps period ``t`` to ``t+1`` and has shape ``(n_t, n_{t+1})`` or, when it
    depends on the decision, ``(|A_t|, n_t, n_{t+1})``.
    """

    name: str
    type_values: tuple[np.ndarray, ...]
    type_labels: tuple[tuple[str, ...], ...]
    initial: np.ndarray
    transitions: tuple[np.ndarray, ...]


@dataclass(frozen=True, eq=False)
class JointLaw:
    """Correlated types: ``initial`` (R_0,) the law of the first profile and ``kernels[t]``
    (R_t, R_{t+1}) the profile-to-profile transitions (one entry when stationary); profiles are
    numbered in C order (the last agent's type varies fastest)."""

    initial: np.ndarray
    kernels: tuple[np.ndarray, ...]


@dataclass(frozen=True, eq=False)
class Environment(DynamicModel):
    """A validated finite environment.  Build with :meth:`from_dict` or :func:`dmd_opt.load`.

    For a stationary infinite horizon (``horizon is None``) every per-period
    list has length 1 and the accessors return the same data for every ``t``.
    """

    agents: tuple[Agent, ...]
    horizon: int | None
    discount: float
    decision_labels: tuple[tuple[str, ...], ...]
    utilities: tuple[tuple[np.ndarray, ...], ...]  # [agent][period] -> (|A_t|, n_{i,t})
    costs: tuple[np.ndarray, ...]                  # [period] -> (|A_t|,)
    quantity: QuantityModel | None = None
    name: str = "environment"
    source: dict = field(default_factory=dict, repr=False)  # the validated input, for fingerprints
    joint: JointLaw | None = None                  # correlated types (None: independent agents)
    own: tuple[OwnSpec, ...] = ()                  # per agent: the own periods its utilities read

    @property
    def independent(self) -> bool:
        """True unless the model gives a joint (correlated) law of the types."""
        return self.joint is None

    # ---- accessors (t is 0-based; horizon, profiles and decisions come from DynamicModel) ----
    @property
    def n_agents(self) -> int:
        return len(self.agents)

    @property
    def agent_names(self) -> tuple[str, ...]:
        return tuple(ag.name for ag in self.agents)

    def type_values(self, i: int, t: int) -> np.ndarray:
        return self.agents[i].type_values[self.period_index(t)]

    def type_labels(self, i: int, t: int) -> tuple[str, ...]:
        return self.agents[i].type_labels[self.period_index(t)]

    def utility(self, i: int, t: int) -> np.ndarray:
        """Table :math:`u_{i,t}(a,\\theta_i)` of shape ``(|A_t|, n_{i,t})`` (utilities of the current type)."""
        if self.utility_periods(i, t) != (t,):
            raise ModelError(f"agents[{i}].utility_of", f"period {t + 1}'s utility reads earlier own types "
                             f"{tuple(s + 1 for s in self.utility_periods(i, t))}: this program needs utilities of "
                             "the current type")
        return self.utilities[i][self.period_index(t)]

    def utility_periods(self, i: int, t: int) -> tuple[int, ...]:
        """The own periods (0-based) u_{i,t} reads: ``(t,)`` unless the agent declares
        ``utility_of`` or ``persistent`` (:mod:`dmd_opt.core.own_history`)."""
        return self.own[i].periods[t] if self.own and self.horizon is not None else (t,)

    def history_utility(self, i: int, t: int) -> np.ndarray:
        """u_{i,t} over the periods it reads: (|A_t|, n_{i,s}, …) — or, in the quantity family, the
        unit values (n_{i,s}, …)."""
        u = self.utilities[i][self.period_index(t)]
        return u[0] if self.quantity is not None else u

    @property
    def reads_own_history(self) -> bool:
        """True when some utility reads an earlier own type (or an agent is persistent)."""
        return any(not sp.current_only for sp in self.own)

    def cost(self, t: int) -> np.ndarray:
        return self.costs[self.period_index(t)]

    def transition(self, i: int, t: int, a: int | None = None) -> np.ndarray:
        """:math:`P_{i,t}(\\theta'\\mid\\theta)` from period ``t`` to ``t+1`` (under decision ``a``)."""
        if self.joint is not None:
            raise ModelError(f"agents[{i}].transition", "types are correlated across agents: their law is the "
                             "joint one (joint_transition), not a matrix per agent")
        P = self.agents[i].transitions[self.period_index(t)]
        if P.ndim == 3:
            if a is None:
                raise ModelError(f"agents[{i}].transition", "depends on the decision; pass a")
            return P[a]
        return P

    def transition_depends_on_decision(self) -> bool:
        return any(P.ndim == 3 for ag in self.agents for P in ag.transitions)

    def agent_initial(self, i: int) -> np.ndarray:
        return self.agents[i].initial

    def agent_transition(self, i: int, t: int) -> np.ndarray:
        return self.transition(i, t)

    @property
    def decision_dependent(self) -> bool:
        """True when some agent's transition is given per decision."""
        return self.transition_depends_on_decision()

    # ---- joint views (DynamicModel): products over the independent agents ------------
    @cached_property
    def initial(self) -> np.ndarray:
        r"""(R_0,): distribution of the first profile, :math:`\prod_i \pi_i(\theta_i)` (or the joint law)."""
        if self.joint is not None:
            return self.joint.initial
        return _frozen(kron_all([ag.initial[None, :] for ag in self.agents]).ravel())

    @cached_property
    def _kernels(self) -> tuple[np.ndarray, ...]:
        if self.joint is not None:
            return tuple(_frozen(np.broadcast_to(K, (self.n_decisions(t),) + K.shape))
                         for t, K in enumerate(self.joint.kernels))
        out = []
        for t in range(self.steps):
            nA = self.n_decisions(t)
            mats = [np.broadcast_to(P, (nA,) + P.shape[-2:]) if P.ndim == 2 else P
                    for P in (ag.transitions[t] for ag in self.agents)]
            out.append(_frozen(product_kernel(mats, nA)))
        return tuple(out)

    def kernel(self, t: int) -> np.ndarray:
        """(|A_t|, R_t, R_{t+1}): the joint kernel, the Kronecker product of the agents' matrices
        (or the joint law's transition, the same for every decision)."""
        return self._kernels[self.period_index(t)]

    def profile_utility(self, i: int, t: int) -> np.ndarray:
        r"""(R_t, |A_t|): :math:`u_{i,t}(a, \theta_i)` at every profile (private values)."""
        return self.utility(i, t)[:, self.profile_digits(t)[:, i]].T

    @cached_property
    def payoff_scale(self) -> float:
        """A typical payoff size (largest |utility| or |cost|), for scaled tolerances (computed once:
        it reads every period's tables)."""
        if self.quantity is not None:      # unit values (the utilities' rows)
            vmax = max(float(np.max(np.abs(u))) for us in self.utilities for u in us)
            return max(1.0, vmax * self.quantity.quantity_bound(vmax))
        m = max(float(np.max(np.abs(u))) for us in self.utilities for u in us)
        m = max([m] + [float(np.max(np.abs(c))) for c in self.costs])
        return max(1.0, m)

    def with_updates(self, **changes) -> "Environment":
        """A new validated environment with some input fields replaced (e.g. ``discount``)."""
        src = dict(self.source)
        src.update(changes)
        return Environment.from_dict(src)

    # ---- construction ----------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict, *, field_prefix: str = "") -> "Environment":
        """Validate a plain dict (e.g. a parsed TOML table) into an Environment.

        Keys: ``name``, ``horizon`` (int ≥ 1 or ``"infinite"``), ``discount`` (in (0, 1], below 1
        for an infinite horizon; default 0.95), ``renormalize`` (bool), ``agents`` (list), ``decisions`` (table), and for
        correlated types ``joint_initial`` / ``joint_transition`` (then no agent has ``initial`` or
        ``transition``).  See ``docs/model_format.md`` for the full format.
        """
        f = (lambda k: f"{field_prefix}{k}")
        V.mapping(data, field_prefix.rstrip("."),
                  required=("agents", "decisions"),
                  optional=("name", "horizon", "discount", "renormalize", "joint_initial", "joint_transition"))
        name = data.get("name", "environment")
        if not isinstance(name, str):
            raise ModelError(f("name"), "expected a string")
        horizon = check_horizon(data.get("horizon", 1), f("horizon"))
        discount = check_discount(data.get("discount", 0.95), f("discount"), horizon=horizon)
        renorm = V.boolean(data.get("renormalize", False), f("renormalize"))
        periods = 1 if horizon is None else horizon
        check_periods(f("horizon"), periods)      # before any per-period table is built

        agents_raw = V.sequence(data["agents"], f("agents"))
        agent_types = [_parse_types(a, f(f"agents[{i}]"), periods) for i, a in enumerate(agents_raw)]
        N = len(agents_raw)
        specs = []
        for i, a in enumerate(agents_raw):
            vals, labs, spec = parse_own(a, f(f"agents[{i}]"), periods, horizon is None, *agent_types[i])
            agent_types[i] = (vals, labs)
            specs.append(spec)
            if not spec.current_only and ("joint_initial" in data or "joint_transition" in data):
                raise ModelError(f(f"agents[{i}].utility_of" if not spec.persistent else f"agents[{i}].persistent"),
                                 "utilities of the own type history need independent types")

        dec = _parse_decisions(data["decisions"], f("decisions"), periods, N, agent_types, specs)
        decision_labels, utilities, costs, quantity = dec

        joint = None
        if "joint_initial" in data or "joint_transition" in data:
            joint = _parse_joint(data, f, horizon, [[len(v) for v in vals] for vals, _ in agent_types], renorm)
        agents = []
        for i, (a, (vals, labs)) in enumerate(zip(agents_raw, agent_types)):
            af = f(f"agents[{i}]")
            n1 = len(vals[0])
            if joint is not None:
                for k in ("initial", "transition", "transition_by_decision"):
                    if k in a:
                        raise ModelError(f"{af}.{k}", "the types' law is the joint one (joint_initial, "
                                         "joint_transition); remove the per-agent law")
                initial, trans = _marginal(joint.initial, [len(v[0]) for v, _ in agent_types], i), []
            else:
                initial = V.distribution(a.get("initial"), f"{af}.initial", size=n1,
                                         renormalize=renorm) if "initial" in a else None
                if initial is None:
                    raise ModelError(f"{af}.initial", "is required but missing")
                trans = _persistent_transitions(vals) if specs[i].persistent else \
                    _parse_transitions(a, af, horizon, vals, decision_labels, renorm, initial)
            agents.append(Agent(name=a.get("name", f"agent {i + 1}"),
                                type_values=tuple(_frozen(v) for v in vals),
                                type_labels=tuple(labs), initial=_frozen(initial),
                                transitions=tuple(_frozen(P) for P in trans)))
        return cls(agents=tuple(agents), horizon=horizon, discount=discount,
                   decision_labels=decision_labels,
                   utilities=tuple(tuple(_frozen(u) for u in us) for us in utilities),
                   costs=tuple(_frozen(c) for c in costs), quantity=quantity, name=name,
                   source=dict(data), joint=joint, own=tuple(specs))


_AGENT_KEYS = ("name", "types", "labels", "initial", "transition", "transition_by_decision", "iid",
               "utility_of", "persistent", "values")


def _parse_joint(data: dict, f, horizon: int | None, sizes: list[list[int]], renorm: bool) -> JointLaw:
    """``joint_initial``: the first profile's law, a flat vector over profiles in C order (last
    agent fastest) or an array of shape (n_1, …, n_N); ``joint_transition``: one (R_t, R_{t+1})
    matrix for every period, or a list of them (finite horizons)."""
    periods = 1 if horizon is None else horizon
    steps = 1 if horizon is None else horizon - 1
    shape = lambda t: tuple(n[t if horizon is not None else 0] for n in sizes)  # noqa: E731
    R = [int(np.prod(shape(t), dtype=np.int64)) for t in range(periods)]
    check_count(f("agents"), max(R), "profiles", noun="profiles", alternative="use fewer agents or types",
                what="the joint type space (product of the agents' types) would have")
    if steps:
        check_dense(f("joint_transition"), (max(R), max(R)), copies=steps)
    if "joint_initial" not in data:
        raise ModelError(f("joint_initial"), "is required with joint_transition (the first profile's law)")
    raw = V.array(data["joint_initial"], f("joint_initial"))
    if raw.shape == shape(0) and raw.ndim > 1:
        raw = raw.ravel()
    init = V.distribution(raw.tolist(), f("joint_initial"), size=R[0], renormalize=renorm)
    kernels = []
    if steps and (horizon is None or horizon > 1):
        if "joint_transition" not in data:
            raise ModelError(f("joint_transition"), "is required when the horizon is longer than one period")
        arr = V.array(data["joint_transition"], f("joint_transition"))
        if arr.ndim == 2:
            mats = [(data["joint_transition"], f("joint_transition"))] * steps
        elif arr.ndim == 3 and horizon is not None and arr.shape[0] == steps:
            mats = [(m, f(f"joint_transition[{t}]")) for t, m in enumerate(data["joint_transition"])]
        else:
            raise ModelError(f("joint_transition"), f"expected one R×R matrix or {steps} of them (period t → t+1)")
        for t, (m, fld) in enumerate(mats):
            nxt = R[0] if horizon is None else R[t + 1]
            kernels.append(_frozen(V.stochastic_matrix(m, fld, shape=(R[0] if horizon is None else R[t], nxt),
                                                       renormalize=renorm)))
    elif "joint_transition" in data:
        raise ModelError(f("joint_transition"), "a one-period model has no transitions")
    return JointLaw(_frozen(init), tuple(kernels))


def _marginal(joint: np.ndarray, shape: list[int], i: int) -> np.ndarray:
    p = np.asarray(joint, float).reshape(shape)
    return p.sum(axis=tuple(j for j in range(len(shape)) if j != i))


def _parse_types(a: Any, af: str, periods: int):
    """Per-period type values and labels.  A period's types are numbers (values) or strings
    (labels only: a signal such as an ex-ante type whose value no utility reads; its values
    are NaN and reading them is an error of the decision table)."""
    V.mapping(a, af, required=("types",), optional=_AGENT_KEYS)
    if "name" in a and not isinstance(a["name"], str):
        raise ModelError(f"{af}.name", "expected a string")
    raw = V.sequence(a["types"], f"{af}.types")
    if isinstance(raw[0], (list, tuple)):  # one list per period
        if len(raw) != periods:
            raise ModelError(f"{af}.types", f"gives {len(raw)} periods of types, horizon has {periods}")
        parsed = [_period_types(r, f"{af}.types[{t}]") for t, r in enumerate(raw)]
    else:
        parsed = [_period_types(raw, f"{af}.types")] * periods
    vals = [v for v, _ in parsed]
    if "labels" in a:
        lr = V.sequence(a["labels"], f"{af}.labels")
        if isinstance(lr[0], (list, tuple)):
            if len(lr) != periods:
                raise ModelError(f"{af}.labels", f"gives {len(lr)} periods of labels, horizon has {periods}")
            labs = [V.labels(x, f"{af}.labels[{t}]", size=len(vals[t])) for t, x in enumerate(lr)]
        else:
            labs = [V.labels(lr, f"{af}.labels", size=len(vals[t])) for t in range(periods)]
    else:
        labs = [lab if lab is not None else tuple(f"{x:g}" for x in v) for v, lab in parsed]
    return vals, labs


def _period_types(raw: Any, field: str):
    """(values, labels or None) of one period's type list: numbers, or distinct strings."""
    seq = V.sequence(raw, field)
    if all(isinstance(x, str) for x in seq):
        labs = V.labels(seq, field)
        return np.full(len(labs), np.nan), labs
    if any(isinstance(x, str) for x in seq):
        raise ModelError(field, "mixes numbers and labels: give the values (numbers) or only labels (strings)")
    return V.array(seq, field, ndim=1), None


def _parse_transitions(a, af, horizon, vals, decision_labels, renorm, initial=None) -> list[np.ndarray]:
    periods = 1 if horizon is None else horizon
    steps = 1 if horizon is None else horizon - 1  # transitions stored
    if "transition" in a and "transition_by_decision" in a:
        raise ModelError(f"{af}.transition", "give either transition or transition_by_decision, not both")
    if V.boolean(a.get("iid", False), f"{af}.iid"):
        return _iid_transitions(a, af, horizon, vals, initial)
    if steps == 0:
        if "transition" in a or "transition_by_decision" in a:
            raise ModelError(f"{af}.transition", "a one-period model has no transitions")
        return []
    nxt = (lambda t: len(vals[0]) if horizon is None else len(vals[t + 1]))
    if "transition" in a:
        raw = a["transition"]
        arr = V.array(raw, f"{af}.transition")
        if arr.ndim == 2:
            mats = [raw] * steps
            fields = [f"{af}.transition"] * steps
        elif arr.ndim == 3 and horizon is not None:
            if arr.shape[0] != steps:
                raise ModelError(f"{af}.transition", f"gives {arr.shape[0]} matrices, expected {steps} (one per period t→t+1)")
            mats, fields = list(raw), [f"{af}.transition[{t}]" for t in range(steps)]
        else:
            mats = [None]
            fields = [f"{af}.transition"]
            V.array(raw, fields[0], ndim=2)
        return [V.stochastic_matrix(m, fld, shape=(len(vals[t]), nxt(t)), renormalize=renorm)
                for t, (m, fld) in enumerate(zip(mats, fields))]
    if "transition_by_decision" in a:
        raw = a["transition_by_decision"]
        arr = V.array(raw, f"{af}.transition_by_decision")
        if arr.ndim == 3:
            mats, fields = [raw] * steps, [f"{af}.transition_by_decision"] * steps
        elif arr.ndim == 4 and horizon is not None and arr.shape[0] == steps:
            mats, fields = list(raw), [f"{af}.transition_by_decision[{t}]" for t in range(steps)]
        else:
            raise ModelError(f"{af}.transition_by_decision",
                             "expected [decision][type][next type] (or one such per period)")
        out = []
        for t, (m, fld) in enumerate(zip(mats, fields)):
            nA = len(decision_labels[0 if horizon is None else t])
            m = V.array(m, fld, ndim=3, shape=(nA, len(vals[t]), nxt(t)))
            out.append(np.stack([V.stochastic_matrix(m[k], f"{fld}[{k}]", shape=m.shape[1:],
                                                     renormalize=renorm) for k in range(nA)]))
        return out
    if periods > 1 or horizon is None:
        raise ModelError(f"{af}.transition", "is required when the horizon is longer than one period")
    return []


def _persistent_transitions(vals) -> list[np.ndarray]:
    """A persistent agent moves from its first type to the one "same" type of later periods."""
    return [np.ones((len(vals[t]), 1)) for t in range(len(vals) - 1)]


def _needs_values(v: np.ndarray, i: int, t: int, why: str) -> None:
    if np.any(np.isnan(v)):
        raise ModelError(f"agents[{i}].types", f"period {t + 1}'s types are labels without values, but {why}")


def _iid_transitions(a, af, horizon, vals, initial) -> list[np.ndarray]:
    """``iid = true``: every period's type is a fresh draw from ``initial`` (the same type set)."""
    for k in ("transition", "transition_by_decision"):
        if k in a:
            raise ModelError(f"{af}.{k}", "an i.i.d. agent (iid = true) has no transition: its types are "
                             "drawn from `initial` every period")
    n = len(vals[0])
    for t, v in enumerate(vals):
        if len(v) != n or not np.array_equal(v, vals[0], equal_nan=True):
            raise ModelError(f"{af}.types[{t}]", "an i.i.d. agent has the same types every period")
    steps = 1 if horizon is None else horizon - 1
    return [np.tile(np.asarray(initial, float), (n, 1)) for _ in range(steps)]


def _parse_decisions(d: Any, df: str, periods: int, N: int, agent_types, specs):
    """Return (labels per period, utilities[agent][period], costs[period], quantity).

    Utilities are tables with one axis per own period they read (:mod:`.own_history`)."""
    if not isinstance(d, dict):
        raise ModelError(df, f"expected a table, got {type(d).__name__}")
    kind = V.choice(d.get("kind", "allocate"), f"{df}.kind", ("allocate", "table", "quantity"))
    if kind == "allocate":
        # One indivisible good per active period: keep it or sell it to agent i.
        V.mapping(d, df, optional=("kind", "periods", "cost"))
        # each agent's table is (N + 1 decisions) × its types: N² entries over all agents
        cells = sum((N + 1) * sum(product(len(v) for v in vs) for vs in _read_sets(specs[i], agent_types[i][0]))
                    for i in range(N))
        check_dense("agents", (cells,), copies=2, what=f"the utility tables of {N} agents (N + 1 decisions "
                    "each: keep or sell to one of them) would take", alternative="use fewer agents or types")
        active = set(range(periods))
        if "periods" in d:
            ps = V.sequence(d["periods"], f"{df}.periods")
            active = set()
            for k, p in enumerate(ps):
                p = V.integer(p, f"{df}.periods[{k}]", lo=1)
                if p > periods:
                    raise ModelError(f"{df}.periods[{k}]", f"period {p} is beyond the horizon {periods}")
                active.add(p - 1)
        cost = d.get("cost", 0.0)
        if isinstance(cost, (list, tuple)):
            cost = V.array(cost, f"{df}.cost", ndim=1, shape=(periods,))
        else:
            cost = np.full(periods, V.real(cost, f"{df}.cost"))
        labels, utils, costs = [], [[] for _ in range(N)], []
        for t in range(periods):
            if t in active:
                labels.append(("keep",) + tuple(f"sell to agent {i + 1}" for i in range(N)))
                for i in range(N):
                    v = value_table(specs[i], agent_types[i][0], i, t, f"the good can be sold in period {t + 1} "
                                    f"(list the periods with a sale in {df}.periods)")
                    u = np.zeros((N + 1,) + v.shape)
                    u[i + 1] = v
                    utils[i].append(u)
                costs.append(np.r_[0.0, np.full(N, cost[t])])
            else:
                labels.append(("none",))
                for i in range(N):
                    utils[i].append(np.zeros(table_shape(specs[i], agent_types[i][0], 1, t)))
                costs.append(np.zeros(1))
        return tuple(labels), utils, tuple(costs), None
    if kind == "quantity":
        V.mapping(d, df, required=("kind",), optional=("qmax", "cost_linear", "cost_quadratic"))
        c1 = V.real(d.get("cost_linear", 0.0), f"{df}.cost_linear")
        c2 = V.real(d.get("cost_quadratic", 0.0), f"{df}.cost_quadratic", lo=0)
        if "qmax" in d:
            qmax = V.real(d["qmax"], f"{df}.qmax", lo=0, lo_open=True)
        elif c2 > 0:
            qmax = float("inf")      # q ≥ 0 only: the strictly convex cost bounds every optimum
        else:
            raise ModelError(f"{df}.qmax", "is required when cost_quadratic is 0 (with a linear cost "
                             "nothing bounds the quantity)")
        q = QuantityModel(qmax=qmax, cost_linear=c1, cost_quadratic=c2)
        utils = [[value_table(specs[i], agent_types[i][0], i, t, "quantity models value every unit")[None, ...]
                  for t in range(periods)] for i in range(N)]
        return tuple(("q",) for _ in range(periods)), utils, tuple(np.zeros(1) for _ in range(periods)), q
    # kind == "table"
    V.mapping(d, df, required=("kind", "labels", "utilities"), optional=("cost",))
    lr = V.sequence(d["labels"], f"{df}.labels")
    if isinstance(lr[0], (list, tuple)):
        if len(lr) != periods:
            raise ModelError(f"{df}.labels", f"gives {len(lr)} periods, horizon has {periods}")
        labels = tuple(V.labels(x, f"{df}.labels[{t}]") for t, x in enumerate(lr))
    else:
        labels = tuple([V.labels(lr, f"{df}.labels")] * periods)
    ur = V.sequence(d["utilities"], f"{df}.utilities")
    if len(ur) != N:
        raise ModelError(f"{df}.utilities", f"gives {len(ur)} agents, the model has {N}")
    utils = []
    for i, ui in enumerate(ur):
        fi = f"{df}.utilities[{i}]"
        if not specs[i].current_only:
            utils.append(_history_tables(ui, fi, specs[i], agent_types[i][0], labels, periods))
            continue
        if (isinstance(ui, (list, tuple)) and len(ui) == periods and periods > 1 and ui[0]
                and isinstance(ui[0], (list, tuple)) and isinstance(ui[0][0], (list, tuple))):
            # one table per period; their shapes may differ when the type sets do
            per = [(ui[t], f"{fi}[{t}]") for t in range(periods)]
            utils.append([V.array(u, fld, ndim=2, shape=(len(labels[t]), len(agent_types[i][0][t])))
                          for t, (u, fld) in enumerate(per)])
            continue
        arr = V.array(ui, fi)
        if arr.ndim == 2:
            per = [(ui, fi)] * periods
        elif arr.ndim == 3 and arr.shape[0] == periods:
            per = [(ui[t], f"{fi}[{t}]") for t in range(periods)]
        else:
            V.array(ui, fi, ndim=2)
            per = []
        utils.append([V.array(u, fld, ndim=2, shape=(len(labels[t]), len(agent_types[i][0][t])))
                      for t, (u, fld) in enumerate(per)])
    if "cost" in d:
        c = V.array(d["cost"], f"{df}.cost")
        if c.ndim == 1:
            costs = tuple(V.array(d["cost"], f"{df}.cost", shape=(len(labels[t]),)) for t in range(periods))
        else:
            if c.shape[0] != periods:
                raise ModelError(f"{df}.cost", f"gives {c.shape[0]} periods, horizon has {periods}")
            costs = tuple(V.array(d["cost"][t], f"{df}.cost[{t}]", shape=(len(labels[t]),)) for t in range(periods))
    else:
        costs = tuple(np.zeros(len(labels[t])) for t in range(periods))
    return labels, utils, costs, None


def _read_sets(spec: OwnSpec, vals: list) -> list[list]:
    """Per period, the type lists of the own periods its utility reads."""
    return [[vals[s] for s in p] for p in spec.periods]


def _history_tables(ui: Any, fi: str, spec: OwnSpec, vals: list, labels, periods: int) -> list[np.ndarray]:
    """One table per period over the own periods read (a persistent agent: (|A_t|, n_1), or one
    such table for every period)."""
    if spec.persistent and np.asarray(ui, dtype=object).ndim == 2:
        return [persistent_table(spec, ui, fi, len(labels[t]), vals, t) for t in range(periods)]
    seq = V.sequence(ui, fi)
    if len(seq) != periods:
        raise ModelError(fi, f"gives {len(seq)} tables; an agent whose utility reads its type history needs "
                         f"one per period ({periods})")
    out = []
    for t, u in enumerate(seq):
        fld = f"{fi}[{t}]"
        if spec.persistent:
            out.append(persistent_table(spec, u, fld, len(labels[t]), vals, t))
        else:
            out.append(V.array(u, fld, shape=table_shape(spec, vals, len(labels[t]), t)))
    return out


def environment(agents: Sequence[dict], decisions: dict, **kwargs) -> Environment:
    """Convenience constructor: ``environment([{...}], {"kind": "allocate"}, horizon=2)``."""
    return Environment.from_dict({"agents": list(agents), "decisions": decisions, **kwargs})
