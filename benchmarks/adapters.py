"""Same Program on each backend: build / solve / total seconds and ratio to bare HiGHS.

Programs: the single-agent revenue tree of :func:`dmd_opt.families.revenue.program.revenue_program`
(interim IR, public disclosure, one good per period):

* ``3types``: values (1, 1.5, 2), persistent Markov types, horizon T = 6..9.  The
  simplex dominates here (≈ 20k pivots at T = 9, 118k rows; T = 10 has 354k
  rows and needs ≈ 90 s of bare HiGHS, T = 11 > 10 min), so the large sizes
  come from
* ``2types``: Battaglini-style values (1, 2), T = 12..17 (786k rows at T = 17),
  where presolve does nearly all the work and the adapters' overhead shows most.

Bare HiGHS = ``highspy.Highs.passModel`` (CSR arrays prepared beforehand) +
``run``, timed alone.  A backend's total = wall time of
``dmd_opt.solvers.solve(prog, backend=...)`` (model build, solver, solution and
duals fetched back).  The Program itself (CSR assembly) is built once, outside
every timing.  The machine is shared (2 cores), so timings are noisy.

Usage::

    python benchmarks/adapters.py                 # full table (8 min on the shared 2-core machine)
    python benchmarks/adapters.py --quick         # small sizes only (~1 min)
    python benchmarks/adapters.py --clock cpu     # RESULT from CPU seconds (busy machine)

The last line is ``RESULT cvxpy_ratio=<r> pyomo_ratio=<r> rows=<m>`` at the
largest size (≥ 1e5 rows) measured.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from dmd_opt.core.environment import Environment  # noqa: E402
from dmd_opt.families.revenue.program import revenue_program  # noqa: E402
from dmd_opt.solvers import solve  # noqa: E402
from dmd_opt.solvers.highs import new_highs  # noqa: E402


def tree_env(kind: str, T: int) -> Environment:
    if kind == "3types":
        agent = {"types": [1.0, 1.5, 2.0], "initial": [0.3, 0.4, 0.3],
                 "transition": [[0.7, 0.2, 0.1], [0.2, 0.6, 0.2], [0.1, 0.2, 0.7]]}
    else:
        agent = {"types": [1.0, 2.0], "initial": [0.5, 0.5], "transition": [[0.8, 0.2], [0.3, 0.7]]}
    return Environment.from_dict({"name": f"{kind} T={T}", "horizon": T, "discount": 0.9,
                                  "agents": [agent], "decisions": {"kind": "allocate"}})


def bare_highs(prog) -> tuple[float, float, float, float]:
    """(passModel seconds, run seconds, objective, CPU seconds) of bare highspy on ``prog``."""
    import highspy
    A = prog.matrix()
    inf = highspy.kHighsInf
    fix = lambda a: np.clip(a, -inf, inf)  # noqa: E731  (HiGHS' infinity)
    args = (prog.n_vars, prog.n_rows, int(A.nnz), int(highspy.MatrixFormat.kRowwise),
            int(highspy.ObjSense.kMaximize), 0.0, prog.objective_vector(), fix(prog.col_lower),
            fix(prog.col_upper), fix(prog.row_lower), fix(prog.row_upper), A.indptr.astype(np.int32),
            A.indices.astype(np.int32), A.data.astype(float), np.zeros(prog.n_vars, np.int32))
    h = new_highs()
    c0 = time.process_time()
    t0 = time.perf_counter()
    h.passModel(*args)
    t1 = time.perf_counter()
    h.run()
    t2 = time.perf_counter()
    cpu = time.process_time() - c0
    return t1 - t0, t2 - t1, h.getInfo().objective_function_value + prog.objective_offset, cpu


def timed(prog, backend, solver=None, repeat=1):
    """(solution, wall, CPU seconds) of ``solve``, best of ``repeat`` (the machine is shared)."""
    best = None
    for _ in range(repeat):
        c0 = time.process_time()
        t0 = time.perf_counter()
        sol = solve(prog, backend=backend, solver=solver)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        if best is None or wall < best[1]:
            best = (sol, wall, cpu)
    return best


def warm_up() -> None:
    """Import every backend and solve a tiny program once, outside the timings."""
    prog = revenue_program(tree_env("2types", 2))
    for backend, solver in (("highs", None), ("cvxpy", "HIGHS"), ("pyomo", "highs"), ("pyomo", "appsi_highs")):
        solve(prog, backend=backend, solver=solver)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    ap.add_argument("--appsi-max-rows", type=float, default=5e4,
                    help="also time pyomo's APPSI HiGHS interface up to this many rows")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="which ratio the RESULT line reports: wall time, or CPU time of this process "
                         "(all its threads; steadier when other jobs share the cores)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="best of this many runs per cell below 1e5 rows (noise on a shared machine)")
    args = ap.parse_args(argv)
    warm_up()
    series = [("3types", [6, 7, 8] if args.quick else [6, 7, 8, 9]),
              ("2types", [12, 15] if args.quick else [12, 14, 15, 16, 17])]
    head = (f"{'program':>8} {'T':>3} {'rows':>8} {'nnz':>9} {'backend':>18} {'build_s':>8} "
            f"{'solve_s':>8} {'total_s':>8} {'ratio':>6} {'cpu_s':>8} {'cpu_ratio':>9} {'obj_rel_err':>11}")
    print(head)
    print("-" * len(head))
    last = None
    for kind, Ts in series:
        for T in Ts:
            prog = revenue_program(tree_env(kind, T))
            A = prog.matrix()
            rep = args.repeat if prog.n_rows < 1e5 else 1
            load, run, obj, bare_cpu = min((bare_highs(prog) for _ in range(rep)), key=lambda r: r[0] + r[1])
            bare = load + run
            print(f"{kind:>8} {T:>3} {prog.n_rows:>8} {A.nnz:>9} {'bare highspy':>18} {load:8.2f} "
                  f"{run:8.2f} {bare:8.2f} {1.0:6.2f} {bare_cpu:8.2f} {1.0:9.2f} {0.0:11.1e}", flush=True)
            runs = [("highs", None), ("cvxpy", "HIGHS"), ("pyomo", "highs")]
            if prog.n_rows <= args.appsi_max_rows:
                runs.append(("pyomo", "appsi_highs"))
            ratios = {}
            for backend, solver in runs:
                sol, total, cpu = timed(prog, backend, solver, rep)
                err = abs(sol.objective - obj) / max(1.0, abs(obj)) if sol.objective is not None else np.nan
                label = f"{backend}:{solver}" if solver else backend
                ratios[label] = total / bare if args.clock == "wall" else cpu / bare_cpu
                print(f"{'':>8} {'':>3} {'':>8} {'':>9} {label:>18} {sol.build_seconds:8.2f} "
                      f"{sol.solve_seconds:8.2f} {total:8.2f} {total / bare:6.2f} {cpu:8.2f} "
                      f"{cpu / bare_cpu:9.2f} {err:11.1e}"
                      + ("" if sol.status == "optimal" else f"  status={sol.status}"), flush=True)
            if prog.n_rows >= 1e5:
                last = (ratios["cvxpy:HIGHS"], ratios["pyomo:highs"], prog.n_rows)
    if last is None:
        print("(no size >= 1e5 rows in --quick mode; RESULT shows the largest size measured)")
        last = (ratios["cvxpy:HIGHS"], ratios["pyomo:highs"], prog.n_rows)
    print(f"(RESULT ratios: {args.clock} time)")
    print(f"RESULT cvxpy_ratio={last[0]:.2f} pyomo_ratio={last[1]:.2f} rows={last[2]}")


if __name__ == "__main__":
    main()
