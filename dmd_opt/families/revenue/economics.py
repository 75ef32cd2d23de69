r"""The economics a designer reads off a solved revenue program, in one object.

:func:`result_economics` (``RevenueResult.economics()``) gathers

* the **static virtual values**, ironed virtual values and ironing intervals of every
  agent's first-period types (:mod:`.virtual_values`: Myerson 1981, §6);
* the **dynamic virtual surplus** — IC multipliers, handicaps, impulse responses and
  virtual surplus by history — with its comparison to the program's duals
  (:mod:`.virtual_surplus`: Pavan, Segal & Toikka 2014; Battaglini 2005), where it applies:
  independent types with a decision-free law, utilities of the current type, one agent or
  public disclosure, Bayesian IC with money and a free allocation;
* the **interim reduced forms** :math:`Q, T, U, V` by agent, period and own type
  (:mod:`.interim`).

Per-type regrets come with the verification report (``AgentCheck.by_type``) and revenue
equivalence compares two mechanisms (:func:`.interim.revenue_equivalence`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dmd_opt.core.errors import ModelError
from dmd_opt.families.revenue.interim import ReducedForm, interim_reduced_forms
from dmd_opt.families.revenue.virtual_surplus import DynamicVirtualSurplus, dual_comparison, dynamic_virtual_surplus
from dmd_opt.families.revenue.virtual_values import StaticVirtualValues, static_virtual_values

#: Keys of :class:`Economics` (mapping access).
KEYS = ("virtual_values", "dynamic", "dynamic_note", "duals", "reduced_forms")


@dataclass
class Economics:
    """What :func:`result_economics` returns; reads as a mapping too (``econ["virtual_values"]``).

    ``virtual_values``: one :class:`~.virtual_values.StaticVirtualValues` per agent;
    ``dynamic``: the :class:`~.virtual_surplus.DynamicVirtualSurplus` (None where it does not
    apply, ``dynamic_note`` says why); ``duals``: :func:`~.virtual_surplus.dual_comparison`
    against the solved program (None without duals); ``reduced_forms``: one
    :class:`~.interim.ReducedForm` per agent (empty without a mechanism)."""

    virtual_values: list[StaticVirtualValues]
    dynamic: DynamicVirtualSurplus | None = None
    dynamic_note: str = ""
    duals: dict | None = None
    reduced_forms: list[ReducedForm] = field(default_factory=list)
    reduced_forms_note: str = ""

    def __getitem__(self, key: str) -> Any:
        if key not in KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def keys(self) -> tuple[str, ...]:
        return KEYS

    def to_dict(self, max_nodes: int = 2000) -> dict:
        """The record's ``economics`` object (``docs/result.schema.json``)."""
        return {"virtual_values": [v.to_dict() for v in self.virtual_values],
                "dynamic": None if self.dynamic is None else {**self.dynamic.to_dict(max_nodes),
                                                              "duals": self.duals},
                "dynamic_note": self.dynamic_note,
                "reduced_forms": [rf.to_dict() for rf in self.reduced_forms],
                "reduced_forms_note": self.reduced_forms_note}

    def summary_lines(self) -> list[str]:
        from dmd_opt.core.display import fmt
        lines = [v.summary_line() for v in self.virtual_values if np.isfinite(v.virtual).any()]
        if self.dynamic is not None:
            lines += self.dynamic.summary_lines()
            d = self.duals
            if d is not None:
                if d["agree"]:
                    how = ("they are an optimal dual of the program" + (
                        ", equal to the solver's IC duals" if d["same_as_solver"] else
                        f"; the solver's duals differ by up to {fmt(max(d['max_gap'], d['max_other_ic_dual']), 3)} "
                        "(several optimal duals: IC rows bind together)"))
                else:
                    how = (f"the relaxation is not exact (relaxed {fmt(d['relaxed_value'], 10)} vs program "
                           f"{fmt(d['program_value'], 10)}"
                           + (", some multiplier < 0: no stochastic dominance" if d["min_multiplier"] < 0 else "")
                           + "): other IC rows bind")
                lines.append(f"  multipliers vs the program: {how}")
        elif self.dynamic_note and not self.dynamic_note.startswith("one period"):
            lines.append(f"dynamic virtual surplus: not computed ({self.dynamic_note})")
        return lines


def _dynamic_scope(result) -> str:
    """Why the dynamic virtual surplus does not apply to ``result`` ("" when it does)."""
    o, env = result.options, result.env
    if (env.horizon or 0) < 2:
        return "one period: the static virtual values say it all"
    if o.get("ic", "bayesian") != "bayesian":
        return "ex-post IC rows"
    if not o.get("money", True):
        return "no money: no payments to price the IC rows"
    if o.get("fixed_allocation") is not None or o.get("budget_balance"):
        return "fixed allocation or budget rows"
    return ""


def result_economics(result, max_nodes: int = 200_000) -> Economics:
    """The economics of a solved :class:`~.program.RevenueResult` (module docstring).

    The dynamic part is skipped (with a note) beyond ``max_nodes`` histories in a period."""
    env = result.env
    econ = Economics(static_virtual_values(env))
    note = _dynamic_scope(result)
    prog = result.program
    part = result.options.get("participation", "interim")
    obj = (prog.meta.get("objective") if prog is not None else None) or {}
    if not note:
        from dmd_opt.core.tree import HistoryTree
        if max(HistoryTree(env).K) > max_nodes:
            note = f"more than {max_nodes} histories in a period"
    if not note:
        try:
            econ.dynamic = dynamic_virtual_surplus(env, part, float(obj.get("revenue", 1.0)),
                                                   result.options.get("disclosure", "public"),
                                                   float(obj.get("welfare", 0.0)))
        except ModelError as e:
            note = e.problem
    econ.dynamic_note = note
    if econ.dynamic is not None and result.solution is not None and result.solution.row_dual is not None:
        try:
            econ.duals = dual_comparison(result, econ.dynamic)
        except ModelError:
            econ.duals = None
    if result.mechanism is not None:
        try:
            econ.reduced_forms = interim_reduced_forms(result.mechanism)
        except ModelError as e:                      # a model the reduced forms cannot read
            econ.reduced_forms_note = e.problem
    return econ
