"""Solver adapters: Program → native model → :class:`~dmd_opt.optim.solution.Solution`.

``solve(program, backend="highs" | "cvxpy" | "pyomo", solver=None, **options)``
is the one entry point every program uses.  Adapters register themselves in
``BACKENDS``; each maps statuses, duals (sign convention of
:mod:`dmd_opt.optim.program`), reduced costs, basis and infeasibility rays into the
same Solution.
"""

from __future__ import annotations

from typing import Callable

from dmd_opt.core.errors import SolverError
from dmd_opt.optim.program import Program
from dmd_opt.optim.solution import Solution

BACKENDS: dict[str, Callable[..., Solution]] = {}


def register(name: str):
    def deco(fn):
        BACKENDS[name] = fn
        return fn
    return deco


def _load_backends() -> None:
    from dmd_opt.solvers.highs import solve_highs
    BACKENDS.setdefault("highs", lambda prog, solver=None, **kw: solve_highs(prog, **kw))
    try:  # optional backends live in their own modules
        from dmd_opt.solvers import cvxpy_backend
    except ImportError:
        pass
    try:
        from dmd_opt.solvers import pyomo_backend
    except ImportError:
        pass


def solve(program: Program, backend: str = "highs", solver: str | None = None, *,
          basis: bool = False, options: dict | None = None, **kw) -> Solution:
    """Solve a Program with the chosen backend (and, for cvxpy/pyomo, solver name)."""
    _load_backends()
    if backend not in BACKENDS:
        raise SolverError(f"unknown backend {backend!r}; available: {', '.join(sorted(BACKENDS))}")
    return BACKENDS[backend](program, solver=solver, basis=basis, options=options, **kw)
