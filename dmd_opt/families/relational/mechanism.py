"""The optimal relational contract as a :class:`~dmd_opt.mechanisms.base.Mechanism`.

The contract's state is the promise U to the agent.  ``mech[U]`` is the rule at the grid
promise nearest U: the public lottery over modes (``decisions``) with the plans' actions and
continuation promises in ``state``; ``mech[U, "available"]`` is the rule once the agent's
private state is known: the lottery over the public outcomes (principal's action / agent's
action) and the expected continuation promise.  No money changes hands (payments are 0).
``revenue()`` is the principal's value V* at the optimal start, ``rents()`` the agent's
promise there, ``welfare()`` their sum.  ``verify()`` is the independent enforcement check
(:func:`dmd_opt.families.relational.check.check_policy`): the agent's incentives *and* the
principal's obedience against her computed punishment — a relational contract is checked
for self-enforcement, not only for truthful reporting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dmd_opt.mechanisms.base import Mechanism, Rule


@dataclass(eq=False, repr=False)
class RelationalMechanism(Mechanism):
    """The optimal contract of a :class:`~dmd_opt.families.relational.contract.RelationalResult`."""

    form = "relational"
    result: Any
    name: str = "relational contract"

    @property
    def env(self):
        return self.result.model

    def describe(self) -> dict[str, Any]:
        r = self.result
        return {"form": self.form, "enforcement": r.model.enforcement, "promises": int(r.grid.size),
                "start": round(r.initial_promise, 6)}

    # ---- evaluation --------------------------------------------------------------------
    def revenue(self) -> float:
        return float(self.result.objective)

    def welfare(self) -> float:
        return float(self.result.objective + self.result.initial_promise)

    def rents(self) -> list[np.ndarray]:
        return [np.array([self.result.initial_promise])]

    # ---- rules ---------------------------------------------------------------------------
    def at(self, state) -> Rule:
        r = self.result
        g = r.model.game
        if isinstance(state, tuple) and len(state) == 2:
            promise, s = state
            if isinstance(s, str):
                if s not in g.states:
                    raise KeyError(f"unknown state {s!r}; states are {', '.join(g.states)}")
                s = g.states.index(s)
            s = int(s)
            if not 0 <= s < g.n_states:
                raise KeyError(f"state index {s} out of range")
            pol = r.at(float(promise))
            outs: dict[str, float] = {}
            cont = 0.0
            for pl in pol["plans"]:
                label = f"{pl['principal'][g.states[s]]}/{pl['agent'][g.states[s]]}"
                outs[label] = outs.get(label, 0.0) + pl["probability"]
                cont += pl["probability"] * pl["continuation"][g.states[s]]["promise"]
            labels = tuple(outs)
            return Rule(None, f"promise {pol['promise']:.6g}, state {g.states[s]}", labels,
                        np.array([outs[k] for k in labels]), np.zeros(1), ("agent",), None,
                        {"promise": pol["promise"], "private_state": g.states[s], "continuation_promise": cont,
                         "principal_value": pol["principal_value"]})
        pol = r.at(float(state))
        modes: dict[str, float] = {}
        for pl in pol["plans"]:
            modes[pl["mode"]] = modes.get(pl["mode"], 0.0) + pl["probability"]
        labels = tuple(modes)
        return Rule(None, f"promise {pol['promise']:.6g}", labels, np.array([modes[k] for k in labels]),
                    np.zeros(1), ("agent",), None, pol)

    def to_frame(self):
        return self.result.to_frame()

    def to_dict(self) -> dict:
        r = self.result
        return {"name": self.name, "form": self.form, "enforcement": r.model.enforcement,
                "initial_promise": r.initial_promise, "principal_value": r.objective,
                "promises": r.grid.tolist(), "frontier": r.frontier.tolist(), "policy": r.modes_table()}

    def verify(self, notion: str = "self_enforcement", **options):
        """The independent enforcement check (every notion runs it: one agent, one principal)."""
        return self.result.check()
