"""Certificates are untrusted data: tampering in ≥ 30 ways (signs, bounds, options, paths, sizes,
types, truncation).  Every tamper that changes the claim fails the check; none crashes; those
that make the file unreadable as a certificate are named-field errors (exit 2 on the command line).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import dmd_opt.interfaces.models as io
from dmd_opt.certificates import check_certificate, write_certificate
from dmd_opt.core.errors import ModelError

from conftest import MODELS


@pytest.fixture(scope="module")
def monopoly(tmp_path_factory):
    """An exact LP certificate (static monopoly: optimum 4/3) as a dict, and its program."""
    d = tmp_path_factory.mktemp("mono")
    m = io.load(MODELS / "static_monopoly.toml")
    r = io.solve_model(m, verify=False)
    path = d / "cert.json"
    r.certificate(path, model=m)
    return json.loads(path.read_text()), r.program


@pytest.fixture(scope="module")
def farkas(tmp_path_factory):
    d = tmp_path_factory.mktemp("farkas")
    m = io.load(MODELS / "bilateral_trade_impossible.toml")
    r = io.solve_model(m, verify=False)
    path = d / "cert.json"
    r.certificate(path, model=m)
    return json.loads(path.read_text()), r.program


@pytest.fixture(scope="module")
def npz_cert(tmp_path_factory):
    """A certificate whose arrays sit in an .npz file next to it."""
    d = tmp_path_factory.mktemp("npz")
    m = io.load(MODELS / "static_monopoly.toml")
    r = io.solve_model(m, verify=False)
    path = d / "cert.json"
    write_certificate(path, r.program, r.solution, model=m, options=r.certificate()["model"]["options"],
                      inline_limit=5)
    return d, path


def _wrong_sign_row(prog, cert):
    """A one-sided row and the dual value whose sign that row cannot carry (program convention)."""
    sgn = 1.0 if prog.sense == "min" else -1.0
    rl, ru = prog.row_lower, prog.row_upper
    for r in range(prog.n_rows):
        if np.isneginf(rl[r]) and np.isfinite(ru[r]):
            return r, sgn * 1.0          # min-form y > 0 needs a finite lower bound
        if np.isposinf(ru[r]) and np.isfinite(rl[r]):
            return r, -sgn * 1.0
    raise AssertionError("no one-sided row")


def _flip_sign_of_active_dual(prog, cert):
    y = np.asarray(cert["arrays"]["values"]["row_dual"], float)
    rl, ru = prog.row_lower, prog.row_upper
    for r in np.argsort(-np.abs(y)):
        if y[r] != 0 and (np.isinf(rl[r]) or np.isinf(ru[r])):
            return int(r)
    raise AssertionError("no active one-sided row")


def _payment_index(prog):
    return prog.block_slice("p").start


def _basic_column(cert):
    cs = cert["arrays"]["values"]["col_status"]
    return next(j for j, v in enumerate(cs) if v == 1)


def _set(path_keys, value):
    def f(c, prog):
        node = c
        for k in path_keys[:-1]:
            node = node[k]
        node[path_keys[-1]] = value
    return f


def _arr(name, fn):
    def f(c, prog):
        a = c["arrays"]["values"][name]
        fn(a, c, prog)
    return f


def _flip_digit(v):
    s = repr(float(v))
    i = next(k for k, ch in enumerate(s) if ch in "123456789")
    return float(s[:i] + ("2" if s[i] == "1" else "1") + s[i + 1:])


# name -> tamper(cert dict, program) editing the dict in place
TAMPERS = {
    # signs and values of the claim
    "row_dual: flip a digit of the largest": _arr("row_dual", lambda a, c, p: a.__setitem__(
        int(np.argmax(np.abs(a))), _flip_digit(a[int(np.argmax(np.abs(a)))]))),
    "row_dual: wrong sign on an active one-sided row": lambda c, p: c["arrays"]["values"]["row_dual"].__setitem__(
        _flip_sign_of_active_dual(p, c), -c["arrays"]["values"]["row_dual"][_flip_sign_of_active_dual(p, c)]),
    "row_dual: wrong-signed multiplier on an idle row": lambda c, p: c["arrays"]["values"]["row_dual"].__setitem__(
        *_wrong_sign_row(p, c)),
    "row_dual: all zero": _arr("row_dual", lambda a, c, p: a.__setitem__(slice(None), [0.0] * len(a))),
    "col_dual: changed entry": _arr("col_dual", lambda a, c, p: a.__setitem__(0, a[0] + 0.5)),
    "col_dual: sign flipped": _arr("col_dual", lambda a, c, p: a.__setitem__(
        int(np.argmax(np.abs(a))), -a[int(np.argmax(np.abs(a)))])),
    "x: payment changed": lambda c, p: c["arrays"]["values"]["x"].__setitem__(
        _payment_index(p), c["arrays"]["values"]["x"][_payment_index(p)] + 0.25),
    "x: allocation out of bounds": _arr("x", lambda a, c, p: a.__setitem__(0, 1.5)),
    "row_activity: changed": _arr("row_activity", lambda a, c, p: a.__setitem__(0, a[0] + 1.0)),
    "objective: raised": lambda c, p: c.__setitem__("objective", c["objective"] + 0.1),
    "objective: removed": _set(["objective"], None),
    "bound: changed": lambda c, p: c.__setitem__("bound", c["bound"] + 0.1),
    # status and basis
    "status: infeasible": _set(["status"], "infeasible"),
    "status: unbounded": _set(["status"], "unbounded"),
    "col_status: out of int8 range": _arr("col_status", lambda a, c, p: a.__setitem__(0, 300)),
    "row_status: negative code": _arr("row_status", lambda a, c, p: a.__setitem__(0, -1)),
    # options and model data
    "model.options: ex_ante": _set(["model", "options", "participation"], "ex_ante"),
    "model.options: a file-writing solver option": _set(["model", "options", "options"], {"log_file": "/tmp/x"}),
    "model.data: a type value": lambda c, p: c["model"]["data"]["agents"][0]["types"].__setitem__(2, 4.0),
    "model.fingerprint: changed": lambda c, p: c["model"].__setitem__("fingerprint", "0" * 64),
    "program.fingerprint: changed": lambda c, p: c["program"].__setitem__("fingerprint", "f" * 64),
    "program.sense: flipped": _set(["program", "sense"], "min"),
    "program.families: changed": lambda c, p: c["program"]["families"].__setitem__("IC", 1),
    # sizes
    "program.rows: claims more rows": lambda c, p: c["program"].__setitem__("rows", c["program"]["rows"] + 1),
    "program.columns: huge": _set(["program", "columns"], 10 ** 15),
    "x: truncated": _arr("x", lambda a, c, p: a.pop()),
    "row_dual: one entry too many": _arr("row_dual", lambda a, c, p: a.append(0.0)),
    # paths
    "arrays.file: path traversal": _set(["arrays"], {"storage": "npz", "file": "../../etc/passwd",
                                                     "sha256": "0" * 64}),
    "arrays.file: absolute device": _set(["arrays"], {"storage": "npz", "file": "/dev/zero", "sha256": "0" * 64}),
    "model.path: absolute path": _set(["model", "path"], "/home/someone/model.toml"),
    # types
    "x: a string": _arr("x", lambda a, c, p: a.__setitem__(0, "1.0")),
    "x: a boolean": _arr("x", lambda a, c, p: a.__setitem__(0, True)),
    "col_status: a fraction": _arr("col_status", lambda a, c, p: a.__setitem__(0, 1.5)),
    "status: a number": _set(["status"], 123),
    "version: true": _set(["version"], True),
    "version: 2": _set(["version"], 2),
    "format: other": _set(["format"], "something-else"),
    "arrays.values: unknown array": lambda c, p: c["arrays"]["values"].__setitem__("evil", [1.0]),
    "top level: unknown key": _set(["exec"], "rm -rf /"),
    "arrays.values.x: nested": _arr("x", lambda a, c, p: a.__setitem__(0, [[[[1.0]]]])),
}

#: provenance only: changing these must not crash, and the claim still holds
NEUTRAL = {
    "software: other versions": _set(["software", "numpy"], "0.0"),
    "solver.info: other iteration count": lambda c, p: c["solver"]["info"].__setitem__("iterations", 99),
    "basis_source: reworded": _set(["basis_source"], "somewhere"),
}

#: the basis is where the exact re-solve starts (repaired by exact pivots), not a claim: an edit
#: within the codes 0..4 must not crash, and the verdict still rests on the recorded numbers
BASIS_EDITS = {
    "col_status: basic → lower": lambda c, p: c["arrays"]["values"]["col_status"].__setitem__(_basic_column(c), 0),
    "row_status: all basic": _arr("row_status", lambda a, c, p: a.__setitem__(slice(None), [1] * len(a))),
}


def test_at_least_thirty_tamperings():
    assert len(TAMPERS) >= 30


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tamper_changes_the_claim_and_fails(monopoly, tmp_path, name):
    cert, prog = monopoly
    assert check_certificate(copy.deepcopy(cert)).ok
    c = copy.deepcopy(cert)
    TAMPERS[name](c, prog)
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(c))
    res = check_certificate(path)          # never raises
    assert not res.ok, (name, res.verdict)
    assert res.verdict.startswith(("FAILED", "REFUSED")), res.verdict
    assert "\n" not in res.verdict
    if res.error is not None:
        assert res.error.field.startswith("certificate"), res.error


@pytest.mark.parametrize("name", sorted(NEUTRAL))
def test_provenance_edits_do_not_crash(monopoly, tmp_path, name):
    cert, prog = monopoly
    c = copy.deepcopy(cert)
    NEUTRAL[name](c, prog)
    assert check_certificate(c).ok


@pytest.mark.parametrize("name", sorted(BASIS_EDITS))
def test_basis_edits_do_not_crash(monopoly, name):
    cert, prog = monopoly
    c = copy.deepcopy(cert)
    BASIS_EDITS[name](c, prog)
    res = check_certificate(c)
    assert "\n" not in res.verdict and res.error is None
    if res.ok:                      # the verdict still proves the recorded optimum
        assert res.details["primal_objective"] == pytest.approx(4 / 3)
        assert res.details["dual_bound"] == pytest.approx(4 / 3)


def test_truncated_and_non_json_certificates_are_named_errors(monopoly, tmp_path):
    cert, _ = monopoly
    text = json.dumps(cert)
    for k, body in enumerate([text[: len(text) // 2], text[:-1], "", "[]", "null", '{"format": NaN}',
                              "[" * 100_000 + "]" * 100_000, text.replace('"x"', '"x" ', 1) + "garbage"]):
        p = tmp_path / f"t{k}.json"
        p.write_text(body)
        res = check_certificate(p)
        assert not res.ok and res.error is not None and res.error.field.startswith("certificate"), res.verdict


def test_farkas_claims(farkas, tmp_path):
    cert, prog = farkas
    assert check_certificate(copy.deepcopy(cert)).ok
    c = copy.deepcopy(cert)
    c["farkas"]["rows"][0]["row"] = (c["farkas"]["rows"][0]["row"] + 1) % prog.n_rows
    assert not check_certificate(c).ok
    c = copy.deepcopy(cert)
    c["arrays"]["values"]["dual_ray"] = [-v for v in c["arrays"]["values"]["dual_ray"]]
    c.pop("farkas")
    res = check_certificate(c)
    assert not res.ok, res.verdict
    c = copy.deepcopy(cert)
    c["status"] = "optimal"
    assert not check_certificate(c).ok


def test_npz_side_file_tampering(npz_cert, tmp_path):
    folder, path = npz_cert
    assert check_certificate(path).ok
    cert = json.loads(path.read_text())
    npz = folder / cert["arrays"]["file"]
    # another name inside the folder with the right contents is fine; every path is not
    for bad in ("../" + npz.name, str(npz), "sub/" + npz.name, "..", ".", "", "a\\b"):
        c = dict(cert, arrays=dict(cert["arrays"], file=bad))
        p = folder / "bad.json"
        p.write_text(json.dumps(c))
        res = check_certificate(p)
        assert not res.ok and res.error is not None and res.error.field == "certificate.arrays.file", res.verdict
    # a symbolic link inside the folder (to a device, or to the real file) is refused
    for target in ("/dev/zero", str(npz)):
        link = folder / "link.npz"
        if link.exists() or link.is_symlink():
            link.unlink()
        os.symlink(target, link)
        c = dict(cert, arrays=dict(cert["arrays"], file="link.npz"))
        p = folder / "bad.json"
        p.write_text(json.dumps(c))
        res = check_certificate(p)
        assert not res.ok and "symbolic link" in res.verdict, res.verdict
    # changed bytes → SHA-256 mismatch (a refusal); a FIFO is refused without blocking
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    alt = folder / "alt.npz"
    alt.write_bytes(bytes(data))
    c = dict(cert, arrays=dict(cert["arrays"], file="alt.npz"))
    p = folder / "bad.json"
    p.write_text(json.dumps(c))
    res = check_certificate(p)
    assert not res.ok and "SHA-256" in res.verdict
    fifo = folder / "fifo.npz"
    os.mkfifo(fifo)
    c = dict(cert, arrays=dict(cert["arrays"], file="fifo.npz"))
    p.write_text(json.dumps(c))
    res = check_certificate(p)
    assert not res.ok and "FIFO" in res.verdict


def test_certificates_store_no_paths(npz_cert):
    folder, path = npz_cert
    text = path.read_text()
    assert str(MODELS) not in text and str(folder) not in text and "/" not in json.loads(text)["arrays"]["file"]
    assert json.loads(text)["model"]["file"] == "static_monopoly.toml"


def test_check_model_refuses_other_solve_options(tmp_path):
    """An ex-ante certificate checked against the interim model file is refused naming the option
    (the ex-ante optimum is 2, the interim optimum 4/3)."""
    src = (MODELS / "static_monopoly.toml").read_text()
    ea = tmp_path / "ea.toml"
    ea.write_text(src.replace('participation = "interim"', 'participation = "ex_ante"'))
    m = io.load(ea)
    r = io.solve_model(m, verify=False)
    assert r.objective == pytest.approx(2.0)
    cert = tmp_path / "ea.json"
    r.certificate(cert, model=m)
    res = check_certificate(cert, model=io.load(MODELS / "static_monopoly.toml"))
    assert not res.ok and "solve.participation" in res.verdict and "ex_ante" in res.verdict
    ok = check_certificate(cert, model=m)
    assert ok.ok and "participation='ex_ante'" in ok.verdict       # the verdict states the options checked
    # a default spelled out differently is the same program: accepted
    m2 = io.load(MODELS / "static_monopoly.toml")
    r2 = io.solve_model(m2, verify=False)
    c2 = tmp_path / "interim.json"
    r2.certificate(c2, model=m2)
    m3 = io.load({"kind": "revenue", **m2.raw, "solve": {**m2.options, "disclosure": "public"}})
    assert check_certificate(c2, model=m3).ok


def test_cli_exit_codes_for_certificates(monopoly, tmp_path, capsys):
    cert, prog = monopoly
    good = tmp_path / "good.json"
    good.write_text(json.dumps(cert))
    bad_type = copy.deepcopy(cert)
    bad_type["arrays"]["values"]["col_status"][0] = 300
    (tmp_path / "type.json").write_text(json.dumps(bad_type))
    bad_claim = copy.deepcopy(cert)
    bad_claim["objective"] += 1
    (tmp_path / "claim.json").write_text(json.dumps(bad_claim))
    from dmd_opt.interfaces.cli import main
    for name, code, needle in (("good.json", 0, "optimal, exact"), ("type.json", 2, "certificate.arrays.col_status"),
                               ("claim.json", 1, "FAILED"), ("missing.json", 2, "does not exist")):
        with pytest.raises(SystemExit) as e:
            main(["check", str(tmp_path / name)])
        cap = capsys.readouterr()
        assert e.value.code == code, (name, cap.out, cap.err)
        assert needle in cap.out + cap.err and "Traceback" not in cap.out + cap.err
        if code == 2:
            assert len(cap.err.strip().splitlines()) == 1
    # and through the installed entry point, in a fresh process
    p = subprocess.run([sys.executable, "-m", "dmd_opt.interfaces.cli", "check", str(tmp_path / "type.json")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.startswith("error: certificate.arrays.col_status") and not p.stdout


# ------------------------------------------------------------------ reduced-form certificates
@pytest.fixture(scope="module")
def reduced_form_cert():
    m = io.load(MODELS / "auction_reduced_form.toml")
    r = io.solve_model(m, verify=False)
    return json.loads(json.dumps(r.certificate(model=m), default=lambda a: a.tolist()))


def _refingerprint(cert):
    """What a forger does after editing: recompute the model's and the rebuilt program's fingerprints."""
    from dmd_opt.certificates.format import model_fingerprint
    from dmd_opt.core.kinds import KINDS, check_options
    rec = cert["model"]
    rec["fingerprint"] = model_fingerprint(rec["kind"], rec["data"], rec["options"])
    try:
        data = KINDS["revenue"].parse(copy.deepcopy(rec["data"]))
        opts = check_options("revenue", copy.deepcopy(rec["options"]))
        cert["program"]["fingerprint"] = KINDS["revenue"].build(data, **opts).fingerprint()
    except ModelError:
        pass                      # an invalid option: the checker must name it


RF_TAMPERS = {
    "units": lambda o: o.__setitem__("units", 2),
    "reserve": lambda o: o.__setitem__("reserve", 0.0),
    "constraints-dropped": lambda o: o.__setitem__("constraints", []),
    "constraints-kind": lambda o: o.__setitem__("constraints", [{"kind": "x"}]),
    "ic-rows": lambda o: o.__setitem__("ic_rows", "x"),
    "chains-dropped": lambda o: o.__setitem__("border_chains", []),
    "chain-position": lambda o: o["border_chains"][0].__setitem__(1, 99),
    "chain-float": lambda o: o["border_chains"][0].__setitem__(1, 1.5),
    "chain-short": lambda o: o["border_chains"].__setitem__(0, [0]),
    "weights-negative": lambda o: o["implementation"].__setitem__("weights", [-1.0]),
    "weights-nan": lambda o: o["implementation"].__setitem__("weights", [float("nan")]),
    "ranks-out-of-range": lambda o: o["implementation"]["ranks"].__setitem__(0, [99] * len(o["implementation"]["ranks"][0])),
    "ranks-reversed": lambda o: o["implementation"]["ranks"].__setitem__(0, o["implementation"]["ranks"][0][::-1]),
    "implementation-dropped": lambda o: o.pop("implementation"),
    "method-full": lambda o: o.__setitem__("method", "full"),
}


def test_reduced_form_certificate_tampering_fails(reduced_form_cert):
    """Edits of a reduced-form certificate's options (units, reserve, constraints, Border chains, the
    implementing lottery) fail even when the forger recomputes both fingerprints — in particular a
    certificate without its implementation is a relaxation's optimum, never "optimal"."""
    assert check_certificate(copy.deepcopy(reduced_form_cert)).ok
    for name, edit in RF_TAMPERS.items():
        cert = copy.deepcopy(reduced_form_cert)
        edit(cert["model"]["options"])
        _refingerprint(cert)
        res = check_certificate(cert)
        assert not res.ok and "\n" not in res.verdict, (name, res.verdict)
        if res.error is not None:
            assert res.error.field, name


# ------------------------------------------------------------------ relational certificates
REL_TAMPERS = {
    "promises-nan": lambda o: o["promises"].__setitem__(0, float("nan")),
    "promises-unsorted": lambda o: o.__setitem__("promises", o["promises"][::-1]),
    "continuation-set-short": lambda o: o["continuation_set"].__setitem__("upper", [0.0]),
    "cuts-lengths": lambda o: o["cuts"].__setitem__("side", []),
    "cuts-out-of-range": lambda o: o["cuts"].__setitem__("piece", [-5] * len(o["cuts"]["piece"])),
    "cuts-huge-integer": lambda o: o["cuts"].__setitem__("block", [2 ** 70] * len(o["cuts"]["block"])),
    "punishments-short": lambda o: o.__setitem__("punishments", o["punishments"][:1]),
    "punishment-action": lambda o: o["punishments"][0].__setitem__(1, 10 ** 9),
    "punishment-value": lambda o: o["punishments"][0].__setitem__(2, o["punishments"][0][2] + 0.5),
    "punishments-dropped": lambda o: o.pop("punishments"),
    "randomization": lambda o: o.__setitem__("randomization", "message"),
}


def test_relational_certificate_tampering_fails():
    """A relational contract's certificate carries the final frontier LP's data (continuation set,
    promises, punishments, cuts): edits fail or are named errors, never a crash, even with the
    model fingerprint recomputed."""
    from dmd_opt.certificates.format import model_fingerprint
    m = io.load(MODELS / "lmp_lecture.toml")
    r = io.solve_model(m)
    good = json.loads(json.dumps(r.certificate(model=m), default=lambda a: a.tolist()))
    assert check_certificate(copy.deepcopy(good)).ok
    for name, edit in REL_TAMPERS.items():
        cert = copy.deepcopy(good)
        edit(cert["model"]["options"])
        rec = cert["model"]
        rec["fingerprint"] = model_fingerprint(rec["kind"], rec["data"], rec["options"])
        res = check_certificate(cert)
        assert not res.ok and "\n" not in res.verdict, (name, res.verdict)
