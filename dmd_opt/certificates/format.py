"""Writing and reading certificate files (format ``dmd-opt-certificate``, version 1).

See ``docs/certificates.md`` for the documented layout.  A certificate is one
JSON object; its numeric arrays are stored inline (floats printed with
``repr`` so they round-trip exactly) or, for large programs, in a sidecar
``.npz`` file named in ``arrays.file`` whose SHA-256 is recorded in
``arrays.sha256``.  Files are written atomically (:func:`dmd_opt.interfaces.models.atomic_write`):
the ``.npz`` first, then the JSON that names it.
"""

from __future__ import annotations

import hashlib
import io as _io
import json
import platform
from pathlib import Path
from typing import Any

import numpy as np

from dmd_opt.core.errors import ModelError
from dmd_opt.core.serialise import atomic_write, dumps, to_jsonable
from dmd_opt.optim.program import Program
from dmd_opt.optim.solution import BASIS_CODES, Solution
from dmd_opt.solvers.session import Session

FORMAT = "dmd-opt-certificate"
VERSION = 1
#: Above this many numbers the arrays go to a sidecar .npz file.
INLINE_LIMIT = 50_000
#: A basis is fetched by a HiGHS re-solve when the backend gave none (LPs up to this many rows).
BASIS_RESOLVE_LIMIT = 200_000
ARRAY_KEYS = ("x", "row_activity", "row_dual", "col_dual", "col_status", "row_status", "dual_ray")
#: Solve options that determine the program (stored so the checker can rebuild it).
PROGRAM_OPTIONS_DROP = ("backend", "solver", "options", "verify")


def model_fingerprint(kind: str, raw: dict, options: dict) -> str:
    """SHA-256 of the model data (kind, file contents after parsing TOML, program options)."""
    payload = dumps({"kind": kind, "data": raw, "options": options})
    return hashlib.sha256(payload.encode()).hexdigest()


def _software() -> dict:
    out = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("scipy", "highspy", "flint", "dmd_opt"):
        try:
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", "unknown")
        except Exception:  # pragma: no cover
            pass
    return out


def _program_options(model, options) -> dict:
    if options is None:
        options = dict(model.options) if model is not None else {}
    return {k: v for k, v in to_jsonable(dict(options)).items() if k not in PROGRAM_OPTIONS_DROP}


def _basis_for(program: Program, solution: Solution) -> tuple[dict | None, str | None]:
    """The solver's basis, or one from a HiGHS re-solve for LPs when the backend gave none."""
    if solution.status != "optimal" or program.n_rows > BASIS_RESOLVE_LIMIT:
        return None, None
    if program.q_diag is not None:
        from dmd_opt.certificates.exact_check import qp_basis
        b = qp_basis(program, solution)
        return (b, "a HiGHS basis of the LP linearised at the QP optimum, with the interior quadratic "
                   "columns basic (for the exact KKT check)") if b is not None else (None, None)
    if solution.basis is not None:
        return solution.basis, f"returned by the {solution.backend} backend"
    s2 = Session(program).solve(basis=True)
    if s2.status != "optimal" or s2.basis is None:
        return None, None
    return s2.basis, "re-solved with HiGHS simplex (the backend returned none)"


def make_certificate(program: Program, solution: Solution, *, model=None, options=None) -> dict:
    """Build the certificate of ``solution`` for ``program`` as a JSON-ready dict.

    ``model`` (a :class:`dmd_opt.interfaces.models.Model`) lets the checker rebuild the
    program from the model data, which the certificate embeds with its
    fingerprint; ``options`` are the program options it was built with
    (default: the model file's ``[solve]`` options).
    """
    opts = _program_options(model, options)
    A = program.matrix()
    cert: dict[str, Any] = {
        "format": FORMAT, "version": VERSION,
        "software": _software(),
        "program": {"name": program.name, "sense": program.sense, "rows": program.n_rows,
                    "columns": program.n_vars, "nonzeros": int(A.nnz),
                    "quadratic": program.q_diag is not None,
                    "objective_offset": program.objective_offset,
                    "payoff_scale": float(program.meta.get("payoff_scale", 1.0) or 1.0),
                    "families": program.summary()["families"],
                    "fingerprint": program.fingerprint()},
        "model": None,
        "status": solution.status,
        "solver": {"backend": solution.backend, "status": solution.solver_status,
                   "info": {k: v for k, v in solution.info.items() if isinstance(v, (int, float, str, bool))}},
        "objective": solution.objective,
        "bound": None,
        "basis_source": None,
    }
    if model is not None:
        # no paths in a certificate (it travels): the model file's plain name at most
        cert["model"] = {"kind": model.kind, "file": None if model.path is None else Path(model.path).name,
                         "data": to_jsonable(model.raw), "options": opts,
                         "fingerprint": model_fingerprint(model.kind, to_jsonable(model.raw), opts)}
    elif opts:
        cert["model"] = {"kind": None, "options": opts}
    arrays: dict[str, np.ndarray] = {}
    if solution.x is not None:
        arrays["x"] = np.asarray(solution.x, float)
        act = solution.row_activity if solution.row_activity is not None else A @ solution.x
        arrays["row_activity"] = np.asarray(act, float)
    if solution.row_dual is not None:
        arrays["row_dual"] = np.asarray(solution.row_dual, float)
        arrays["col_dual"] = np.asarray(solution.col_dual if solution.col_dual is not None
                                        else _reduced_costs(program, solution.row_dual), float)
        cert["bound"] = _float_dual_objective(program, arrays["row_dual"], arrays["col_dual"])
    if solution.status == "optimal":
        basis, src = _basis_for(program, solution)
        if basis is not None:
            arrays["col_status"] = np.asarray(basis["col_status"], np.int8)
            arrays["row_status"] = np.asarray(basis["row_status"], np.int8)
            cert["basis_source"] = src
    if solution.dual_ray is not None:
        y = np.asarray(solution.dual_ray, float)
        arrays["dual_ray"] = y
        cert["farkas"] = {"rows": farkas_rows(program, y)}
    cert["arrays"] = {"storage": "inline", "values": arrays}
    return cert


def _reduced_costs(program: Program, row_dual: np.ndarray) -> np.ndarray:
    return program.objective_vector() - program.matrix().T @ row_dual


def _float_dual_objective(program: Program, row_dual, col_dual) -> float:
    """The dual objective Σ y_i b_i(active) + Σ z_j bound_j (floating; informative only)."""
    sgn = 1.0 if program.sense == "min" else -1.0
    y, z = sgn * np.asarray(row_dual), sgn * np.asarray(col_dual)
    rl, ru, cl, cu = program.row_lower, program.row_upper, program.col_lower, program.col_upper
    b = np.where(y > 0, rl, np.where(y < 0, ru, 0.0))
    d = np.where(z > 0, cl, np.where(z < 0, cu, 0.0))
    with np.errstate(invalid="ignore"):
        val = float(np.nansum(np.where(y != 0, y * b, 0.0)) + np.nansum(np.where(z != 0, z * d, 0.0)))
    return sgn * val + program.objective_offset


def farkas_rows(program: Program, y: np.ndarray, limit: int | None = None, rel: float = 1e-9) -> list[dict]:
    """The rows a Farkas ray combines, labelled, largest multiplier first."""
    lab = program.row_labels()
    m = float(np.max(np.abs(y))) if y.size else 0.0
    idx = np.nonzero(np.abs(y) > rel * m)[0]
    idx = idx[np.argsort(-np.abs(y[idx]), kind="stable")]
    if limit is not None:
        idx = idx[:limit]
    return [{"row": int(r), "family": str(lab["family"][r]),
             **{k: int(lab[k][r]) for k in ("agent", "period", "history", "true_type", "report")},
             "multiplier": float(y[r])} for r in idx]


def write_certificate(path, program: Program, solution: Solution, *, model=None, options=None,
                      inline_limit: int = INLINE_LIMIT) -> dict:
    """Write the certificate atomically (JSON, plus ``<path>.npz`` when large); returns it."""
    cert = make_certificate(program, solution, model=model, options=options)
    path = Path(path)
    arrays = cert["arrays"]["values"]
    total = sum(int(a.size) for a in arrays.values())
    if total > inline_limit:
        buf = _io.BytesIO()
        np.savez_compressed(buf, **arrays)
        data = buf.getvalue()
        npz = path.with_name(path.name + ".npz")
        atomic_write(npz, data)
        cert["arrays"] = {"storage": "npz", "file": npz.name, "sha256": hashlib.sha256(data).hexdigest(),
                          "keys": sorted(arrays)}
        atomic_write(path, json.dumps(to_jsonable(cert), sort_keys=True, indent=1))
        cert["arrays"]["values"] = arrays
    else:
        atomic_write(path, _dump(cert))
    return cert


def _dump(cert: dict) -> str:
    out = dict(cert)
    out["arrays"] = {"storage": "inline",
                     "values": {k: np.asarray(v).tolist() for k, v in cert["arrays"]["values"].items()}}
    return json.dumps(to_jsonable(out), sort_keys=True, indent=1)


def read_certificate(path) -> dict:
    """Read and validate a certificate (and its .npz array file); arrays come back as numpy arrays.

    The file is untrusted data: see :mod:`dmd_opt.certificates.reader`."""
    from dmd_opt.certificates.reader import read_certificate as read
    return read(path)


def load_arrays(cert: dict, folder: Path | None = None) -> dict:
    """Validate a certificate dict (:func:`dmd_opt.certificates.reader.validate`)."""
    from dmd_opt.certificates.reader import validate
    return validate(cert, folder)


__all__ = ["make_certificate", "write_certificate", "read_certificate", "farkas_rows", "BASIS_CODES",
           "FORMAT", "VERSION"]
