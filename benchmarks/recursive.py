"""Bellman-iteration time per grid size (Thomas–Worrall, Guo–Hörner).

Thomas–Worrall: 2 income levels (1, 2; probabilities 1/2), log utility, beta 0.9,
41-point transfer grid, promise grids of 50/100/200 points, value iteration to
sup-norm 1e-8 (one stacked Bellman LP per iteration, hot-started HiGHS).  Target:
the 200-point grid in under 60 s on 2 cores.  Timings are wall-clock on a shared
machine (noisy).  Last line: ``RESULT tw200_seconds=<…>``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dmd_opt.recursive import GuoHorner, ThomasWorrall  # noqa: E402


def main() -> None:
    rows = []
    tw200 = None
    for n in (50, 100, 200):
        m = ThomasWorrall.create([1.0, 2.0], [0.5, 0.5], 0.9, {"kind": "log"}, n_promise=n, n_transfer=41)
        t0 = time.perf_counter()
        r = m.solve(tol=1e-8)
        sec = time.perf_counter() - t0
        prog = r.vi.stacked.program
        rows.append(("thomas_worrall", n, prog.n_vars, prog.n_rows, r.vi.iterations, r.status,
                     sec, sec / max(r.vi.iterations, 1), r.vi.rate()))
        if n == 200:
            tw200 = sec
    for kw, label in ((dict(n_grid=201), "guo_horner iid"), (dict(p=0.8, n_grid=15), "guo_horner markov 15x15")):
        m = GuoHorner.create(0.5, 2.0, 1.0, 0.9, **kw)
        t0 = time.perf_counter()
        r = m.solve(tol=1e-8)
        sec = time.perf_counter() - t0
        prog = r.vi.stacked.program
        rows.append((label, len(r.states), prog.n_vars, prog.n_rows, r.vi.iterations, r.status, sec,
                     r.vi.seconds / max(r.vi.iterations, 1), r.vi.rate()))
    print(f"{'model':26s} {'grid':>5s} {'cols':>8s} {'rows':>6s} {'iters':>6s} {'status':>8s} "
          f"{'total s':>8s} {'s/iter':>8s} {'rate':>7s}")
    for name, n, nv, nr, it, st, sec, per, rate in rows:
        print(f"{name:26s} {n:5d} {nv:8d} {nr:6d} {it:6d} {st:>8s} {sec:8.2f} {per:8.4f} {rate:7.4f}")
    print(f"RESULT tw200_seconds={tw200:.2f}")


if __name__ == "__main__":
    main()
