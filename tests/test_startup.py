"""Optional heavy libraries are imported only when used (no timing here: see benchmarks/startup.py).

Each check runs in a fresh interpreter, so what an earlier test imported does not count.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("cvxpy", "pyomo", "dask", "distributed", "matplotlib", "pandas", "clarabel", "quantecon",
         "threadpoolctl")


def _imported_after(code: str, modules=HEAVY) -> list[str]:
    prog = (code + "\nimport sys, json\n"
            f"print(json.dumps(sorted(m for m in {tuple(modules)!r} if m in sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", prog], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cli_solve_with_highs_imports_no_optional_library():
    code = ("import io, contextlib\nfrom dmd_opt.interfaces.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main(['solve', 'models/static_monopoly.toml', '--json'])\n"
            "    except SystemExit as e:\n        assert e.code in (0, None), e.code\n")
    assert _imported_after(code) == []


def test_sweep_point_imports_no_optional_library():
    """What a sweep worker runs for one point (a HiGHS solve) imports no other backend."""
    code = ("from dmd_opt.interfaces.models import read_toml\n"
            "from dmd_opt.interfaces.sweep import run_point\n"
            "r = run_point(read_toml('models/battaglini.toml'), {'discount': 0.5})\n"
            "assert r['ok'], r\n")
    assert _imported_after(code) == []


def test_backends_import_their_library_when_asked():
    got = _imported_after("from dmd_opt.solvers import get_backend\nget_backend('cvxpy'); get_backend('pyomo')")
    assert "cvxpy" in got and "pyomo" in got


def test_dense_policy_iteration_needs_no_sparse_linalg():
    code = ("import numpy as np\nfrom dmd_opt.dp import mdp\n"
            "P = np.full((3, 2, 3), 1/3)\nR = np.arange(6.).reshape(3, 2)\n"
            "mdp.policy_iteration(R, P, 0.9)\n")
    assert _imported_after(code, ("scipy.sparse.linalg", "cvxpy", "pyomo", "pandas")) == []
