"""Benchmark: optimal auctions with many bidders — reduced form against the profile LP.

Asymmetric independent bidders: bidder i has n values spread over [1, 100·(1 + i/20)]
and probabilities from a bidder-specific smooth shape (bounded away from 0); the seller's
cost of the good is 1; BIC and interim IR; revenue.  For N ∈ {2, 3, 5, 10, 20} bidders
× n ∈ {10, 50, 200} types, and for 3 × 15:

* ``rf s``: the reduced form end to end — build, lazy Border rounds on the HiGHS session,
  decomposition of the optimal interim rule into a lottery over priority rules, and the
  interim checks of that implementation (its interim allocation by products over
  bidders against the program's, IC and IR regrets).  The profile verifier is not
  included (it enumerates profiles); the profile LP's time does not include its
  verifier either;
* ``profile LP s``: ``solve_revenue(method="full", verify=False, selection="none")`` (build,
  solve, decode; no payment selection on the optimal face, which the reduced form does not do),
  where the profiles are few enough (≤ 5,000) to build it in reasonable time (measured: 5 × 10 = 100,000
  profiles took 92 s, 3 × 50 = 125,000 took 317 s, 2 × 200 more than 5 minutes);
* ``rounds``: LP solves of the lazy loop; ``Border``: inequalities in the final LP;
  ``impl err``: max |Q implemented − Q program|; ``regret``: max interim IC regret.

Usage: ``python benchmarks/reduced_form.py [--quick]`` (``--quick``: N ≤ 10, n ≤ 50 plus
10 × 200).  The last line is ``RESULT rf_seconds_10x200=… speedup_3x15=…``.  Timings on a
shared 2-core machine are noisy.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dmd_opt.core.environment import Environment  # noqa: E402
from dmd_opt.families.revenue.reduced_form import solve_reduced_form  # noqa: E402
from dmd_opt.families.revenue.solve import solve_revenue  # noqa: E402

PROFILE_LP_LIMIT = 5_000


def environment(N: int, n: int) -> Environment:
    agents = []
    x = (np.arange(n) + 0.5) / n
    for i in range(N):
        top = 100.0 * (1 + i / 20)
        values = np.round(np.linspace(1.0, top, n), 4)
        a, b = 1.0 + (i % 4) * 0.75, 1.0 + ((3 * i) % 5) * 0.5
        p = (x + 0.05) ** (a - 1) * (1.05 - x) ** (b - 1)
        agents.append({"name": f"bidder {i + 1}", "types": values.tolist(), "initial": (p / p.sum()).tolist()})
    return Environment.from_dict({"name": f"{N} bidders x {n} types", "agents": agents,
                                  "decisions": {"kind": "allocate", "cost": 1.0}, "renormalize": True})


def run_rf(env):
    t0 = time.perf_counter()
    r = solve_reduced_form(env, verify=False)
    chk = r.mechanism.verify(profile_limit=0)
    return r, chk, time.perf_counter() - t0


def run_full(env):
    t0 = time.perf_counter()
    r = solve_revenue(env, method="full", verify=False, selection="none")
    return r, time.perf_counter() - t0


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    quick = "--quick" in argv
    sizes = [(N, n) for N in (2, 3, 5, 10, 20) for n in (10, 50, 200)]
    if quick:
        sizes = [(N, n) for N, n in sizes if (N <= 10 and n <= 50)] + [(10, 200)]
    sizes.append((3, 15))
    print(f"{'N×n':>8} {'profiles':>10} {'rounds':>6} {'Border':>7} {'rf s':>7} {'profile LP s':>12} "
          f"{'objective':>14} {'|Δ objective|':>13} {'impl err':>9} {'regret':>9}")
    out = {}
    for N, n in sizes:
        env = environment(N, n)
        r, chk, secs = run_rf(env)
        profiles = float(n) ** N
        full_s, diff = None, None
        if profiles <= PROFILE_LP_LIMIT:
            f, full_s = run_full(env)
            diff = abs(f.objective - r.objective)
        out[(N, n)] = (secs, full_s)
        print(f"{f'{N}×{n}':>8} {profiles:>10.3g} {len(r.rounds):>6} {r.border_rows:>7} {secs:>7.3f} "
              f"{'—' if full_s is None else f'{full_s:.3f}':>12} {r.objective:>14.8f} "
              f"{'—' if diff is None else f'{diff:.1e}':>13} {chk.implementation_error:>9.1e} {chk.max_regret:>9.1e}")
    env = environment(3, 15)          # the ratio of two short times: medians of 5 runs each
    rf = float(np.median([run_rf(env)[2] for _ in range(5)]))
    full = float(np.median([run_full(env)[1] for _ in range(5)]))
    print(f"3×15 medians of 5: reduced form {rf:.4f} s, profile LP {full:.4f} s")
    print(f"RESULT rf_seconds_10x200={out[(10, 200)][0]:.3f} speedup_3x15={full / rf:.1f}")


if __name__ == "__main__":
    main()
