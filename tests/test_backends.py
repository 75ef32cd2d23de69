"""The three backends (HiGHS, cvxpy, pyomo) agree with each other and with planted answers.

Random LPs are built with a *planted* optimum: a vertex x* with exactly n
active constraints whose gradients are linearly independent (primal
nondegenerate, so the optimal dual is unique) and multipliers of the right
strict sign on every active constraint (strict complementarity, so x* is
the unique optimum).  The objective is c = Aᵀy + z from those multipliers,
so the optimal value, the primal and both dual vectors are known before any
solver runs (package convention: y = ∂ value/∂ bound in the program's sense).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmd_opt.core.errors import SolverError
from dmd_opt.optim.program import Program
from dmd_opt.solvers import solve
from dmd_opt.solvers.common import farkas_gap, phase_one_program

LP_ROUTES = [("highs", None), ("cvxpy", "HIGHS"), ("cvxpy", "CLARABEL"), ("pyomo", "highs"),
             ("pyomo", "appsi_highs")]
# interior-point / conic routes are accurate to their tolerances, simplex ones to rounding
TOL = {("cvxpy", "CLARABEL"): 1e-6}


def _tol(route):
    return TOL.get(route, 1e-8)


# ---------------------------------------------------------------------------------------
# planted LPs
# ---------------------------------------------------------------------------------------
def planted_lp(seed: int, n: int, n_active: int, n_slack: int, sense: str):
    """An LP with the unique optimum ``x*`` and unique duals ``(y, z)`` planted.

    Active rows are equalities, lower-side, upper-side or ranged rows binding
    on one side; inactive rows are lower, upper, ranged or free with slack ≥ 1;
    columns not in the basis sit at a bound with a strictly signed reduced cost.
    """
    rng = np.random.default_rng(seed)
    s = 1.0 if sense == "max" else -1.0
    k = min(n_active, n)
    for _ in range(100):
        A_act = rng.uniform(-2, 2, (k, n)) * (rng.uniform(size=(k, n)) < 0.7)
        basic = rng.choice(n, k, replace=False)
        if k == 0 or np.linalg.cond(A_act[:, basic]) < 1e3:
            break
    else:  # pragma: no cover
        raise RuntimeError("no well-conditioned basis drawn")
    at_bound = np.setdiff1d(np.arange(n), basic)
    x = np.round(rng.uniform(-3, 3, n), 3)
    A_in = rng.uniform(-2, 2, (n_slack, n)) * (rng.uniform(size=(n_slack, n)) < 0.6)
    act_a, act_i = A_act @ x, A_in @ x
    lo = np.full(k + n_slack, -np.inf)
    hi = np.full(k + n_slack, np.inf)
    y = np.zeros(k + n_slack)
    for r in range(k):
        kind = rng.choice(["eq", "lo", "hi", "range_lo", "range_hi"])
        mag = rng.uniform(0.5, 2.0)
        if kind == "eq":
            lo[r] = hi[r] = act_a[r]
            y[r] = mag * rng.choice([-1.0, 1.0])
        elif kind in ("lo", "range_lo"):
            lo[r] = act_a[r]
            hi[r] = act_a[r] + rng.uniform(1, 3) if kind == "range_lo" else np.inf
            y[r] = -s * mag          # raising a binding lower side hurts a max
        else:
            hi[r] = act_a[r]
            lo[r] = act_a[r] - rng.uniform(1, 3) if kind == "range_hi" else -np.inf
            y[r] = s * mag
    for r in range(n_slack):
        kind = rng.choice(["lo", "hi", "range", "free"], p=[0.35, 0.35, 0.25, 0.05])
        if kind in ("lo", "range"):
            lo[k + r] = act_i[r] - rng.uniform(1, 3)
        if kind in ("hi", "range"):
            hi[k + r] = act_i[r] + rng.uniform(1, 3)
    cl = np.where(rng.uniform(size=n) < 0.5, x - rng.uniform(1, 3, n), -np.inf)
    cu = np.where(rng.uniform(size=n) < 0.5, x + rng.uniform(1, 3, n), np.inf)
    z = np.zeros(n)
    for j in at_bound:
        mag = rng.uniform(0.5, 2.0)
        if rng.uniform() < 0.5:
            cl[j] = x[j]
            z[j] = -s * mag
        else:
            cu[j] = x[j]
            z[j] = s * mag
    A = np.vstack([A_act, A_in])
    c = A.T @ y + z
    prog = Program(name=f"planted[{seed}]", sense=sense)
    cols = prog.add_variables("x", n, cl, cu)
    r, cc = np.nonzero(A)
    prog.add_constraints("rows", A.shape[0], r, cols[cc], A[r, cc], lo, hi, agent=0,
                         history=np.arange(A.shape[0]))
    offset = float(rng.uniform(-1, 1))
    prog.set_objective(c, sense, offset=offset)
    return prog, x, y, z, float(c @ x + offset)


def _close(a, b, tol, scale=1.0):
    return np.max(np.abs(np.asarray(a) - np.asarray(b)), initial=0.0) <= tol * max(1.0, scale)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 7), n_active=st.integers(0, 7),
       n_slack=st.integers(0, 5), sense=st.sampled_from(["max", "min"]))
def test_planted_lp_all_backends_agree(seed, n, n_active, n_slack, sense):
    prog, x, y, z, val = planted_lp(seed, n, n_active, n_slack, sense)
    if prog.n_rows == 0:
        return
    scale = max(1.0, abs(val), float(np.max(np.abs(y), initial=0)), float(np.max(np.abs(z), initial=0)))
    for route in LP_ROUTES:
        sol = solve(prog, backend=route[0], solver=route[1])
        tol = _tol(route)
        assert sol.status == "optimal", (route, sol.solver_status)
        assert abs(sol.objective - val) <= max(1e-6, tol) * max(1.0, abs(val)), route
        assert _close(sol.x, x, 100 * tol, scale), route
        assert _close(sol.row_dual, y, 100 * tol, scale), (route, sol.row_dual, y)
        assert _close(sol.col_dual, z, 100 * tol, scale), (route, sol.col_dual, z)


def test_dual_signs_on_a_hand_lp():
    """max x0 + 3 x1 s.t. x0 + x1 ≤ 1, x0 − x1 ≥ 0.5: x* = (0.75, 0.25), y = (2, −1) by hand
    (c = Aᵀy); the min of the negated objective has the negated duals."""
    for sense, sgn in (("max", 1.0), ("min", -1.0)):
        p = Program(sense=sense)
        p.add_variables("x", 2, 0.0, 10.0)
        # rows: x0 + x1 <= 1 ; x0 - x1 >= 0.5 ; objective 2 x0 + x1 (max) / -(…) (min)
        p.add_constraints("r", 2, [0, 0, 1, 1], [0, 1, 0, 1], [1.0, 1.0, 1.0, -1.0], [-np.inf, 0.5], [1.0, np.inf])
        p.set_objective(sgn * np.array([1.0, 3.0]), sense)
        # optimum x = (0.75, 0.25): y1 (≤ row) = 2 sgn, y2 (≥ row) = -1 sgn; value sgn*1.5
        for route in LP_ROUTES + [("cvxpy", "SCS"), ("pyomo", "contrib_highs"), ("pyomo", "pyomo_highs")]:
            sol = solve(p, backend=route[0], solver=route[1])
            tol = 1e-4 if route == ("cvxpy", "SCS") else 1e-6
            assert sol.status in ("optimal", "inaccurate"), route
            assert abs(sol.objective - sgn * 1.5) < tol, route
            assert np.allclose(sol.row_dual, [2 * sgn, -1 * sgn], atol=tol), (route, sol.row_dual)
            assert np.allclose(sol.col_dual, [0, 0], atol=tol), (route, sol.col_dual)


# ---------------------------------------------------------------------------------------
# QPs
# ---------------------------------------------------------------------------------------
QP_ROUTES = [("highs", None), ("cvxpy", "CLARABEL"), ("cvxpy", "HIGHS"), ("pyomo", "highs"),
             ("pyomo", "contrib_highs")]


def random_qp(seed: int, n: int, m: int, sense: str):
    rng = np.random.default_rng(seed)
    s = 1.0 if sense == "max" else -1.0
    p = Program(name=f"qp[{seed}]", sense=sense)
    p.add_variables("x", n, np.where(rng.uniform(size=n) < 0.7, -1.0, -np.inf),
                    np.where(rng.uniform(size=n) < 0.7, 2.0, np.inf))
    A = rng.uniform(-1, 1, (m, n)) * (rng.uniform(size=(m, n)) < 0.7)
    r, c = np.nonzero(A)
    p.add_constraints("rows", m, r, c, A[r, c], np.where(rng.uniform(size=m) < 0.5, -1.0, -np.inf), 1.0)
    q = rng.uniform(0.5, 2.0, n)
    p.set_objective(s * rng.uniform(-3, 3, n), sense, q_diag=-s * q)
    return p


def _licq(prog, sol, tol=1e-6):
    """Active constraint gradients linearly independent (duals then unique)."""
    A = prog.matrix().toarray()
    act = sol.row_activity
    rows = np.nonzero((np.abs(act - prog.row_lower) < tol) | (np.abs(act - prog.row_upper) < tol))[0]
    cols = np.nonzero((np.abs(sol.x - prog.col_lower) < tol) | (np.abs(sol.x - prog.col_upper) < tol))[0]
    G = np.vstack([A[rows], np.eye(prog.n_vars)[cols]])
    return G.shape[0] == 0 or np.linalg.matrix_rank(G, tol=1e-8) == G.shape[0]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 6), m=st.integers(1, 5),
       sense=st.sampled_from(["max", "min"]))
def test_random_qp_backends_agree(seed, n, m, sense):
    prog = random_qp(seed, n, m, sense)
    ref = solve(prog)
    assert ref.status == "optimal"
    licq = _licq(prog, ref)
    for route in QP_ROUTES[1:]:
        sol = solve(prog, backend=route[0], solver=route[1])
        assert sol.status == "optimal", (route, sol.solver_status)
        assert abs(sol.objective - ref.objective) <= 1e-6 * max(1.0, abs(ref.objective)), route
        # strictly convex: the optimum is unique
        assert np.allclose(sol.x, ref.x, atol=1e-5), route
        if licq:
            assert np.allclose(sol.row_dual, ref.row_dual, atol=1e-5), (route, sol.row_dual, ref.row_dual)
            assert np.allclose(sol.col_dual, ref.col_dual, atol=1e-5), route


def test_appsi_quadratic_objective_is_an_error_status_not_an_exception():
    sol = solve(random_qp(1, 3, 2, "max"), backend="pyomo", solver="appsi_highs")
    assert sol.status == "error" and "appsi_highs" in sol.solver_status


# ---------------------------------------------------------------------------------------
# infeasible and unbounded programs
# ---------------------------------------------------------------------------------------
ALL_ROUTES = LP_ROUTES + [("pyomo", "contrib_highs"), ("cvxpy", "SCS")]


def infeasible_lp(seed: int, n: int, kind: str) -> Program:
    """Feasible planted rows plus a contradiction: two rows ``a·x ≥ t+1``, ``a·x ≤ t``
    (``kind="pair"``) or one row ``Σ x ≥ Σ ub + 1`` against the box (``"box"``)."""
    prog, x, *_ = planted_lp(seed, n, n // 2, 2, "max")
    rng = np.random.default_rng(seed + 1)
    cols = np.arange(n)
    if kind == "pair":
        a = rng.uniform(0.5, 2.0, n)
        t = float(a @ x)
        prog.add_constraints("contradiction", 2, np.repeat([0, 1], n), np.tile(cols, 2), np.tile(a, 2),
                             [t + 1, -np.inf], [np.inf, t])
    else:
        prog.var_blocks["x"].ub[:] = np.where(np.isfinite(prog.col_upper), prog.col_upper, x + 1)
        prog.add_constraints("contradiction", 1, np.zeros(n, int), cols, np.ones(n),
                             float(prog.col_upper.sum()) + 1, np.inf)
    return prog


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 5), kind=st.sampled_from(["pair", "box"]))
def test_infeasible_lps_are_infeasible_everywhere_with_a_farkas_ray(seed, n, kind):
    prog = infeasible_lp(seed, n, kind)
    for route in ALL_ROUTES:
        sol = solve(prog, backend=route[0], solver=route[1])
        assert sol.status == "infeasible", (route, sol.status, sol.solver_status)
        assert sol.dual_ray is not None, (route, sol.info)
        assert farkas_gap(prog, sol.dual_ray) > 1e-9, route
        assert np.max(np.abs(sol.dual_ray)) == pytest.approx(1.0)


def test_phase_one_duals_are_a_farkas_ray_in_highs_orientation():
    prog = infeasible_lp(3, 4, "pair")
    ref = solve(prog)
    p1 = solve(phase_one_program(prog))
    assert p1.objective > 0
    assert farkas_gap(prog, ref.dual_ray) > 0 and farkas_gap(prog, p1.row_dual) > 0


@pytest.mark.parametrize("sense", ["max", "min"])
def test_unbounded_lp_is_unbounded_everywhere(sense):
    prog, *_ = planted_lp(7, 4, 2, 2, sense)
    # one more column in no row, free in the improving direction
    s = 1.0 if sense == "max" else -1.0
    c = np.concatenate([prog.objective_vector(), [s]])
    prog.add_variables("w", 1, 0.0, np.inf)
    prog.set_objective(c, sense)
    for route in ALL_ROUTES:
        sol = solve(prog, backend=route[0], solver=route[1])
        assert sol.status in ("unbounded", "infeasible_or_unbounded"), (route, sol.solver_status)
        assert sol.status == "unbounded" or route[0] != "cvxpy", route


# ---------------------------------------------------------------------------------------
# usage errors and solver failures
# ---------------------------------------------------------------------------------------
def test_unknown_solver_names_raise_a_clear_error():
    prog, *_ = planted_lp(1, 3, 2, 1, "max")
    with pytest.raises(SolverError, match="not installed"):
        solve(prog, backend="cvxpy", solver="NO_SUCH_SOLVER")
    with pytest.raises(SolverError, match="not available"):
        solve(prog, backend="pyomo", solver="no_such_solver")


def test_solver_failures_come_back_as_status_with_the_solvers_words():
    prog, *_ = planted_lp(2, 4, 3, 2, "max")
    bad = solve(prog, backend="cvxpy", solver="CLARABEL", options={"no_such_setting": 1})
    assert bad.status == "error" and "CLARABEL" in bad.solver_status
    for route in (("highs", None), ("pyomo", "highs"), ("pyomo", "appsi_highs"), ("pyomo", "contrib_highs")):
        with pytest.raises(SolverError, match="does not accept option"):  # never silently ignored
            solve(prog, backend=route[0], solver=route[1], options={"no_such_option": 1})
    lim = solve(prog, backend="cvxpy", solver="CLARABEL", options={"max_iter": 1})
    assert lim.status in ("iteration_limit", "inaccurate", "error")


def test_options_pass_through():
    prog, *_ = planted_lp(5, 5, 3, 3, "max")
    sol = solve(prog, backend="cvxpy", solver="HIGHS", options={"solver": "ipm"})
    assert sol.status == "optimal"
    sol = solve(prog, backend="pyomo", options={"solver": "ipm"})
    assert sol.status == "optimal" and sol.info["ipm_iterations"] > 0


def test_pyomo_model_extended_by_the_user_is_honoured_and_loaded():
    """`build_pyomo` gives a real pyomo model: a constraint added to it is solved, and
    `load=True` writes x and package-convention duals back into it."""
    import pyomo.environ as pyo

    from dmd_opt.solvers.pyomo_backend import build_pyomo

    prog, x, *_ = planted_lp(11, 4, 2, 2, "max")
    # cut x*_0 off: push x_0 below it unless its lower bound is in the way (then above)
    sense_le = prog.col_lower[0] < x[0] - 0.5
    cut = float(x[0]) - 0.5 if sense_le else float(x[0]) + 0.5
    m = build_pyomo(prog)
    m.extra = pyo.Constraint(expr=m.x[0] <= cut) if sense_le else pyo.Constraint(expr=m.x[0] >= cut)
    # the same program with the extra row, built directly
    ext, *_ = planted_lp(11, 4, 2, 2, "max")
    ext.add_constraints("extra", 1, [0], [0], [1.0], -np.inf if sense_le else cut, cut if sense_le else np.inf)
    ref = solve(ext)
    assert ref.objective < solve(prog).objective - 1e-9  # the cut binds
    for solver in ("highs", "appsi_highs"):
        sol = solve(prog, backend="pyomo", solver=solver, model=m, load=True)
        assert sol.status == ref.status == "optimal", solver
        assert sol.objective == pytest.approx(ref.objective, rel=1e-9, abs=1e-9), solver
        assert np.allclose([m.x[j].value for j in range(prog.n_vars)], sol.x)
        assert np.allclose([m.dual[c] for c in m._dmd_cons], sol.row_dual[m._dmd_rows])
