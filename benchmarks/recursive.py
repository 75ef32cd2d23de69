"""Bellman-iteration time per grid size (Thomas–Worrall, Guo–Hörner), grid refinement.

Thomas–Worrall: 2 income levels (1, 2; probabilities 1/2), log utility, beta 0.9,
41-point transfer grid, promise grids of 50/100/200 points, value iteration from C = 0
to sup-norm 1e-8 (one stacked Bellman LP per iteration, hot-started HiGHS; continuation
columns within 15 grid points loaded, the rest priced in by reduced cost — "all" loads
every column), then the 200-point grid warm-started from the 100-point cost function.
``cols`` = columns loaded into HiGHS at the end (of the full Program's).  Target: the
200-point grid in under 60 s on 2 cores.  Also: C at fixed promises per grid (refinement
table), and Guo–Hörner i.i.d. / Markov.  Timings are wall-clock on a shared machine
(noisy).  Last line: ``RESULT tw200_seconds=<…>`` (cold start, 200 points).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dmd_opt.families.recursive import GuoHorner, ThomasWorrall  # noqa: E402


def main() -> None:
    rows, res = [], {}
    m = ThomasWorrall.create([1.0, 2.0], [0.5, 0.5], 0.9, {"kind": "log"}, n_promise=200, n_transfer=41)
    t0 = time.perf_counter()
    r = m.solve(tol=1e-8, window=None)
    sec = time.perf_counter() - t0
    rows.append(("thomas_worrall n=200 all", 200, r.vi.solution.info["loaded_columns"], r.vi.stacked.program.n_rows,
                 r.vi.iterations, r.status, sec, r.vi.seconds / max(r.vi.iterations, 1), r.vi.rate()))
    for n in (50, 100, 200):
        m = ThomasWorrall.create([1.0, 2.0], [0.5, 0.5], 0.9, {"kind": "log"}, n_promise=n, n_transfer=41)
        t0 = time.perf_counter()
        r = m.solve(tol=1e-8)
        sec = time.perf_counter() - t0
        res[n] = (r, sec)
        prog = r.vi.stacked.program
        rows.append((f"thomas_worrall n={n}", n, r.vi.solution.info["loaded_columns"], prog.n_rows,
                     r.vi.iterations, r.status,
                     sec, r.vi.seconds / max(r.vi.iterations, 1), r.vi.rate()))
    t0 = time.perf_counter()
    rw = res[100][0].refine(200)
    sec = time.perf_counter() - t0
    rows.append(("thomas_worrall n=200 warm", 200, rw.vi.solution.info["loaded_columns"], rw.vi.stacked.program.n_rows,
                 rw.vi.iterations, rw.status, sec, rw.vi.seconds / max(rw.vi.iterations, 1), rw.vi.rate()))
    for kw, label in ((dict(n_grid=201), "guo_horner iid"), (dict(p=0.8, n_grid=15), "guo_horner markov n=15")):
        m = GuoHorner.create(0.5, 2.0, 1.0, 0.9, **kw)
        t0 = time.perf_counter()
        r = m.solve(tol=1e-8)
        sec = time.perf_counter() - t0
        prog = r.vi.stacked.program
        rows.append((label, len(r.states), r.vi.solution.info["loaded_columns"], prog.n_rows, r.vi.iterations, r.status, sec,
                     r.vi.seconds / max(r.vi.iterations, 1), r.vi.rate()))
    print(f"{'model':26s} {'states':>6s} {'cols':>8s} {'rows':>6s} {'iters':>6s} {'status':>8s} "
          f"{'total s':>8s} {'s/iter':>8s} {'rate':>7s}")
    for name, n, nv, nr, it, st, sec, per, rate in rows:
        print(f"{name:26s} {n:6d} {nv:8d} {nr:6d} {it:6d} {st:>8s} {sec:8.2f} {per:8.4f} {rate:7.4f}")
    pts = res[50][0].sample_points()
    print("\nThomas–Worrall grid refinement: C(v) at fixed promises")
    print(f"{'n_promise':>10s} " + " ".join(f"{v:>10.4g}" for v in pts))
    for n in (50, 100, 200):
        print(f"{n:10d} " + " ".join(f"{c:10.5f}" for c in res[n][0].C(pts)))
    print(f"{'200 warm':>10s} " + " ".join(f"{c:10.5f}" for c in rw.C(pts)))
    d1 = np.max(np.abs(res[100][0].C(pts) - res[50][0].C(pts)))
    d2 = np.max(np.abs(res[200][0].C(pts) - res[100][0].C(pts)))
    print(f"max change 50->100: {d1:.4g}, 100->200: {d2:.4g}")
    print(f"RESULT tw200_seconds={res[200][1]:.2f}")


if __name__ == "__main__":
    main()
