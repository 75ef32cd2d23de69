"""Contingent transfers (docs/theory.md#contingent-transfers-with-interdependent-values): time of each stage on random joint-signal environments.

Stages: efficient policy (MDP), diagnostics (SVD + one stacked hull-distance QP), VCG-type
pseudo-inverse transfers, report-dependent LP (build + HiGHS solve), periodic ex-post
verification.  Random Dirichlet joint kernels (full rank, convex independent), random
interdependent utilities, stationary infinite horizon, δ = 0.9, 2 decisions.

Run: ``python benchmarks/contingent_scaling.py``.  Timings are wall-clock seconds on a shared
machine (noisy).  The last line is ``RESULT ...`` with the largest case's figures.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dmd_opt.families import contingent as C
from dmd_opt.solvers import solve  # noqa: E402


def make(N: int, n: int, seed: int = 0) -> C.ContingentEnvironment:
    rng = np.random.default_rng(seed)
    R, A = n ** N, 2
    K = np.stack([rng.dirichlet(np.ones(R), size=R) for _ in range(A)])
    return C.ContingentEnvironment([np.arange(n, dtype=float)] * N, ("a", "b"),
                                   rng.uniform(-1, 1, (N, A, R)), np.full(R, 1 / R), [K], 0.9)


def run(N: int, n: int) -> dict:
    env = make(N, n)
    out = {"N": N, "n": n, "R": env.R}
    t = time.perf_counter()
    pol = C.efficient_policy(env)
    out["policy_s"] = time.perf_counter() - t
    t = time.perf_counter()
    diag = C.diagnose(env, pol)
    out["diag_s"] = time.perf_counter() - t
    out["blocks"] = len(diag.blocks)
    t = time.perf_counter()
    vt = C.vcg_transfers(env, pol)
    out["vcg_s"] = time.perf_counter() - t
    out["vcg_resid"] = vt.max_residual
    t = time.perf_counter()
    prog = C.report_program(env, pol)
    out["lp_build_s"] = time.perf_counter() - t
    t = time.perf_counter()
    sol = solve(prog)
    out["lp_solve_s"] = time.perf_counter() - t
    out["lp_rows"], out["lp_cols"], out["lp_status"] = prog.n_rows, prog.n_vars, sol.status
    t = time.perf_counter()
    reg = C.periodic_expost(C.vcg_mechanism(env, pol, vt)).max_regret
    out["verify_s"] = time.perf_counter() - t
    out["regret"] = reg
    return out


def main():
    cases = [(2, 3), (2, 5), (2, 8), (3, 3), (3, 4), (2, 12)]
    run(2, 2)                                   # warm-up: imports, HiGHS start-up
    rows = [run(N, n) for N, n in cases]
    cols = ["N", "n", "R", "blocks", "policy_s", "diag_s", "vcg_s", "vcg_resid", "lp_rows", "lp_cols",
            "lp_build_s", "lp_solve_s", "lp_status", "verify_s", "regret"]
    print(" ".join(f"{c:>11}" for c in cols))
    for r in rows:
        print(" ".join(f"{r[c]:>11.3g}" if isinstance(r[c], float) else f"{r[c]:>11}" for c in cols))
    last = rows[-1]
    print(f"RESULT R={last['R']} blocks={last['blocks']} diag_s={last['diag_s']:.3f} vcg_s={last['vcg_s']:.4f} "
          f"lp_rows={last['lp_rows']} lp_build_s={last['lp_build_s']:.3f} lp_solve_s={last['lp_solve_s']:.3f} "
          f"verify_s={last['verify_s']:.3f} max_regret={max(r['regret'] for r in rows):.2e} "
          f"max_vcg_residual={max(r['vcg_resid'] for r in rows):.2e}")


if __name__ == "__main__":
    main()
