r"""Interdependent-values environments with a joint Markov signal process (Liu, SPEC §4).

Agents :math:`i = 1..N` privately observe signals :math:`\theta^i_t \in \Theta^i`
(finite; the same set every period).  Profiles :math:`\theta_t = (\theta^1_t, …, \theta^N_t)`
are numbered by the C-order ravel index (the last agent's signal varies fastest — the
numbering of :mod:`dmd_opt.core.tree` and :mod:`dmd_opt.core.joint`).

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

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from dmd_opt.core import validation as V
from dmd_opt.core.errors import ModelError
from dmd_opt.core.limits import check_count, check_dense, check_periods, product

LAST_PERIOD_RULES = ("ex_post", "constant")


@dataclass(eq=False)
class ContingentEnvironment:
    """Validated joint-signal, interdependent-values environment (see module docstring).

    ``signals[i]``: (n_i,) signal values of agent i; ``utility``: (N, |A|, R);
    ``initial``: (R,); ``kernels``: list of (|A|, R, R) arrays — one (time-invariant) or
    one per transition ``t → t+1`` (T−1 of them).
    """

    signals: list[np.ndarray]
    decisions: tuple[str, ...]
    utility: np.ndarray
    initial: np.ndarray
    kernels: list[np.ndarray]
    discount: float
    horizon: int | None = None
    last_period: str = "ex_post"
    last_decision: int | None = None
    agent_names: tuple[str, ...] = ()
    signal_labels: list[tuple[str, ...]] = field(default_factory=list)
    name: str = "contingent environment"
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.signals = [np.asarray(V.array(s, f"agents[{i}].signals", ndim=1), float)
                        for i, s in enumerate(self.signals)]
        if len(self.signals) < 2:
            raise ModelError("agents", f"needs at least 2 agents, got {len(self.signals)}")
        N, R = len(self.signals), int(np.prod(self.shape))
        self.decisions = tuple(self.decisions)
        nA = len(self.decisions)
        if nA == 0:
            raise ModelError("decisions", "must not be empty")
        self.utility = V.array(self.utility, "utility", shape=(N, nA, R))
        self.initial = V.distribution(self.initial, "joint_initial", size=R)
        self.discount = V.real(self.discount, "discount", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
        if self.horizon is not None:
            self.horizon = V.integer(self.horizon, "horizon", lo=1)
        need = 1 if self.horizon is None else max(self.horizon - 1, 0)
        ks = [np.asarray(k, float) for k in self.kernels]
        if len(ks) == 1 and need > 1:
            ks = ks * need
        if len(ks) != need and not (need == 0 and len(ks) <= 1):
            raise ModelError("joint_transition", f"gives {len(ks)} kernels, expected 1 or {need}")
        ks = ks[:need]
        for t, k in enumerate(ks):
            f = "joint_transition" if len(self.kernels) == 1 else f"joint_transition[{t}]"
            if k.shape != (nA, R, R):
                raise ModelError(f, f"expected shape ({nA}, {R}, {R}) (decision, profile, next profile), "
                                    f"got {k.shape}")
            for a in range(nA):
                V.stochastic_matrix(k[a], f if nA == 1 else f"{f}[decision {self.decisions[a]}]",
                                    shape=(R, R))
        self.kernels = ks
        self.last_period = V.choice(self.last_period, "last_period", LAST_PERIOD_RULES)
        if self.last_period == "constant":
            if self.horizon is None:
                raise ModelError("last_period", "'constant' applies to a finite horizon only")
            if self.last_decision is None:
                raise ModelError("last_decision", "is required with last_period = 'constant'")
            self.last_decision = V.integer(self.last_decision, "last_decision", lo=0)
            if self.last_decision >= nA:
                raise ModelError("last_decision", f"must be a decision index < {nA}")
        if not self.agent_names:
            self.agent_names = tuple(f"agent {i + 1}" for i in range(N))
        if not self.signal_labels:
            self.signal_labels = [tuple(f"{v:g}" for v in s) for s in self.signals]

    # ---- sizes and indexing ------------------------------------------------------------
    @property
    def N(self) -> int:
        return len(self.signals)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(s) for s in self.signals)

    @property
    def R(self) -> int:
        return int(np.prod(self.shape))

    @property
    def n_decisions(self) -> int:
        return len(self.decisions)

    @property
    def stationary(self) -> bool:
        return self.horizon is None

    @property
    def steps(self) -> int:
        """Number of transitions with a contingent transfer: T−1, or 1 (stationary)."""
        return len(self.kernels)

    def kernel(self, t: int) -> np.ndarray:
        """(|A|, R, R) joint kernel of the transition t → t+1 (0-based)."""
        return self.kernels[0 if self.stationary else t]

    @cached_property
    def digits(self) -> np.ndarray:
        """(R, N) signal index of each agent in every profile."""
        return np.stack(np.unravel_index(np.arange(self.R), self.shape), axis=-1)

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
        d = self.digits.copy()
        d[:, i] = r
        return np.ravel_multi_index(tuple(d.T), self.shape)

    def others_utility(self, i: int) -> np.ndarray:
        """(|A|, R): :math:`\\sum_{j\\ne i} u^j(a, \\theta)`."""
        return self.utility.sum(axis=0) - self.utility[i]

    def welfare_flow(self) -> np.ndarray:
        """(R, |A|): :math:`\\sum_i u^i(a, \\theta)`."""
        return self.utility.sum(axis=0).T

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
                "decisions": list(self.decisions), "discount": self.discount,
                "horizon": "infinite" if self.horizon is None else self.horizon,
                "last_period": self.last_period, "last_decision": self.last_decision}


# ------------------------------------------------------------------ dict / TOML parsing
_KEYS = ("name", "agents", "decisions", "discount", "horizon", "joint_initial", "joint_transition",
         "joint_transition_by_decision", "valuation", "last_period", "last_decision", "renormalize")


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
    agents = V.sequence(data["agents"], f("agents"))
    if len(agents) < 2:
        raise ModelError(f("agents"), f"needs at least 2 agents, got {len(agents)}")
    names, signals, labels, utils = [], [], [], []
    for i, a in enumerate(agents):
        fa = f(f"agents[{i}]")
        V.mapping(a, fa, required=("signals",), optional=("name", "signals", "labels", "utility"))
        s = V.array(a["signals"], f"{fa}.signals", ndim=1)
        signals.append(s)
        names.append(V.string(a.get("name", f"agent {i + 1}"), f"{fa}.name"))
        labels.append(V.labels(a["labels"], f"{fa}.labels", size=len(s)) if "labels" in a
                      else tuple(f"{v:g}" for v in s))
        utils.append(a.get("utility"))
    shape = tuple(len(s) for s in signals)
    R = product(shape)
    check_count(f("agents"), R, "profiles", what="the joint signal space (product of the agents' signals) "
                "would have", noun="profiles", alternative="use fewer agents or signals")
    dec = data["decisions"]
    if isinstance(dec, str):
        V.choice(dec, f("decisions"), ("allocate",))
        decisions = tuple(f"to {n}" for n in names)
    else:
        decisions = V.labels(dec, f("decisions"))
    nA = len(decisions)
    hz = data.get("horizon", "infinite")
    horizon = None if hz == "infinite" else V.integer(hz, f("horizon"), lo=1)
    check_periods(f("horizon"), 1 if horizon is None else horizon)
    need = 1 if horizon is None else horizon - 1
    check_dense(f("joint_transition"), (nA, R, R), copies=3, what="a joint kernel (decision × profile × "
                "next profile) and its working copies would take", alternative="use fewer agents or signals")
    check_dense(f("agents"), (len(agents), nA, R), copies=2, what="the utility tables would take")
    if "valuation" in data:
        if any(u is not None for u in utils):
            raise ModelError(f("valuation"), "give either a top-level valuation or per-agent utility tables")
        if not isinstance(dec, str):
            raise ModelError(f("valuation"), "a linear valuation needs decisions = \"allocate\"")
        utility = _linear_valuation(data["valuation"], signals, decisions, f("valuation"))
        meta = {"valuation": {"kind": "linear", "gamma": V.real(data["valuation"].get("gamma", 0.0),
                                                                 f("valuation.gamma"))}}
    else:
        meta = {}
        utility = np.zeros((len(agents), nA, R))
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
    renorm = V.boolean(data.get("renormalize", False), f("renormalize"))
    initial = V.distribution(data["joint_initial"], f("joint_initial"), size=R, renormalize=renorm)
    if "joint_transition" in data and "joint_transition_by_decision" in data:
        raise ModelError(f("joint_transition"), "give joint_transition or joint_transition_by_decision, not both")
    kernels = []
    if need > 0:
        if "joint_transition" in data:
            key, raw = "joint_transition", data["joint_transition"]
            arr = V.array(raw, f(key))
            mats = [raw] if arr.ndim == 2 else list(raw)
            for t, m in enumerate(mats):
                fm = f(key) if arr.ndim == 2 else f(f"{key}[{t}]")
                P = V.stochastic_matrix(m, fm, shape=(R, R), renormalize=renorm)
                kernels.append(np.broadcast_to(P, (nA, R, R)).copy())
        elif "joint_transition_by_decision" in data:
            key, raw = "joint_transition_by_decision", data["joint_transition_by_decision"]
            arr = V.array(raw, f(key))
            if arr.ndim not in (3, 4):
                raise ModelError(f(key), f"expected |A|×R×R (or a list of them per period), got shape {arr.shape}")
            per = [raw] if arr.ndim == 3 else list(raw)
            for t, ka in enumerate(per):
                fk = f(key) if arr.ndim == 3 else f(f"{key}[{t}]")
                ka = V.sequence(ka, fk)
                if len(ka) != nA:
                    raise ModelError(fk, f"gives {len(ka)} matrices, expected one per decision ({nA})")
                kernels.append(np.stack([V.stochastic_matrix(m, f"{fk}[{decisions[a]}]", shape=(R, R),
                                                             renormalize=renorm) for a, m in enumerate(ka)]))
        else:
            raise ModelError(f("joint_transition"), "is required when the horizon is longer than one period")
        if len(kernels) not in (1, need):
            raise ModelError(f(key), f"gives {len(kernels)} kernels, expected 1 or {need}")
    last_period = V.choice(data.get("last_period", "ex_post"), f("last_period"), LAST_PERIOD_RULES)
    last_decision = data.get("last_decision")
    if last_decision is not None:
        if last_period != "constant":
            raise ModelError(f("last_decision"), "applies only with last_period = \"constant\"")
        if isinstance(last_decision, str):
            if last_decision not in decisions:
                raise ModelError(f("last_decision"), f"unknown decision {V.show(last_decision)}; "
                                                     f"decisions: {', '.join(decisions)}")
            last_decision = decisions.index(last_decision)
        else:
            last_decision = V.integer(last_decision, f("last_decision"), lo=0, hi=nA - 1)
    return ContingentEnvironment(signals, decisions, utility, initial, kernels,
                                 V.real(data["discount"], f("discount"), lo=0, hi=1, lo_open=True, hi_open=True),
                                 horizon, last_period, last_decision, tuple(names),
                                 labels, V.string(data.get("name", "contingent environment"), f("name")), meta)
