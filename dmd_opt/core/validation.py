"""Small validators shared by every entry point (Python dicts and TOML files).

Each function takes the value and the *field path* used in error messages, and
returns a clean numpy value or raises :class:`dmd_opt.core.errors.ModelError`.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, Iterable

import numpy as np

from dmd_opt.core.errors import ModelError

PROB_TOL = 1e-9


def real(value: Any, field: str, *, lo: float | None = None, hi: float | None = None,
         lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite real number, optionally inside an interval."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ModelError(field, f"expected a number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ModelError(field, f"must be finite, got {v}")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ModelError(field, f"must be {'>' if lo_open else '>='} {lo}, got {v}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise ModelError(field, f"must be {'<' if hi_open else '<='} {hi}, got {v}")
    return v


def integer(value: Any, field: str, *, lo: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ModelError(field, f"expected an integer, got {type(value).__name__} {value!r}")
    v = int(value)
    if lo is not None and v < lo:
        raise ModelError(field, f"must be >= {lo}, got {v}")
    return v


def choice(value: Any, field: str, options: Iterable[str]) -> str:
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        raise ModelError(field, f"must be one of {', '.join(map(repr, options))}, got {value!r}")
    return value


def array(value: Any, field: str, *, ndim: int | None = None,
          shape: tuple[int | None, ...] | None = None, nonempty: bool = True) -> np.ndarray:
    """A finite float array of the given rank/shape (``None`` in shape = any)."""
    if isinstance(value, (str, bytes, dict)):
        raise ModelError(field, f"expected a numeric array, got {type(value).__name__}")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ModelError(field, "expected a numeric array (ragged or non-numeric entries)") from None
    if arr.dtype == object:
        raise ModelError(field, "expected a numeric array (ragged or non-numeric entries)")
    if ndim is not None and arr.ndim != ndim:
        raise ModelError(field, f"expected a {ndim}-dimensional array, got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = "×".join("?" if s is None else str(s) for s in shape)
            raise ModelError(field, f"expected shape {want}, got {'×'.join(map(str, arr.shape)) or 'scalar'}")
    if nonempty and arr.size == 0:
        raise ModelError(field, "must not be empty")
    if not np.all(np.isfinite(arr)):
        raise ModelError(field, "contains NaN or infinite entries")
    return arr


def distribution(value: Any, field: str, *, size: int | None = None,
                 renormalize: bool = False) -> np.ndarray:
    """A probability vector: entries in [0, 1] summing to 1 within 1e-9.

    With ``renormalize=True`` a vector of non-negative entries with a positive
    sum is rescaled (only when the user asked for it).
    """
    p = array(value, field, ndim=1, shape=None if size is None else (size,))
    if np.any(p < 0) or (not renormalize and np.any(p > 1 + PROB_TOL)):
        bad = int(np.argmax((p < 0) | (p > 1)))
        raise ModelError(field, f"entry {bad} is {p[bad]:g}, probabilities must lie in [0, 1]")
    s = float(p.sum())
    if renormalize:
        if s <= 0:
            raise ModelError(field, "cannot renormalise: entries sum to 0")
        return p / s
    if abs(s - 1.0) > PROB_TOL:
        raise ModelError(field, f"sums to {s:.12g}, expected 1")
    return p


def stochastic_matrix(value: Any, field: str, *, shape: tuple[int | None, int | None],
                      renormalize: bool = False) -> np.ndarray:
    """A row-stochastic matrix of the given shape."""
    m = array(value, field, ndim=2, shape=shape)
    if np.any(m < 0) or (not renormalize and np.any(m > 1 + PROB_TOL)):
        r, c = np.argwhere((m < 0) | (m > 1 + PROB_TOL))[0]
        raise ModelError(field, f"entry [{r}][{c}] is {m[r, c]:g}, probabilities must lie in [0, 1]")
    s = m.sum(axis=1)
    if renormalize:
        if np.any(s <= 0):
            raise ModelError(field, f"row {int(np.argmin(s))} sums to 0, cannot renormalise")
        return m / s[:, None]
    bad = np.abs(s - 1.0) > PROB_TOL
    if np.any(bad):
        r = int(np.argmax(bad))
        raise ModelError(field, f"row {r} sums to {s[r]:.12g}, expected 1")
    return m


def mapping(value: Any, field: str, *, required: Iterable[str] = (),
            optional: Iterable[str] = ()) -> dict:
    """A dict with exactly the allowed keys (unknown keys are errors)."""
    if not isinstance(value, dict):
        raise ModelError(field or "model", f"expected a table/dict, got {type(value).__name__}")
    required, optional = tuple(required), tuple(optional)
    allowed = set(required) | set(optional)
    for k in value:
        if k not in allowed:
            raise ModelError(_join(field, str(k)),
                             f"unknown key; allowed keys are {', '.join(sorted(allowed))}")
    for k in required:
        if k not in value:
            raise ModelError(_join(field, k), "is required but missing")
    return value


def sequence(value: Any, field: str, *, nonempty: bool = True) -> list:
    if not isinstance(value, (list, tuple)):
        raise ModelError(field, f"expected a list, got {type(value).__name__}")
    if nonempty and len(value) == 0:
        raise ModelError(field, "must not be empty")
    return list(value)


def labels(value: Any, field: str, *, size: int | None = None) -> tuple[str, ...]:
    seq = sequence(value, field)
    if not all(isinstance(s, str) for s in seq):
        raise ModelError(field, "expected a list of strings")
    if size is not None and len(seq) != size:
        raise ModelError(field, f"expected {size} labels, got {len(seq)}")
    if len(set(seq)) != len(seq):
        raise ModelError(field, "labels must be distinct")
    return tuple(seq)


def _join(base: str, key: str) -> str:
    return f"{base}.{key}" if base else key
