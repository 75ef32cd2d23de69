"""The malformed-input corpus (tests/malformed.py, ≥ 150 cases over every model kind, plus input
files that are not files and certificates): each is refused with exit code 2 and one line
``error: FIELD: problem`` naming the field, no traceback, in bounded time; the oversized cases
are refused again in a subprocess under a 2 GiB address-space limit (RLIMIT_AS), before
anything large is allocated.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dmd_opt.core import limits as L
from dmd_opt.interfaces.cli import main

from malformed import CASES, MODELS, OVERSIZED, toml_dumps

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"error: (?P<field>.+?): (?P<problem>.+)")


@pytest.fixture(autouse=True)
def _default_limits():
    L.set_limits(L.DEFAULT)
    yield
    L.set_limits(L.DEFAULT)


def _materialise(tmp_path: Path, cid: str, model) -> Path:
    p = tmp_path / f"{cid}.toml"
    if isinstance(model, bytes):
        p.write_bytes(model)
    else:
        p.write_text(toml_dumps(model))
    return p


def run_cli(argv, capsys):
    """``dmd-opt argv`` in this process: (exit code, stdout, stderr, seconds)."""
    t0 = time.perf_counter()
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err, time.perf_counter() - t0


def assert_refused(code, out, err, field, seconds, limit_s=60.0):
    text = out + err
    assert "Traceback" not in text, text
    assert code == 2, (code, text)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    m = LINE.fullmatch(lines[0])
    assert m, lines[0]
    assert m.group("field").strip(), lines[0]                     # a field is always named
    assert field in m.group("field"), (field, lines[0])
    assert seconds < limit_s, (seconds, lines[0])


def test_corpus_is_large_and_covers_every_kind():
    kinds = {cid.split("-")[0] for cid, *_ in CASES}
    assert len(CASES) >= 300 and kinds == {"rev", "eff", "con", "tw", "gh", "rel"}


@pytest.mark.parametrize("cid,model,field,args", CASES, ids=[c[0] for c in CASES])
def test_malformed_model_is_one_named_line(tmp_path, capsys, cid, model, field, args):
    path = _materialise(tmp_path, cid, model)
    code, out, err, s = run_cli(["solve", str(path), *args], capsys)
    assert_refused(code, out, err, field, s)


# ------------------------------------------------------------------ input files that are not files
def _fifo(tmp_path):
    p = tmp_path / "model.fifo"
    os.mkfifo(p)
    return p


def _big(tmp_path):
    p = tmp_path / "big.toml"
    with open(p, "wb") as fh:
        fh.truncate(L.DEFAULT.file_bytes + 1)     # sparse: no disk used
    return p


def _link_to_zero(tmp_path):
    p = tmp_path / "zero.toml"
    os.symlink("/dev/zero", p)
    return p


FILES = {
    "directory": (lambda t: t, "file"),
    "fifo": (_fifo, "file"),
    "dev-zero": (lambda t: Path("/dev/zero"), "file"),
    "dev-null": (lambda t: Path("/dev/null"), "file"),
    "symlink-to-dev-zero": (_link_to_zero, "file"),
    "missing": (lambda t: t / "nope.toml", "file"),
    "too-large": (_big, "file"),
}


@pytest.mark.parametrize("name", sorted(FILES))
@pytest.mark.parametrize("command", ["solve", "verify", "audit", "compare"])
def test_input_that_is_not_a_regular_file(tmp_path, capsys, name, command):
    make, field = FILES[name]
    path = make(tmp_path)
    code, out, err, s = run_cli([command, str(path)], capsys)
    assert_refused(code, out, err, field, s, limit_s=10.0)


def test_limits_from_the_command_line(tmp_path, capsys):
    """--limit lowers (or raises) a limit; a bad --limit is itself a named error."""
    code, out, err, s = run_cli(["--limit", "file_bytes=10", "solve", str(MODELS / "static_monopoly.toml")], capsys)
    assert_refused(code, out, err, "file", s)
    assert "limit file_bytes" in err
    code, out, err, s = run_cli(["--limit", "tree_nodes=2", "solve", str(MODELS / "battaglini.toml")], capsys)
    assert_refused(code, out, err, "horizon", s)
    assert "tree_nodes" in err and "--limit tree_nodes" in err
    for bad in ("memory", "memory=lots", "nodes=5", "memory=-1"):
        code, out, err, s = run_cli(["--limit", bad, "solve", str(MODELS / "static_monopoly.toml")], capsys)
        assert_refused(code, out, err, "limit", s)


# ------------------------------------------------------------------ certificates
def _cert(tmp_path) -> dict:
    import dmd_opt.interfaces.models as io
    m = io.load(MODELS / "static_monopoly.toml")
    r = io.solve_model(m, verify=False)
    path = tmp_path / "made.json"
    r.certificate(path, model=m)
    return json.loads(path.read_text())


def _cert_cases(cert: dict) -> dict:
    import copy

    def edit(fn):
        c = copy.deepcopy(cert)
        fn(c)
        return json.dumps(c).encode()

    text = json.dumps(cert)
    return {
        "truncated": (text[: len(text) // 3].encode(), "certificate"),
        "not-json": (b"certificate", "certificate"),
        "nan-token": (text.replace('"objective": ', '"objective": NaN, "x": ', 1).encode(), "certificate"),
        "deep-nesting": (b"[" * 50_000 + b"]" * 50_000, "certificate"),
        "not-utf8": (b"\xff\xfe{}", "certificate"),
        "unknown-key": (edit(lambda c: c.__setitem__("run", "rm -rf /")), "certificate.run"),
        "col-status-300": (edit(lambda c: c["arrays"]["values"]["col_status"].__setitem__(0, 300)),
                           "certificate.arrays.col_status"),
        "x-string": (edit(lambda c: c["arrays"]["values"]["x"].__setitem__(0, "1")), "certificate.arrays.x"),
        "x-bool": (edit(lambda c: c["arrays"]["values"]["x"].__setitem__(0, False)), "certificate.arrays.x"),
        "traversal": (edit(lambda c: c.__setitem__("arrays", {"storage": "npz", "file": "../../../etc/passwd",
                                                              "sha256": "0" * 64})), "certificate.arrays.file"),
        "device": (edit(lambda c: c.__setitem__("arrays", {"storage": "npz", "file": "/dev/zero",
                                                           "sha256": "0" * 64})), "certificate.arrays.file"),
        "absolute-model-path": (edit(lambda c: c["model"].__setitem__("path", "/home/a/m.toml")),
                                "certificate.model.path"),
        "version-2": (edit(lambda c: c.__setitem__("version", 2)), "certificate.version"),
        "format": (edit(lambda c: c.__setitem__("format", "pickle")), "certificate.format"),
        "rows-huge": (edit(lambda c: c["program"].__setitem__("rows", 10 ** 18)), "certificate.program.rows"),
        "fingerprint-short": (edit(lambda c: c["program"].__setitem__("fingerprint", "abc")),
                              "certificate.program.fingerprint"),
        "solver-option-in-options": (edit(lambda c: c["model"]["options"].__setitem__("options", {"log_file": "x"})),
                                     "certificate.model.options.options"),
        "bad-participation": (edit(lambda c: c["model"]["options"].__setitem__("participation", 7)),
                              "certificate.model.options.participation"),
    }


def test_malformed_certificates_are_one_named_line(tmp_path, capsys):
    cert = _cert(tmp_path)
    cases = _cert_cases(cert)
    assert len(cases) >= 15
    good = tmp_path / "good.json"
    good.write_text(json.dumps(cert))
    code, out, err, _ = run_cli(["check", str(good)], capsys)
    assert code == 0, out + err
    for name, (body, field) in cases.items():
        p = tmp_path / f"{name}.json"
        p.write_bytes(body)
        code, out, err, s = run_cli(["check", str(p)], capsys)
        assert_refused(code, out, err, field, s)
    for name in ("directory", "fifo", "dev-zero", "dev-null", "missing", "symlink-to-dev-zero"):
        d = tmp_path / f"f-{name}"
        d.mkdir()
        code, out, err, s = run_cli(["check", str(FILES[name][0](d))], capsys)
        assert_refused(code, out, err, "certificate", s, limit_s=10.0)
    code, out, err, s = run_cli(["--limit", "certificate_bytes=1000", "check", str(good)], capsys)
    assert_refused(code, out, err, "certificate", s)


# ------------------------------------------------------------------ oversized, under a memory limit
_CHILD = r"""
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))
sys.path.insert(0, {tests!r})
from dmd_opt.interfaces.cli import main
import contextlib, io
out = []
for cid, path in json.loads(sys.argv[1]):
    err = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(["solve", path])
            code = 0
        except SystemExit as exc:
            code = exc.code
    out.append({{"cid": cid, "code": code, "err": err.getvalue(), "seconds": time.perf_counter() - t0,
                "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}})
print(json.dumps(out))
"""


def test_oversized_models_are_refused_under_a_memory_limit(tmp_path):
    by_id = {cid: (model, field) for cid, model, field, _ in CASES}
    jobs = []
    for cid in OVERSIZED:
        model, _ = by_id[cid]
        jobs.append((cid, str(_materialise(tmp_path, cid, model))))
    p = subprocess.run([sys.executable, "-c", _CHILD.format(tests=str(ROOT / "tests")), json.dumps(jobs)],
                       capture_output=True, text=True, timeout=600, cwd=str(ROOT))
    assert p.returncode == 0, p.stderr[-3000:]
    results = json.loads(p.stdout.strip().splitlines()[-1])
    assert len(results) == len(OVERSIZED)
    for r in results:
        field = by_id[r["cid"]][1]
        assert_refused(r["code"], "", r["err"], field, r["seconds"], limit_s=30.0)
    # nothing large was allocated: the child stayed far below its 2 GiB address space
    assert max(r["maxrss_kib"] for r in results) < 1.5 * 2 ** 20
