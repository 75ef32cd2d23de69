"""Relational contracts: time to the fixed point of self-generation, and grid refinement.

Models (B = 2, b = 1): the shipped power-dynamics trust game (δ = 0.5, p = 0.3, exposure 0),
its patient version with self-enforcing restricted empowerment (δ = 0.8, p = 0.6), the
same games under commitment, and the lecture payoffs (δ = 0.7, p = 0.4; larger stage game:
12 plans, 21 public outcomes).  Each is iterated from the feasible hull to a sup change of
1e-9 on a 200-point promise grid (plus the stationary modes' promises and the optimum's
moves as nodes).  Columns: grid nodes, iterations, seconds, seconds per iteration, the
principal's optimal value V*, the fixed-point gap and the largest violation found by the
independent enforcement check.  Then V* and the frontier at fixed promises for grids of
25–400 points against 800 (the refinement rate).  Wall-clock on a shared machine (noisy);
numpy's BLAS runs on one thread (many tiny products).  ``--quick`` skips the lecture model
and the 800-point reference.  Last line: ``RESULT relational_seconds=<…> grid=<…>`` (the
shipped trust game, 200 points, relational).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dmd_opt.families.relational import RelationalModel  # noqa: E402


def model(delta, n, enforcement="relational", **lmp):
    kw = {"variant": "trust", "B": 2.0, "b": 1.0, "p": 0.3}
    kw.update(lmp)
    return RelationalModel.from_dict({"delta": delta, "lmp": kw, "grid": {"n": n}, "enforcement": enforcement})


def run(name, m):
    t0 = time.perf_counter()
    r = m.solve(tol=1e-9)
    sec = time.perf_counter() - t0
    c = r.check()
    return r, sec, (name, r.grid.size, r.aps.iterations, sec, sec / max(r.aps.iterations, 1), r.objective,
                    r.fixed_point_gap(), c.max_violation)


def main(quick: bool = False) -> None:
    n = 200
    cases = [("trust δ=0.5 p=0.3 (shipped)", model(0.5, n)),
             ("trust δ=0.5 p=0.3 commitment", model(0.5, n, "commitment")),
             ("trust δ=0.8 p=0.6 (restricted)", model(0.8, n, p=0.6)),
             ("trust δ=0.6 p=0.4 exposure 0.5", model(0.6, n, p=0.4, exposure=0.5))]
    if not quick:
        cases.append(("lecture δ=0.7 p=0.4", model(0.7, n, variant="lecture", p=0.4)))
    rows = []
    main_sec = main_res = None
    for name, m in cases:
        r, sec, row = run(name, m)
        rows.append(row)
        if main_sec is None:
            main_sec, main_res = sec, r
        print(f"  {name}: {sec:.1f} s", file=sys.stderr, flush=True)
    print(f"{'model':34s} {'nodes':>6s} {'iters':>6s} {'seconds':>8s} {'s/iter':>7s} {'V*':>10s} "
          f"{'gap':>8s} {'violation':>9s}")
    for name, nodes, it, sec, spi, v, gap, viol in rows:
        print(f"{name:34s} {nodes:6d} {it:6d} {sec:8.2f} {spi:7.3f} {v:10.6f} {gap:8.1e} {viol:9.1e}")

    # absorbing shares against the number of simulated paths (shipped model, 200 points)
    print(f"\nabsorbing modes by number of paths (trust δ=0.5 p=0.3, 200 points, 100 periods)")
    print(f"{'paths':>7s} {'centralisation':>15s} {'unrestricted':>13s} {'absorbed':>9s} {'max violation':>14s}")
    for n_paths in (1000, 2000, 5000, 10000, 20000):
        sim = main_res.simulate(T=100, n_paths=n_paths, seed=7)
        sh = sim.absorbing_shares()
        print(f"{n_paths:7d} {sh.get('centralisation', 0.0):15.4f} {sh.get('unrestricted empowerment', 0.0):13.4f} "
              f"{sim.absorption_times()['absorbed']:9.4f} {main_res.check_paths(sim):14.1e}")

    # grid refinement on the shipped model
    sizes = [25, 50, 100, 200, 400]
    ref_n = 400 if quick else 800
    ref = model(0.5, ref_n).solve(tol=1e-10)
    pts = np.linspace(ref.grid[0], ref.grid[-1], 41)
    vref = np.interp(pts, ref.grid, ref.frontier)
    print(f"\ngrid refinement (trust δ=0.5 p=0.3), reference {ref_n} points: V* = {ref.objective:.8f}")
    print(f"{'points':>7s} {'V*':>12s} {'|V*−ref|':>10s} {'sup|V̄−ref| (41 promises)':>26s} {'order':>6s}")
    prev = None
    for k in sizes:
        if k >= ref_n:
            continue
        r = model(0.5, k).solve(tol=1e-10)
        err = float(np.max(np.abs(np.interp(pts, r.grid, r.frontier) - vref)))
        order = "" if prev is None or err <= 0 or prev <= 0 else f"{np.log2(prev / err):6.2f}"
        print(f"{k:7d} {r.objective:12.8f} {abs(r.objective - ref.objective):10.2e} {err:26.2e} {order:>6s}")
        prev = err
    print(f"RESULT relational_seconds={main_sec:.2f} grid={n}")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
