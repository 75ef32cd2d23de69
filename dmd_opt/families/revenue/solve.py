"""Solving the revenue program: the whole LP/QP at once, or by constraint generation.

:func:`solve_revenue` is the entry point of the revenue family; it dispatches to
:func:`dmd_opt.families.revenue.program.solve_revenue_full` (build every row, one
solve on any backend) or :func:`dmd_opt.families.revenue.cg.solve_revenue_cg`
(constraint generation on the IC rows, HiGHS; same optimum, and a Solution of the
full program).
"""

from __future__ import annotations

from typing import Any

from dmd_opt.core import validation as V
from dmd_opt.core.environment import Environment
from dmd_opt.families.revenue.cg import solve_revenue_cg
from dmd_opt.core.errors import ModelError
from dmd_opt.families.revenue.program import RevenueResult, _check_env, _check_options, solve_revenue_full
from dmd_opt.families.revenue.reduced_form import choose_method, solve_reduced_form
from dmd_opt.families.revenue.selection import DEFAULT_COLUMN_LIMIT, apply_selection, parse_selection

METHODS = ("auto", "full", "cg", "reduced_form")


def solve_revenue(env: Environment, participation: str = "interim", disclosure: str = "public",
                  objective: Any = "revenue", fixed_allocation: Any = None, budget_balance: bool = False,
                  backend: str = "highs", solver: str | None = None, options: dict | None = None,
                  verify: bool = True, basis: bool = False, method: str = "auto", ic: str = "bayesian",
                  money: bool = True, units: int = 1, reserve: Any = None, constraints: Any = None,
                  payments: str = "winner_pays", selection: Any = "default") -> RevenueResult:
    """Build, solve, decode and (by default) verify the revenue program.

    ``method="cg"`` solves it by constraint generation on the IC rows
    (:func:`dmd_opt.families.revenue.cg.solve_revenue_cg`; same optimum, Solution
    for the full program); it covers Bayesian IC with money.  ``ic`` (``"bayesian"`` or
    ``"expost"``) and ``money`` as in :func:`~dmd_opt.families.revenue.program.revenue_program`.
    ``method="reduced_form"`` solves a one-period auction over interim rules with lazily
    generated Border inequalities (:func:`dmd_opt.families.revenue.reduced_form.solve_reduced_form`;
    Bayesian IC with money; needed for ``units``, ``reserve``, ``constraints`` and ``payments``).
    ``"auto"`` (the default) takes the reduced form when the type profiles are many and says so
    in the result, the full program otherwise.
    ``selection`` then chooses the mechanism among the optimal
    ones (:mod:`dmd_opt.families.revenue.selection`: ``"default"`` = ex-post IR where
    feasible, symmetric bidders alike, least Σp²; ``"none"`` keeps the solver's
    vertex); the objective and the certificate are the optimum's, the mechanism (and
    its verification) the selected one.  The reduced form implements its interim rule by a
    priority lottery of its own, so it takes no selection.

    >>> from dmd_opt.core.environment import Environment
    >>> env = Environment.from_dict({"agents": [{"types": [1, 2], "initial": [0.5, 0.5]}],
    ...                              "decisions": {"kind": "allocate"}})
    >>> round(solve_revenue(env).revenue, 9)   # post price 1 or 2: both give 1
    1.0
    """
    V.choice(method, "method", METHODS)
    method, note = choose_method(env, method, participation=participation, fixed_allocation=fixed_allocation,
                                 budget_balance=budget_balance, disclosure=disclosure, backend=backend,
                                 units=units, reserve=reserve, constraints=constraints, payments=payments,
                                 ic=ic, money=money)
    if method == "reduced_form":
        return solve_reduced_form(env, participation, objective, units, reserve, constraints,
                                  payments=payments, options=options, verify=verify, method_note=note,
                                  backend=backend, solver=solver)
    _check_env(env)
    _check_options(env, participation, disclosure, ic, money)
    rules = parse_selection(selection)
    if method == "cg":
        if ic != "bayesian" or not money or participation == "expost" or not env.independent \
                or env.reads_own_history:
            raise ModelError("method", "constraint generation covers Bayesian IC with money, independent "
                             "types, utilities of the current type and ex_ante, interim, periodic or no "
                             "participation; use method = 'full'")
        res = solve_revenue_cg(env, participation, disclosure, objective, fixed_allocation, budget_balance,
                               backend=backend, solver=solver, options=options, verify=verify and not rules,
                               basis=basis)
    else:
        res = solve_revenue_full(env, participation, disclosure, objective, fixed_allocation, budget_balance,
                                 backend=backend, solver=solver, options=options, verify=verify and not rules,
                                 basis=basis, ic=ic, money=money)
    # with a selection, the selected mechanism is the one verified
    preset = selection is None or (isinstance(selection, str) and selection == "default")
    return apply_selection(res, rules, verify=verify and bool(rules),
                           column_limit=DEFAULT_COLUMN_LIMIT if preset else None)
