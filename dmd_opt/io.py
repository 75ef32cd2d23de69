"""Model files: TOML in, validated model objects out; atomic writes.

A model file is data, never code.  Its top level holds ``kind`` (which program
family reads it; default ``"revenue"``), an optional ``[solve]`` table of
default program options, and the kind's own fields (for ``revenue`` and
``efficient``: the :class:`~dmd_opt.environment.Environment` fields).  See
``docs/model_format.md``.

Program families register a *kind* with :func:`register_kind`: a ``parse``
function (dict → model data, raising :class:`ModelError` naming the field) and a
``solve`` function (model data, options → result object).  The CLI and
:func:`solve_model` dispatch on it, so a new family needs no CLI change.
A result object has ``status``, ``objective``, ``to_dict()`` (JSON-ready) and
``summary()`` (lines of text).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import ModelError

try:  # Python ≥ 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib


@dataclass
class ModelKind:
    name: str
    parse: Callable[[dict], Any]
    solve: Callable[..., Any]
    options: tuple[str, ...] = ()
    description: str = ""
    build: Callable[..., Any] | None = None  # (data, **options) -> Program, for certificate checks


KINDS: dict[str, ModelKind] = {}


def register_kind(name: str, parse: Callable[[dict], Any], solve: Callable[..., Any],
                  options: tuple[str, ...] = (), description: str = "",
                  build: Callable[..., Any] | None = None) -> None:
    """Register a model kind.

    ``parse(dict) -> data``; ``solve(data, **options) -> result``; optional
    ``build(data, **options) -> Program`` rebuilds the LP for certificate checks.
    """
    KINDS[name] = ModelKind(name, parse, solve, tuple(options), description, build)


def _ensure_kinds() -> None:
    # Importing the program packages registers their kinds.
    from . import programs  # noqa: F401
    programs.register_all()


@dataclass
class Model:
    """A loaded model: its kind, the parsed data and the file's ``[solve]`` options."""

    kind: str
    data: Any
    options: dict = field(default_factory=dict)
    path: str | None = None
    raw: dict = field(default_factory=dict, repr=False)

    def solve(self, **overrides):
        return solve_model(self, **overrides)


def read_toml(path: str | os.PathLike) -> dict:
    p = Path(path)
    if not p.exists():
        raise ModelError("", f"model file {str(p)!r} does not exist")
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError("", f"{p.name} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ModelError("", f"{p.name} is not UTF-8 text") from None


def load(source: str | os.PathLike | dict) -> Model:
    """Load and validate a model from a TOML file path or a dict."""
    _ensure_kinds()
    raw = dict(source) if isinstance(source, dict) else read_toml(source)
    path = None if isinstance(source, dict) else str(source)
    kind = raw.pop("kind", "revenue")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ModelError("kind", f"unknown model kind {kind!r}; known kinds: {', '.join(sorted(KINDS))}")
    options = raw.pop("solve", {})
    if not isinstance(options, dict):
        raise ModelError("solve", "expected a table of program options")
    allowed = KINDS[kind].options
    for k in options:
        if allowed and k not in allowed:
            raise ModelError(f"solve.{k}", f"unknown option; allowed: {', '.join(allowed)}")
    data = KINDS[kind].parse(raw)
    return Model(kind, data, dict(options), path, raw)


def solve_model(model: Model | str | dict, **overrides):
    """Solve a model with its file options, updated by ``overrides`` (None values ignored)."""
    if not isinstance(model, Model):
        model = load(model)
    opts = dict(model.options)
    opts.update({k: v for k, v in overrides.items() if v is not None})
    return KINDS[model.kind].solve(model.data, **opts)


def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and dataclass-like objects for ``json``."""
    import numpy as np
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    return obj


def dumps(obj: Any) -> str:
    """Deterministic JSON (sorted keys) of a JSON-able object."""
    return json.dumps(to_jsonable(obj), sort_keys=True, indent=2)
