r"""Markov mechanisms: rules that depend on the current and the previous report profile.

The efficient constructions of SPEC §3 are Markov on the joint type state: χ*
depends on the current profile :math:`\theta_t`; team and pivot transfers on
:math:`\theta_t`; the balanced team transfers (Athey–Segal (6.1)) on
:math:`(\theta_{t-1}, \theta_t)`.  A :class:`MarkovMechanism` stores

* ``allocation[t]`` — (R_t, |A_t|) lottery over decisions per current profile;
* ``payments[t]`` — (P_t, R_t, N) payment *by* each agent, indexed by the previous
  profile (P_0 = 1: no previous profile) and the current one;

for periods ``t = 0..T-1`` of a finite horizon, or — for a stationary infinite
horizon — two entries: ``[0]`` the first period, ``[1]`` every later period.

Finite-horizon mechanisms expand onto the public history tree with
:meth:`MarkovMechanism.to_tree` (a :class:`~dmd_opt.mechanisms.tree.TreeMechanism`,
accepted by :func:`dmd_opt.verify.bayesian.verify` and the comparison code); stationary ones
are checked by one-shot-deviation dynamic programming in
:func:`dmd_opt.verify.expost.verify_markov`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dmd_opt.core.joint import JointModel


@dataclass(eq=False)
class MarkovMechanism:
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
            R = m.R(tt)
            Pn = 1 if t == 0 else m.R(tt - 1 if not m.stationary else 0)
            self.allocation[t] = np.asarray(self.allocation[t], float).reshape(R, m.n_decisions(tt))
            self.payments[t] = np.asarray(self.payments[t], float).reshape(Pn, R, m.N)

    @property
    def stationary(self) -> bool:
        return self.model.stationary

    @property
    def T(self) -> int | None:
        return self.model.horizon

    # ---- evaluation under truthful play ------------------------------------------------
    def _chain(self, t: int) -> np.ndarray:
        """(R_t, R_{t+1}) truthful profile transition under the allocation at t."""
        K = self.model.kernel(t)
        x = self.allocation[min(t, len(self.allocation) - 1)]
        return np.einsum("ra,arq->rq", x, K)

    def profile_probabilities(self) -> list[np.ndarray]:
        """Finite horizon: truthful distribution of the profile in each period."""
        out = [self.model.initial.copy()]
        for t in range(self.model.horizon - 1):
            out.append(out[-1] @ self._chain(t))
        return out

    def _present_value(self, flow_prev_cur) -> float:
        """E Σ_t δ^t f_t(θ_{t-1}, θ_t) under truthful play; ``flow_prev_cur(t)`` → (P_t, R_t)."""
        m, d = self.model, self.model.discount
        if not m.stationary:
            probs = self.profile_probabilities()
            total = float(probs[0] @ flow_prev_cur(0)[0])
            for t in range(1, m.horizon):
                joint = probs[t - 1][:, None] * self._chain(t - 1)          # (R_{t-1}, R_t)
                total += d ** t * float(np.sum(joint * flow_prev_cur(t)))
            return total
        P = self._chain(0)
        f1 = flow_prev_cur(1)
        Y = np.linalg.solve(np.eye(P.shape[0]) - d * P, np.sum(P * f1, axis=1))
        return float(m.initial @ (flow_prev_cur(0)[0] + d * Y))

    def _util(self, t: int, i: int) -> np.ndarray:
        tt = 0 if self.stationary else t
        return np.sum(self.allocation[t] * self.model.agent_utility(i, tt), axis=1)

    def _cost(self, t: int) -> np.ndarray:
        tt = 0 if self.stationary else t
        return self.allocation[t] @ self.model.costs[0 if self.stationary else tt]

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

    def budget_imbalance(self) -> float:
        """max over (previous, current) profiles and periods of |Σ_i p_i − c(a)| (net of cost)."""
        return max(float(np.max(np.abs(p.sum(axis=2) - self._cost(t)[None, :])))
                   for t, p in enumerate(self.payments))

    # ---- conversion -------------------------------------------------------------------------
    def to_tree(self, env=None):
        """Expand a finite-horizon mechanism onto the history tree (a TreeMechanism)."""
        from dmd_opt.mechanisms.tree import TreeMechanism
        m = self.model
        env = env if env is not None else m.env
        if m.stationary:
            raise ValueError("a stationary mechanism has no finite history tree; use verify_markov")
        if env is None:
            raise ValueError("this model has correlated types (no Environment); use JointTreeMechanism")
        alloc, pay = tree_arrays(self)
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
            lab = [self._profile_label(tt, k) for k in range(R)]
            plab = ["start"] if t == 0 else [self._profile_label(0 if m.stationary else tt - 1, k)
                                             for k in range(Pn)]
            df = pd.DataFrame({"period": ("first" if t == 0 else "later") if m.stationary else t + 1,
                               "previous": [plab[k] for k in prev], "profile": [lab[k] for k in cur]})
            for a, nm in enumerate(m.decision_labels[tt]):
                df[f"x[{nm}]"] = self.allocation[t][cur, a]
            df["cost"] = self._cost(t)[cur]
            for i, nm in enumerate(m.agent_names):
                df[f"p[{nm}]"] = self.payments[t][prev, cur, i]
            frames.append(df)
        return pd.concat(frames, ignore_index=True)

    def _profile_label(self, t: int, k: int) -> str:
        m = self.model
        d = m.digits(t)[k]
        if m.env is not None:
            return "(" + ",".join(m.env.type_labels(i, t)[d[i]] for i in range(m.N)) + ")"
        return "(" + ",".join(f"{m.type_values[t][i][d[i]]:g}" for i in range(m.N)) + ")"

    def to_dict(self) -> dict:
        m = self.model
        out = {"name": self.name, "stationary": m.stationary, "periods": []}
        for t in range(len(self.payments)):
            tt = 0 if m.stationary else t
            out["periods"].append({
                "period": ("first" if t == 0 else "later") if m.stationary else t + 1,
                "decisions": list(m.decision_labels[0 if m.stationary else tt]),
                "allocation_by_profile": self.allocation[t].tolist(),
                "payments_by_previous_and_current_profile": self.payments[t].tolist()})
        return out


def tree_arrays(mech: MarkovMechanism) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-node allocation (K_t, |A_t|) and payments (K_t, N) of a finite-horizon Markov mechanism."""
    m = mech.model
    alloc, pay = [], []
    K_prev = 1
    for t in range(m.horizon):
        R = m.R(t)
        K = K_prev * R
        k = np.arange(K)
        prof = k % R
        prev = (k // R) % m.R(t - 1) if t > 0 else np.zeros(K, dtype=np.int64)
        alloc.append(mech.allocation[t][prof])
        pay.append(mech.payments[t][prev, prof])
        K_prev = K
    return alloc, pay


@dataclass(eq=False)
class JointTreeMechanism:
    """Tree mechanism for a :class:`JointModel` without an Environment (correlated types).

    Same array conventions as :class:`~dmd_opt.mechanisms.tree.TreeMechanism` (public disclosure).
    """

    model: JointModel
    allocation: list[np.ndarray]
    payments: list[np.ndarray]
    name: str = "mechanism"
    disclosure: str = "public"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def T(self) -> int:
        return len(self.allocation)
