"""The command line on relational models: solve (plots, certificate), check, verify, audit, compare."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dmd_opt.interfaces import cli

runner = CliRunner()

SMALL = """kind = "relational"
name = "small_trust"
delta = 0.5
[lmp]
variant = "trust"
B = 2.0
b = 1.0
p = 0.3
[grid]
n = 21
[solve]
simulate_periods = 40
simulate_paths = 500
"""


@pytest.fixture
def small(tmp_path):
    f = tmp_path / "small.toml"
    f.write_text(SMALL)
    return f


def test_solve_plot_certificate_check(small, tmp_path):
    cert = tmp_path / "c.json"
    r = runner.invoke(cli.app, ["solve", str(small), "--plot", str(tmp_path / "plots"), "--certificate", str(cert),
                                "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["kind"] == "relational" and data["verification"]["passed"] is True
    assert data["dynamics"]["absorbing_shares"]
    assert len(data["plots"]) == 4 and all((tmp_path / "plots").joinpath(p.split("/")[-1]).exists()
                                           for p in data["plots"])
    r = runner.invoke(cli.app, ["check", str(cert)])
    assert r.exit_code == 0 and "optimal" in r.output
    # a tampered continuation set no longer matches the certified program
    c = json.loads(cert.read_text())
    c["model"]["options"]["continuation_set"]["upper"][3] += 0.01
    cert.write_text(json.dumps(c))
    assert runner.invoke(cli.app, ["check", str(cert)]).exit_code != 0


def test_verify_and_audit(small):
    r = runner.invoke(cli.app, ["verify", str(small)])
    assert r.exit_code == 0 and "PASSED" in r.output
    r = runner.invoke(cli.app, ["audit", str(small), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["audit"]["summary"]


def test_compare_shows_both(small, tmp_path):
    r = runner.invoke(cli.app, ["compare", str(small), "--json", "--plot", str(tmp_path / "cmp")])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert [m["mechanism"] for m in data["mechanisms"]] == ["relational", "commitment"]
    assert data["cost_of_non_commitment"] >= -1e-9
    r = runner.invoke(cli.app, ["compare", str(small)])
    assert "cost of non-commitment" in r.output


def test_bad_model_is_one_line(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text(SMALL.replace("p = 0.3", "p = 1.5"))
    r = runner.invoke(cli.app, ["solve", str(f)])
    assert r.exit_code == 2 and "lmp.p" in r.output and "Traceback" not in r.output
