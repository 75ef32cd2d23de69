"""The ``dmd-opt`` command line end to end: typer's runner and a real subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from dmd_opt.interfaces.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def dmd_opt_cmd():
    exe = Path(sys.executable).parent / "dmd-opt"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "dmd_opt.interfaces.cli"]


def run(*args, timeout=120):
    env = dict(os.environ, MPLBACKEND="Agg", COLUMNS="200")
    return subprocess.run(dmd_opt_cmd() + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def test_help_lists_every_command():
    r = invoke("--help")
    assert r.exit_code == 0
    for cmd in ("solve", "verify", "audit", "check", "compare", "sweep"):
        assert cmd in r.output
    assert "dmd-opt sweep" in r.output                           # examples in the help
    for cmd in ("compare", "sweep"):
        assert invoke(cmd, "--help").exit_code == 0


def test_solve_json(models_dir):
    r = invoke("solve", models_dir / "static_monopoly.toml", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["status"] == "optimal" and data["revenue"] == pytest.approx(4 / 3)


def test_solve_method_cg(models_dir):
    """``--method cg`` reaches constraint generation: the same revenue as the full LP
    (Battaglini's two-type model), with the rounds reported; a bad method is named."""
    full = json.loads(invoke("solve", models_dir / "battaglini.toml", "--json").stdout)
    r = invoke("solve", models_dir / "battaglini.toml", "--method", "cg", "--json")
    assert r.exit_code == 0, r.output
    cg = json.loads(r.stdout)
    assert cg["revenue"] == pytest.approx(full["revenue"], rel=1e-9)
    r = invoke("solve", models_dir / "battaglini.toml", "--method", "cg")
    assert "constraint generation: 1 round, 14 of 14 IC rows" in r.output
    r = invoke("solve", models_dir / "battaglini.toml", "--method", "fast")
    assert r.exit_code == 2 and "method" in r.output and "'cg'" in r.output


def test_error_paths(models_dir, tmp_path):
    r = invoke("solve", tmp_path / "nope.toml")
    assert r.exit_code == 2 and "does not exist" in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text('horizon = 1\n[[agents]]\ntypes = [1, 2]\ninitial = [0.5, 0.7]\n[decisions]\nkind = "allocate"\n')
    r = invoke("solve", bad)
    assert r.exit_code == 2 and "agents[0].initial" in r.output and "Traceback" not in r.output
    r = invoke("compare", bad)
    assert r.exit_code == 2 and "agents[0].initial" in r.output
    r = invoke("sweep", bad, "--param", "delta=0.5:0.9:3", "--threads", "--no-progress")
    assert r.exit_code == 2 and "agents[0].initial" in r.output
    r = invoke("solve", models_dir / "bilateral_trade_impossible.toml")
    assert r.exit_code == 3                                      # infeasible: a definite answer
    r = invoke("compare", models_dir / "static_monopoly.toml", "--participation", "sometimes")
    assert r.exit_code == 2 and "participation" in r.output
    r = invoke("sweep", models_dir / "static_monopoly.toml", "--param", "delta")
    assert r.exit_code == 2 and "NAME=VALUES" in r.output


def test_verify_and_compare(models_dir, tmp_path):
    r = invoke("verify", models_dir / "battaglini.toml", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["verification"]["passed"] is True
    r = invoke("compare", models_dir / "battaglini.toml", "--efficient", "none", "--json",
               "--plot", tmp_path / "plots", "--output", tmp_path / "cmp.json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    rows = {m["mechanism"]: m for m in data["mechanisms"]}
    assert rows["optimal (interim)"]["revenue"] == pytest.approx(2.742712890625, abs=1e-6)
    assert rows["optimal (ex_ante)"]["deadweight_loss"] == pytest.approx(0, abs=1e-6)
    assert data["plots"] and all(Path(p).exists() for p in data["plots"])
    assert json.loads((tmp_path / "cmp.json").read_text())["first_best"] == pytest.approx(data["first_best"])
    r = invoke("compare", models_dir / "static_monopoly.toml", "--participation", "interim")
    assert r.exit_code == 0 and "revenue, welfare and rents" in r.output and "1.33333" in r.output
    r = invoke("compare", models_dir / "static_monopoly.toml", "--participation", "interim", "--efficient", "none",
               "--frontier", "3", "--json", "--plot", tmp_path / "fr")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    front = data["frontier"]["frontier"]
    assert len(front) == 3 and all(abs(p["welfare"] - (3 - p["revenue"])) < 1e-7 for p in front)
    assert any(p.endswith("frontier.png") for p in data["plots"])


def test_compare_truncates_stationary_models(models_dir):
    pytest.importorskip("dmd_opt.families.efficient")
    r = invoke("compare", models_dir / "repeated_auction_markov.toml", "--json")
    assert r.exit_code == 2 and "horizon" in r.output               # infinite horizon: no tree
    r = invoke("compare", models_dir / "repeated_auction_markov.toml", "--horizon", "2", "--participation",
               "ex_ante,interim", "--efficient", "pivot", "--json")
    assert r.exit_code == 0, r.output
    rows = {m["mechanism"]: m for m in json.loads(r.stdout)["mechanisms"]}
    # ex ante: full surplus extraction; pivot: efficient, so no deadweight loss
    assert rows["optimal (ex_ante)"]["revenue"] == pytest.approx(rows["pivot"]["welfare"], abs=1e-7)
    assert abs(rows["pivot"]["deadweight_loss"]) < 1e-9


def test_sweep_json_records_failure(models_dir, tmp_path):
    out = tmp_path / "s.parquet"
    r = invoke("sweep", models_dir / "static_monopoly.toml", "--param", "solve.participation=interim,ex_ante,often",
               "--threads", "--workers", "1", "--json", "--out", out)
    assert r.exit_code == 1                                      # one point failed
    data = json.loads(r.stdout)
    assert data["failed"] == 1 and len(data["points"]) == 3
    failed = [p for p in data["points"] if not p["ok"]][0]
    assert failed["solve.participation"] == "often" and "participation" in failed["error"]
    assert pd.read_parquet(out)["ok"].sum() == 2


@pytest.mark.parametrize("cmd", ["audit", "check"])
def test_lead_commands_reachable(models_dir, tmp_path, cmd):
    if cmd == "audit":
        pytest.importorskip("dmd_opt.audit.binding")
        r = invoke("audit", models_dir / "static_monopoly.toml", "--json")
        assert r.exit_code == 0, r.output
        json.loads(r.stdout)
    else:
        r = invoke("check", tmp_path / "missing.json")
        assert r.exit_code in (1, 2) and "Traceback" not in r.output


def test_subprocess_end_to_end(models_dir, tmp_path):
    r = run("solve", "models/static_monopoly.toml", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["revenue"] == pytest.approx(4 / 3)
    r = run("solve", "models/does_not_exist.toml")
    assert r.returncode == 2 and r.stderr.startswith("error:") and "Traceback" not in r.stderr
    r = run("solve", "models/bilateral_trade_impossible.toml", "--json")
    assert r.returncode == 3 and json.loads(r.stdout)["status"] == "infeasible"
    # a real LocalCluster with a worker process (pickling, imports on the worker)
    out = tmp_path / "sweep.parquet"
    r = run("sweep", "models/battaglini.toml", "--param", "delta=0.5:0.9:3", "--workers", "1", "--out", out,
            timeout=300)
    assert r.returncode == 0, r.stderr
    df = pd.read_parquet(out)
    assert list(df["discount"]) == pytest.approx([0.5, 0.7, 0.9]) and df["ok"].all()


@pytest.mark.parametrize("args, named", [
    (["solve", "MODEL", "--ic", "dominant"], "--ic"),
    (["solve", "MODEL", "--no-such-flag"], "--no-such-flag"),
    (["solve"], "FILE"),
    (["no-such-command"], "no-such-command"),
])
def test_bad_flags_are_one_line_naming_them(models_dir, args, named):
    """A mistyped flag, value or command: exit 2 and one line on stderr that names it (no usage box)."""
    args = [str(models_dir / "static_monopoly.toml") if a == "MODEL" else a for a in args]
    r = run(*args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and lines[0].startswith("error: "), r.stderr
