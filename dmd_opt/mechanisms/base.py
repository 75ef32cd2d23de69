r"""The mechanism protocol: what every mechanism the package returns can do.

A direct mechanism asks the agents for reports and, at every public history of reports
:math:`h^t = (r_1, \dots, r_t)`, chooses a decision lottery :math:`x_t(h^t)` and payments
:math:`p_{i,t}(h^t)` made *by* each agent (negative: a transfer to the agent).  Every
mechanism class — history-tree (:class:`~dmd_opt.mechanisms.tree.TreeMechanism`), Markov
(:class:`~dmd_opt.mechanisms.markov.MarkovMechanism`,
:class:`~dmd_opt.mechanisms.markov.JointTreeMechanism`), contingent and recursive
(promised-utility) mechanisms — implements :class:`Mechanism`:

``mech.env``
    the environment the rules are written on (a :class:`~dmd_opt.core.model.DynamicModel`,
    or the model of a recursive contract);
``mech.at(history)`` / ``mech[history]``
    the :class:`Rule` at a history: the decision lottery (or quantities), each agent's
    payment and the truthful probability of the history.  A history is read by
    :meth:`dmd_opt.core.model.DynamicModel.parse_history`: for one agent a string of labels
    ``"LLH"`` or ``"L|L|H"`` or a tuple ``("L", "L", "H")``; for several agents a tuple of
    per-period profiles ``(("H", "L"), ("L", "L"))`` or the table form ``"(H,L)|(L,L)"``.
    Recursive mechanisms take a *state* (a promised utility) instead;
``revenue()``, ``welfare()``, ``rents()``
    expected discounted revenue (payments minus the principal's cost), surplus, and each
    agent's expected payoff by first-period type, all under truthful reporting;
``to_frame()``, ``to_dict()``
    the rules as a pandas table and as JSON-ready data;
``verify(notion=...)``
    the independent check of :func:`dmd_opt.verify.verify` for ``"bayesian"``, ``"expost"``
    or ``"periodic_expost"`` incentive compatibility;
``repr(mech)`` / ``mech._repr_html_()``
    one line / a small table, whatever the size of the rules.

The verifiers see only data: ``form`` says how the rules are stored — ``"tree"`` (one rule
per node of the history tree: ``allocation[t]`` (K_t, |A_t|), ``payments[t]`` (K_t, N),
``disclosure``), ``"markov"`` (one rule per previous and current report profile:
``allocation[t]`` (R_t, |A_t|), ``payments[t]`` (P_t, R_t, N); stationary: entries
``[first, later]``) or ``"recursive"`` (a policy on a grid of promised utilities, see
:mod:`dmd_opt.verify.recursive`).
"""

from __future__ import annotations

import abc
import html
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from dmd_opt.verify import verify as _verify

FORMS = ("tree", "markov", "recursive")


@dataclass(repr=False)
class Rule:
    """The rule of a mechanism at one history (or state).

    ``allocation``: lottery over ``decisions`` (or quantities, one per agent);
    ``payments``: (N,) paid by each agent; ``probability``: truthful probability of the
    history (``None`` where it has none, e.g. at a state of a recursive contract);
    ``state``: what else identifies the rule (previous profile, promised utility …)."""

    period: int | None
    history: str
    decisions: tuple[str, ...]
    allocation: np.ndarray
    payments: np.ndarray
    agents: tuple[str, ...]
    probability: float | None = None
    state: dict = field(default_factory=dict)

    @property
    def decision(self) -> str:
        """The most likely decision (the decision itself when the allocation is deterministic)."""
        return self.decisions[int(np.argmax(self.allocation))]

    def payment(self, agent: int | str) -> float:
        i = self.agents.index(agent) if isinstance(agent, str) else int(agent)
        return float(self.payments[i])

    def to_dict(self) -> dict:
        return {"period": self.period, "history": self.history, "decisions": list(self.decisions),
                "allocation": np.asarray(self.allocation).tolist(),
                "payments": {a: float(p) for a, p in zip(self.agents, self.payments)},
                "probability": self.probability, **self.state}

    def __repr__(self) -> str:
        x = ", ".join(f"{d}: {_num(v)}" for d, v in zip(self.decisions, self.allocation) if abs(v) > 1e-12)
        p = ", ".join(f"{a}: {_num(v)}" for a, v in zip(self.agents, self.payments))
        where = f"period {self.period}, " if self.period is not None else ""
        return f"Rule({where}{self.history!r}: allocation {{{x}}}, payments {{{p}}})"


def _num(v: float) -> str:
    v = float(v)
    return "0" if abs(v) < 1e-12 else f"{v:.6g}"


class Mechanism(abc.ABC):
    """Base class of every mechanism (see the module docstring)."""

    form: ClassVar[str]
    #: the environment the rules are written on (an attribute or property of each class)
    env: Any
    name: str

    @abc.abstractmethod
    def at(self, history) -> Rule:
        """The rule at ``history`` (forms in the module docstring)."""

    def __getitem__(self, history) -> Rule:
        return self.at(history)

    @abc.abstractmethod
    def revenue(self) -> float:
        """Expected discounted payments minus the principal's cost, truthful play."""

    @abc.abstractmethod
    def welfare(self) -> float:
        """Expected discounted surplus (utilities minus cost), truthful play."""

    @abc.abstractmethod
    def rents(self) -> list[np.ndarray]:
        """Each agent's expected discounted payoff by first-period type, truthful play."""

    @abc.abstractmethod
    def to_frame(self):
        """The rules as a pandas DataFrame (one row per history or state)."""

    @abc.abstractmethod
    def to_dict(self) -> dict:
        """The rules as JSON-ready data."""

    def verify(self, notion: str = "bayesian", **options):
        """Check the mechanism with :func:`dmd_opt.verify.verify` (``notion``: ``"bayesian"``,
        ``"expost"`` or ``"periodic_expost"``)."""
        return _verify(self, notion=notion, **options)

    # ---- presentation --------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """A few facts for the short representations (overridden to add more)."""
        env = self.env
        out: dict[str, Any] = {"form": self.form}
        n = getattr(env, "n_agents", None)
        if n is not None:
            out["agents"] = n
        if hasattr(env, "stationary"):
            out["horizon"] = "infinite" if env.stationary else env.horizon
        return out

    def __repr__(self) -> str:
        facts = ", ".join(f"{k} {v}" for k, v in self.describe().items())
        return f"{type(self).__name__}({self.name!r}: {facts})"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
                       f"<td>{html.escape(str(v))}</td></tr>" for k, v in self.describe().items())
        return (f"<table><caption>{html.escape(type(self).__name__)} "
                f"<b>{html.escape(str(self.name))}</b></caption>{rows}</table>")
