"""What a model *file* may ask of a solver: names from an allow-list, numeric options only.

A model file is data from a stranger (``docs/security.md``).  Its ``[solve]``
table may choose

``backend``
    ``highs``, ``cvxpy`` or ``pyomo``.
``solver``
    a *name* from :func:`solver_names` — the solver plugins of that backend that
    are installed (cvxpy: ``cvxpy.installed_solvers()``; pyomo: the package's
    HiGHS routes and pyomo's registered plugins for known solvers).  Never a
    path and never an executable: pyomo would otherwise run any program named
    in the file (an unknown name becomes an "ASL" solver whose executable is the
    name, and even its availability check runs it).
``options``
    only the numeric and tolerance options of :data:`FILE_OPTIONS`, each with its
    type and range.  Options that read or write files (HiGHS ``log_file``,
    ``write_model_file``, ``solution_file``, ``read_basis_file`` …, SCS
    ``write_data_filename`` …) or that change output (``output_flag``,
    ``verbose``) are refused here; they remain available from the Python API
    (``solve(..., options={...})``), which is the caller's own code.

Solver specifics live in this package (:mod:`dmd_opt.solvers`); the model loader
(:mod:`dmd_opt.interfaces.models`) calls :func:`check_file_solver` and
:func:`check_file_options`.
"""

from __future__ import annotations

import math
import re
from typing import Any

from dmd_opt.core.errors import ModelError
from dmd_opt.core.kinds import BACKEND_NAMES

#: The package's own HiGHS routes through pyomo (see :mod:`dmd_opt.solvers.pyomo_backend`).
PYOMO_HIGHS_ROUTES = ("highs", "appsi_highs", "contrib_highs", "pyomo_highs")
#: pyomo plugins a model file may name (when pyomo has them registered); the plugin finds its
#: own well-known program (glpsol, cbc, ipopt …) or library — the file never names one.
PYOMO_PLUGINS = ("glpk", "cbc", "ipopt", "scip", "gurobi", "gurobi_direct", "gurobi_persistent", "cplex",
                 "cplex_direct", "cplex_persistent", "xpress", "xpress_direct", "xpress_persistent", "mosek",
                 "mosek_direct", "mosek_persistent", "appsi_cbc", "appsi_cplex", "appsi_gurobi", "appsi_ipopt",
                 "knitro_direct", "cuopt")

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")

_INF = math.inf
#: Options a model file may set: name → ("real", lo, hi) | ("int", lo, hi) | ("choice", values).
#: HiGHS (backend highs, pyomo's HiGHS routes, cvxpy's HIGHS), Clarabel (cvxpy's QP default),
#: OSQP/SCS tolerances.  Ranges are those the solvers accept, tightened to sane values.
FILE_OPTIONS: dict[str, tuple] = {
    # HiGHS
    "time_limit": ("real", 0.0, 1e9),
    "primal_feasibility_tolerance": ("real", 1e-12, 1e-1),
    "dual_feasibility_tolerance": ("real", 1e-12, 1e-1),
    "primal_residual_tolerance": ("real", 1e-12, 1e-1),
    "dual_residual_tolerance": ("real", 1e-12, 1e-1),
    "optimality_tolerance": ("real", 1e-12, 1e-1),
    "ipm_optimality_tolerance": ("real", 1e-12, 1e-1),
    "kkt_tolerance": ("real", 1e-12, 1e-1),
    "mip_rel_gap": ("real", 0.0, 1.0),
    "objective_bound": ("real", -1e15, 1e15),
    "objective_target": ("real", -1e15, 1e15),
    "small_matrix_value": ("real", 1e-15, 1e-3),
    "qp_regularization_value": ("real", 0.0, 1e-1),
    "simplex_iteration_limit": ("int", 0, 2 ** 31 - 1),
    "ipm_iteration_limit": ("int", 0, 2 ** 31 - 1),
    "qp_iteration_limit": ("int", 0, 2 ** 31 - 1),
    "pdlp_iteration_limit": ("int", 0, 2 ** 31 - 1),
    "random_seed": ("int", 0, 2 ** 31 - 1),
    "simplex_strategy": ("int", 0, 4),
    "simplex_scale_strategy": ("int", 0, 5),
    "presolve": ("choice", ("off", "choose", "on")),
    "solver": ("choice", ("simplex", "choose", "ipm", "pdlp")),
    "parallel": ("choice", ("off", "choose", "on")),
    "run_crossover": ("choice", ("off", "choose", "on")),
    # Clarabel (through cvxpy)
    "max_iter": ("int", 1, 10 ** 7),
    "tol_gap_abs": ("real", 1e-14, 1e-1),
    "tol_gap_rel": ("real", 1e-14, 1e-1),
    "tol_feas": ("real", 1e-14, 1e-1),
    "tol_infeas_abs": ("real", 1e-14, 1e-1),
    "tol_infeas_rel": ("real", 1e-14, 1e-1),
    "tol_ktratio": ("real", 1e-14, 1e-1),
    # OSQP / SCS (through cvxpy)
    "eps_abs": ("real", 1e-14, 1e-1),
    "eps_rel": ("real", 1e-14, 1e-1),
}


def solver_names(backend: str) -> tuple[str, ...]:
    """Installed solver names a model file may give for ``backend``."""
    if backend == "highs":
        return ("highs",)
    if backend == "cvxpy":
        try:
            import cvxpy as cp
        except ImportError:
            return ()
        return tuple(cp.installed_solvers())
    if backend == "pyomo":
        try:
            from pyomo.opt import SolverFactory
            import pyomo.environ  # noqa: F401  (registers the plugins)
        except ImportError:
            return ()
        registered = set(getattr(SolverFactory, "_cls", {}))
        return PYOMO_HIGHS_ROUTES + tuple(p for p in PYOMO_PLUGINS if p in registered)
    return ()


def check_file_solver(backend: Any, solver: Any, field: str = "solve.solver") -> str | None:
    """Validate a model file's solver *name* for ``backend`` (``None`` = the backend's default)."""
    if solver is None:
        return None
    if not isinstance(solver, str):
        raise ModelError(field, f"expected a solver name (a string), got {type(solver).__name__}")
    if not _NAME.fullmatch(solver):
        raise ModelError(field, f"{solver[:60]!r} is not a solver name: a model file names an installed solver "
                                "plugin (letters, digits, _), never a path or a program")
    backend = backend if backend is not None else "highs"
    names = solver_names(backend)
    # cvxpy names solvers in capitals (CLARABEL), pyomo in lower case; either spelling is accepted
    if solver.lower() not in {n.lower() for n in names}:
        raise ModelError(field, f"solver {solver!r} is not an installed {backend} solver plugin; "
                                f"choose from {', '.join(names) or '(none installed)'}")
    return solver


def check_file_options(options: Any, field: str = "solve.options") -> dict:
    """Validate a model file's solver options against :data:`FILE_OPTIONS` (types and ranges)."""
    if not isinstance(options, dict):
        raise ModelError(field, f"expected a table of solver options, got {type(options).__name__}")
    from dmd_opt.core import validation as V
    out = {}
    for name, value in options.items():
        f = V.join(field, name)
        if not isinstance(name, str) or name not in FILE_OPTIONS:
            raise ModelError(f, "is not an option a model file may set: only numeric and tolerance options "
                                f"({', '.join(sorted(FILE_OPTIONS))}); file, log and output options are "
                                "available from the Python API only")
        rule = FILE_OPTIONS[name]
        if rule[0] == "real":
            out[name] = V.real(value, f, lo=rule[1], hi=rule[2], magnitude=False)
        elif rule[0] == "int":
            out[name] = V.integer(value, f, lo=rule[1], hi=rule[2])
        else:
            out[name] = V.choice(value, f, rule[1])
    return out


__all__ = ["BACKEND_NAMES", "FILE_OPTIONS", "PYOMO_HIGHS_ROUTES", "PYOMO_PLUGINS", "solver_names",
           "check_file_solver", "check_file_options"]
