"""Program assembly and the HiGHS adapter: duals by finite differences, QP, statuses, rays."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from dmd_opt.optim.program import Program
from dmd_opt.solvers import solve


def lp(b=(4.0, 6.0), sense="max"):
    p = Program()
    p.add_variables("x", 2, lb=0)
    p.add_constraints("cap", 2, [0, 0, 1, 1], [0, 1, 0, 1], [1, 2, 3, 1], -np.inf, list(b), agent=[0, 1])
    p.set_objective(np.array([1.0, 1.0]) * (1 if sense == "max" else -1), sense)
    return p


def test_duals_are_objective_derivatives():
    s = solve(lp())
    assert s.status == "optimal" and s.objective == pytest.approx(2.8)
    for r in range(2):
        b = [4.0, 6.0]
        b[r] += 1e-4
        fd = (solve(lp(b)).objective - s.objective) / 1e-4
        assert s.row_dual[r] == pytest.approx(fd, abs=1e-6)
    # min form: same problem negated -> duals of the min objective
    sm = solve(lp(sense="min"))
    np.testing.assert_allclose(sm.row_dual, -s.row_dual, atol=1e-12)


@given(st.integers(0, 10_000))
def test_random_lp_kkt(seed):
    rng = np.random.default_rng(seed)
    m, n = 6, 4
    A = rng.uniform(0.1, 1, (m, n))
    p = Program()
    p.add_variables("x", n, lb=0, ub=5)
    r, c = np.nonzero(A)
    p.add_constraints("c", m, r, c, A[r, c], -np.inf, rng.uniform(1, 3, m))
    cost = rng.uniform(0, 1, n)
    p.set_objective(cost, "max")
    s = solve(p)
    assert s.status == "optimal"
    # stationarity: c = A^T y + z (package convention: d obj / d bound)
    np.testing.assert_allclose(cost, A.T @ s.row_dual + s.col_dual, atol=1e-9)
    assert np.all(s.row_dual >= -1e-9)       # ≤ rows of a max program have duals ≥ 0
    assert np.all(A @ s.x <= p.row_upper + 1e-9)


def test_separable_qp():
    p = Program()
    p.add_variables("q", 2, lb=0, ub=10)
    p.set_objective(np.array([2.0, 3.0]), "max", q_diag=np.array([-1.0, -2.0]))
    s = solve(p)
    np.testing.assert_allclose(s.x, [2.0, 1.5], atol=1e-6)
    assert s.objective == pytest.approx(2 + 1.5 * 3 - 0.5 * 2 * 1.5 ** 2, abs=1e-9)


def test_infeasible_and_unbounded_statuses():
    p = Program()
    p.add_variables("x", 2, lb=0)
    p.add_constraints("c", 2, [0, 0, 1, 1], [0, 1, 0, 1], [1.0, 1, 1, -1], -np.inf, [-1, 3])
    p.set_objective(np.ones(2), "max")
    s = solve(p)
    assert s.status == "infeasible" and s.x is None
    y = s.dual_ray
    assert y is not None and np.max(np.abs(y)) == pytest.approx(1.0)
    u = Program()
    u.add_variables("x", 1, lb=0)
    u.set_objective(np.ones(1), "max")
    assert solve(u).status in ("unbounded", "infeasible_or_unbounded")


def test_labels_and_matrix_assembly():
    p = Program()
    x = p.add_variables("x", (2, 3))
    assert x.shape == (2, 3) and x[1, 2] == 5
    p.add_constraints("a", 2, [0, 0, 1], [0, 0, 4], [1.0, 2.0, 5.0], 0, 1, agent=3, period=[0, 1])
    A = p.matrix().toarray()
    assert A[0, 0] == 3.0 and A[1, 4] == 5.0            # duplicates summed
    lab = p.labels_frame()
    assert list(lab["agent"]) == [3, 3] and list(lab["period"]) == [0, 1] and list(lab["report"]) == [-1, -1]
    assert len(p.fingerprint()) == 64
