"""Reading certificates as untrusted data (format ``dmd-opt-certificate``, version 1).

A certificate travels between strangers (an author sends it, a referee checks
it).  :func:`read_certificate` therefore reads only a *regular* file under the
``certificate_bytes`` limit (:mod:`dmd_opt.core.limits`), parses JSON without
``NaN``/``Infinity`` tokens and with the nesting limit, and :func:`validate`
checks every key and type of the documented layout (``docs/certificates.md``)
before the checker uses any of it:

* unknown keys are refused, at every level, naming the key;
* numbers are numbers (not booleans or strings), counts are integers, the
  program's claimed sizes are bounded by the ``rows`` limit, fingerprints are
  SHA-256 hex digests;
* arrays have the documented names, are one-dimensional, and their lengths
  match the program's claimed rows/columns; basis codes are the integers 0..4;
* the ``.npz`` array file (``arrays.file``) is a *plain file name* inside the
  certificate's own folder — no path, no ``..``, no symbolic link — a regular
  file under the ``side_file_bytes`` limit, whose uncompressed members are
  bounded before they are inflated, loaded without pickles, and whose SHA-256
  must match (else :class:`IntegrityError`);
* certificates store no paths: ``model.path`` must be absent or null
  (``model.file`` may name the model file, as a plain name).

Every problem is a :class:`~dmd_opt.core.errors.ModelError` naming the field
(``certificate.arrays.col_status: entry 3 is 300, basis codes are 0..4``).
"""

from __future__ import annotations

import hashlib
import io as _io
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from dmd_opt.core import validation as V
from dmd_opt.core.errors import ModelError

FORMAT = "dmd-opt-certificate"
VERSION = 1
ARRAY_KEYS = ("x", "row_activity", "row_dual", "col_dual", "col_status", "row_status", "dual_ray")
_ROW_ARRAYS = ("row_activity", "row_dual", "row_status", "dual_ray")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_STATUS = re.compile(r"[a-z_]{1,40}")
F = "certificate"


class IntegrityError(ModelError):
    """The certificate's array file does not match the SHA-256 the certificate records."""


# ---------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------
def _no_constant(name: str):
    raise ValueError(f"{name} is not a number in a certificate")


def parse_json(data: bytes, field: str = F) -> Any:
    """JSON of a certificate: UTF-8, no NaN/Infinity, nesting bounded."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError(field, f"is not UTF-8 text (byte {exc.start})") from None
    try:
        obj = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ModelError(field, "nests arrays or objects too deeply") from None
    except ValueError as exc:           # JSONDecodeError is a ValueError
        raise ModelError(field, f"is not a JSON certificate: {exc}") from None
    V.plain_data(obj, field)
    return obj


def read_certificate(path) -> dict:
    """Read and validate a certificate file (and its ``.npz`` array file); arrays come back as numpy."""
    from dmd_opt.core.serialise import read_regular_file
    path = Path(path)
    data = read_regular_file(path, field=F, limit="certificate_bytes", what="certificate")
    return validate(parse_json(data), path.parent)


# ---------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------
def _hex64(value, field) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise ModelError(field, f"expected a SHA-256 hex digest (64 characters 0-9a-f), got {V.show(value)}")
    return value


def _opt_real(value, field):
    return None if value is None else V.real(value, field, magnitude=False)


def _count(value, field, limit_name="rows"):
    from dmd_opt.core.limits import current
    return V.integer(value, field, lo=0, hi=getattr(current(), limit_name))


def _program(p) -> dict:
    f = f"{F}.program"
    V.mapping(p, f, required=("sense", "rows", "columns", "fingerprint"),
              optional=("name", "nonzeros", "quadratic", "objective_offset", "payoff_scale", "families"))
    out = dict(p)
    if "name" in p:
        V.string(p["name"], f"{f}.name")
    V.choice(p["sense"], f"{f}.sense", ("min", "max"))
    out["rows"] = _count(p["rows"], f"{f}.rows")
    out["columns"] = _count(p["columns"], f"{f}.columns")
    if "nonzeros" in p:
        out["nonzeros"] = V.integer(p["nonzeros"], f"{f}.nonzeros", lo=0, hi=2 ** 62)
    if "quadratic" in p:
        V.boolean(p["quadratic"], f"{f}.quadratic")
    if "objective_offset" in p:
        out["objective_offset"] = V.real(p["objective_offset"], f"{f}.objective_offset", magnitude=False)
    if "payoff_scale" in p:
        out["payoff_scale"] = V.real(p["payoff_scale"], f"{f}.payoff_scale", lo=0.0, lo_open=True, magnitude=False)
    if "families" in p:
        fam = V.mapping(p["families"], f"{f}.families", optional=tuple(k for k in p["families"]
                                                                      if isinstance(k, str)))
        for k, v in fam.items():
            V.integer(v, V.join(f"{f}.families", k), lo=0, hi=2 ** 62)
    _hex64(p["fingerprint"], f"{f}.fingerprint")
    return out


def _model(m) -> dict | None:
    f = f"{F}.model"
    if m is None:
        return None
    V.mapping(m, f, optional=("kind", "data", "options", "fingerprint", "file", "path"))
    if m.get("path") is not None:
        raise ModelError(f"{f}.path", "certificates store no paths (this one names "
                                      f"{V.show(m['path'])}); re-create it with this version of dmd-opt")
    if m.get("kind") is not None:
        V.string(m["kind"], f"{f}.kind", nonempty=True, max_chars=100)
    if "file" in m and m["file"] is not None:
        plain_file_name(m["file"], f"{f}.file")
    if "data" in m:
        V.mapping(m["data"], f"{f}.data", optional=tuple(k for k in m["data"] if isinstance(k, str))
                  if isinstance(m["data"], dict) else ())
    if "options" in m and m["options"] is not None:
        V.mapping(m["options"], f"{f}.options", optional=tuple(k for k in m["options"] if isinstance(k, str))
                  if isinstance(m["options"], dict) else ())
    if m.get("fingerprint") is not None:
        _hex64(m["fingerprint"], f"{f}.fingerprint")
    if "data" in m and m.get("fingerprint") is None:
        raise ModelError(f"{f}.fingerprint", "is required with model data")
    return dict(m)


def _solver(s) -> None:
    f = f"{F}.solver"
    V.mapping(s, f, optional=("backend", "status", "info"))
    if "backend" in s:
        V.string(s["backend"], f"{f}.backend", max_chars=100)
    if "status" in s:
        V.string(s["status"], f"{f}.status", max_chars=1000)
    if "info" in s:
        info = V.mapping(s["info"], f"{f}.info", optional=tuple(k for k in s["info"] if isinstance(k, str))
                         if isinstance(s["info"], dict) else ())
        for k, v in info.items():
            if v is not None and not isinstance(v, (str, int, float, bool)):
                raise ModelError(V.join(f"{f}.info", k), f"expected a scalar, got {V.type_name(v)}")


_FARKAS_ROW = ("row", "family", "agent", "period", "history", "true_type", "report", "multiplier")


def _farkas(fk, n_rows: int) -> None:
    f = f"{F}.farkas"
    V.mapping(fk, f, required=("rows",))
    rows = V.sequence(fk["rows"], f"{f}.rows", nonempty=False)
    if len(rows) > n_rows:
        raise ModelError(f"{f}.rows", f"lists {len(rows)} rows, the program has {n_rows}")
    for k, r in enumerate(rows):
        fr = f"{f}.rows[{k}]"
        V.mapping(r, fr, required=("row", "multiplier"), optional=_FARKAS_ROW)
        V.integer(r["row"], f"{fr}.row", lo=0, hi=max(n_rows - 1, 0))
        V.real(r["multiplier"], f"{fr}.multiplier", magnitude=False)
        if "family" in r:
            V.string(r["family"], f"{fr}.family", max_chars=100)
        for key in ("agent", "period", "history", "true_type", "report"):
            if key in r:
                V.integer(r[key], f"{fr}.{key}", lo=-1)


def plain_file_name(name: Any, field: str) -> str:
    """A file name without any directory part (no ``/``, ``\\``, ``..``, NUL, not hidden-dot-only)."""
    if not isinstance(name, str):
        raise ModelError(field, f"expected a file name, got {V.type_name(name)}")
    if (not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name or len(name) > 255
            or os.path.basename(name) != name or (os.sep != "/" and os.sep in name)):
        raise ModelError(field, f"{V.show(name)} is not a plain file name: a certificate's array file must sit "
                                "in the certificate's own folder, named without any path")
    return name


def _status_codes(arr: np.ndarray, field: str) -> np.ndarray:
    if arr.size and (not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr))
                     or np.any(arr < 0) or np.any(arr > 4)):
        bad = int(np.argmax(~np.isfinite(arr) | (arr != np.round(arr)) | (arr < 0) | (arr > 4)))
        raise ModelError(field, f"entry {bad} is {V.show(arr[bad].item())}: basis codes are the integers 0..4 "
                                "(lower, basic, upper, zero, nonbasic)")
    return arr.astype(np.int8)


def _inline_array(name: str, values, field: str) -> np.ndarray:
    if isinstance(values, np.ndarray):
        if values.ndim != 1 or values.dtype.kind not in "biuf" or values.dtype.kind == "b":
            raise ModelError(field, f"expected a 1-dimensional numeric array, got {values.dtype} "
                                    f"of shape {values.shape}")
        arr = values.astype(float)
    else:
        seq = V.sequence(values, field, nonempty=False)
        for k, v in enumerate(seq):
            if v is None:
                continue                      # a NaN written as null: the checker fails it
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ModelError(f"{field}[{k}]", f"expected a number, got {V.type_name(v)} {V.show(v)}")
            if isinstance(v, int) and abs(v) > 2 ** 1023:
                raise ModelError(f"{field}[{k}]", "number too large")
        arr = np.array([np.nan if v is None else v for v in seq], dtype=float)
    if name.endswith("_status"):
        return _status_codes(arr, field)
    return _no_infinity(arr, field)


def _no_infinity(arr: np.ndarray, field: str) -> np.ndarray:
    """Recorded numbers are finite (a NaN, written as null, is left for the checker to fail)."""
    bad = np.isinf(arr)
    if np.any(bad):
        k = int(np.argmax(bad))
        raise ModelError(field, f"entry {k} is {arr[k]}: recorded numbers must be finite")
    return arr


def _npz_arrays(arr: dict, folder: Path | None) -> dict[str, np.ndarray]:
    from dmd_opt.core.limits import current
    from dmd_opt.core.serialise import read_regular_file
    f = f"{F}.arrays"
    V.mapping(arr, f, required=("storage", "file", "sha256"), optional=("keys",))
    name = plain_file_name(arr["file"], f"{f}.file")
    sha = _hex64(arr["sha256"], f"{f}.sha256")
    if folder is None:
        raise ModelError(f"{f}.file", "an array file is read from the certificate's folder: check the file by path")
    data = read_regular_file(Path(folder) / name, field=f"{f}.file", limit="side_file_bytes",
                             what="array file", follow_symlinks=False)
    if hashlib.sha256(data).hexdigest() != sha:
        raise IntegrityError(f"{f}.sha256", f"{name} does not match the SHA-256 recorded in the certificate "
                                            "(the array file was altered or replaced)")
    cap = current().side_file_bytes
    try:
        zf = zipfile.ZipFile(_io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelError(f"{f}.file", f"{name} is not an .npz array file: {exc}") from None
    total = 0
    for info in infos:
        key = info.filename[:-4] if info.filename.endswith(".npy") else None
        if key not in ARRAY_KEYS:
            raise ModelError(f"{f}.file", f"{name} holds an unexpected member {V.show(info.filename)}")
        total += info.file_size
        if total > cap:
            raise ModelError(f"{f}.file", f"{name} inflates to more than {cap} bytes (limit side_file_bytes)")
    out = {}
    try:
        with np.load(_io.BytesIO(data), allow_pickle=False) as z:
            for key in z.files:
                out[key] = np.asarray(z[key])
    except Exception as exc:   # numpy raises ValueError/OSError/zipfile errors/EOFError by the damage found
        raise ModelError(f"{f}.file", f"{name} cannot be read as arrays: {type(exc).__name__}: {exc}") from None
    if "keys" in arr:
        keys = V.sequence(arr["keys"], f"{f}.keys", nonempty=False)
        if sorted(map(str, keys)) != sorted(out):
            raise ModelError(f"{f}.keys", f"lists {V.show(keys)}, the array file holds {sorted(out)}")
    return out


def validate(cert: Any, folder: Path | None = None) -> dict:
    """Check the layout of a certificate dict; returns a copy whose arrays are numpy arrays."""
    V.mapping(cert, F, required=("format", "version", "program", "status", "arrays"),
              optional=("software", "model", "solver", "objective", "bound", "basis_source", "farkas"))
    if cert["format"] != FORMAT:
        raise ModelError(f"{F}.format", f"not a {FORMAT} file (format {V.show(cert['format'])})")
    if isinstance(cert["version"], bool) or cert["version"] != VERSION:
        raise ModelError(f"{F}.version", f"version {V.show(cert['version'])} is not supported (this is {VERSION})")
    out = dict(cert)
    out["program"] = prog = _program(cert["program"])
    out["model"] = _model(cert.get("model"))
    status = cert["status"]
    if not isinstance(status, str) or not _STATUS.fullmatch(status):
        raise ModelError(f"{F}.status", f"expected a status word such as 'optimal', got {V.show(status)}")
    if "software" in cert:
        sw = V.mapping(cert["software"], f"{F}.software",
                       optional=tuple(k for k in cert["software"] if isinstance(k, str))
                       if isinstance(cert["software"], dict) else ())
        for k, v in sw.items():
            V.string(v, V.join(f"{F}.software", k), max_chars=200)
    if "solver" in cert:
        _solver(cert["solver"])
    out["objective"] = _opt_real(cert.get("objective"), f"{F}.objective")
    out["bound"] = _opt_real(cert.get("bound"), f"{F}.bound")
    if cert.get("basis_source") is not None:
        V.string(cert["basis_source"], f"{F}.basis_source", max_chars=500)
    if "farkas" in cert:
        _farkas(cert["farkas"], prog["rows"])
    arr = cert["arrays"]
    f = f"{F}.arrays"
    if not isinstance(arr, dict):
        raise ModelError(f, f"expected a table, got {V.type_name(arr)}")
    storage = V.choice(arr.get("storage"), f"{f}.storage", ("inline", "npz"))
    if storage == "inline":
        V.mapping(arr, f, required=("storage", "values"))
        raw = V.mapping(arr["values"], f"{f}.values", optional=ARRAY_KEYS)
        vals = {k: _inline_array(k, v, f"{f}.{k}") for k, v in raw.items()}
    else:
        vals = _npz_arrays(arr, folder)
        for k in list(vals):
            a = vals[k]
            if a.ndim != 1 or a.dtype.kind not in "iuf":
                raise ModelError(f"{f}.{k}", f"expected a 1-dimensional numeric array, got {a.dtype} {a.shape}")
            vals[k] = _status_codes(a.astype(float), f"{f}.{k}") if k.endswith("_status") else \
                _no_infinity(a.astype(float), f"{f}.{k}")
    for k, a in vals.items():
        want = prog["rows"] if k in _ROW_ARRAYS else prog["columns"]
        if a.shape != (want,):
            raise ModelError(f"{f}.{k}", f"has {a.size} entries, the program claims "
                                         f"{want} {'rows' if k in _ROW_ARRAYS else 'columns'}")
    out["arrays"] = {**{k: v for k, v in arr.items() if k != "values"}, "values": vals}
    return out


__all__ = ["read_certificate", "validate", "parse_json", "plain_file_name", "IntegrityError", "ARRAY_KEYS",
           "FORMAT", "VERSION"]
