"""Solver adapters: Program → native model → :class:`~dmd_opt.optim.solution.Solution`.

``solve(program, backend="highs" | "cvxpy" | "pyomo" | "clarabel", solver=None, **options)``
is the one entry point every program uses; :class:`dmd_opt.solvers.session.Session`
is the persistent HiGHS model for algorithms that change a program and re-solve
(constraint and column generation, value iteration).  Every adapter applies the
same objective transform (:mod:`dmd_opt.solvers.transform`: sense flip and
power-of-two scaling, undone exactly) and maps statuses, duals (sign convention of
:mod:`dmd_opt.optim.program`), reduced costs, basis and rays into the same Solution.

Backends are imported when first used: a HiGHS solve never imports cvxpy or pyomo
(together ~0.6 s and ~85 MiB at start-up).
"""

from __future__ import annotations

from typing import Callable

from dmd_opt.core.errors import SolverError
from dmd_opt.optim.program import Program
from dmd_opt.optim.solution import Solution
from dmd_opt.solvers.session import Session, solve_highs

#: backends registered by users (name → function(program, solver=, basis=, options=, **kw))
BACKENDS: dict[str, Callable[..., Solution]] = {}
NAMES = ("highs", "cvxpy", "pyomo", "clarabel")


def register(name: str):
    """Decorator registering a user backend under ``name``."""
    def deco(fn):
        BACKENDS[name] = fn
        return fn
    return deco


def _highs(program, solver=None, **kw) -> Solution:
    return solve_highs(program, **kw)


def get_backend(name: str) -> Callable[..., Solution]:
    """The solve function of backend ``name``, importing its module (and library) now."""
    if name in BACKENDS:
        return BACKENDS[name]
    if name == "highs":
        return _highs
    try:
        if name == "cvxpy":
            from dmd_opt.solvers.cvxpy_backend import solve_cvxpy
            return solve_cvxpy
        if name == "pyomo":
            from dmd_opt.solvers.pyomo_backend import solve_pyomo
            return solve_pyomo
        if name == "clarabel":
            from dmd_opt.solvers.clarabel_backend import solve_clarabel
            return solve_clarabel
    except ImportError as exc:
        raise SolverError(f"backend {name!r} is not installed ({exc})") from exc
    raise SolverError(f"unknown backend {name!r}; available: {', '.join(sorted(set(NAMES) | set(BACKENDS)))}")


def available_backends() -> list[str]:
    """Names of the backends whose libraries import here (imports them)."""
    out = []
    for name in sorted(set(NAMES) | set(BACKENDS)):
        try:
            get_backend(name)
        except SolverError:
            continue
        out.append(name)
    return out


def solve(program: Program, backend: str = "highs", solver: str | None = None, *,
          basis: bool = False, options: dict | None = None, **kw) -> Solution:
    """Solve a Program with the chosen backend (and, for cvxpy/pyomo, solver name)."""
    return get_backend(backend)(program, solver=solver, basis=basis, options=options, **kw)


__all__ = ["solve", "get_backend", "available_backends", "register", "Session", "solve_highs", "BACKENDS", "NAMES"]
