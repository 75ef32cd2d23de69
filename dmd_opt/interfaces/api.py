"""The everyday entry points, exported at the top level of the package (``dmd_opt.solve`` …).

>>> import dmd_opt
>>> res = dmd_opt.solve("models/static_monopoly.toml")
>>> res.status, round(res.revenue, 6), res.verification.passed("interim")
('optimal', 1.333333, True)
>>> env = dmd_opt.Environment.from_dict({"agents": [{"types": [1, 2], "initial": [0.5, 0.5]}],
...                                      "decisions": {"kind": "allocate"}})
>>> round(dmd_opt.solve(env, participation="ex_ante").objective, 9)   # signed before the type: full extraction
1.5
"""

from __future__ import annotations

import os
from typing import Any

from dmd_opt.core.environment import Environment
from dmd_opt.interfaces.models import Model, load, solve_model


def model_of(source: Any) -> Model:
    """A :class:`Model` from a model file path, a dict (a model file's content), a loaded model,
    or an :class:`Environment` (kind ``revenue``, no file options)."""
    if isinstance(source, Model):
        return source
    if isinstance(source, Environment):
        return Model("revenue", source, {})
    if isinstance(source, (str, os.PathLike, dict)):
        return load(source)
    kind = getattr(source, "kind", None)
    raise TypeError(f"expected a model file, a dict, a loaded model or an Environment, got "
                    f"{type(source).__name__}" + (f" (kind {kind!r})" if kind else ""))


def solve(source: Any, **options: Any):
    """Solve a model — a file path, a dict, a loaded model or an :class:`Environment` — with
    its ``[solve]`` options updated by ``options`` (``None`` values ignored); returns the kind's
    result (``status``, ``objective``, ``mechanism``, ``verification``, ``to_dict()``, ``summary()``).

    An Environment is solved by the revenue program (:func:`dmd_opt.families.revenue.solve.solve_revenue`
    options: ``participation``, ``disclosure``, ``objective``, ``method`` …)."""
    return solve_model(model_of(source), **options)


def compare(source: Any, participation=("ex_ante", "interim", "periodic"),
            efficient=("pivot", "team", "balanced"), **kw):
    """Revenue-optimal vs efficient mechanisms as a DataFrame (:func:`dmd_opt.analysis.compare.compare`);
    ``source`` may also be a model file or dict."""
    from dmd_opt.analysis.compare import compare as run  # the analysis layer is imported on use (start-up)
    return run(_environment_source(source), participation, efficient, **kw)


def comparison(source: Any, participation=("ex_ante", "interim", "periodic"),
               efficient=("pivot", "team", "balanced"), **kw):
    """The :class:`~dmd_opt.analysis.compare.Comparison` object (mechanisms, tables, plots, JSON)."""
    from dmd_opt.analysis.compare import as_environment, comparison as run, model_defaults
    src = _environment_source(source)
    for k, v in model_defaults(src).items():
        kw.setdefault(k, v)
    return run(as_environment(src), participation, efficient, **kw)


def frontier(source: Any, **kw):
    """The revenue–welfare frontier (:func:`dmd_opt.analysis.frontier.frontier`)."""
    from dmd_opt.analysis.frontier import frontier as run
    return run(_environment_source(source), **kw)


def economics(source: Any, **options: Any):
    """The economics of a solved revenue program — virtual values and ironing, the dynamic
    virtual surplus against the program's duals, interim reduced forms
    (:class:`~dmd_opt.families.revenue.economics.Economics`).  ``source`` is a result with an
    ``economics()`` method, or anything :func:`solve` takes (solved with ``options``)."""
    if callable(getattr(source, "economics", None)):
        return source.economics()
    res = solve(source, **options)
    if not callable(getattr(res, "economics", None)):
        raise TypeError(f"results of kind {getattr(res, 'kind', type(res).__name__)!r} have no economics(); "
                        "it is read off the revenue program")
    return res.economics()


def reduced_forms(mechanism: Any, periods: int | None = None):
    """Interim reduced forms Q, T, U, V by agent, period and own type as a DataFrame
    (:func:`dmd_opt.analysis.economics.reduced_form_frame`); ``mechanism`` may be a result."""
    from dmd_opt.analysis.economics import reduced_form_frame
    return reduced_form_frame(getattr(mechanism, "mechanism", None) or mechanism, periods)


def regrets(source: Any):
    """The verifier's regrets by agent, period and own type, with the best deviation, as a
    DataFrame (:func:`dmd_opt.analysis.economics.regret_frame`); ``source`` is a verification
    report, a mechanism (verified for Bayesian IC) or a result."""
    from dmd_opt.analysis.economics import regret_frame
    report = source
    if not hasattr(report, "agents"):
        report = getattr(source, "verification", None)
        if report is None or not hasattr(report, "agents"):
            report = getattr(source, "mechanism", None) or source
            report = report.verify("bayesian")
    mech = getattr(source, "mechanism", None) or source
    if not hasattr(report, "agents") and getattr(mech, "form", None) == "interim":
        from types import SimpleNamespace

        from dmd_opt.families.revenue.interim import interim_rule_regrets
        report = SimpleNamespace(agents=interim_rule_regrets(mech))
    if not hasattr(report, "agents"):
        raise TypeError(f"{type(report).__name__} has no regrets by type (the tree, joint-process and Markov "
                        "verifiers report them)")
    return regret_frame(report)


def _environment_source(source: Any):
    return load(source) if isinstance(source, (str, os.PathLike, dict)) else source
