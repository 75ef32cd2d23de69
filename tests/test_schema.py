"""Every command's JSON on every shipped model validates against docs/result.schema.json,
the schema file docs/cli.md names; the record head is the same for every kind."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")

from typer.testing import CliRunner  # noqa: E402

from dmd_opt.core import record as R  # noqa: E402
from dmd_opt.interfaces import cli  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted((ROOT / "models").glob("*.toml"))
SCHEMA = json.loads((ROOT / R.SCHEMA_FILE).read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
HEAD = set(SCHEMA["required"])
runner = CliRunner()
_cache: dict = {}


@pytest.fixture(autouse=True)
def _memo_solve(monkeypatch):
    """The commands re-solve the same model; solve each (file, options) once (a real solve)."""
    real = cli._solve

    def solve(file, **over):
        key = (str(file), tuple(sorted((k, str(v)) for k, v in over.items())))
        if key not in _cache:
            _cache[key] = real(file, **over)
        return _cache[key]
    monkeypatch.setattr(cli, "_solve", solve)


def _valid(data: dict, command: str) -> None:
    errors = sorted(VALIDATOR.iter_errors(data), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message[:300]}" for e in errors[:5])
    assert data["command"] == command and data["schema_version"] == R.SCHEMA_VERSION
    assert HEAD <= set(data)


def _json(*args) -> tuple[int, dict]:
    r = runner.invoke(cli.app, [str(a) for a in args])
    assert "Traceback" not in r.output
    try:
        return r.exit_code, json.loads(r.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"{args}: exit {r.exit_code}, not JSON: {r.output[-500:]}")


def test_schema_is_a_valid_json_schema_and_documented():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["required"][:2] == ["schema_version", "command"]
    assert set(R.HEAD) == HEAD
    assert SCHEMA["properties"]["schema_version"]["const"] == R.SCHEMA_VERSION
    assert list(SCHEMA["properties"]["command"]["enum"]) == list(R.COMMANDS)
    doc = (ROOT / "docs" / "cli.md").read_text()
    assert R.SCHEMA_FILE.split("/")[-1] in doc and re.search(r"\]\((?:\./)?result\.schema\.json\)", doc)


@pytest.mark.parametrize("model", MODELS, ids=[m.stem for m in MODELS])
def test_solve_verify_audit_json(model):
    code, data = _json("solve", model, "--json")
    _valid(data, "solve")
    assert data["model"]["file"] == str(model)
    assert code == {"optimal": 0, "infeasible": 3}.get(data["status"], 1)
    if data["verification"] is None:                   # nothing to verify: refused with one line
        r = runner.invoke(cli.app, ["verify", str(model), "--json"])
        assert r.exit_code != 0 and "no mechanism to verify" in r.output and "Traceback" not in r.output
    else:
        code, ver = _json("verify", model, "--json")
        _valid(ver, "verify")
        assert code == (0 if ver["verification"]["passed"] else 1)
        assert ver["objective"] == data["objective"] and ver["kind"] == data["kind"]
    r = runner.invoke(cli.app, ["audit", str(model), "--json"])
    if r.exit_code == 2:           # no LP behind this result (efficient; VCG-type transfers): refused
        assert "audit" in r.output and "Traceback" not in r.output
    else:
        aud = json.loads(r.stdout)
        _valid(aud, "audit")
        assert r.exit_code == code and aud["status"] == data["status"] and aud["audit"]["summary"]


@pytest.mark.parametrize("model", [m for m in MODELS if m.stem in
                                   ("static_monopoly", "battaglini", "handicap_auction", "athey_segal_trade",
                                    "bilateral_trade_impossible", "mussa_rosen_2")],
                         ids=lambda m: m.stem)
def test_compare_json(model):
    code, data = _json("compare", model, "--json")
    _valid(data, "compare")
    assert code == (3 if data["status"] == "infeasible" else 0)
    regrets = data["verification"]["by_mechanism"]
    assert data["verification"]["max_regret"] == pytest.approx(max(regrets.values()))
    assert {r["mechanism"] for r in data["mechanisms"]} >= set(regrets)


def test_compare_every_environment_model():
    """compare accepts every finite-horizon environment model; the others are refused (exit 2)."""
    from dmd_opt.interfaces.models import load
    for model in MODELS:
        m = load(model)
        env = getattr(m.data, "env", None) or m.data          # persistent types: a JointModel of its own
        finite = m.kind in ("revenue", "efficient") and getattr(env, "horizon", None) is not None
        if finite and model.stem not in ("athey_segal_trade",):
            continue                                # covered above or by the cheaper loop below
        if m.kind == "relational":                  # commitment vs relational: tests/test_relational_cli.py
            continue
        r = runner.invoke(cli.app, ["compare", str(model), "--json", "--efficient", "none",
                                    "--participation", "interim"])
        if finite:
            _valid(json.loads(r.stdout), "compare")
        else:
            assert r.exit_code == 2 and "Traceback" not in r.output


def test_check_json(tmp_path):
    cert = tmp_path / "cert.json"
    code, data = _json("solve", ROOT / "models" / "static_monopoly.toml", "--certificate", cert, "--json")
    assert code == 0 and data["certificate"] == str(cert)
    code, chk = _json("check", cert, "--json")
    _valid(chk, "check")
    assert code == 0 and chk["verification"]["passed"] is True and chk["kind"] == "revenue"
    assert chk["objective"] == pytest.approx(4 / 3) and chk["certificate"]["file"] == str(cert)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "nonsense"}))
    code, chk = _json("check", bad, "--json")
    _valid(chk, "check")
    # not readable as a certificate: bad input (exit 2), the record still printed with --json
    assert code == 2 and chk["verification"]["passed"] is False and chk["message"]


def test_sweep_json():
    code, data = _json("sweep", ROOT / "models" / "static_monopoly.toml", "--param", "delta=0.5,0.9",
                       "--threads", "--workers", "1", "--json", "--no-progress")
    _valid(data, "sweep")
    assert code == 0 and data["failed"] == 0 and len(data["points"]) == 2 and data["kind"] == "revenue"


def test_builder_rejects_head_clashes_and_unknown_commands():
    with pytest.raises(ValueError, match="head fields"):
        R.result_record("revenue", "optimal", 1.0, schema_version="0")
    with pytest.raises(ValueError, match="command"):
        R.result_record("revenue", "optimal", 1.0, command="plot")
    rec = R.result_record("new_kind", "optimal", float("nan"), mechanism={"rules": []}, model="m")
    _valid(rec, "solve")
    assert rec["objective"] is None and rec["mechanism"]["name"] == "" and rec["model"] == {"name": "m"}
    bad = dict(rec, schema_version="0.9")
    assert list(VALIDATOR.iter_errors(bad))
