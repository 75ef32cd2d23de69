r"""Utilities that read an agent's own type history, and persistent types.

By default agent :math:`i`'s period-:math:`t` utility reads its current type,
:math:`u_{i,t}(a, \theta_{i,t})`.  A model may instead declare, per agent,

* ``utility_of = "initial_and_current"`` — :math:`u_{i,t}(a, \theta_{i,1}, \theta_{i,t})`: an
  ex-ante type followed by a shock (the value of Esö–Szentes' handicap auction is a function
  of the two), a persistent characteristic with a fresh component;
* ``utility_of = "history"`` — :math:`u_{i,t}(a, \theta_{i,1}, \dots, \theta_{i,t})`;
* ``persistent = true`` — the type is drawn once, before period 1, and never changes: the
  agent has no new information later (no report, no transition) and every period's utility
  reads its first type (a seller's cost, Athey–Segal's trading game).

The tables then have one axis per period read (in increasing order): for finite decisions
``(|A_t|, n_{i,1}, n_{i,t})`` or ``(|A_t|, n_{i,1}, …, n_{i,t})``; for the good of the
``allocate`` kind and the unit value of the ``quantity`` kind the agent gives ``values`` per
period of shape ``(n_{i,1}, n_{i,t})`` (``(n_{i,1},)`` in period 1).  A persistent agent's
tables read its first type only: ``(|A_t|, n_{i,1})`` and, without ``values``, its type values.

Programs then carry the remembered types in the agent's private state (the revenue
program's value recursion runs over (public history, own true type history); with Markov
types and utilities of :math:`(\theta_{i,1}, \theta_{i,t})` it suffices to carry
:math:`\theta_{i,1}`), and the tree verifier carries the whole own true type history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dmd_opt.core import validation as V
from dmd_opt.core.errors import ModelError
from dmd_opt.core.limits import check_count, product

UTILITY_OF = ("current", "initial_and_current", "history")
PERSISTENT_LABEL = "same"


@dataclass(frozen=True)
class OwnSpec:
    """How agent i's utilities read its own types: ``periods[t]`` the periods read in ``t``;
    ``values[t]`` the good's / unit value table over those periods (None: the type values)."""

    utility_of: str
    persistent: bool
    periods: tuple[tuple[int, ...], ...]
    values: tuple[np.ndarray | None, ...]

    @property
    def current_only(self) -> bool:
        return all(p == (t,) for t, p in enumerate(self.periods))


def read_periods(utility_of: str, t: int) -> tuple[int, ...]:
    """The own periods (0-based, increasing) that a period-``t`` utility reads."""
    if utility_of == "current" or t == 0:
        return (t,)
    if utility_of == "initial_and_current":
        return (0, t)
    return tuple(range(t + 1))


def parse_own(a: dict, af: str, periods: int, stationary: bool, vals: list, labs: list):
    """Read ``utility_of``, ``persistent`` and ``values`` of one agent.

    Returns ``(vals, labs, spec)``; a persistent agent's later periods get one type (label
    ``"same"``, no value)."""
    persistent = V.boolean(a.get("persistent", False), f"{af}.persistent")
    utility_of = V.choice(a.get("utility_of", "current"), f"{af}.utility_of", UTILITY_OF)
    if persistent:
        if "utility_of" in a:
            raise ModelError(f"{af}.utility_of", "a persistent agent's utilities read its one type; "
                             "leave utility_of out")
        for k in ("transition", "transition_by_decision", "iid"):
            if k in a:
                raise ModelError(f"{af}.{k}", "a persistent agent keeps its first type: it has no transition")
        if stationary:
            raise ModelError(f"{af}.persistent", "needs a finite horizon (a stationary type process "
                             "with a fixed type is a one-type transition: use an identity matrix)")
        if isinstance(a["types"][0], (list, tuple)):
            raise ModelError(f"{af}.types", "a persistent agent has one list of types (drawn before period 1)")
        vals = [vals[0]] + [np.full(1, np.nan)] * (periods - 1)
        labs = [labs[0]] + [(PERSISTENT_LABEL,)] * (periods - 1)
        utility_of = "initial_and_current"
    if utility_of != "current" and stationary:
        raise ModelError(f"{af}.utility_of", "utilities of the type history need a finite horizon")
    per = tuple(read_periods(utility_of, t) for t in range(periods))
    if utility_of != "current":
        _check_tables(af, per, vals)
    values: list[np.ndarray | None] = [None] * periods
    if "values" in a:
        if utility_of == "current":
            raise ModelError(f"{af}.values", "values tables are for utility_of = 'initial_and_current' or "
                             "'history' (with utilities of the current type the type values are the values)")
        raw = V.sequence(a["values"], f"{af}.values")
        if len(raw) != periods:
            raise ModelError(f"{af}.values", f"gives {len(raw)} periods, horizon has {periods} "
                             "(use [] for a period without a value)")
        for t, r in enumerate(raw):
            if isinstance(r, (list, tuple)) and len(r) == 0:
                continue
            shape = tuple(len(vals[s]) for s in per[t])
            values[t] = V.array(r, f"{af}.values[{t}]", shape=shape)
    elif persistent:
        values = [vals[0]] + [vals[0].reshape(-1, 1)] * (periods - 1)
    return vals, labs, OwnSpec(utility_of, persistent, per, tuple(values))


#: most own periods one table may read: one axis each (numpy allows 64 axes; a model file
#: nests at most 32 levels)
MAX_READ_PERIODS = 30


def _check_tables(af: str, per: tuple, vals: list) -> None:
    """Refuse, before any table is built, utilities over own type histories that are too large:
    the tables of period t have ∏_{s read} n_{i,s} entries per decision (own histories are a
    projection of the history tree's nodes, hence the ``tree_nodes`` limit)."""
    longest = max(len(p) for p in per)
    if longest > MAX_READ_PERIODS:
        raise ModelError(f"{af}.utility_of", f"a utility of the whole type history over {longest} periods needs "
                         f"tables with one axis per period (at most {MAX_READ_PERIODS}); use a shorter horizon or "
                         "utility_of = 'initial_and_current'")
    entries = sum(product(len(vals[s]) for s in p) for p in per)
    check_count(f"{af}.utility_of", entries, "tree_nodes", noun="entries",
                what="its utility tables over own type histories would have", bytes_each=16.0,
                alternative="use a shorter horizon, fewer types or utility_of = 'initial_and_current'")


def value_table(spec: OwnSpec, vals: list, i: int, t: int, why: str) -> np.ndarray:
    """The good's / unit value of agent ``i`` in period ``t`` over the periods read."""
    if spec.values[t] is not None:
        return spec.values[t]
    if spec.periods[t] != (t,):
        raise ModelError(f"agents[{i}].values", f"period {t + 1} needs a value table (utility_of = "
                         f"{spec.utility_of!r}), because {why}")
    v = vals[t]
    if np.any(np.isnan(v)):
        raise ModelError(f"agents[{i}].types", f"period {t + 1}'s types are labels without values, but {why}")
    return v


def table_shape(spec: OwnSpec, vals: list, n_decisions: int, t: int) -> tuple[int, ...]:
    """Shape of a ``table`` kind utility of period ``t``: (|A_t|, one axis per period read)."""
    return (n_decisions,) + tuple(len(vals[s]) for s in spec.periods[t])


def persistent_table(spec: OwnSpec, raw: Any, field: str, n_decisions: int, vals: list, t: int) -> np.ndarray:
    """A persistent agent's table (|A_t|, n_1) → (|A_t|, n_1, 1) for the periods read (1, t)."""
    u = V.array(raw, field, ndim=2, shape=(n_decisions, len(vals[0])))
    return u if t == 0 else u[:, :, None]
