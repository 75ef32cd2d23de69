"""Benchmark: the single-agent tree-of-histories revenue LP, build / solve / decode vs bare HiGHS.

For |Θ| ∈ {2, 3, 5} and growing horizons T, builds the revenue program of a
one-buyer Markov environment (one good each period, persistent values), solves
it with the HiGHS adapter, decodes the mechanism, and separately times the
*bare* solver on the very same arrays (``Highs.passModel`` + ``run``, no
dmd_opt code).  The ``cg`` columns time the constraint-generation mode
(:mod:`dmd_opt.families.revenue.cg`) end to end — environment → relaxed program →
rounds of HiGHS + vectorised row check → decoded mechanism and a Solution of the
full program (the full Program object itself is built only on demand, e.g. for a
certificate, and is not timed) — with its rounds and generated IC rows; ``cg/full``
checks that both optima agree; ``first`` says whether the first round (the
adjacent-downward relaxation) was solved in closed form on the tree
(:mod:`dmd_opt.families.revenue.local`, accepted after the full row check) or by
HiGHS; ``--cg-highs`` adds the columns ``cgH`` of constraint generation with
every round on HiGHS (``start="highs"``).  Past the sizes where the full LP is run
(``--max-seconds``, or ``--cg-only`` sizes) only the CG mode is run ("—" in the
full-LP columns).  Prints a table and ends with

    RESULT ratio=<total/bare-solve at the largest size with ≥ 1e5 IC rows> rows=<IC rows there>
           cg_speedup=<bare full-LP time / CG end-to-end time at the largest size the full LP solved in 60 s>
           cg_speedup_by_types=<the same per |Θ|: n:speedup,…>

``--limit-check 5:8`` also runs the full LP of those sizes under HiGHS'
``time_limit`` of 600 s and prints its status, time and the process' peak RSS
(it takes ten minutes a size; off by default).

Usage: ``python benchmarks/revenue_tree.py [--quick] [--max-seconds S] [--cg-only 3:13,5:8]
[--sizes 2:18,3:9] [--limit-check 5:8] [--cg-highs]`` (``cgH`` is timed at the full-LP sizes only).
"""

from __future__ import annotations

import argparse
import gc
import time

import highspy
import numpy as np

from dmd_opt.core.environment import Environment
from dmd_opt.families.revenue.program import decode, revenue_program
from dmd_opt.families.revenue.cg import solve_revenue_cg
from dmd_opt.solvers.highs import new_highs, pass_model
from dmd_opt.solvers.session import solve_highs
from dmd_opt.solvers.transform import ObjectiveTransform


def make_env(n: int, T: int) -> Environment:
    vals = np.linspace(1.0, 2.0, n)
    P = np.full((n, n), 0.3 / (n - 1))
    np.fill_diagonal(P, 0.7)
    return Environment.from_dict({
        "name": f"tree n={n} T={T}", "horizon": T, "discount": 0.9,
        "agents": [{"types": vals.tolist(), "initial": (np.ones(n) / n).tolist(), "transition": P.tolist()}],
        "decisions": {"kind": "allocate"}})


def ic_rows(n: int, T: int) -> int:
    return sum(n ** t * n * (n - 1) for t in range(T))


def bare_solve(prog) -> float:
    """Time HiGHS alone (passModel + run) on the program's arrays, prepared beforehand."""
    tr = ObjectiveTransform.to_min(prog)      # the adapter's scaling, so both solve the same LP
    h = new_highs()
    pass_model(h, prog.matrix(), tr.costs(prog.objective_vector()), tr.constant(prog.objective_offset), None,
               prog.col_lower, prog.col_upper, prog.row_lower, prog.row_upper)
    lp = h.getLp()              # arrays are ready; measure the solver itself below
    h2 = new_highs()
    t0 = time.perf_counter()
    h2.passModel(lp)
    h2.run()
    dt = time.perf_counter() - t0
    assert h2.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return dt


def run_cg(n: int, T: int, start: str = "auto") -> dict:
    """Constraint generation end to end (no verification, as for the full-LP ``total``)."""
    env = make_env(n, T)
    gc.collect()
    t0 = time.perf_counter()
    res = solve_revenue_cg(env, participation="interim", verify=False, start=start)
    dt = time.perf_counter() - t0
    assert res.status == "optimal", res.solver_status
    info = res.solution.info["cg"]
    return {"cg": dt, "cg_rounds": info["rounds"], "cg_ic": info["ic_rows_generated"],
            "cg_first": info.get("first_round", "highs"),
            "cg_objective": res.objective, "ic_rows": ic_rows(n, T), "types": n, "T": T}


def limit_check(n: int, T: int, seconds: float = 600.0) -> dict:
    """The full LP of size (n, T) under HiGHS' time limit: does it finish?"""
    import resource
    env = make_env(n, T)
    gc.collect()
    t0 = time.perf_counter()
    prog = revenue_program(env, participation="interim")
    rows = prog.n_rows
    t1 = time.perf_counter()
    sol = solve_highs(prog, options={"time_limit": float(seconds)})
    t2 = time.perf_counter()
    del prog
    return {"types": n, "T": T, "rows": rows, "build": t1 - t0, "solve": t2 - t1, "status": sol.status,
            "iterations": sol.info.get("simplex_iterations", 0),
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


def run_case(n: int, T: int) -> dict:
    env = make_env(n, T)
    gc.collect()
    t0 = time.perf_counter()
    prog = revenue_program(env, participation="interim")
    t1 = time.perf_counter()
    sol = solve_highs(prog)
    t2 = time.perf_counter()
    mech = decode(env, prog, sol)
    t3 = time.perf_counter()
    assert sol.status == "optimal", sol.solver_status
    bare = bare_solve(prog)
    total = t3 - t0
    return {"types": n, "T": T, "ic_rows": ic_rows(n, T), "rows": prog.n_rows, "build": t1 - t0,
            "solve": t2 - t1, "decode": t3 - t2, "total": total, "bare": bare, "ratio": total / bare,
            "revenue": mech.revenue(), "revenue_objective": sol.objective}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only (a smoke run)")
    ap.add_argument("--full", action="store_true", help="also the sizes that take many minutes")
    ap.add_argument("--max-seconds", type=float, default=120.0, help="stop growing T past this solve time")
    ap.add_argument("--cg-only", default="3:13,5:8,5:9",
                    help="sizes n:T solved by constraint generation only (the full LP is out of reach)")
    ap.add_argument("--sizes", default="", help="only these sizes n:T (full LP and CG), e.g. 5:6,3:10")
    ap.add_argument("--cg-highs", action="store_true",
                    help="also time constraint generation with the first round on HiGHS (start='highs')")
    ap.add_argument("--limit-check", default="",
                    help="sizes n:T whose full LP is run under a 600 s HiGHS time limit (10 min each)")
    args = ap.parse_args(argv)
    # |Θ| = 5 stops at T = 6 by default: T = 7 (390k IC rows) is a many-minute simplex solve
    # on 2 cores (pass --full to include it, and |Θ| = 3, T = 11).
    plan = {2: range(4, 19), 3: range(3, 11), 5: range(2, 7)}
    if args.full:
        plan = {2: range(4, 19), 3: range(3, 12), 5: range(2, 8)}
    cg_only = [tuple(int(v) for v in item.split(":")) for item in args.cg_only.split(",") if item]
    if args.quick:
        plan = {2: range(4, 9), 3: range(3, 7), 5: range(2, 4)}
        cg_only = [(3, 8)]
    if args.sizes:
        plan = {}
        for item in args.sizes.split(","):
            n, T = (int(v) for v in item.split(":"))
            plan.setdefault(n, []).append(T)
    rows = []
    hdr = f"{'|Θ|':>4} {'T':>3} {'IC rows':>9} {'rows':>9} {'build s':>8} {'solve s':>8} {'decode s':>8} " \
          f"{'total s':>8} {'bare s':>8} {'ratio':>6} {'cg s':>8} {'rounds':>6} {'cg IC':>9} " \
          f"{'bare/cg':>8} {'cg/full':>8} {'first':>5}" + (f" {'cgH s':>8} {'bare/cgH':>8}" if args.cg_highs else "")
    print(hdr)
    print("-" * len(hdr))
    dash = "—"

    def show(r):
        full = "bare" in r
        f = (lambda key, fmt: format(r[key], fmt)) if full else (lambda key, fmt: dash)
        agree = f"{abs(r['cg_objective'] / r['revenue_objective'] - 1):.0e}" if full else dash
        print(f"{r['types']:>4} {r['T']:>3} {r['ic_rows']:>9} {f('rows', 'd'):>9} {f('build', '.3f'):>8} "
              f"{f('solve', '.3f'):>8} {f('decode', '.3f'):>8} {f('total', '.3f'):>8} {f('bare', '.3f'):>8} "
              f"{f('ratio', '.3f'):>6} {r['cg']:>8.3f} {r['cg_rounds']:>6} {r['cg_ic']:>9} "
              f"{(format(r['bare'] / r['cg'], '.1f') if full else dash):>8} {agree:>8} {r['cg_first']:>5}"
              + (f" {r['cgH']:>8.3f} {(format(r['bare'] / r['cgH'], '.1f') if full else dash):>8}"
                 if "cgH" in r else ""), flush=True)

    for n, Ts in plan.items():
        for T in Ts:
            r = run_case(n, T)
            r.update(run_cg(n, T))
            if args.cg_highs:
                h = run_cg(n, T, start="highs")
                assert abs(h["cg_objective"] / r["cg_objective"] - 1) < 1e-9
                r["cgH"] = h["cg"]
            rows.append(r)
            show(r)
            if r["solve"] > args.max_seconds or r["ic_rows"] > 2.5e6:
                break
    for n, T in cg_only:      # beyond the full LP (24 GiB / 10 min): constraint generation only
        r = run_cg(n, T)
        rows.append(r)
        show(r)
    for item in [v for v in args.limit_check.split(",") if v]:
        n, T = (int(v) for v in item.split(":"))
        lc = limit_check(n, T)
        print(f"full LP |Θ|={n}, T={T}: {lc['rows']} rows, build {lc['build']:.2f} s, HiGHS {lc['status']} after "
              f"{lc['solve']:.1f} s ({lc['iterations']} simplex iterations), peak RSS {lc['peak_rss_gib']:.2f} GiB",
              flush=True)
    full_rows = [r for r in rows if "bare" in r]
    big = [r for r in full_rows if r["ic_rows"] >= 1e5] or full_rows
    best = max(big, key=lambda r: r["ic_rows"])
    in60 = [r for r in full_rows if r["bare"] <= 60.0] or full_rows
    top = max(in60, key=lambda r: (r["ic_rows"], r["bare"]))
    print(f"cg_speedup measured at |Θ|={top['types']}, T={top['T']} (bare full LP {top['bare']:.2f} s, "
          f"CG end to end {top['cg']:.2f} s); CG-only sizes: {', '.join(f'{n}:{T}' for n, T in cg_only) or 'none'}")
    by_types = []
    for n in sorted({r["types"] for r in in60}):
        t = max((r for r in in60 if r["types"] == n), key=lambda r: (r["ic_rows"], r["bare"]))
        by_types.append(f"{n}:{t['bare'] / t['cg']:.2f}")
    print(f"RESULT ratio={best['ratio']:.3f} rows={best['ic_rows']} cg_speedup={top['bare'] / top['cg']:.2f} "
          f"cg_speedup_by_types={','.join(by_types)}")

if __name__ == "__main__":
    main()
