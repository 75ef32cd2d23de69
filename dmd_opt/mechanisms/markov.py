r"""Markov mechanisms: rules that depend on the current and the previous report profile.

The efficient constructions are Markov on the joint type state: χ*
depends on the current profile :math:`\theta_t`; team and pivot transfers on
:math:`\theta_t`; the balanced team transfers (Athey–Segal (6.1)) on
:math:`(\theta_{t-1}, \theta_t)`.  A :class:`MarkovMechanism` stores

* ``allocation[t]`` — (R_t, |A_t|) lottery over decisions per current profile;
* ``payments[t]`` — (P_t, R_t, N) payment *by* each agent, indexed by the previous
  profile (P_0 = 1: no previous profile) and the current one;

for periods ``t = 0..T-1`` of a finite horizon, or — for a stationary infinite
horizon — two entries: ``[0]`` the first period, ``[1]`` every later period.

Both classes implement the :class:`~dmd_opt.mechanisms.base.Mechanism` protocol
(``MarkovMechanism.form = "markov"``, ``JointTreeMechanism.form = "tree"``).
Finite-horizon mechanisms expand onto the public history tree with
:meth:`MarkovMechanism.to_tree` (a :class:`~dmd_opt.mechanisms.tree.TreeMechanism`,
accepted by the comparison code); :func:`dmd_opt.verify.verify` checks either form
directly (stationary ones by exact policy iteration, :func:`dmd_opt.verify.expost.verify_markov`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dmd_opt.core.model import ravel, unravel
from dmd_opt.core.joint import JointModel
from dmd_opt.core.tree import HistoryTree
from dmd_opt.core.truthful import (by_own_initial_type, markov_chain, markov_present_value, markov_tree_arrays,
                                   markov_truthful_values, tree_node_probabilities)
from dmd_opt.mechanisms.base import Mechanism, Rule
from dmd_opt.mechanisms.tree import TreeMechanism
from dmd_opt.verify import verify


def _entry(model, t: int) -> int:
    """Stored entry of period ``t``: ``t``, or 0 (first) / 1 (later) when stationary."""
    return (0 if t == 0 else 1) if model.stationary else t


@dataclass(eq=False, repr=False)
class MarkovMechanism(Mechanism):
    form = "markov"
    model: JointModel
    allocation: list[np.ndarray]
    payments: list[np.ndarray]
    name: str = "markov mechanism"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        m = self.model
        n = 2 if m.stationary else m.horizon
        if len(self.allocation) not in (1, n) or len(self.payments) != n:
            raise ValueError(f"expected {n} payment entries and 1 or {n} allocation entries")
        if len(self.allocation) == 1 and n > 1:
            self.allocation = [self.allocation[0]] * n
        for t in range(n):
            tt = 0 if (m.stationary and t == 0) else t
            R = m.n_profiles(tt)
            Pn = 1 if t == 0 else m.n_profiles(tt - 1 if not m.stationary else 0)
            self.allocation[t] = np.asarray(self.allocation[t], float).reshape(R, m.n_decisions(tt))
            self.payments[t] = np.asarray(self.payments[t], float).reshape(Pn, R, m.N)

    @property
    def env(self) -> JointModel:
        """The joint model the rules are written on (the protocol's environment)."""
        return self.model

    @property
    def stationary(self) -> bool:
        return self.model.stationary

    @property
    def T(self) -> int | None:
        return self.model.horizon

    # ---- evaluation under truthful play ------------------------------------------------
    def _chain(self, t: int) -> np.ndarray:
        """(R_t, R_{t+1}) truthful profile transition under the allocation at t."""
        return markov_chain(self.model, self.allocation[min(t, len(self.allocation) - 1)], t)

    def _present_value(self, flow_prev_cur) -> float:
        """E Σ_t δ^t f_t(θ_{t-1}, θ_t) under truthful play; ``flow_prev_cur(t)`` → (P_t, R_t)."""
        return markov_present_value(self.model, self.allocation, flow_prev_cur)

    def _util(self, t: int, i: int) -> np.ndarray:
        tt = 0 if self.stationary else t
        return np.sum(self.allocation[t] * self.model.profile_utility(i, tt), axis=1)

    def _cost(self, t: int) -> np.ndarray:
        return self.allocation[t] @ self.model.cost(0 if self.stationary else t)

    def revenue(self) -> float:
        """Expected discounted :math:`\\sum_i p_i - c` (negative = the designer subsidises)."""
        return self._present_value(lambda t: self.payments[t].sum(axis=2) - self._cost(t)[None, :])

    def welfare(self) -> float:
        return self._present_value(lambda t: np.broadcast_to(
            sum(self._util(t, i) for i in range(self.model.N)) - self._cost(t),
            self.payments[t].shape[:2]))

    def expected_payment(self, i: int) -> float:
        return self._present_value(lambda t: self.payments[t][:, :, i])

    def expected_utility(self, i: int) -> float:
        """Agent i's expected discounted payoff (utility minus payments) under truthful play."""
        return self._present_value(lambda t: self._util(t, i)[None, :] - self.payments[t][:, :, i])

    def rents(self) -> list[np.ndarray]:
        """Each agent's expected discounted payoff by first-period own type, truthful play."""
        m = self.model
        return [by_own_initial_type(m, i, markov_truthful_values(m, self.allocation, self.payments, i)[0][0])
                for i in range(m.N)]

    def budget_imbalance(self) -> float:
        """max over (previous, current) profiles and periods of |Σ_i p_i − c(a)| (net of cost)."""
        return max(float(np.max(np.abs(p.sum(axis=2) - self._cost(t)[None, :])))
                   for t, p in enumerate(self.payments))

    # ---- rules at a history ------------------------------------------------------------------
    def at(self, history) -> Rule:
        """The rule after a history of reports: it reads the previous and the current profile."""
        m = self.model
        d = m.parse_history(history)
        t = d.shape[0] - 1
        prof = [int(m.profile_index(d[s], s)) for s in range(t + 1)]
        e = _entry(m, t)
        prob = float(m.initial[prof[0]])
        for s in range(1, t + 1):
            prob *= float(self._chain(s - 1)[prof[s - 1], prof[s]])
        prev = prof[-2] if t > 0 else 0
        state = {"previous": m.profile_label(t - 1, prev) if t > 0 else "start",
                 "profile": m.profile_label(t, prof[-1])}
        return Rule(t + 1, m.history_label(d), m.decisions(t), self.allocation[e][prof[-1]].copy(),
                    self.payments[e][prev, prof[-1]].copy(), tuple(m.agent_names), prob, state)

    # ---- conversion -------------------------------------------------------------------------
    def to_tree(self, env=None) -> TreeMechanism:
        """Expand a finite-horizon mechanism onto the history tree (a TreeMechanism)."""
        m = self.model
        carried = m.env is None and (m.meta or {}).get("environment") is not None
        env = env if env is not None else m.env if m.env is not None else (m.meta or {}).get("environment")
        if m.stationary:
            raise ValueError("a stationary mechanism has no finite history tree; use verify_markov")
        if env is None:
            raise ValueError("this model has correlated types (no Environment); use JointTreeMechanism")
        if carried:     # persistent agents: the profile state carries their first report
            alloc, pay = _carried_tree_arrays(m, env, self.allocation, self.payments)
        else:
            alloc, pay = markov_tree_arrays(m, self.allocation, self.payments)
        return TreeMechanism(env, alloc, pay, disclosure="public", name=self.name,
                             meta={**self.meta, "markov": self})

    def to_frame(self):
        """Long table: one row per (period entry, previous profile, current profile) with the
        decision lottery, the cost and each agent's payment."""
        import pandas as pd
        m = self.model
        frames = []
        for t in range(len(self.payments)):
            tt = 0 if m.stationary else t
            Pn, R, _ = self.payments[t].shape
            prev, cur = np.divmod(np.arange(Pn * R), R)
            lab = [m.profile_label(tt, k) for k in range(R)]
            plab = ["start"] if t == 0 else [m.profile_label(0 if m.stationary else tt - 1, k) for k in range(Pn)]
            df = pd.DataFrame({"period": ("first" if t == 0 else "later") if m.stationary else t + 1,
                               "previous": [plab[k] for k in prev], "profile": [lab[k] for k in cur]})
            for a, nm in enumerate(m.decisions(tt)):
                df[f"x[{nm}]"] = self.allocation[t][cur, a]
            df["cost"] = self._cost(t)[cur]
            for i, nm in enumerate(m.agent_names):
                df[f"p[{nm}]"] = self.payments[t][prev, cur, i]
            frames.append(df)
        return pd.concat(frames, ignore_index=True)

    def to_dict(self) -> dict:
        m = self.model
        out = {"name": self.name, "form": self.form, "stationary": m.stationary, "periods": []}
        for t in range(len(self.payments)):
            tt = 0 if m.stationary else t
            out["periods"].append({
                "period": ("first" if t == 0 else "later") if m.stationary else t + 1,
                "decisions": list(m.decisions(tt)),
                "allocation_by_profile": self.allocation[t].tolist(),
                "payments_by_previous_and_current_profile": self.payments[t].tolist()})
        return out


@dataclass(eq=False, repr=False)
class JointTreeMechanism(Mechanism):
    """Tree mechanism for a :class:`JointModel` without an Environment (correlated types).

    Same array conventions as :class:`~dmd_opt.mechanisms.tree.TreeMechanism` (public disclosure).
    """

    form = "tree"
    model: JointModel
    allocation: list[np.ndarray]
    payments: list[np.ndarray]
    name: str = "mechanism"
    disclosure: str = "public"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def env(self) -> JointModel:
        return self.model

    @property
    def T(self) -> int:
        return len(self.allocation)

    def _shapes(self, t: int) -> list[int]:
        return [n for s in range(t + 1) for n in self.model.profile_shape(s)]

    def _present_value(self, per_node) -> float:
        probs = tree_node_probabilities(self.model, self.allocation)
        d = self.model.discount
        return float(sum(d ** t * (probs[t] @ per_node(t)) for t in range(self.T)))

    def _cost(self, t: int) -> np.ndarray:
        return self.allocation[t] @ self.model.cost(t)

    def _util(self, t: int, i: int) -> np.ndarray:
        u = self.model.profile_utility(i, t)
        return np.sum(self.allocation[t] * u[np.arange(self.allocation[t].shape[0]) % u.shape[0]], axis=1)

    def revenue(self) -> float:
        return self._present_value(lambda t: self.payments[t].sum(axis=1) - self._cost(t))

    def welfare(self) -> float:
        return self._present_value(lambda t: sum(self._util(t, i) for i in range(self.model.N)) - self._cost(t))

    def rents(self) -> list[np.ndarray]:
        return [a.root_values for a in verify(self, "bayesian").agents]

    def expected_utility(self, i: int) -> float:
        """Agent i's expected discounted payoff (utility minus payments) under truthful play."""
        return self._present_value(lambda t: self._util(t, i) - self.payments[t][:, i])

    def at(self, history) -> Rule:
        m = self.model
        d = m.parse_history(history)
        t = d.shape[0] - 1
        k = int(ravel(tuple(d.ravel()), self._shapes(t)))
        prob = float(tree_node_probabilities(m, self.allocation[:t + 1])[t][k])
        return Rule(t + 1, m.history_label(d), m.decisions(t), self.allocation[t][k].copy(),
                    self.payments[t][k].copy(), tuple(m.agent_names), prob, {"node": k})

    def to_frame(self, max_nodes: int = 200_000):
        """Long table: one row per node (period, history, probability, allocation, payments)."""
        import pandas as pd
        m = self.model
        probs = tree_node_probabilities(m, self.allocation)
        frames = []
        for t in range(self.T):
            K = self.allocation[t].shape[0]
            if K > max_nodes:
                break
            dig = np.stack(unravel(np.arange(K), self._shapes(t)), axis=-1).reshape(K, t + 1, m.N)
            df = pd.DataFrame({"period": t + 1, "node": np.arange(K),
                               "history": [m.history_label(row) for row in dig], "probability": probs[t]})
            for a, nm in enumerate(m.decisions(t)):
                df[f"x[{nm}]"] = self.allocation[t][:, a]
            for i, nm in enumerate(m.agent_names):
                df[f"p[{nm}]"] = self.payments[t][:, i]
            frames.append(df)
        return pd.concat(frames, ignore_index=True)

    def to_dict(self, max_nodes: int = 5_000) -> dict:
        m = self.model
        probs = tree_node_probabilities(m, self.allocation)
        out = {"name": self.name, "form": self.form, "disclosure": self.disclosure, "periods": []}
        for t in range(self.T):
            K = self.allocation[t].shape[0]
            if K > max_nodes:
                out["truncated_after_period"] = t
                break
            dig = np.stack(unravel(np.arange(K), self._shapes(t)), axis=-1).reshape(K, t + 1, m.N)
            out["periods"].append({"period": t + 1, "decisions": list(m.decisions(t)),
                                   "histories": [m.history_label(row) for row in dig],
                                   "probability": probs[t].tolist(), "allocation": self.allocation[t].tolist(),
                                   "payments": self.payments[t].tolist()})
        return out


def _carried_walk(m: JointModel, env):
    """Per period t of ``env``'s history tree, for every node: the profile state of ``m`` (each
    persistent agent's period-1 report and every other agent's current report —
    :func:`dmd_opt.core.joint.from_environment` carries persistent types on the state), the
    parent's state, and the node of ``m``'s own profile tree with the same sequence of states."""
    tree = HistoryTree(env)
    out, prev, idx = [], None, None
    for t in range(tree.T):
        d = tree.digits(t)
        cols = tuple(d[:, 0, i] if sp.persistent else d[:, t, i] for i, sp in enumerate(env.own))
        state = np.ravel_multi_index(cols, tuple(m.profile_shape(t)))
        parent = np.arange(state.size) // tree.R[t]
        prev = np.zeros(state.size, np.int64) if t == 0 else prev[parent]
        idx = state if t == 0 else idx[parent] * m.n_profiles(t) + state
        out.append((state, prev, idx))
        prev = state
    return out


def _carried_tree_arrays(m: JointModel, env, allocation, payments):
    """Per-node rules on ``env``'s history tree of Markov rules on the carried profile state
    (:func:`_carried_walk`); the payment reads the parent's state as well."""
    walk = _carried_walk(m, env)
    return ([allocation[t][s] for t, (s, _, _) in enumerate(walk)],
            [payments[t][p, s] for t, (s, p, _) in enumerate(walk)])


def carried_tree_mechanism(mech: "JointTreeMechanism") -> TreeMechanism:
    """A mechanism on the profile tree of a model that carries persistent types, moved onto the
    environment's own history tree (where a persistent agent reports once): the node of the
    profile tree is the sequence of carried states along the environment's history."""
    m = mech.model
    env = (m.meta or {}).get("environment")
    if env is None:
        raise ValueError("the model carries no persistent types: nothing to move")
    walk = _carried_walk(m, env)
    return TreeMechanism(env, [mech.allocation[t][k] for t, (_, _, k) in enumerate(walk)],
                         [mech.payments[t][k] for t, (_, _, k) in enumerate(walk)],
                         disclosure="public", name=mech.name, meta=dict(mech.meta or {}))
