"""Typed validators shared by every entry point (Python dicts, TOML model files, certificates).

Each function takes the value and the *field path* used in error messages, and
returns a clean value or raises :class:`dmd_opt.core.errors.ModelError` naming
the field.  The rules are the same for every model kind:

* a number is an ``int`` or ``float`` — never a boolean, never a string
  (``"1.5"`` and ``true`` are refused, not converted);
* an integer is an ``int`` (``3``, not ``3.0``);
* a boolean is ``true``/``false`` — never a string or a number;
* every number in model data is finite and at most ``magnitude`` in absolute
  value (:class:`dmd_opt.core.limits.Limits`, default 1e12): the LP solver
  treats ~1e20 as infinite and loses every digit of accuracy long before;
* arrays are checked leaf by leaf before numpy sees them (numpy would turn
  ``"1"`` into 1.0 and ``true`` into 1.0), with their rank bounded;
* tables have only the keys they document; an unknown key is named, an empty
  or odd key is quoted (``solve[""]``);
* :func:`plain_data` walks a whole input once, iteratively: nesting depth,
  number of items, key types, string lengths — so no later step can recurse
  without bound or be handed an object.
"""

from __future__ import annotations

import math
import re
from numbers import Integral, Real
from typing import Any, Iterable

import numpy as np

from dmd_opt.core.errors import ModelError

PROB_TOL = 1e-9
#: Largest integer any field accepts (beyond it floats and int64 lose exactness).
MAX_INT = 2 ** 53


def _limits():
    from dmd_opt.core.limits import current
    return current()


def show(value: Any, limit: int = 60) -> str:
    """A short, one-line repr of ``value`` for messages."""
    if isinstance(value, (list, tuple)) and len(value) > 8:
        text = f"{type(value).__name__} of {len(value)} items"
    elif isinstance(value, dict) and len(value) > 8:
        text = f"table of {len(value)} keys"
    else:
        try:
            text = repr(value)
        except Exception:  # pragma: no cover - a broken __repr__
            text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def type_name(value: Any) -> str:
    """The model-file name of a value's type (``boolean``, ``string``, ``table`` …)."""
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (Integral, np.integer)):
        return "integer"
    if isinstance(value, (Real, np.floating)):
        return "number"
    if isinstance(value, dict):
        return "table"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "array"
    return type(value).__name__


# ---------------------------------------------------------------------------------------
# scalars
# ---------------------------------------------------------------------------------------
def real(value: Any, field: str, *, lo: float | None = None, hi: float | None = None,
         lo_open: bool = False, hi_open: bool = False, magnitude: bool = True) -> float:
    """A finite real number (int or float, not a boolean), optionally inside an interval.

    ``magnitude=False`` skips the ``magnitude`` limit (for numbers that are not model
    data, e.g. a time limit in seconds).
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Real, np.integer, np.floating)):
        raise ModelError(field, f"expected a number, got {type_name(value)} {show(value)}")
    try:
        v = float(value)
    except OverflowError:
        raise ModelError(field, f"the number {show(value)} is too large") from None
    if not math.isfinite(v):
        raise ModelError(field, f"must be finite, got {v}")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ModelError(field, f"must be {'>' if lo_open else '>='} {lo:g}, got {v:g}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise ModelError(field, f"must be {'<' if hi_open else '<='} {hi:g}, got {v:g}")
    if magnitude:
        m = _limits().magnitude
        if abs(v) > m:
            raise ModelError(field, f"|{v:g}| exceeds the largest magnitude accepted in model data ({m:g}); "
                                    "rescale the model's units")
    return v


def integer(value: Any, field: str, *, lo: int | None = None, hi: int | None = None) -> int:
    """An integer (``3``; not ``3.0``, not ``true``), optionally inside ``[lo, hi]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Integral, np.integer)):
        raise ModelError(field, f"expected an integer, got {type_name(value)} {show(value)}")
    v = int(value)
    if lo is not None and v < lo:
        raise ModelError(field, f"must be >= {lo}, got {show(v)}")
    if hi is not None and v > hi:
        raise ModelError(field, f"must be <= {hi}, got {show(v)}")
    if abs(v) > MAX_INT:
        raise ModelError(field, f"the integer {show(v)} is too large (at most {MAX_INT})")
    return v


def boolean(value: Any, field: str) -> bool:
    """``true`` or ``false`` (not ``"no"``, not ``0``)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ModelError(field, f"expected true or false, got {type_name(value)} {show(value)}")
    return bool(value)


def string(value: Any, field: str, *, nonempty: bool = False, max_chars: int | None = None) -> str:
    """A string (not a number), at most ``max_chars`` (default: the ``string_chars`` limit)."""
    if not isinstance(value, str):
        raise ModelError(field, f"expected a string, got {type_name(value)} {show(value)}")
    cap = max_chars if max_chars is not None else _limits().string_chars
    if len(value) > cap:
        raise ModelError(field, f"string of {len(value)} characters; at most {cap}")
    if nonempty and not value.strip():
        raise ModelError(field, "must not be empty")
    return value


def choice(value: Any, field: str, options: Iterable[str]) -> str:
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        raise ModelError(field, f"must be one of {', '.join(map(repr, options))}, got {show(value)}")
    return value


# ---------------------------------------------------------------------------------------
# arrays
# ---------------------------------------------------------------------------------------
def _scan_leaves(value: Any, field: str, max_depth: int) -> int:
    """Walk nested lists iteratively: every leaf a real number (not bool/str); returns the depth."""
    depth_seen = 0
    stack = [(value, 0)]
    cap = _limits().items
    count = 0
    while stack:
        node, d = stack.pop()
        if isinstance(node, (list, tuple)):
            if d >= max_depth:
                raise ModelError(field, f"nested deeper than {max_depth} levels")
            count += len(node)
            if count > cap:
                raise ModelError(field, f"more than {cap:,} entries (limit items)")
            stack.extend((c, d + 1) for c in node)
            depth_seen = max(depth_seen, d + 1)
        elif isinstance(node, np.ndarray):
            if node.dtype.kind not in "iuf":
                raise ModelError(field, f"expected numbers, got an array of {node.dtype}")
            depth_seen = max(depth_seen, d + node.ndim)
        elif isinstance(node, (bool, np.bool_)):
            raise ModelError(field, f"expected numbers, got the boolean {show(node)} (booleans are not numbers)")
        elif isinstance(node, (Real, np.integer, np.floating)):
            if isinstance(node, Integral) and abs(int(node)) > 10 ** 300:
                raise ModelError(field, f"the number {show(node)} is too large")
        else:
            raise ModelError(field, f"expected numbers, got {type_name(node)} {show(node)}")
    return depth_seen


def array(value: Any, field: str, *, ndim: int | None = None,
          shape: tuple[int | None, ...] | None = None, nonempty: bool = True,
          magnitude: bool = True) -> np.ndarray:
    """A finite float array of the given rank/shape (``None`` in shape = any).

    Every leaf must be a number (booleans and strings are refused, not converted);
    entries are bounded by the ``magnitude`` limit unless ``magnitude=False``.
    """
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iuf":
            raise ModelError(field, f"expected a numeric array, got an array of {value.dtype}")
    elif isinstance(value, (list, tuple)):
        _scan_leaves(value, field, max(ndim or 0, 8) if ndim is None else ndim + 1)
    elif ndim != 0 or isinstance(value, (bool, np.bool_)) or not isinstance(value, (Real, np.integer, np.floating)):
        # a lone number is not an array (unless a 0-dimensional one is asked for)
        raise ModelError(field, f"expected {'a list of numbers' if ndim != 0 else 'a number'}, "
                                f"got {type_name(value)} {show(value)}")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise ModelError(field, "expected a rectangular numeric array (rows of different lengths?)") from None
    if ndim is not None and arr.ndim != ndim:
        raise ModelError(field, f"expected a {ndim}-dimensional array, got shape {_shape(arr.shape)}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = "×".join("?" if s is None else str(s) for s in shape)
            raise ModelError(field, f"expected shape {want}, got {_shape(arr.shape)}")
    if nonempty and arr.size == 0:
        raise ModelError(field, "must not be empty")
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ModelError(field, f"entry {_index(bad)} is {arr[tuple(bad)]}: entries must be finite")
    if magnitude and arr.size:
        m = _limits().magnitude
        big = np.abs(arr) > m
        if np.any(big):
            bad = np.argwhere(big)[0]
            raise ModelError(field, f"entry {_index(bad)} is {arr[tuple(bad)]:g}: beyond the largest magnitude "
                                    f"accepted in model data ({m:g}); rescale the model's units")
    return arr


def _shape(shape) -> str:
    return "×".join(map(str, shape)) or "scalar"


def _index(idx) -> str:
    return "".join(f"[{int(i)}]" for i in idx) or "[]"


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


# ---------------------------------------------------------------------------------------
# tables and lists
# ---------------------------------------------------------------------------------------
def mapping(value: Any, field: str, *, required: Iterable[str] = (),
            optional: Iterable[str] = ()) -> dict:
    """A dict with exactly the allowed keys (unknown keys are named; keys must be strings)."""
    if not isinstance(value, dict):
        raise ModelError(field or "model", f"expected a table, got {type_name(value)} {show(value)}")
    required, optional = tuple(required), tuple(optional)
    allowed = set(required) | set(optional)
    for k in value:
        if not isinstance(k, str):
            raise ModelError(join(field, k), f"table keys must be strings, got {type_name(k)}")
        if k not in allowed:
            raise ModelError(join(field, k), f"unknown key; allowed keys are {', '.join(sorted(allowed))}")
    for k in required:
        if k not in value:
            raise ModelError(join(field, k), "is required but missing")
    return value


def sequence(value: Any, field: str, *, nonempty: bool = True) -> list:
    if not isinstance(value, (list, tuple)):
        raise ModelError(field, f"expected a list, got {type_name(value)} {show(value)}")
    if nonempty and len(value) == 0:
        raise ModelError(field, "must not be empty")
    return list(value)


def labels(value: Any, field: str, *, size: int | None = None) -> tuple[str, ...]:
    seq = sequence(value, field)
    for k, s in enumerate(seq):
        string(s, f"{field}[{k}]")
    if size is not None and len(seq) != size:
        raise ModelError(field, f"expected {size} labels, got {len(seq)}")
    if len(set(seq)) != len(seq):
        raise ModelError(field, "labels must be distinct")
    return tuple(seq)


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


def join(base: str, key: Any) -> str:
    """The field path of ``key`` inside ``base``: ``base.key``, ``base[3]`` or ``base["odd key"]``."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        part = f"[{int(key)}]"
        return f"{base}{part}" if base else part
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key) and len(key) <= 80:
        return f"{base}.{key}" if base else key
    import json
    text = json.dumps(key, ensure_ascii=True) if isinstance(key, str) else show(key)
    if len(text) > 60:
        text = text[:59] + "…\""
    return f"{base}[{text}]" if base else f"[{text}]"


_join = join  # older name


def plain_data(value: Any, field: str = "", *, allow_arrays: bool = True) -> None:
    """Walk a whole input (tables, lists, scalars) once, iteratively, before anything uses it.

    Refuses (naming the path) nesting deeper than the ``nesting`` limit, more than
    ``items`` items in all, strings longer than ``string_chars``, keys that are not
    strings, and values that are not plain data (numbers, strings, booleans,
    dates from TOML, JSON null, lists, tables; numpy arrays and scalars when ``allow_arrays``).
    """
    import datetime as _dt
    lim = _limits()
    stack: list[tuple[Any, str, int]] = [(value, field, 0)]
    count = 0
    while stack:
        node, path, depth = stack.pop()
        count += 1
        if count > lim.items:
            raise ModelError(field or "model", f"more than {lim.items:,} items in all (limit items)")
        if isinstance(node, dict):
            if depth >= lim.nesting:
                raise ModelError(path or "model", f"nested deeper than {lim.nesting} levels (limit nesting)")
            for k, v in node.items():
                if not isinstance(k, str):
                    raise ModelError(join(path, k), f"table keys must be strings, got {type_name(k)}")
                if len(k) > lim.string_chars:
                    raise ModelError(join(path, k[:40]), "key too long")
                stack.append((v, join(path, k), depth + 1))
        elif isinstance(node, (list, tuple)):
            if depth >= lim.nesting:
                raise ModelError(path or "model", f"nested deeper than {lim.nesting} levels (limit nesting)")
            count += len(node)
            if count > lim.items:
                raise ModelError(path or field or "model", f"more than {lim.items:,} items in all (limit items)")
            for k in range(len(node) - 1, -1, -1):
                v = node[k]
                if isinstance(v, (dict, list, tuple, np.ndarray)):
                    stack.append((v, f"{path}[{k}]", depth + 1))
                elif isinstance(v, str):
                    if len(v) > lim.string_chars:
                        raise ModelError(f"{path}[{k}]", f"string of {len(v)} characters; at most {lim.string_chars}")
                elif v is not None and not isinstance(v, (bool, int, float, _dt.date, _dt.time, np.generic)):
                    stack.append((v, f"{path}[{k}]", depth + 1))
                elif isinstance(v, int) and not isinstance(v, bool) and abs(v) > 10 ** 300:
                    raise ModelError(f"{path}[{k}]", "integer too large")
        elif isinstance(node, str):
            if len(node) > lim.string_chars:
                raise ModelError(path or "model", f"string of {len(node)} characters; at most {lim.string_chars}")
        elif node is None or isinstance(node, (bool, float, _dt.date, _dt.time)):
            pass
        elif isinstance(node, int):
            if abs(node) > 10 ** 300:
                raise ModelError(path or "model", "integer too large")
        elif allow_arrays and isinstance(node, np.ndarray):
            if node.dtype.kind not in "biuf":
                raise ModelError(path or "model", f"arrays must be numeric, got {node.dtype}")
            if depth + node.ndim > lim.nesting:
                raise ModelError(path or "model", f"nested deeper than {lim.nesting} levels (limit nesting)")
            count += node.size
            if count > lim.items:
                raise ModelError(path or "model", f"more than {lim.items:,} items in all (limit items)")
        elif allow_arrays and isinstance(node, np.generic) and node.dtype.kind in "biuf":
            pass
        else:
            raise ModelError(path or "model", f"expected plain data (numbers, strings, booleans, lists, tables), "
                                              f"got {type(node).__name__}")
