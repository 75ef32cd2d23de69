"""The solver-neutral result of solving a :class:`~dmd_opt.optim.program.Program`.

Statuses (``Solution.status``) are one of::

    optimal, infeasible, unbounded, infeasible_or_unbounded, time_limit,
    iteration_limit, inaccurate, error

``solver_status`` keeps the solver's own words.  Duals follow the sign
convention of :mod:`dmd_opt.optim.program`: ``row_dual[r] = ∂ objective* / ∂ b_r`` in
the program's sense (``max`` or ``min``), ``col_dual`` likewise for variable
bounds.  ``basis`` (when requested) holds ``col_status`` and ``row_status``
arrays with codes ``BASIS_CODES``.  ``dual_ray`` (infeasible programs) is a
Farkas ray ``y`` over rows: see :mod:`dmd_opt.certificates` for its use.
``primal_ray`` (unbounded programs, where a route finds one) is a direction ``d``
with max-norm 1 in the recession cone of the feasible set, ``Q d = 0``, along
which the objective improves without bound (:mod:`dmd_opt.solvers.recession`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

STATUSES = ("optimal", "infeasible", "unbounded", "infeasible_or_unbounded", "time_limit",
            "iteration_limit", "inaccurate", "error")
BASIS_CODES = {"lower": 0, "basic": 1, "upper": 2, "zero": 3, "nonbasic": 4}


@dataclass
class Solution:
    status: str
    solver_status: str
    backend: str
    objective: float | None = None
    x: np.ndarray | None = None
    row_activity: np.ndarray | None = None
    row_dual: np.ndarray | None = None
    col_dual: np.ndarray | None = None
    basis: dict[str, np.ndarray] | None = None
    dual_ray: np.ndarray | None = None
    primal_ray: np.ndarray | None = None
    solve_seconds: float = 0.0
    build_seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "optimal"

    def summary(self) -> dict:
        return {"status": self.status, "solver_status": self.solver_status, "backend": self.backend,
                "objective": self.objective, "solve_seconds": self.solve_seconds,
                "build_seconds": self.build_seconds, **{k: v for k, v in self.info.items()
                                                         if isinstance(v, (int, float, str, bool))}}
