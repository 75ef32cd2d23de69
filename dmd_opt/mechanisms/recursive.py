r"""Recursive contracts as mechanisms: policies on a grid of promised utilities.

A recursive contract (Spear and Srivastava 1987; Thomas and Worrall 1990; Fernandes and
Phelan 2000) is a direct mechanism whose history enters only through a *state*: the
utility promised to the agent — ex ante (:math:`v`, i.i.d. types) or by current type
(:math:`(U_1..U_K)`, Markov types).  At a state and a report :math:`k` it prescribes the
period's allocation or transfer and a continuation promise; the contracts solved by
:mod:`dmd_opt.families.recursive` randomise over grid states, so each report leads to a
lottery over the next state with the expected promise computed here.

A :class:`PromiseMechanism` implements :class:`~dmd_opt.mechanisms.base.Mechanism` with
``form = "recursive"``: ``mech.at((v, "H"))`` / ``mech[v, "H"]`` is the rule at promise ``v``
after report ``H`` (off-grid scalar promises interpolate the two neighbouring grid states —
the lottery that delivers ``v``); ``mech.menu(v)`` gives every report's rule.  Histories of
reports do not identify a state (continuations are lotteries), so lookups take states.
:func:`dmd_opt.verify.recursive.verify_recursive` checks IC and promise keeping at every state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dmd_opt.mechanisms.base import Mechanism, Rule


@dataclass(eq=False)
class PromiseStage:
    """One Bellman stage of a contract (the stationary contract has one; a finite horizon one
    per number of periods left).  ``states`` (S,) or (S, K); ``flow`` (S, K_report, K_true):
    expected flow payoff of the true type; ``continuation`` (S, K_report, d): expected
    continuation promise (d = 1 ex ante, d = K by next type); ``allocation`` (S, K_report, m)
    and ``payments`` (S, K_report) — payment *by* the agent; ``value`` (S,): the principal's value."""

    name: str
    states: np.ndarray
    flow: np.ndarray
    continuation: np.ndarray
    allocation: np.ndarray
    payments: np.ndarray
    value: np.ndarray


@dataclass(eq=False, repr=False)
class PromiseMechanism(Mechanism):
    """A recursive contract (module docstring).  ``evaluation`` holds the family's
    ``revenue``, ``welfare`` and ``rents`` at the initial state (their meaning is stated by the
    builder: e.g. a lender's profit, or an allocation surplus without money)."""

    form = "recursive"
    env: Any
    stages: list[PromiseStage]
    type_labels: tuple[str, ...]
    decision_labels: tuple[str, ...]
    prior: np.ndarray
    transition: np.ndarray
    beta: float
    initial: Any
    evaluation: dict
    name: str = "recursive contract"
    payoff_scale: float = 1.0
    meta: dict = field(default_factory=dict)

    # ---- evaluation ---------------------------------------------------------------------
    def revenue(self) -> float:
        return float(self.evaluation["revenue"])

    def welfare(self) -> float:
        return float(self.evaluation["welfare"])

    def rents(self) -> list[np.ndarray]:
        return [np.asarray(self.evaluation["rents"], float)]

    # ---- rules at a state ---------------------------------------------------------------
    def at(self, state) -> Rule:
        """The rule at ``(promise, report)`` (first stage, i.e. the stationary contract or the
        longest horizon); ``promise`` is a number or, with Markov types, a grid state (U_1..U_K)."""
        if not (isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], (str, int, np.integer))):
            raise KeyError(f"give a state and a report, e.g. mech[v, {self.type_labels[-1]!r}]; "
                           f"reports are {', '.join(self.type_labels)}")
        promise, report = state
        k = self._report(report)
        stage = self.stages[0]
        w = self._weights(stage, promise)
        alloc = np.einsum("s,sm->m", w, stage.allocation[:, k])
        pay = float(w @ stage.payments[:, k])
        cont = np.einsum("s,sd->d", w, stage.continuation[:, k])
        flow = np.einsum("s,s->", w, stage.flow[:, k, k])
        st = {"report": self.type_labels[k], "promise": np.asarray(promise, float).tolist(),
              "continuation_promise": cont.tolist() if cont.size > 1 else float(cont[0]),
              "flow_payoff": float(flow), "principal_value": float(w @ stage.value)}
        return Rule(None, f"promise {st['promise']}, report {self.type_labels[k]}", self.decision_labels,
                    alloc, np.array([pay]), ("agent",), None, st)

    def menu(self, promise) -> dict[str, Rule]:
        """Every report's rule at ``promise``."""
        return {lab: self.at((promise, lab)) for lab in self.type_labels}

    def _report(self, report) -> int:
        if isinstance(report, (int, np.integer)):
            if 0 <= int(report) < len(self.type_labels):
                return int(report)
        elif report in self.type_labels:
            return self.type_labels.index(report)
        raise KeyError(f"unknown report {report!r}; reports are {', '.join(self.type_labels)}")

    @staticmethod
    def _weights(stage: PromiseStage, promise) -> np.ndarray:
        """Weights over grid states delivering ``promise`` (two neighbours; exact grid points)."""
        states = np.asarray(stage.states, float)
        w = np.zeros(len(states))
        if states.ndim == 1:
            v = float(promise)
            if not states.min() - 1e-12 <= v <= states.max() + 1e-12:
                raise KeyError(f"promise {v:g} is outside the grid [{states.min():g}, {states.max():g}]")
            order = np.argsort(states)
            s = states[order]
            j = int(np.clip(np.searchsorted(s, v), 1, len(s) - 1))
            lam = 0.0 if s[j] == s[j - 1] else (v - s[j - 1]) / (s[j] - s[j - 1])
            w[order[j - 1]], w[order[j]] = 1.0 - np.clip(lam, 0, 1), np.clip(lam, 0, 1)
            return w
        d = np.max(np.abs(states - np.asarray(promise, float)[None, :]), axis=1)
        j = int(np.argmin(d))
        if d[j] > 1e-9 * max(1.0, float(np.max(np.abs(states)))):
            raise KeyError(f"state {list(promise)} is not a grid state (nearest {states[j].tolist()})")
        w[j] = 1.0
        return w

    # ---- tables ---------------------------------------------------------------------------
    def to_frame(self):
        """One row per (stage, state, report): promise, allocation, payment, continuation, value."""
        import pandas as pd
        frames = []
        for st in self.stages:
            S, K = st.flow.shape[:2]
            s, k = np.divmod(np.arange(S * K), K)
            states = np.asarray(st.states, float)
            df = pd.DataFrame({"stage": st.name,
                               "promise": states[s] if states.ndim == 1 else [tuple(x) for x in states[s]],
                               "report": [self.type_labels[j] for j in k]})
            for m, lab in enumerate(self.decision_labels):
                df[f"x[{lab}]"] = st.allocation[s, k, m]
            df["payment"] = st.payments[s, k]
            W = st.continuation[s, k]
            df["continuation"] = W[:, 0] if W.shape[1] == 1 else [tuple(x) for x in W]
            df["principal_value"] = st.value[s]
            frames.append(df)
        return pd.concat(frames, ignore_index=True)

    def to_dict(self) -> dict:
        return {"name": self.name, "form": self.form, "reports": list(self.type_labels),
                "decisions": list(self.decision_labels), "beta": self.beta, "initial": self.initial,
                "revenue": self.revenue(), "welfare": self.welfare(),
                "rents_by_initial_type": self.rents()[0].tolist(),
                "stages": [{"name": st.name, "states": np.asarray(st.states).tolist(),
                            "allocation": st.allocation.tolist(), "payments": st.payments.tolist(),
                            "continuation": st.continuation.tolist(), "principal_value": st.value.tolist()}
                           for st in self.stages]}

    def describe(self) -> dict:
        st = self.stages[0]
        return {"form": self.form, "agents": 1, "states": len(st.states), "stages": len(self.stages),
                "reports": ",".join(self.type_labels)}
