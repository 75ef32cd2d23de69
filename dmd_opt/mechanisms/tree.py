r"""Mechanisms on the public history tree.

A :class:`TreeMechanism` gives, at every node (public history of report
profiles, see :mod:`dmd_opt.core.tree`) of a finite-horizon environment,

* an allocation — a lottery ``allocation[t][k, a]`` over the decisions
  :math:`A_t` (rows sum to 1), or for quantity models the quantities
  ``allocation[t][k, i]`` :math:`= q_i`;
* payments ``payments[t][k, i]`` made *by* agent ``i`` (negative = transfer to i).

Disclosure ``public`` means each agent sees all past reports; ``private`` means
only its own (the others' are hidden until the end).  The rules are evaluated
under truthful reporting for revenue, welfare and rents; incentive properties are
checked by :func:`dmd_opt.verify.verify` (the Bayesian tree DP of
:mod:`dmd_opt.verify.bayesian` by default).  Both the revenue-LP decoder and the
closed-form efficient constructions produce TreeMechanisms.  A TreeMechanism implements
the :class:`~dmd_opt.mechanisms.base.Mechanism` protocol with ``form = "tree"``:
``mech["H|L"]`` is the rule after the reports H then L.

Example
-------
>>> from dmd_opt.core.environment import Environment
>>> env = Environment.from_dict({"horizon": 1, "agents": [{"types": [1, 2], "initial": [0.5, 0.5],
...     "labels": ["L", "H"]}], "decisions": {"kind": "allocate"}})
>>> mech = TreeMechanism(env, [[[1, 0], [0, 1]]], [[[0.0], [2.0]]], name="post a price of 2")
>>> mech["H"].payments, mech.revenue()
(array([2.]), 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from dmd_opt.core.model import ravel
from dmd_opt.core.environment import Environment
from dmd_opt.core.tree import HistoryTree
from dmd_opt.core.truthful import tree_flow_utility, tree_principal_cost, tree_truthful_utility
from dmd_opt.mechanisms.base import Mechanism, Rule
from dmd_opt.verify import verify


@dataclass(eq=False, repr=False)
class TreeMechanism(Mechanism):
    form = "tree"
    env: Environment
    allocation: list[np.ndarray]
    payments: list[np.ndarray]
    disclosure: str = "public"
    name: str = "mechanism"
    values: list[list[np.ndarray]] | None = None   # optional [agent][t] (H_t, n) from a solver
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.disclosure not in ("public", "private"):
            raise ValueError("disclosure must be 'public' or 'private'")
        tree = self.tree
        for t in range(self.T):
            K = tree.n_nodes(t)
            width = self.env.n_agents if self.is_quantity else self.env.n_decisions(t)
            self.allocation[t] = np.asarray(self.allocation[t], float).reshape(K, width)
            self.payments[t] = np.asarray(self.payments[t], float).reshape(K, self.env.n_agents)

    @property
    def T(self) -> int:
        return len(self.allocation)

    @property
    def is_quantity(self) -> bool:
        return self.env.quantity is not None

    @cached_property
    def tree(self) -> HistoryTree:
        return HistoryTree(self.env, len(self.allocation))

    # ---- flows --------------------------------------------------------------------
    def flow_utility(self, i: int, t: int) -> np.ndarray:
        """(K_t, n_{i,t}): agent i's expected period-t utility at each node, for each true type."""
        return tree_flow_utility(self.env, self.allocation[t], i, t)

    def principal_cost(self, t: int) -> np.ndarray:
        """(K_t,): expected principal cost at each node."""
        return tree_principal_cost(self.env, self.allocation[t], t)

    def truthful_utility(self, i: int, t: int) -> np.ndarray:
        """(K_t,): agent i's utility at each node when its true types equal its reports."""
        return tree_truthful_utility(self.env, self.tree, self.allocation[t], i, t)

    # ---- evaluation under truthful play ---------------------------------------------
    def _discounted(self, per_node) -> float:
        d = self.env.discount
        return float(sum(d ** t * (self.tree.node_prob[t] @ per_node(t)) for t in range(self.T)))

    def revenue(self) -> float:
        """Expected discounted revenue :math:`\\sum_t\\delta^{t}E[\\sum_i p_{i,t} - c_t]`."""
        return self._discounted(lambda t: self.payments[t].sum(axis=1) - self.principal_cost(t))

    def welfare(self) -> float:
        """Expected discounted surplus :math:`\\sum_t\\delta^{t}E[\\sum_i u_{i,t} - c_t]`."""
        return self._discounted(lambda t: sum(self.truthful_utility(i, t) for i in range(self.env.n_agents))
                                - self.principal_cost(t))

    def expected_payment(self, i: int) -> float:
        return self._discounted(lambda t: self.payments[t][:, i])

    def expected_utility(self, i: int) -> float:
        """Agent i's expected discounted payoff (utility minus payments) under truthful play."""
        return self._discounted(lambda t: self.truthful_utility(i, t) - self.payments[t][:, i])

    def rents(self) -> list[np.ndarray]:
        """Each agent's truthful expected payoff by initial type, :math:`V_i(\\varnothing,\\theta)`."""
        return [a.root_values for a in verify(self, "bayesian").agents]

    def at(self, history) -> Rule:
        """The rule at a history of reports (see :mod:`dmd_opt.mechanisms.base` for the forms)."""
        digits = self.env.parse_history(history)
        t = digits.shape[0] - 1
        if t >= self.T:
            raise KeyError(f"history of {t + 1} periods; the mechanism has {self.T}")
        k = int(ravel(tuple(digits.ravel()), [n for s in range(t + 1) for n in self.tree.shapes[s]]))
        return Rule(t + 1, self.tree.history_labels(t, k)[0], tuple(self.decision_names(t)),
                    self.allocation[t][k].copy(), self.payments[t][k].copy(), self.env.agent_names,
                    float(self.tree.node_prob[t][k]), {"node": k})

    def describe(self) -> dict:
        out = super().describe()
        out["disclosure"] = self.disclosure
        out["nodes"] = int(sum(a.shape[0] for a in self.allocation))
        return out

    def allocation_by_period(self) -> list[np.ndarray]:
        """Expected allocation (lottery weights or quantities) per period under truthful play."""
        return [self.tree.node_prob[t] @ self.allocation[t] for t in range(self.T)]

    # ---- presentation ----------------------------------------------------------------
    def decision_names(self, t: int) -> list[str]:
        if self.is_quantity:
            return [f"q[{ag.name}]" for ag in self.env.agents]
        return list(self.env.decisions(t))

    def to_frame(self, max_nodes: int = 200_000):
        """Long table: one row per node (period, history, probability, allocation, payments)."""
        import pandas as pd
        frames = []
        for t in range(self.T):
            K = self.tree.n_nodes(t)
            if K > max_nodes:
                break
            k = np.arange(K)
            df = pd.DataFrame({"period": t + 1, "node": k,
                               "history": self.tree.history_labels(t, k),
                               "probability": self.tree.node_prob[t]})
            for j, nm in enumerate(self.decision_names(t)):
                df[f"x[{nm}]"] = self.allocation[t][:, j]
            for i, ag in enumerate(self.env.agents):
                df[f"p[{ag.name}]"] = self.payments[t][:, i]
            frames.append(df)
        return pd.concat(frames, ignore_index=True)

    def to_dict(self, max_nodes: int = 5_000) -> dict:
        """JSON-ready rules by period: histories, allocation and payments (truncated past max_nodes)."""
        out = {"name": self.name, "disclosure": self.disclosure, "periods": []}
        for t in range(self.T):
            K = self.tree.n_nodes(t)
            if K > max_nodes:
                out["truncated_after_period"] = t
                break
            k = np.arange(K)
            out["periods"].append({
                "period": t + 1,
                "decisions": self.decision_names(t),
                "histories": self.tree.history_labels(t, k),
                "probability": self.tree.node_prob[t].tolist(),
                "allocation": self.allocation[t].tolist(),
                "payments": self.payments[t].tolist()})
        return out
