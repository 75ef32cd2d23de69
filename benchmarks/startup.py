"""Start-up: a cold ``dmd-opt solve models/static_monopoly.toml`` against the bare imports it needs.

The baseline is a fresh interpreter running ``import numpy, scipy.sparse, highspy,
pandas`` — the libraries a solve cannot do without, plus pandas.  The CLI run is a
fresh ``dmd-opt solve`` of the shipped static monopoly model (a 4-row LP), human
output to a pipe.  The two are run alternately (baseline, CLI, baseline, CLI, …) so
that load from other jobs on the machine hits both alike; each figure is the median
of ``--runs`` runs, after one untimed run of each to warm the file cache.

A last check runs the same solve inside one interpreter and lists which optional
heavy libraries it imported (cvxpy, pyomo, dask, matplotlib, pandas, …): a HiGHS
solve should import none of them.

Usage: python benchmarks/startup.py [--runs 5] [--model models/static_monopoly.toml]
Last line: ``RESULT startup_ratio=<median CLI / median baseline> cli_s=… baseline_s=…``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "import numpy, scipy.sparse, highspy, pandas"
HEAVY = ("cvxpy", "pyomo", "dask", "distributed", "matplotlib", "pandas", "clarabel", "scs", "osqp",
         "flint", "quantecon", "jinja2", "scipy.stats", "scipy.optimize", "scipy.sparse.linalg")


def _cli(model: str) -> list[str]:
    script = Path(sys.executable).with_name("dmd-opt")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "dmd_opt.interfaces.cli"]
    return head + ["solve", model]


def _time(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr}")
    return dt


def heavy_imports(model: str) -> list[str]:
    """The optional heavy modules a solve imports (run in a fresh interpreter)."""
    code = (
        "import sys, io, contextlib, json\n"
        "from dmd_opt.interfaces.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main(['solve', {model!r}])\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--model", default="models/static_monopoly.toml")
    args = ap.parse_args()
    base_cmd = [sys.executable, "-c", BASELINE]
    cli_cmd = _cli(args.model)
    _time(base_cmd)
    _time(cli_cmd)                                   # warm the file cache, untimed
    rows = []
    for k in range(args.runs):
        b = _time(base_cmd)
        c = _time(cli_cmd)
        rows.append((k + 1, b, c))
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"baseline: python -c {BASELINE!r}")
    print(f"cli:      {' '.join(Path(p).name if i == 0 else p for i, p in enumerate(cli_cmd))}")
    print(f"{'run':>3s} {'baseline_s':>10s} {'cli_s':>8s} {'ratio':>6s}")
    for k, b, c in rows:
        print(f"{k:3d} {b:10.3f} {c:8.3f} {c / b:6.2f}")
    mb = statistics.median(r[1] for r in rows)
    mc = statistics.median(r[2] for r in rows)
    print(f"{'med':>3s} {mb:10.3f} {mc:8.3f} {mc / mb:6.2f}")
    heavy = heavy_imports(args.model)
    print("optional heavy libraries imported by the solve:", ", ".join(heavy) if heavy else "none")
    print(f"RESULT startup_ratio={mc / mb:.3f} cli_s={mc:.3f} baseline_s={mb:.3f}")


if __name__ == "__main__":
    main()
