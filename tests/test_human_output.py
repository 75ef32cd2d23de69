"""What people read: numbers without round-off noise, one counting convention, no Python reprs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from dmd_opt.core.display import clean, fmt, fmt_list, fmt_mapping
from dmd_opt.interfaces import cli

MODELS = Path(__file__).resolve().parents[1] / "models"
runner = CliRunner()
NOISE = re.compile(r"(?<![\w.])-?\d(?:\.\d+)?e-(?:1[3-9]|[2-9]\d)\b|(?<![\w.])-0(?:\.0+)?(?![\w.])")


def out(*args) -> str:
    r = runner.invoke(cli.app, [str(a) for a in args], env={"COLUMNS": "200"})
    assert r.exit_code in (0, 1, 3), r.output
    return r.output


def test_fmt_rules():
    assert fmt(-5.551115123125783e-16) == "0" and fmt(-0.0) == "0" and fmt(2.220446049250313e-16) == "0"
    assert fmt(2.6645e-15, scale=None) == "2.6645e-15" and fmt(1e-9) == "1e-09"
    assert fmt(3e-11, scale=100) == "0" and fmt(3e-9, scale=100) == "3e-09"
    assert fmt(np.array([1.0, 2.0])) == "1, 2" and fmt_list([0.5, -1e-17]) == "0.5, 0"
    assert fmt_mapping({"kind": "crra", "sigma": 1.0, "subsistence": 0.0}) == "crra, sigma 1, subsistence 0"
    assert clean(float("inf")) == float("inf") and fmt(float("nan")) == "—"


@pytest.mark.parametrize("args", [("solve", "battaglini"), ("verify", "battaglini"), ("solve", "handicap_auction"),
                                  ("verify", "handicap_auction"), ("solve", "liu_spanning"),
                                  ("verify", "athey_segal_trade"), ("audit", "battaglini"),
                                  ("compare", "battaglini", "--efficient", "none")])
def test_no_round_off_noise_in_tables(args):
    text = out(args[0], MODELS / f"{args[1]}.toml", *args[2:])
    assert not NOISE.search(text), NOISE.search(text).group(0)


def test_no_python_reprs():
    text = out("solve", MODELS / "thomas_worrall.toml")
    assert "{'" not in text and "[1. 2.]" not in text and "array(" not in text
    assert "utility crra, sigma 1" in text and "income 1, 2" in text
    assert "income 1 claims 2" in text                      # incomes by their values, not 0-based indices


def test_agents_and_periods_count_from_one():
    text = out("audit", MODELS / "handicap_auction.toml")
    assert "agent 1" in text and "agent 2" in text and "agent 0" not in text
    assert "type 0 " not in text and "history 0" not in text
    alloc = out("solve", MODELS / "handicap_auction.toml")
    assert "sell to agent 1" in alloc and "period 1" in alloc


def test_sweep_table_is_clean(capsys):
    df = pd.DataFrame({"discount": [0.5, 0.9], "ok": [True, True], "status": ["optimal", "optimal"],
                       "objective": [1.0, -0.0], "max_regret": [2.6645352591003757e-15, 0.25]})
    cli._print_sweep(df, ["discount"], None)
    text = capsys.readouterr().out
    assert "2.66454" not in text and "…" not in text and "-0" not in text and "0.25" in text
