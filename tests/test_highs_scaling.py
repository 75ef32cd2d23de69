"""The objective scaling every adapter applies (:func:`dmd_opt.solvers.transform.cost_scale`).

Deep history trees weight their columns by probability × discount, so costs
reach far below HiGHS' absolute dual tolerance.  The adapter multiplies the
objective by a power of two before the solve; these tests check that the
scaling is chosen as documented, that it is divided out of every dual exactly
(stationarity c = Aᵀy + z holds for the returned duals, which a wrong factor
would break by orders of magnitude), and that it does not move the optimum.
"""

import numpy as np
import pytest

from dmd_opt.core.environment import Environment
from dmd_opt.core.errors import SolverError
from dmd_opt.families.revenue.program import revenue_program
from dmd_opt.families.revenue.cg import solve_revenue_cg
from dmd_opt.solvers.session import solve_highs
from dmd_opt.solvers.transform import cost_scale


def _tree(p: float, T: int) -> Environment:
    P = [[1 - p, p], [p, 1 - p]]
    return Environment.from_dict({"name": "deep", "horizon": T, "discount": 0.9,
                                  "agents": [{"types": [1.0, 2.0], "initial": [0.5, 0.5], "transition": P}],
                                  "decisions": {"kind": "allocate"}})


def test_cost_scale_rule():
    assert cost_scale(np.array([0.5, 1e-10, 0.0])) == 1024.0          # largest cost into (500, 1000]
    assert cost_scale(np.array([0.5, 1e-3])) == 1.0                    # six decades or fewer: untouched
    assert cost_scale(np.array([5e3, 1e-10])) == 1.0                   # already large
    assert cost_scale(np.array([])) == 1.0
    assert cost_scale(np.array([0.5, 1e-10]), q=np.array([1.0, 0.0])) == 1.0   # QPs untouched
    f = cost_scale(np.array([3e-4, 1e-12]))
    assert np.log2(f) == int(np.log2(f)) and 500 < 3e-4 * f <= 1000


def test_scaled_duals_are_unscaled_exactly():
    prog = revenue_program(_tree(0.3, 12))
    c = prog.objective_vector()
    assert cost_scale(c) > 1                                           # this program is scaled
    A = prog.matrix()
    sols = [solve_highs(prog, options=o) for o in ({}, {"cost_scale": 1}, {"cost_scale": 2 ** 14})]
    for s in sols:
        assert s.status == "optimal"
        assert np.abs(c - A.T @ s.row_dual - s.col_dual).max() < 1e-12
        # strong duality in the package convention (∂ objective / ∂ bound)
        assert s.objective == pytest.approx(sols[0].objective, rel=1e-12)
    with pytest.raises(SolverError, match="power of two"):
        solve_highs(prog, options={"cost_scale": 3.0})


def test_constraint_generation_agrees_on_a_deep_tree():
    """A persistent chain (switch probability 0.05) over ten periods: costs span
    more than twelve decades.  Unscaled, the relaxed programs of constraint
    generation stop 1.2e-7 (relative) short of the full optimum (measured);
    scaled, both agree to rounding."""
    env = _tree(0.05, 10)
    full = solve_highs(revenue_program(env))
    cg = solve_revenue_cg(env, verify=False)
    assert cg.status == "optimal" and cg.cg["rounds"] <= 3
    assert cg.objective == pytest.approx(full.objective, rel=1e-11)
