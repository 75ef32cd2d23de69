"""The direct Clarabel backend (solvers/clarabel_backend.py) against planted LP optima,
HiGHS on random QPs, and on infeasible and unbounded programs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dmd_opt.optim.program import Program
from dmd_opt.solvers import solve
from dmd_opt.solvers.common import farkas_gap

from test_backends import infeasible_lp, planted_lp, random_qp

pytest.importorskip("clarabel")


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 7), n_active=st.integers(0, 7),
       n_slack=st.integers(0, 5), sense=st.sampled_from(["max", "min"]))
def test_planted_lp(seed, n, n_active, n_slack, sense):
    prog, x, y, z, val = planted_lp(seed, n, n_active, n_slack, sense)
    if prog.n_rows == 0:
        return
    scale = max(1.0, abs(val), float(np.max(np.abs(y), initial=0)), float(np.max(np.abs(z), initial=0)))
    sol = solve(prog, backend="clarabel")
    assert sol.status == "optimal", sol.solver_status
    assert abs(sol.objective - val) <= 1e-7 * scale
    assert np.allclose(sol.x, x, atol=1e-6 * scale)
    assert np.allclose(sol.row_dual, y, atol=1e-6 * scale), (sol.row_dual, y)
    assert np.allclose(sol.col_dual, z, atol=1e-6 * scale)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 6), m=st.integers(1, 5),
       sense=st.sampled_from(["max", "min"]))
def test_random_qp_agrees_with_highs(seed, n, m, sense):
    prog = random_qp(seed, n, m, sense)
    ref, sol = solve(prog), solve(prog, backend="clarabel")
    assert sol.status == "optimal"
    assert abs(sol.objective - ref.objective) <= 1e-7 * max(1.0, abs(ref.objective))
    assert np.allclose(sol.x, ref.x, atol=1e-5)


def test_hand_lp_duals_and_fixed_columns():
    p = Program(sense="max")
    p.add_variables("x", 3, [0.0, 0.0, 2.0], [10.0, 10.0, 2.0])          # x2 fixed at 2
    p.add_constraints("r", 2, [0, 0, 1, 1], [0, 1, 0, 1], [1.0, 1.0, 1.0, -1.0], [-np.inf, 0.5], [1.0, np.inf])
    p.set_objective(np.array([1.0, 3.0, 5.0]), "max")
    sol = solve(p, backend="clarabel")
    assert sol.objective == pytest.approx(11.5, abs=1e-8)
    assert np.allclose(sol.row_dual, [2.0, -1.0], atol=1e-7)
    assert np.allclose(sol.col_dual, [0.0, 0.0, 5.0], atol=1e-7)


def test_infeasible_and_unbounded():
    prog = infeasible_lp(3, 4, "pair")
    sol = solve(prog, backend="clarabel")
    assert sol.status == "infeasible" and sol.dual_ray is not None
    assert farkas_gap(prog, sol.dual_ray) > 1e-9
    p = Program(sense="max")
    p.add_variables("x", 2, 0.0, np.inf)
    p.add_constraints("r", 1, [0, 0], [0, 1], [1.0, -1.0], -np.inf, 1.0)
    p.set_objective(np.array([1.0, 0.0]), "max")
    assert solve(p, backend="clarabel").status == "unbounded"
