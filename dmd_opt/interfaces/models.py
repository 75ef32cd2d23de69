"""Model files: TOML in, validated model objects out.

A model file is data, never code.  Its top level holds ``kind`` (which program
family reads it; default ``"revenue"``), an optional ``[solve]`` table of
default program options, and the kind's own fields (for ``revenue`` and
``efficient``: the :class:`~dmd_opt.core.environment.Environment` fields).  See
``docs/model_format.md``.

Program families register a *kind* with :func:`register_kind`: a ``parse``
function (dict → model data, raising :class:`ModelError` naming the field) and a
``solve`` function (model data, options → result object).  The CLI and
:func:`solve_model` dispatch on it, so a new family needs no CLI change.
A result object has ``status``, ``objective``, ``to_dict()`` (JSON-ready) and
``summary()`` (lines of text).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dmd_opt.core.errors import ModelError
from dmd_opt.core.kinds import KINDS, ModelKind, register_kind  # noqa: F401  (re-exported)
from dmd_opt.core.serialise import atomic_write, dumps, to_jsonable  # noqa: F401  (re-exported)

try:  # Python ≥ 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib


# Family modules that register kinds (imported on first use, so that loading a
# revenue model does not import the recursive or contingent families).
_FAMILIES = (
    "dmd_opt.families.revenue.program",
    "dmd_opt.families.efficient.kind",
    "dmd_opt.families.contingent.kind",
    "dmd_opt.families.recursive.kind",
)
_registered = False


def _ensure_kinds() -> None:
    global _registered
    if _registered:
        return
    for mod in _FAMILIES:
        importlib.import_module(mod).register_kinds()
    _registered = True


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
