r"""pyomo adapter: Program → pyomo model (built from the CSR arrays) → Solution.

The model
    :func:`build_pyomo` builds one ``ConcreteModel`` with

    * ``m.x`` — one flat ``Var`` indexed ``0..n−1`` (column ``j`` of the
      Program) carrying the bounds :math:`\ell^x\le x\le u^x`;
    * ``m.rows`` — one indexed ``Constraint`` (index = row of the Program)
      whose bodies are ``LinearExpression`` objects cut from the CSR arrays:
      every monomial is made in one ``map`` over the nonzeros and each row
      is a slice of that list, so no Python rule walks coefficients (rows
      with no finite side are skipped; they carry no constraint);
    * ``m.obj`` — ``c @ x + c0`` (+ ``½ Σ Q_j x_j²``), maximised or minimised;
    * ``m.dual`` / ``m.rc`` — import ``Suffix``\ es, filled after a solve in the
      package sign convention (below).

    pyomo's ``MatrixConstraint`` is not used: in pyomo 6.10 it builds but
    fails when a writer or solver interface walks it (DESIGN.md).

Solvers (``solver=``)
    ``"highs"`` (default)
        pyomo's own matrix compiler
        (``pyomo.repn.plugins.standard_form.LinearStandardFormCompiler``,
        mixed form) turns the model's constraints into CSR blocks, the
        objective is read with ``generate_standard_repn``; the result is
        passed to HiGHS in one ``passModel`` call through
        :func:`dmd_opt.solvers.highs.solve_highs`, and the solution is loaded
        back into ``m.x``, ``m.dual`` and ``m.rc``.  This is the fast path
        (the compiler walks each constraint once; pyomo's persistent HiGHS
        interfaces do ~4× more work per row: measured in
        benchmarks/adapters.py), and it keeps HiGHS' duals, basis and Farkas
        ray.
    ``"appsi_highs"``
        pyomo's APPSI HiGHS interface; duals and reduced costs from its
        solution loader.
    ``"contrib_highs"``
        the ``pyomo.contrib.solver`` HiGHS interface (``SolverFactory("highs")``
        in pyomo 6.10 is a legacy wrapper around this one).
    any other name
        ``pyomo.environ.SolverFactory(name)`` (glpk, cbc, gurobi, ipopt …,
        whatever is installed; ``"pyomo_highs"`` selects pyomo's legacy
        ``"highs"`` wrapper), with ``dual``/``rc`` import suffixes.

    ``options`` go to the solver (HiGHS option names for the HiGHS routes).

Sign convention
    ``Solution.row_dual[r] = ∂ objective*/∂ b_r`` in the program's sense (as
    :mod:`dmd_opt.optim.program`).  The adapter's own model minimises κ·f
    (:mod:`dmd_opt.solvers.transform`; a model from ``build_pyomo(prog)`` states f
    as written, κ = 1; ``m._dmd_transform`` says which).  pyomo's HiGHS interfaces
    (APPSI, contrib and the legacy wrapper) report duals and reduced costs as
    ∂ value/∂ bound of the model's objective in its own sense, ``max`` included, so
    the program's are those divided by κ (checked against the HiGHS adapter in
    tests/test_backends.py); other solvers' suffixes are taken as they come.  Where an interface gives no
    reduced costs they are :math:`c + Qx - A^\top y`.

Infeasible programs
    The fast path returns HiGHS' Farkas ray (rows of a ranged constraint
    summed); the other routes return the duals of the phase-one LP solved
    through the same route (:func:`dmd_opt.solvers.common.elastic_ray`),
    checked as a Farkas certificate.  ``info["dual_ray_source"]`` says which.
"""

from __future__ import annotations

import time

import numpy as np

from dmd_opt.core.errors import SolverError
from dmd_opt.optim.program import Program
from dmd_opt.optim.solution import Solution
from dmd_opt.solvers.common import elastic_ray, orient_ray, reduced_costs
from dmd_opt.solvers.highs import new_highs, set_options
from dmd_opt.solvers.recession import attach_ray, mark_unbounded, settle_ambiguous, unbounded_qp
from dmd_opt.solvers.session import solve_highs
from dmd_opt.solvers.transform import ObjectiveTransform

import pyomo.environ as pyo  # imported only when the pyomo backend is asked for (solvers.get_backend)
from pyomo.common.gc_manager import PauseGC
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression
from pyomo.core.expr.relational_expr import EqualityExpression, InequalityExpression, RangedExpression

_TERMINATION = {
    "convergenceCriteriaSatisfied": "optimal", "optimal": "optimal", "globallyOptimal": "optimal",
    "locallyOptimal": "optimal",
    "provenInfeasible": "infeasible", "infeasible": "infeasible", "locallyInfeasible": "infeasible",
    "unbounded": "unbounded", "infeasibleOrUnbounded": "infeasible_or_unbounded",
    "maxTimeLimit": "time_limit", "iterationLimit": "iteration_limit", "maxIterations": "iteration_limit",
}
FAST = "highs"


# ---------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------
def _none_inf(a: np.ndarray) -> list:
    """Bounds as Python floats with ``None`` for ±inf (pyomo's "no bound")."""
    return np.where(np.isfinite(a), a, None).tolist()


def build_pyomo(prog: Program, transform: ObjectiveTransform | None = None) -> pyo.ConcreteModel:
    """The pyomo model of ``prog`` (see module docstring); ``m._dmd_x`` lists the
    variables by column, ``m._dmd_cons`` the constraints and ``m._dmd_rows``
    their Program rows.  The objective is ``transform.factor × f`` in
    ``transform.sense`` (default: ``f`` as stated; the adapter's own models use the
    minimisation form of :mod:`dmd_opt.solvers.transform`), kept as ``m._dmd_transform``.

    Each row's relational expression is made directly (equality, one-sided
    or ranged) rather than from a ``(lo, body, hi)`` tuple, which pyomo would
    parse row by row.  The cyclic garbage collector is paused meanwhile (as
    pyomo's own writers do): the build makes millions of small objects and
    none of them is garbage.
    """
    with PauseGC():
        return _build(prog, ObjectiveTransform.identity(prog) if transform is None else transform)


def _build(prog: Program, tr: ObjectiveTransform) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel(name=prog.name)
    n = prog.n_vars
    m.x = pyo.Var(range(n), dense=True)
    xs = list(m.x.values())
    for v, lo, hi in zip(xs, _none_inf(prog.col_lower), _none_inf(prog.col_upper)):
        v.setlb(lo)
        v.setub(hi)
    A = prog.matrix()
    ip = A.indptr.tolist()
    terms = list(map(MonomialTermExpression, zip(A.data.tolist(), map(xs.__getitem__, A.indices.tolist()))))
    rl, ru = prog.row_lower, prog.row_upper
    has_lo, has_hi = np.isfinite(rl), np.isfinite(ru)
    live = np.nonzero(has_lo | has_hi)[0]
    # 0: equality, 1: lower side only, 2: upper side only, 3: ranged
    kind = np.where(rl == ru, 0, np.where(has_lo & has_hi, 3, np.where(has_lo, 1, 2))).tolist()
    lo_l, hi_l = rl.tolist(), ru.tolist()

    def rule(_, r):
        body = LinearExpression(terms[ip[r]:ip[r + 1]])
        k = kind[r]
        if k == 0:
            return EqualityExpression((body, lo_l[r]))
        if k == 1:
            return InequalityExpression((lo_l[r], body), False)
        if k == 2:
            return InequalityExpression((body, hi_l[r]), False)
        return RangedExpression((lo_l[r], body, hi_l[r]), (False, False))

    m.rows = pyo.Constraint(live.tolist(), rule=rule)
    c = tr.costs(prog.objective_vector())
    nz = np.nonzero(c)[0]
    expr = LinearExpression([tr.constant(prog.objective_offset)] + list(
        map(MonomialTermExpression, zip(c[nz].tolist(), map(xs.__getitem__, nz.tolist())))))
    if prog.q_diag is not None:
        q = tr.costs(prog.q_diag)
        J = np.nonzero(q)[0]
        expr = expr + pyo.quicksum(0.5 * float(q[j]) * xs[j] ** 2 for j in J)
    m.obj = pyo.Objective(expr=expr, sense=pyo.maximize if tr.sense == "max" else pyo.minimize)
    m._dmd_transform = tr
    m.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
    m.rc = pyo.Suffix(direction=pyo.Suffix.IMPORT)
    m._dmd_x = xs
    m._dmd_rows = live
    m._dmd_cons = list(m.rows.values())  # ConstraintData of Program row m._dmd_rows[k]
    return m


def _load_back(m, x, row_dual, col_dual) -> None:
    """Primal values into ``m.x``; package-convention duals into ``m.dual``/``m.rc``."""
    for v, val in zip(m._dmd_x, x.tolist()):
        v.set_value(val, skip_validation=True)
    if row_dual is not None:
        cons = m._dmd_cons
        m.dual.update(zip(cons, row_dual[m._dmd_rows].tolist()))
    if col_dual is not None:
        m.rc.update(zip(m._dmd_x, col_dual.tolist()))


# ---------------------------------------------------------------------------------------
# fast path: pyomo's standard-form compiler → HiGHS
# ---------------------------------------------------------------------------------------
def _read_linear_rows(m, pos: dict):
    """Rows of every active constraint whose body is a ``LinearExpression`` of
    monomials in ``m.x`` — the form :func:`build_pyomo` makes — read straight
    from the expression objects (coefficient, variable) into COO arrays.

    Returns ``(rows, cols, vals, lo, hi, row_of)`` or None when some
    constraint has another form (then pyomo's general compiler is used).
    ``row_of`` is the Program row of each constraint (−1 for rows the user
    added to the model).
    """
    from itertools import chain

    cons = list(m.component_data_objects(pyo.Constraint, active=True, descend_into=True))
    if not cons:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros(0), np.zeros(0), np.zeros(0), z
    lbs, bodies, ubs = zip(*[c.to_bounded_expression() for c in cons])
    if set(map(type, bodies)) != {LinearExpression}:
        return None
    args = [b.args for b in bodies]
    if not set(map(type, chain.from_iterable(args))) <= {MonomialTermExpression}:
        return None  # constants, bare variables or products inside a body
    lo, hi = _bound_array(lbs, -np.inf), _bound_array(ubs, np.inf)
    con_row = dict(zip(map(id, m._dmd_cons), m._dmd_rows.tolist()))
    row_of = np.fromiter((con_row.get(i, -1) for i in map(id, cons)), np.int64, len(cons))
    lens = np.fromiter(map(len, args), np.int64, len(args))
    nnz = int(lens.sum())
    if nnz == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), lo, hi, row_of
    try:
        coefs, var_list = zip(*[t._args_ for t in chain.from_iterable(args)])
        cols = np.fromiter(map(pos.__getitem__, map(id, var_list)), np.int64, nnz)
        vals = np.fromiter(coefs, float, nnz)
    except (KeyError, TypeError, ValueError):
        return None  # variables outside m.x, non-numeric coefficients
    return np.repeat(np.arange(len(args)), lens), cols, vals, lo, hi, row_of


def _bound_array(bounds, missing: float) -> np.ndarray:
    """Constraint bounds (numbers, None or fixed expressions) as floats."""
    from pyomo.core.expr.numvalue import native_numeric_types
    if set(map(type, bounds)) <= set(native_numeric_types) | {type(None)}:
        return np.fromiter((missing if v is None else v for v in bounds), float, len(bounds))
    return np.array([missing if v is None else pyo.value(v) for v in bounds], float)


def _pyomo_compiler_rows(m, pos: dict):
    """The same arrays from pyomo's ``LinearStandardFormCompiler`` (mixed form;
    a ranged row comes back as two one-sided rows)."""
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler
    con_row = dict(zip(map(id, m._dmd_cons), m._dmd_rows.tolist()))
    m.obj.deactivate()  # the objective may be quadratic: it is read separately
    try:
        sf = LinearStandardFormCompiler().write(m, mixed_form=True, set_sense=None)
    finally:
        m.obj.activate()
    try:
        cols = np.fromiter(map(pos.__getitem__, map(id, sf.columns)), np.int64, len(sf.columns))
    except KeyError as exc:
        raise SolverError("the fast pyomo path handles variables of m.x only; "
                          "use solver='appsi_highs' for a model with other variables") from exc
    row_of = np.fromiter((con_row.get(id(e.constraint), -1) for e in sf.rows), np.int64, len(sf.rows))
    bt = np.fromiter((e.bound_type for e in sf.rows), np.int64, len(sf.rows))
    rhs = np.asarray(sf.rhs, float)
    A = sf.A.tocoo()
    return (A.row, cols[A.col], A.data, np.where(bt <= 0, rhs, -np.inf), np.where(bt >= 0, rhs, np.inf),
            row_of)


def _read_linear_objective(expr, pos: dict, n: int):
    """``(c, constant)`` of a ``LinearExpression`` objective of monomials and
    numbers (what :func:`build_pyomo` makes for an LP), else None."""
    from pyomo.core.expr.numvalue import native_numeric_types
    if expr.__class__ is not LinearExpression:
        return None
    args = expr.args
    mons = [t for t in args if t.__class__ is MonomialTermExpression]
    consts = [t for t in args if t.__class__ in native_numeric_types]
    if len(mons) + len(consts) != len(args):
        return None
    c = np.zeros(n)
    if mons:
        try:
            coefs, var_list = zip(*[t._args_ for t in mons])
            cols = np.fromiter(map(pos.__getitem__, map(id, var_list)), np.int64, len(mons))
            np.add.at(c, cols, np.fromiter(coefs, float, len(mons)))
        except (KeyError, TypeError, ValueError):
            return None
    return c, float(sum(consts))


def compile_standard_form(m, prog: Program) -> tuple[Program, np.ndarray]:
    """Read the pyomo model ``m`` back into matrix form.

    Rows come from :func:`_read_linear_rows` (the model's own
    ``LinearExpression`` bodies) or, for constraints of any other form, from
    pyomo's ``LinearStandardFormCompiler``; bounds from the variables (a fixed
    variable gets lb = ub = its value); the objective from
    ``generate_standard_repn``.  Returns the compiled Program (columns of
    ``m.x``) and, for each compiled row, the Program row it came from (−1 for
    rows that are not the Program's).  Nothing is taken from ``prog``.
    """
    from pyomo.repn import generate_standard_repn

    xs = m._dmd_x
    pos = dict(zip(map(id, xs), range(len(xs))))  # keyed by id: VarData is unhashable
    with PauseGC():
        got = _read_linear_rows(m, pos)
        route = "rows read from pyomo LinearExpression bodies"
        if got is None:
            got = _pyomo_compiler_rows(m, pos)
            route = "pyomo LinearStandardFormCompiler"
        rows, cols, vals, lo, hi, row_of = got
        bounds = [(v.value, v.value) if v.fixed else v.bounds for v in xs]
    p2 = Program(name=f"pyomo[{prog.name}]", sense="max" if m.obj.sense == pyo.maximize else "min")
    p2.meta["route"] = route
    lb = np.array([-np.inf if b[0] is None else b[0] for b in bounds], float)
    ub = np.array([np.inf if b[1] is None else b[1] for b in bounds], float)
    p2.add_variables("x", len(xs), lb, ub)
    p2.add_constraints("rows", len(row_of), rows, cols, vals, lo, hi)
    fast = _read_linear_objective(m.obj.expr, pos, len(xs))
    if fast is not None:
        p2.set_objective(fast[0], p2.sense, offset=fast[1])
        return p2, row_of
    repn = generate_standard_repn(m.obj.expr, quadratic=True, compute_values=True)
    if repn.nonlinear_expr is not None:
        raise SolverError("the objective is not linear or quadratic")
    c = np.zeros(len(xs))
    for v, a in zip(repn.linear_vars, repn.linear_coefs):
        c[pos[id(v)]] += a
    q = None
    if repn.quadratic_vars:
        q = np.zeros(len(xs))
        for (v1, v2), a in zip(repn.quadratic_vars, repn.quadratic_coefs):
            if v1 is not v2:
                raise SolverError("the fast pyomo path handles a separable quadratic objective only")
            q[pos[id(v1)]] += 2.0 * a
    p2.set_objective(c, p2.sense, q_diag=q, offset=float(pyo.value(repn.constant)))
    return p2, row_of


def _to_program_rows(prog: Program, row_of: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sum compiled-row values into Program rows (a ranged row may be split in two)."""
    y = np.zeros(prog.n_rows)
    keep = row_of >= 0
    np.add.at(y, row_of[keep], v[keep])
    return y


def _transform(m, prog: Program) -> ObjectiveTransform:
    """How ``m.obj`` relates to ``prog``'s objective (a model from :func:`build_pyomo`)."""
    return getattr(m, "_dmd_transform", None) or ObjectiveTransform.identity(prog)


def _solve_fast(prog: Program, m, basis: bool, options: dict | None, t0: float, load: bool) -> Solution:
    p2, row_of = compile_standard_form(m, prog)
    tr = _transform(m, prog)       # p2 states m.obj: its duals are tr.factor × the program's
    s2 = solve_highs(p2, basis=basis, options=options)
    build = time.perf_counter() - t0 - s2.solve_seconds
    info = dict(s2.info, solver="highs", route=p2.meta["route"] + " -> HiGHS passModel",
                compiled_rows=p2.n_rows)
    sol = Solution(s2.status, s2.solver_status, "pyomo", solve_seconds=s2.solve_seconds,
                   build_seconds=build, info=info)
    if s2.x is not None:
        sol.x = s2.x
        sol.row_activity = prog.matrix() @ s2.x
        sol.objective = prog.objective_value(s2.x)
        if s2.row_dual is not None:
            sol.row_dual = tr.duals(_to_program_rows(prog, row_of, s2.row_dual))
            sol.col_dual = tr.duals(s2.col_dual)
        if s2.basis is not None:
            if np.all(row_of >= 0) and len(np.unique(row_of)) == len(row_of):
                rs = np.full(prog.n_rows, 1, np.int8)  # rows without a constraint: basic slack
                rs[row_of] = s2.basis["row_status"]
                sol.basis = {"col_status": s2.basis["col_status"], "row_status": rs}
            else:
                info["basis"] = "not mapped: the model's rows are not one-to-one with the Program's"
        if load:
            with PauseGC():
                _load_back(m, sol.x, sol.row_dual, sol.col_dual)
    if s2.dual_ray is not None and np.all(row_of >= 0):
        ray, _ = orient_ray(prog, _to_program_rows(prog, row_of, s2.dual_ray))
        if ray is not None:
            sol.dual_ray, info["dual_ray_source"] = ray, "HiGHS Farkas ray (pyomo fast path)"
    if sol.dual_ray is None and sol.status in ("infeasible", "infeasible_or_unbounded"):
        _elastic(prog, sol, FAST, options)
    sol.primal_ray = s2.primal_ray
    if s2.info.get("claimed_status"):
        sol.info.update({k: s2.info[k] for k in ("claimed_status", "claimed_objective", "unbounded_ray_gain")})
    return sol


# ---------------------------------------------------------------------------------------
# pyomo's own solver interfaces
# ---------------------------------------------------------------------------------------
def _status(tc) -> str:
    name = getattr(tc, "name", None) or str(tc).split(".")[-1]
    return _TERMINATION.get(name, "error")


def _run_interface(m, name: str, options: dict):
    """Solve with a pyomo interface; returns (status, words, has_solution, duals, rcs).

    ``duals``/``rcs`` are ComponentMaps as the interface reports them (or None).
    """
    if name in ("appsi_highs", "contrib_highs"):
        if name == "appsi_highs":
            from pyomo.contrib.appsi.solvers.highs import Highs as AppsiHighs
            # only_child_vars: the variables are those of this model; skips
            # APPSI's per-constraint search for foreign variables.
            opt = AppsiHighs(only_child_vars=True)
            opt.config.load_solution = False
            opt.highs_options = dict(options)
            res = opt.solve(m)
        else:
            from pyomo.contrib.solver.common.factory import SolverFactory as ContribFactory
            opt = ContribFactory("highs")
            res = opt.solve(m, load_solutions=False, raise_exception_on_nonoptimal_result=False,
                            solver_options=dict(options))
        tc = res.termination_condition
        status = _status(tc)
        loader = res.solution_loader
        has = status in ("optimal", "time_limit", "iteration_limit")
        duals = rcs = None
        if has:
            try:
                loader.load_vars()
            except Exception:
                has = False
        if has:
            try:
                duals = loader.get_duals()
                rcs = loader.get_reduced_costs()
            except Exception:
                duals = rcs = None
        return status, f"{name}: {tc.name}", has, duals, rcs
    legacy = "highs" if name == "pyomo_highs" else name
    opt = pyo.SolverFactory(legacy)
    if opt is None or not opt.available(exception_flag=False):
        raise SolverError(f"pyomo solver {name!r} is not available")
    res = opt.solve(m, load_solutions=False, options=dict(options))
    tc = res.solver.termination_condition
    status = _status(tc)
    has = status in ("optimal", "time_limit", "iteration_limit") and len(res.solution) > 0
    if has:
        m.solutions.load_from(res)
    duals = m.dual if has and len(m.dual) else None
    rcs = m.rc if has and len(m.rc) else None
    return status, f"{name}: {tc}", has, duals, rcs


def _check_highs_options(opts: dict) -> None:
    """Reject HiGHS options HiGHS does not know (APPSI would ignore them silently),
    as the HiGHS adapter does."""
    set_options(new_highs(), opts)


def _solve_interface(prog: Program, m, name: str, options: dict | None, t0: float, load: bool) -> Solution:
    build = time.perf_counter() - t0
    t1 = time.perf_counter()
    opts = dict(options or {})
    if name in ("appsi_highs", "contrib_highs", "pyomo_highs"):
        _check_highs_options(opts)
        if prog.q_diag is not None:
            opts.setdefault("qp_regularization_value", 1e-10)  # as dmd_opt.solvers.highs
    try:
        status, words, has, duals, rcs = _run_interface(m, name, opts)
        tr = _transform(m, prog)     # the interface's duals are tr.factor × the program's
    except SolverError:
        raise
    except Exception as exc:
        return Solution("error", f"{name}: {type(exc).__name__}: {exc}", "pyomo", build_seconds=build,
                        solve_seconds=time.perf_counter() - t1, info={"solver": name})
    solve_s = time.perf_counter() - t1
    sol = Solution(status, words, "pyomo", build_seconds=build, solve_seconds=solve_s,
                   info={"solver": name, "route": f"pyomo interface {name}"})
    if has:
        x = np.array([np.nan if v.value is None else v.value for v in m._dmd_x], float)
        x = np.where(np.isnan(x), 0.0, x)  # a variable in no row and not in the objective
        sol.x = x
        sol.row_activity = prog.matrix() @ x
        sol.objective = prog.objective_value(x)
        if duals is not None:
            y = np.zeros(prog.n_rows)
            y[m._dmd_rows] = [duals.get(c, 0.0) for c in m._dmd_cons]
            sol.row_dual = y = tr.duals(y)
            if rcs is not None:
                sol.col_dual = tr.duals(np.array([rcs.get(v, 0.0) for v in m._dmd_x], float))
            else:
                sol.col_dual = reduced_costs(prog, x, y)
            sol.info["duals"] = f"from pyomo interface {name}"
        else:
            sol.info["duals"] = f"not provided by pyomo interface {name}"
        if load:
            m.dual.clear()
            m.rc.clear()
            _load_back(m, x, sol.row_dual, sol.col_dual)
    if status in ("infeasible", "infeasible_or_unbounded"):
        _elastic(prog, sol, name, options)
    return sol


def _elastic(prog: Program, sol: Solution, name: str, options) -> None:
    ray = elastic_ray(prog, lambda p1: solve_pyomo(p1, solver=name, options=options))
    if ray is not None:
        sol.dual_ray, sol.info["dual_ray_source"] = ray, f"phase-one LP duals (pyomo {name})"
    else:
        sol.info["dual_ray_source"] = "none: no valid certificate from the phase-one LP"


def solve_pyomo(prog: Program, solver: str | None = None, basis: bool = False,
                options: dict | None = None, model=None, load: bool = False, **kw) -> Solution:
    """Solve ``prog`` through pyomo (see module docstring for the routes).

    ``model``: a model from :func:`build_pyomo` (``prog``'s), possibly
    extended by the user with more constraints on ``m.x``; built afresh when
    omitted.  ``load=True`` writes the solution back into it (``m.x`` values,
    ``m.dual``/``m.rc`` in the package convention); off by default because
    the adapter's own model is discarded after the solve.
    """
    name = (solver or FAST).lower() if (solver or FAST).lower() in (
        FAST, "appsi_highs", "contrib_highs", "pyomo_highs") else solver
    options = dict(options or {})
    scale = options.pop("cost_scale", "auto")
    if model is None:                     # QP solvers may stall on an unbounded QP
        pre = unbounded_qp(prog, "pyomo")
        if pre is not None:
            pre.info["solver"] = name
            return pre
    if prog.q_diag is not None:
        sgn = -1.0 if prog.sense == "max" else 1.0
        if np.any(sgn * prog.q_diag < -1e-14):
            raise SolverError("the quadratic objective is not convex in the program's sense")
    # The cyclic GC stays paused for the whole call: with millions of live
    # expression objects every full collection would walk them all (≈ 1 s per
    # collection at 4e5 rows) and none of them is garbage until the model goes.
    with PauseGC():
        t0 = time.perf_counter()
        m = model
        if m is None:
            try:
                m = build_pyomo(prog, ObjectiveTransform.to_min(prog, scale))
            except Exception as exc:
                return Solution("error", f"pyomo could not build the model: {exc}", "pyomo")
        if name == FAST:
            try:
                sol = _solve_fast(prog, m, basis, options, t0, load)
            except SolverError:
                raise
            except Exception as exc:
                return Solution("error", f"pyomo standard-form path failed: {type(exc).__name__}: {exc}",
                                "pyomo", build_seconds=time.perf_counter() - t0)
        else:
            sol = _solve_interface(prog, m, name, options, t0, load)
            if basis:
                sol.info["basis"] = f"not available through pyomo interface {name}"
        del m  # the adapter's own model is freed by reference counting, GC still paused
    return attach_ray(prog, settle_ambiguous(prog, mark_unbounded(prog, sol)))
