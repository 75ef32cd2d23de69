"""The persistent HiGHS model (:class:`dmd_opt.solvers.session.Session`) and the shared
objective transform (:mod:`dmd_opt.solvers.transform`).

Every change made in a session is checked against an independent solve of the
changed program written out in full (scipy's ``linprog``, or the planted optimum of
tests/test_backends.py), so a session that kept stale data, lost a row, or unscaled
a dual wrongly would be caught.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from dmd_opt.core.errors import SolverError
from dmd_opt.optim.program import Program
from dmd_opt.optim.solution import BASIS_CODES
from dmd_opt.solvers.session import Session, solve_highs
from dmd_opt.solvers.transform import ObjectiveTransform, cost_scale

from tests.test_backends import planted_lp


def _linprog(prog_like, extra_A=None, extra_lo=None, extra_hi=None, c=None):
    """Optimum of the program (+ extra rows) by scipy's HiGHS-free interface (``linprog``)."""
    A = prog_like.matrix().toarray()
    lo, hi = prog_like.row_lower, prog_like.row_upper
    if extra_A is not None:
        A = np.vstack([A, extra_A])
        lo, hi = np.r_[lo, extra_lo], np.r_[hi, extra_hi]
    c = prog_like.objective_vector() if c is None else c
    sgn = -1.0 if prog_like.sense == "max" else 1.0
    ub_rows = np.isfinite(hi)
    lb_rows = np.isfinite(lo)
    A_ub = np.vstack([A[ub_rows], -A[lb_rows]])
    b_ub = np.r_[hi[ub_rows], -lo[lb_rows]]
    res = linprog(sgn * c, A_ub=A_ub if A_ub.size else None, b_ub=b_ub if A_ub.size else None,
                  bounds=list(zip(np.where(np.isfinite(prog_like.col_lower), prog_like.col_lower, None),
                                  np.where(np.isfinite(prog_like.col_upper), prog_like.col_upper, None))),
                  method="highs-ds")
    return res.status, (sgn * res.fun + prog_like.objective_offset if res.status == 0 else None)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 6), sense=st.sampled_from(["max", "min"]))
def test_add_rows_matches_the_grown_program(seed, n, sense):
    """Cuts added one batch at a time give the optimum of the program with all of them."""
    prog, x, y, z, val = planted_lp(seed, n, n, 2, sense)
    ses = Session(prog)
    s0 = ses.solve()
    assert s0.status == "optimal" and s0.objective == pytest.approx(val, rel=1e-8, abs=1e-8)
    rng = np.random.default_rng(seed)
    A_all, lo_all, hi_all = np.zeros((0, n)), np.zeros(0), np.zeros(0)
    for _ in range(3):
        A = rng.uniform(-1, 1, (2, n))
        hi = A @ s0.x - rng.uniform(0.0, 0.5, 2)          # cuts that may remove the optimum
        idx = ses.add_rows(sp.csr_matrix(A), -np.inf, hi)
        assert idx.tolist() == [ses.n_rows - 2, ses.n_rows - 1]
        A_all, lo_all, hi_all = np.vstack([A_all, A]), np.r_[lo_all, -np.inf, -np.inf], np.r_[hi_all, hi]
        s = ses.solve()
        st_ref, v_ref = _linprog(prog, A_all, lo_all, hi_all)
        if st_ref == 0:
            assert s.status == "optimal"
            assert s.objective == pytest.approx(v_ref, rel=1e-7, abs=1e-7)
            # duals over every session row: stationarity in the package convention
            g = prog.objective_vector()
            full = sp.vstack([prog.matrix(), sp.csr_matrix(A_all)])
            assert len(s.row_dual) == ses.n_rows == full.shape[0]
            assert np.abs(g - full.T @ s.row_dual - s.col_dual).max() < 1e-8 * max(1, np.abs(g).max())
        elif st_ref == 2:
            assert s.status == "infeasible" and s.dual_ray is not None
            break


def test_change_costs_and_bounds_and_basis_roundtrip():
    prog, x, y, z, val = planted_lp(7, 5, 5, 2, "max")
    ses = Session(prog)
    s0 = ses.solve(basis=True)
    assert s0.status == "optimal" and s0.basis is not None
    rng = np.random.default_rng(1)
    c2 = prog.objective_vector() + rng.uniform(-0.3, 0.3, prog.n_vars)
    ses.change_costs(np.arange(prog.n_vars), c2)
    s1 = ses.solve()
    assert s1.objective == pytest.approx(_linprog(prog, c=c2)[1] - 0.0, rel=1e-8)
    assert s1.objective == pytest.approx(float(c2 @ s1.x) + prog.objective_offset, rel=1e-12)
    # tighten every finite column bound by 0.1 and compare with the rebuilt program
    lo = np.where(np.isfinite(prog.col_lower), prog.col_lower + 0.1, -np.inf)
    hi = np.where(np.isfinite(prog.col_upper), prog.col_upper - 0.1, np.inf)
    ses.change_col_bounds(np.arange(prog.n_vars), lo, hi)
    ref = Program(sense="max")
    ref.add_variables("x", prog.n_vars, lo, hi)
    A = prog.matrix().tocoo()
    ref.add_constraints("r", prog.n_rows, A.row, A.col, A.data, prog.row_lower, prog.row_upper)
    ref.set_objective(c2, "max", offset=prog.objective_offset)
    assert ses.solve().objective == pytest.approx(solve_highs(ref).objective, rel=1e-9)
    # a basis taken out and put into a fresh session solves with no simplex iteration
    ses.change_col_bounds(np.arange(prog.n_vars), prog.col_lower, prog.col_upper)
    ses.change_costs(np.arange(prog.n_vars), prog.objective_vector())
    ses.solve()
    b = ses.basis()
    fresh = Session(prog, options={"presolve": "off"})
    fresh.set_basis(b["col_status"], b["row_status"])
    s2 = fresh.solve()
    assert s2.status == "optimal" and s2.info["simplex_iterations"] == 0
    assert s2.objective == pytest.approx(val, rel=1e-9)
    with pytest.raises(SolverError):
        fresh.set_basis(b["col_status"][:-1], b["row_status"])


def test_change_row_bounds_parametric_rhs():
    """max x0 + x1, x0 + 2 x1 ≤ b, 0 ≤ x ≤ 1: value min(1 + (b−1)/2, 2) for b ∈ [1, 3]."""
    p = Program(sense="max")
    p.add_variables("x", 2, 0.0, 1.0)
    p.add_constraints("r", 1, [0, 0], [0, 1], [1.0, 2.0], -np.inf, 1.0)
    p.set_objective(np.array([1.0, 1.0]), "max")
    ses = Session(p)
    for b in (1.5, 2.0, 2.5, 5.0):                # (b = 1 and b = 3 are degenerate)
        ses.change_row_bounds([0], -np.inf, b)
        s = ses.solve()
        assert s.objective == pytest.approx(min(1 + (b - 1) / 2, 2.0), abs=1e-12)
        assert s.row_dual[0] == pytest.approx(0.5 if b < 3 else 0.0, abs=1e-12)


def test_columns_left_out_are_priced_by_reduced_cost():
    """A session over some columns reports reduced costs of all; loading the improving
    ones reaches the full optimum (column generation)."""
    rng = np.random.default_rng(4)
    m, n = 6, 30
    A = rng.uniform(0, 1, (m, n))
    c = rng.uniform(0.5, 2, n)
    p = Program(sense="max")
    p.add_variables("x", n, 0.0, np.inf)
    r, cc = np.nonzero(A)
    p.add_constraints("cap", m, r, cc, A[r, cc], -np.inf, 1.0)
    p.set_objective(c, "max")
    full = solve_highs(p)
    ses = Session(p, columns=np.arange(5))
    for _ in range(n):
        s = ses.solve()
        bad = np.setdiff1d(np.nonzero(s.col_dual > 1e-9)[0], ses.loaded)
        if bad.size == 0:
            break
        ses.add_columns(bad)
    assert s.objective == pytest.approx(full.objective, rel=1e-9)
    assert np.all(s.col_dual <= 1e-9)                   # optimal for the full program
    assert s.basis is None and ses.basis()["col_status"].size == n
    with pytest.raises(SolverError, match="lower bound 0"):
        q = Program(sense="max")
        q.add_variables("x", 2, 1.0, 2.0)
        q.set_objective(np.ones(2), "max")
        Session(q, columns=[0])


def test_transform_is_invertible_and_exact():
    p = Program(sense="max")
    p.add_variables("x", 3, 0.0, 1.0)
    p.add_constraints("r", 1, [0, 0, 0], [0, 1, 2], [1.0, 1.0, 1.0], -np.inf, 1.5)
    p.set_objective(np.array([3e-4, 1e-12, 2e-4]), "max", offset=0.25)
    tr = ObjectiveTransform.to_min(p)
    F = cost_scale(p.objective_vector())
    assert tr.sense == "min" and tr.factor == -F and F > 1
    y = np.array([0.1234567890123, -3.3e-12])
    assert np.array_equal(tr.duals(tr.costs(y)), y)          # powers of two: bit for bit
    assert tr.objective(tr.constant(0.25)) == 0.25
    assert ObjectiveTransform.identity(p).factor == 1.0 and ObjectiveTransform.identity(p).sense == "max"
    with pytest.raises(SolverError, match="power of two"):
        ObjectiveTransform.to_min(p, 3.0)
    s = [Session(p, options={"cost_scale": k}).solve() for k in ("auto", 1, 2 ** 20)]
    for si in s:
        assert si.objective == pytest.approx(s[0].objective, rel=1e-13)
        assert si.row_dual[0] == pytest.approx(2e-4, rel=1e-12)     # x0 = 1, x2 = 0.5 marginal


def test_basis_codes_cover_the_package_codes():
    p, *_ = planted_lp(3, 4, 4, 1, "min")
    b = solve_highs(p, basis=True).basis
    assert set(np.unique(np.r_[b["col_status"], b["row_status"]])) <= set(BASIS_CODES.values())
