r"""Revenue programs with one extra labelled floor row (revenue or welfare).

:func:`floored_program` adds to the revenue program of
:func:`dmd_opt.families.revenue.program.revenue_program` one row of family
``"revenue_floor"`` (:math:`R(x, p) \ge \bar R`) or ``"welfare_floor"``
(:math:`W(x) \ge \bar W`), holding the objective's coefficients, so the audit and the
certificates see it like any other row.  It serves the ε-constraint frontier
(:mod:`dmd_opt.analysis.frontier`) and :func:`seller_efficient_result`, the most profitable
welfare-maximising mechanism of a comparison (:mod:`dmd_opt.analysis.compare`).
"""

from __future__ import annotations

import time

import numpy as np

from dmd_opt.core.environment import Environment
from dmd_opt.core.errors import ModelError
from dmd_opt.families.revenue.program import (RevenueResult, _objective, decode, expected_efficient_surplus,
                                              revenue_program)
from dmd_opt.families.revenue.solve import solve_revenue
from dmd_opt.solvers import solve
from dmd_opt.verify import verify


def _coefficients(prog, env):
    """Linear revenue and welfare objective vectors of a revenue program (LP models)."""
    lay = prog.meta["layout"]
    c_rev, _ = _objective(env, lay, 1.0, 0.0, prog.n_vars)
    c_wel, _ = _objective(env, lay, 0.0, 1.0, prog.n_vars)
    return c_rev, c_wel


def floored_program(env: Environment, objective: str, floor: str, level: float, **opts):
    """The revenue program maximising ``objective`` with one extra row ``floor ≥ level``.

    ``objective``, ``floor`` ∈ {"revenue", "welfare"}; the row's family is
    ``"revenue_floor"`` or ``"welfare_floor"``.  Finite-decision (LP) models only.
    """
    if env.quantity is not None:
        raise ModelError("method", "a revenue or welfare floor is quadratic in quantity models; use method='weighted'")
    prog = revenue_program(env, objective=objective, **opts)
    c_rev, c_wel = _coefficients(prog, env)
    c = c_rev if floor == "revenue" else c_wel
    nz = np.flatnonzero(c)
    prog.add_constraints(f"{floor}_floor", 1, np.zeros(len(nz), np.int64), nz, c[nz], float(level), np.inf,
                         description=f"expected {floor} ≥ {level:g}")
    prog.meta[f"{floor}_floor"] = float(level)
    return prog


def seller_efficient_result(env: Environment, participation: str = "interim", disclosure: str = "public",
                            backend: str = "highs", solver: str | None = None):
    r"""The revenue-maximising mechanism among the welfare-maximising ones.

    Finite decisions: the revenue program with one labelled ``"welfare_floor"`` row
    :math:`W \ge W^* - 10^{-12}\max(1,|W^*|)` (:func:`floored_program`),
    so ties between efficient decisions may be broken — or randomised — in the seller's
    favour (in the handicap auction, by the handicapped values).  Quantity models (whose
    efficient quantities are unique with a strictly convex cost): the allocation is fixed at
    the efficient rule and only payments are free.  Returns a ``RevenueResult``.
    """
    if env.quantity is not None:
        return solve_revenue(env, participation=participation, disclosure=disclosure, backend=backend,
                             solver=solver, fixed_allocation="efficient")
    W = expected_efficient_surplus(env)
    t0 = time.perf_counter()
    prog = floored_program(env, "revenue", "welfare", W - 1e-12 * max(1.0, abs(W)),
                           participation=participation, disclosure=disclosure)
    t1 = time.perf_counter()
    sol = solve(prog, backend=backend, solver=solver)
    mech = decode(env, prog, sol) if sol.x is not None and sol.status in ("optimal", "inaccurate") else None
    ver = verify(mech) if mech is not None else None
    opts = {"participation": participation, "disclosure": disclosure, "objective": "revenue",
            "welfare_floor": W, "backend": backend, "solver": solver}
    return RevenueResult(sol.status, sol.solver_status, sol.objective if mech is not None else None, env, prog,
                         sol, mech, ver, opts, {"build": t1 - t0, "solve": sol.solve_seconds})
