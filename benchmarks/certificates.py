"""Benchmark: solver-free certificate checks (exact rational and rigorous floating bounds).

Multi-period Markov screening (one agent, values 1..n, persistent transitions,
an indivisible good each period, interim participation) — the tree-of-histories
revenue LP (docs/theory.md#revenue-maximisation).  For each size: solve with HiGHS, write the certificate
(JSON, plus .npz when large), then time ``check_certificate`` — which rebuilds
the program from the model data embedded in the certificate, compares
fingerprints, and verifies without any solver:

* ~2,000 rows: exact rational arithmetic (optimal basis re-solved in fmpq, exact
  simplex repair if round-off needs it); target ≤ 10 s.  Case ``exact2000`` is an
  automated auction design LP (two bidders, 26 values, 2,080 rows); case
  ``markov2000`` a 2,040-row dynamic LP with periodic participation; case
  ``exact_dynamic`` a three-type Markov tree over T = 6 periods with short-decimal
  data (probabilities 0.1 … 0.7, discount 0.9) and interim participation: 4,371
  rows.  The dynamic programs are certified exactly because the checker rebuilds
  them from the model's numbers as the fractions they state (node probabilities
  and discount weights over long histories formed exactly), not from their rounded
  floats — the reading under which, before, the exact program was unbounded along
  free payments by round-off;
* ≥ 1e6 rows (two-type Markov screening, T = 18: 1.57 million rows): Neumaier–Shcherbina
  safe bounds with a-priori error bounds and outward rounding; target ≤ 30 s.

Usage: ``python benchmarks/certificates.py [--quick]`` (``--quick`` replaces the
1e6-row case by ~98k rows).  The last line is ``RESULT exact2000_seconds=…
rigorous1e6_seconds=… exact_dynamic_seconds=…``.  Timings on a shared 2-core machine are noisy.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dmd_opt.interfaces.models as io  # noqa: E402
from dmd_opt.certificates import check_certificate  # noqa: E402


def model(n: int, T: int, participation: str = "interim"):
    P = (0.6 * np.eye(n) + 0.4 / n).tolist()
    return io.load({"kind": "revenue", "name": f"Markov screening n={n} T={T}", "horizon": T, "discount": 0.9,
                    "agents": [{"name": "buyer", "types": [float(k) for k in range(1, n + 1)],
                                "initial": [1.0 / n] * n, "transition": P}],
                    "decisions": {"kind": "allocate"}, "solve": {"participation": participation}})


def battaglini_tree(T: int):
    """Battaglini-style two-type Markov buyer (values 1, 2), one good per period, interim IR.

    T = 18 gives 1.57 million rows; HiGHS' presolve solves it (a few simplex
    iterations), so the benchmark spends its time on what it measures.
    """
    return io.load({"kind": "revenue", "name": f"two-type Markov screening T={T}", "horizon": T, "discount": 0.9,
                    "agents": [{"name": "buyer", "types": [1.0, 2.0], "initial": [0.5, 0.5],
                                "transition": [[0.8, 0.2], [0.3, 0.7]]}],
                    "decisions": {"kind": "allocate"}, "solve": {"participation": "interim"}})


def decimal_tree(T: int, participation: str = "interim"):
    """Three-type Markov buyer (values 1, 2, 3), one good per period, short-decimal data."""
    return io.load({"kind": "revenue", "name": f"three-type Markov screening T={T}", "horizon": T, "discount": 0.9,
                    "agents": [{"name": "buyer", "types": [1.0, 2.0, 3.0], "initial": [0.3, 0.4, 0.3],
                                "transition": [[0.7, 0.2, 0.1], [0.2, 0.6, 0.2], [0.1, 0.3, 0.6]]}],
                    "decisions": {"kind": "allocate"}, "solve": {"participation": participation}})


def auction(n: int):
    """Automated auction design (docs/theory.md#revenue-maximisation, T = 1): two bidders, values 1..n uniform, BIC + interim IR."""
    vals = [float(k) for k in range(1, n + 1)]
    return io.load({"kind": "revenue", "name": f"optimal auction, 2 bidders, {n} values", "horizon": 1,
                    "agents": [{"name": f"bidder {i + 1}", "types": vals, "initial": [1.0 / n] * n} for i in range(2)],
                    "decisions": {"kind": "allocate"}, "solve": {"participation": "interim"}})


def run(m, key: str, force: str | None, folder: Path) -> dict:
    t0 = time.perf_counter()
    r = io.solve_model(m, verify=False, selection="none")   # the certificate is the optimum's
    t1 = time.perf_counter()
    path = folder / f"cert_{key}.json"
    r.certificate(path, model=m)
    t2 = time.perf_counter()
    res = check_certificate(path, force=force)
    t3 = time.perf_counter()
    size = sum(f.stat().st_size for f in folder.glob(f"cert_{key}.json*"))
    return {"rows": r.program.n_rows, "cols": r.program.n_vars, "nnz": r.program.matrix().nnz,
            "solve_s": t1 - t0, "write_s": t2 - t1, "check_s": t3 - t2, "ok": res.ok, "method": res.method,
            "verdict": res.verdict, "bytes": size}


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    quick = "--quick" in argv
    cases = [("exact2000", auction(26), None),
             ("markov2000", model(4, 4, "periodic"), None),
             ("exact_dynamic", decimal_tree(6), None),
             ("rigorous1e6", battaglini_tree(14 if quick else 18), "rigorous")]
    out = {}
    print(f"{'case':<12} {'rows':>9} {'cols':>9} {'nnz':>10} {'solve s':>8} {'write s':>8} {'check s':>8} "
          f"{'file MB':>8}  method    ok")
    with tempfile.TemporaryDirectory() as tmp:
        for key, m, force in cases:
            d = run(m, key, force, Path(tmp))
            out[key] = d
            print(f"{key:<12} {d['rows']:>9} {d['cols']:>9} {d['nnz']:>10} {d['solve_s']:>8.2f} {d['write_s']:>8.2f} "
                  f"{d['check_s']:>8.2f} {d['bytes'] / 1e6:>8.2f}  {d['method']:<9} {d['ok']}")
            print(f"{'':<12} verdict: {d['verdict'][:220]}")
    if quick:
        print("(quick run: the rigorous case has ~98k rows, not 1e6)")
    dyn = out["exact_dynamic"]
    if dyn["method"] != "exact":
        print(f"exact_dynamic: verdict {dyn['method']!r}, not exact")
    print(f"RESULT exact2000_seconds={out['exact2000']['check_s']:.2f} "
          f"rigorous1e6_seconds={out['rigorous1e6']['check_s']:.2f} "
          f"exact_dynamic_seconds={dyn['check_s']:.2f}")


if __name__ == "__main__":
    main()
