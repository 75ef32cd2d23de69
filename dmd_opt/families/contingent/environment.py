r"""Interdependent-values environments with a joint Markov signal process (Liu).

Agents :math:`i = 1..N` privately observe signals :math:`\theta^i_t \in \Theta^i`
(finite; the same set every period).  Profiles :math:`\theta_t = (\theta^1_t, …, \theta^N_t)`
are numbered by the C-order ravel index (the last agent's signal varies fastest — the
numbering of :mod:`dmd_opt.core.tree` and :mod:`dmd_opt.core.joint`).

A :class:`ContingentEnvironment` is a :class:`~dmd_opt.core.joint.JointModel` (the joint
profile process of :mod:`dmd_opt.core.model`) with interdependent values and no principal
cost; it adds only the signal values, the utility array and the last-period rule.

* Utilities are **interdependent**: :math:`u^i(a, \theta_t)` depends on the whole profile
  (Liu §2), stored as ``utility[i, a, profile]``.
* Signals follow a **joint**, possibly decision-dependent, Markov kernel
  :math:`\mu_{t+1}(\theta_{t+1} \mid a_t, \theta_t)` (correlated across agents), stored as
  ``kernels[t][a, profile, next profile]`` (one kernel when time-invariant).
* Payoffs are :math:`\sum_t \delta^{t-1}[u^i(a_t, \theta_t) - p^i_t]`; the horizon is
  finite (``horizon = T``) or infinite and stationary (``horizon=None``).
* ``last_period`` (finite horizon only) says how period T is handled, because no
  transfer can follow it (Liu, Assumption 4 / Corollary 3.3):
  ``"ex_post"`` — the efficient period-T decision with static transfers that make it ex-post
  IC (checked by an LP, :mod:`dmd_opt.families.contingent.last_period`); ``"constant"`` — a fixed
  decision :math:`\bar a` in period T (``last_decision``), so period-T reports are payoff
  irrelevant and the earlier decisions are efficient given :math:`\bar a`.

Built from Python (:class:`ContingentEnvironment` / :func:`from_dict`) or a TOML model of
kind ``"contingent"`` (see ``docs/contingent.md``).
"""

from __future__ import annotations

import numpy as np

from dmd_opt.core import validation as V
from dmd_opt.core.errors import ModelError
from dmd_opt.core.joint import JointModel
from dmd_opt.core.limits import check_count, check_dense, check_periods, product
from dmd_opt.core.model import check_discount, check_horizon

LAST_PERIOD_RULES = ("ex_post", "constant")


class ContingentEnvironment(JointModel):
    """Validated joint-signal, interdependent-values environment (see module docstring).

    ``signals[i]``: (n_i,) signal values of agent i; ``decisions``: labels of :math:`A`;
    ``utility``: (N, |A|, R); ``initial``: (R,); ``kernels``: list of (|A|, R, R) arrays —
    one (time-invariant) or one per transition ``t → t+1`` (T−1 of them).  The signal sets
    and decisions are the same in every period, so besides the period-indexed accessors of
    :class:`~dmd_opt.core.model.DynamicModel` the sizes are plain properties: ``R``,
    ``shape``, ``digits``.
    """

    def __init__(self, signals, decisions, utility, initial, kernels, discount, horizon=None,
                 last_period: str = "ex_post", last_decision: int | None = None,
                 agent_names=(), signal_labels=None, name: str = "contingent environment",
                 meta: dict | None = None):
        signals = [np.asarray(V.array(s, f"agents[{i}].signals", ndim=1), float) for i, s in enumerate(signals)]
        if len(signals) < 2:
            raise ModelError("agents", f"needs at least 2 agents, got {len(signals)}")
        decisions = tuple(decisions)
        if not decisions:
            raise ModelError("decisions", "must not be empty")
        N, nA = len(signals), len(decisions)
        shape = tuple(len(s) for s in signals)
        R = int(np.prod(shape))
        horizon = None if horizon is None else V.integer(horizon, "horizon", lo=1)
        periods = 1 if horizon is None else horizon
        self.signals = signals
        self.utility = V.array(utility, "utility", shape=(N, nA, R))
        self.signal_labels = list(signal_labels) if signal_labels else [tuple(f"{v:g}" for v in s) for s in signals]
        self.last_period = V.choice(last_period, "last_period", LAST_PERIOD_RULES)
        self.last_decision = _check_last_decision(self.last_period, last_decision, horizon, nA)
        super().__init__(
            shapes=[shape] * periods, utilities=[list(self.utility)] * periods,
            costs=[np.zeros(nA)] * periods,
            initial=V.distribution(initial, "joint_initial", size=R),
            kernels=_check_kernels(kernels, horizon, decisions, R), horizon=horizon,
            discount=check_discount(discount, "discount", horizon=horizon),
            decision_labels=[decisions] * periods, period_type_values=[signals] * periods,
            agent_names=list(agent_names) if agent_names else [f"agent {i + 1}" for i in range(N)],
            independent=False, name=name, meta=dict(meta or {}),
            period_type_labels=[self.signal_labels] * periods, interdependent=True)

    # ---- time-invariant sizes and indexing ------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.shapes[0]

    @property
    def R(self) -> int:
        return self.n_profiles(0)

    @property
    def digits(self) -> np.ndarray:
        """(R, N) signal index of each agent in every profile."""
        return self.profile_digits(0)

    def others_shape(self, i: int) -> tuple[int, ...]:
        return tuple(n for j, n in enumerate(self.shape) if j != i)

    def n_others(self, i: int) -> int:
        return int(np.prod(self.others_shape(i)))

    def others_index(self, i: int) -> np.ndarray:
        """(R,) index of θ^{-i} (C order over the other agents) for every profile."""
        d = self.digits
        keep = [j for j in range(self.N) if j != i]
        return np.ravel_multi_index(tuple(d[:, keep].T), self.others_shape(i))

    def profile_of(self, i: int) -> np.ndarray:
        """(R^{-i}, n_i) profile index of (θ^{-i}, θ^i)."""
        d = np.stack(np.unravel_index(np.arange(self.n_others(i)), self.others_shape(i)), axis=-1)
        out = np.empty((self.n_others(i), self.shape[i]), dtype=np.int64)
        for s in range(self.shape[i]):
            full = np.insert(d, i, s, axis=1)
            out[:, s] = np.ravel_multi_index(tuple(full.T), self.shape)
        return out

    def replace_own(self, i: int, r: int) -> np.ndarray:
        """(R,) profile obtained from every profile by setting agent i's signal to ``r``."""
        return self.with_own_type(i, 0)[:, r]

    def others_utility(self, i: int) -> np.ndarray:
        """(|A|, R): :math:`\\sum_{j\\ne i} u^j(a, \\theta)`."""
        return self.utility.sum(axis=0) - self.utility[i]

    def others_marginal(self, t: int, i: int) -> np.ndarray:
        r"""(|A|, R^{-i}, n_i, R^{-i}) :math:`\mu^{-i}_{t+1}(\theta^{-i}_{t+1}\mid a,\theta^i,\theta^{-i})`.

        Entry ``[a, o, s, o']``: probability that the others' next signals are ``o'`` given the
        decision ``a``, the others' current signals ``o`` and agent i's current signal ``s``.
        ``M = others_marginal(t, i)[a, o].T`` is Liu's matrix :math:`M^{-i}_{t+1}(a, \theta^{-i})`.
        """
        K = self.kernel(t)
        nA = K.shape[0]
        nxt = K.reshape((nA, self.R) + self.shape)
        marg = nxt.sum(axis=2 + i).reshape(nA, self.R, self.n_others(i))   # (A, R, R'^{-i})
        return marg[:, self.profile_of(i), :]

    def label_others(self, i: int, o: int) -> str:
        keep = [j for j in range(self.N) if j != i]
        dig = np.unravel_index(o, self.others_shape(i))
        return ",".join(self.signal_labels[j][int(d)] for j, d in zip(keep, dig))

    def label_profile(self, k: int) -> str:
        return ",".join(self.signal_labels[j][int(d)] for j, d in enumerate(self.digits[k]))

    def to_dict(self) -> dict:
        return {"name": self.name, "agents": [{"name": n, "signals": s.tolist(), "labels": list(l)}
                                              for n, s, l in zip(self.agent_names, self.signals,
                                                                 self.signal_labels)],
                "decisions": list(self.decisions(0)), "discount": self.discount,
                "horizon": "infinite" if self.horizon is None else self.horizon,
                "last_period": self.last_period, "last_decision": self.last_decision}

    def __repr__(self) -> str:
        hz = "stationary" if self.stationary else f"T={self.horizon}"
        return (f"ContingentEnvironment({self.name!r}: {self.N} agents, signals {'×'.join(map(str, self.shape))}, "
                f"{self.n_decisions(0)} decisions, {hz}, δ={self.discount:g})")


def _check_kernels(kernels, horizon: int | None, decisions: tuple[str, ...], R: int) -> list[np.ndarray]:
    """One (|A|, R, R) kernel per transition (a single one is repeated), rows stochastic."""
    nA = len(decisions)
    need = 1 if horizon is None else max(horizon - 1, 0)
    ks = [np.asarray(k, float) for k in kernels]
    if len(ks) == 1 and need > 1:
        ks = ks * need
    if len(ks) != need and not (need == 0 and len(ks) <= 1):
        raise ModelError("joint_transition", f"gives {len(ks)} kernels, expected 1 or {need}")
    ks = ks[:need]
    for t, k in enumerate(ks):
        f = "joint_transition" if len(kernels) == 1 else f"joint_transition[{t}]"
        if k.shape != (nA, R, R):
            raise ModelError(f, f"expected shape ({nA}, {R}, {R}) (decision, profile, next profile), got {k.shape}")
        for a in range(nA):
            V.stochastic_matrix(k[a], f if nA == 1 else f"{f}[decision {decisions[a]}]", shape=(R, R))
    return ks


def _check_last_decision(rule: str, last_decision, horizon: int | None, nA: int) -> int | None:
    """Liu's Corollary 3.3 rule needs a fixed last-period decision (finite horizon only)."""
    if rule != "constant":
        return last_decision
    if horizon is None:
        raise ModelError("last_period", "'constant' applies to a finite horizon only")
    if last_decision is None:
        raise ModelError("last_decision", "is required with last_period = 'constant'")
    last_decision = V.integer(last_decision, "last_decision", lo=0)
    if last_decision >= nA:
        raise ModelError("last_decision", f"must be a decision index < {nA}")
    return last_decision


# ------------------------------------------------------------------ dict / TOML parsing
_KEYS = ("name", "agents", "decisions", "discount", "horizon", "joint_initial", "joint_transition",
         "joint_transition_by_decision", "valuation", "last_period", "last_decision", "renormalize")
_AGENT_KEYS = ("name", "signals", "labels", "utility")


def _linear_valuation(spec: dict, signals, decisions, field: str) -> np.ndarray:
    r""":math:`v^i(\theta) = \theta^i + \gamma\sum_{j\ne i}\theta^j` to the winner (Liu §3.3 auction)."""
    V.mapping(spec, field, required=("kind",), optional=("kind", "gamma"))
    V.choice(spec["kind"], f"{field}.kind", ("linear",))
    gamma = V.real(spec.get("gamma", 0.0), f"{field}.gamma")
    N = len(signals)
    shape = tuple(len(s) for s in signals)
    R = int(np.prod(shape))
    d = np.stack(np.unravel_index(np.arange(R), shape), axis=-1)
    vals = np.stack([signals[j][d[:, j]] for j in range(N)], axis=1)       # (R, N)
    tot = vals.sum(axis=1)
    u = np.zeros((N, len(decisions), R))
    for i in range(N):
        u[i, i] = vals[:, i] + gamma * (tot - vals[:, i])   # decision i = "object to agent i"
    return u


def from_dict(data: dict, field_prefix: str = "") -> ContingentEnvironment:
    """Validate a dict (the TOML model without ``kind``/``solve``) into an environment.

    Keys: ``agents`` (list of tables ``name``, ``signals``, ``labels``, ``utility``),
    ``decisions`` (labels, or ``"allocate"`` = one decision per agent "to <name>"),
    ``discount``, ``horizon`` (int or ``"infinite"``), ``joint_initial`` (R,),
    ``joint_transition`` (R×R, or a list of T−1 of them; decision independent) or
    ``joint_transition_by_decision`` (|A|×R×R, or a list of T−1 of them), a per-agent
    ``utility`` (|A|×R or |A|×n_1×…×n_N) or a top-level ``valuation = {kind="linear",
    gamma=γ}`` (with ``decisions = "allocate"``), ``last_period``, ``last_decision``.
    """
    f = lambda k: f"{field_prefix}{k}"  # noqa: E731
    V.mapping(data, field_prefix.rstrip("."), required=("agents", "decisions", "discount",
                                                           "joint_initial"), optional=_KEYS)
    names, signals, labels, utils = _parse_agents(data["agents"], f)
    decisions = _parse_decisions(data["decisions"], names, f)
    horizon = check_horizon(data.get("horizon", "infinite"), f("horizon"))
    R = _check_sizes(signals, decisions, horizon, f)
    utility, meta = _parse_utility(data, signals, decisions, utils, f)
    renorm = V.boolean(data.get("renormalize", False), f("renormalize"))
    initial = V.distribution(data["joint_initial"], f("joint_initial"), size=R, renormalize=renorm)
    kernels = _parse_kernels(data, horizon, decisions, R, renorm, f)
    last_period = V.choice(data.get("last_period", "ex_post"), f("last_period"), LAST_PERIOD_RULES)
    return ContingentEnvironment(signals, decisions, utility, initial, kernels,
                                 check_discount(data["discount"], f("discount"), horizon=horizon),
                                 horizon, last_period,
                                 _parse_last_decision(data.get("last_decision"), last_period, decisions, f),
                                 tuple(names), labels, V.string(data.get("name", "contingent environment"), f("name")),
                                 meta)


def _check_sizes(signals, decisions, horizon, f) -> int:
    """Refuse joint signal spaces, kernels and utility tables too large to allocate; returns R."""
    R = product(tuple(len(s) for s in signals))
    check_count(f("agents"), R, "profiles", what="the joint signal space (product of the agents' signals) "
                "would have", noun="profiles", alternative="use fewer agents or signals")
    check_periods(f("horizon"), 1 if horizon is None else horizon)
    nA = len(decisions)
    check_dense(f("joint_transition"), (nA, R, R), copies=3, what="a joint kernel (decision × profile × "
                "next profile) and its working copies would take", alternative="use fewer agents or signals")
    check_dense(f("agents"), (len(signals), nA, R), copies=2, what="the utility tables would take")
    return R


def _parse_agents(raw, f):
    """Names, signal arrays, labels and (unparsed) utility tables of the agents."""
    agents = V.sequence(raw, f("agents"))
    if len(agents) < 2:
        raise ModelError(f("agents"), f"needs at least 2 agents, got {len(agents)}")
    names, signals, labels, utils = [], [], [], []
    for i, a in enumerate(agents):
        fa = f(f"agents[{i}]")
        V.mapping(a, fa, required=("signals",), optional=_AGENT_KEYS)
        s = V.array(a["signals"], f"{fa}.signals", ndim=1)
        signals.append(s)
        names.append(V.string(a.get("name", f"agent {i + 1}"), f"{fa}.name"))
        labels.append(V.labels(a["labels"], f"{fa}.labels", size=len(s)) if "labels" in a
                      else tuple(f"{v:g}" for v in s))
        utils.append(a.get("utility"))
    return names, signals, labels, utils


def _parse_decisions(raw, names, f) -> tuple[str, ...]:
    """Decision labels, or ``"allocate"``: one decision "to <name>" per agent."""
    if isinstance(raw, str):
        V.choice(raw, f("decisions"), ("allocate",))
        return tuple(f"to {n}" for n in names)
    return V.labels(raw, f("decisions"))


def _parse_utility(data, signals, decisions, utils, f) -> tuple[np.ndarray, dict]:
    """(N, |A|, R) utilities from a top-level linear valuation or per-agent tables, and meta."""
    shape = tuple(len(s) for s in signals)
    nA, R = len(decisions), int(np.prod(shape))
    if "valuation" in data:
        if any(u is not None for u in utils):
            raise ModelError(f("valuation"), "give either a top-level valuation or per-agent utility tables")
        if not isinstance(data["decisions"], str):
            raise ModelError(f("valuation"), "a linear valuation needs decisions = \"allocate\"")
        utility = _linear_valuation(data["valuation"], signals, decisions, f("valuation"))
        return utility, {"valuation": {"kind": "linear", "gamma": V.real(data["valuation"].get("gamma", 0.0),
                                                                         f("valuation.gamma"))}}
    utility = np.zeros((len(utils), nA, R))
    for i, u in enumerate(utils):
        fu = f(f"agents[{i}].utility")
        if u is None:
            raise ModelError(fu, "is required (or give a top-level valuation)")
        arr = V.array(u, fu)
        if arr.shape == (nA, R):
            utility[i] = arr
        elif arr.shape == (nA,) + shape:
            utility[i] = arr.reshape(nA, R)
        else:
            raise ModelError(fu, f"expected shape {nA}×{R} (decision × profile) or "
                                 f"{nA}×{'×'.join(map(str, shape))}, got {'×'.join(map(str, arr.shape))}")
    return utility, {}


def _parse_kernels(data, horizon, decisions, R, renorm, f) -> list[np.ndarray]:
    """(|A|, R, R) kernels from ``joint_transition`` or ``joint_transition_by_decision``."""
    need = 1 if horizon is None else horizon - 1
    if "joint_transition" in data and "joint_transition_by_decision" in data:
        raise ModelError(f("joint_transition"), "give joint_transition or joint_transition_by_decision, not both")
    if need <= 0:
        return []
    if "joint_transition" in data:
        key = "joint_transition"
        kernels = _decision_free_kernels(data[key], len(decisions), R, renorm, f(key))
    elif "joint_transition_by_decision" in data:
        key = "joint_transition_by_decision"
        kernels = _by_decision_kernels(data[key], decisions, R, renorm, f(key))
    else:
        raise ModelError(f("joint_transition"), "is required when the horizon is longer than one period")
    if len(kernels) not in (1, need):
        raise ModelError(f(key), f"gives {len(kernels)} kernels, expected 1 or {need}")
    return kernels


def _decision_free_kernels(raw, nA: int, R: int, renorm: bool, field: str) -> list[np.ndarray]:
    arr = V.array(raw, field)
    mats = [raw] if arr.ndim == 2 else list(raw)
    out = []
    for t, m in enumerate(mats):
        P = V.stochastic_matrix(m, field if arr.ndim == 2 else f"{field}[{t}]", shape=(R, R), renormalize=renorm)
        out.append(np.broadcast_to(P, (nA, R, R)).copy())
    return out


def _by_decision_kernels(raw, decisions, R: int, renorm: bool, field: str) -> list[np.ndarray]:
    arr = V.array(raw, field)
    if arr.ndim not in (3, 4):
        raise ModelError(field, f"expected |A|×R×R (or a list of them per period), got shape {arr.shape}")
    out = []
    for t, ka in enumerate([raw] if arr.ndim == 3 else list(raw)):
        fk = field if arr.ndim == 3 else f"{field}[{t}]"
        ka = V.sequence(ka, fk)
        if len(ka) != len(decisions):
            raise ModelError(fk, f"gives {len(ka)} matrices, expected one per decision ({len(decisions)})")
        out.append(np.stack([V.stochastic_matrix(m, f"{fk}[{decisions[a]}]", shape=(R, R), renormalize=renorm)
                             for a, m in enumerate(ka)]))
    return out


def _parse_last_decision(raw, last_period: str, decisions, f):
    """The index of the fixed last-period decision (given by label or index), with ``"constant"`` only."""
    if raw is None:
        return None
    if last_period != "constant":
        raise ModelError(f("last_decision"), "applies only with last_period = \"constant\"")
    if isinstance(raw, str):
        if raw not in decisions:
            raise ModelError(f("last_decision"), f"unknown decision {V.show(raw)}; decisions: {', '.join(decisions)}")
        return decisions.index(raw)
    return V.integer(raw, f("last_decision"), lo=0, hi=len(decisions) - 1)
