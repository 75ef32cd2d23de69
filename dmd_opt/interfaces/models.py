"""Model files: TOML in, validated model objects out.

A model file is data, never code (``docs/security.md``).  Its top level holds
``kind`` (which program family reads it; default ``"revenue"``), an optional
``[solve]`` table of default program options, and the kind's own fields (for
``revenue`` and ``efficient``: the :class:`~dmd_opt.core.environment.Environment`
fields).  See ``docs/model_format.md``.

Reading a file (:func:`read_toml`) accepts only a regular file under the
``file_bytes`` limit (:mod:`dmd_opt.core.limits`), UTF-8 TOML, nested at most
``nesting`` levels.  :func:`load` then checks the whole input once
(:func:`dmd_opt.core.validation.plain_data`), the ``[solve]`` table (known
option names of the kind; typed values, :data:`dmd_opt.core.kinds.OPTION_RULES`; solver *names* and
numeric solver options only, :mod:`dmd_opt.solvers.policy`) and hands the rest to
the kind's parser.  Every problem is one :class:`ModelError` naming the field.

Program families register a *kind* with :func:`register_kind`: a ``parse``
function (dict → model data, raising :class:`ModelError` naming the field) and a
``solve`` function (model data, options → result object).  The CLI and
:func:`solve_model` dispatch on it, so a new family needs no CLI change.
A result object has ``status``, ``objective``, ``to_dict()`` (JSON-ready) and
``summary()`` (lines of text).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dmd_opt.core import validation as V
from dmd_opt.core.errors import ModelError
from dmd_opt.core.kinds import KINDS, OPTION_RULES, ModelKind, register_kind  # noqa: F401  (re-exported)
from dmd_opt.core.kinds import check_options as _check_kind_options
from dmd_opt.core.kinds import ensure_kinds  # the kind → family plugin table
from dmd_opt.core.serialise import atomic_write, dumps, read_regular_file, to_jsonable  # noqa: F401

try:  # Python ≥ 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib


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
    """Parse a model file (regular file, size and nesting limits; see the module docstring)."""
    p = Path(path)
    data = read_regular_file(p, field="file", limit="file_bytes", what="model file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError("file", f"{p.name} is not UTF-8 text (byte {exc.start})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError("file", f"{p.name} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ModelError("file", f"{p.name} nests tables or arrays too deeply") from None
    V.plain_data(raw, "")
    return raw


#: program options that only certificates carry (the state of a finished solve, which the
#: checker rebuilds from): a model file that sets them is refused
RECORDED_OPTIONS = ("continuation_values", "continuation_set", "promises", "punishments", "cuts",
                    "border_chains", "implementation", "ic_rows")


def check_options(kind: str, options: Any, *, from_file: bool = True, field: str = "solve") -> dict:
    """Validate a ``[solve]`` table for ``kind`` (:func:`dmd_opt.core.kinds.check_options`: known names,
    typed values); for a model *file* also the solver policy (:mod:`dmd_opt.solvers.policy`: a solver
    *name* from the installed plugins, numeric solver options only)."""
    ensure_kinds(kind)   # the family registry lives in core.kinds
    out = _check_kind_options(kind, options, field=field)
    if from_file:
        for k in RECORDED_OPTIONS:
            if k in out:
                raise ModelError(V.join(field, k), "is recorded by certificates (the data of a solved program, "
                                 "for `dmd-opt check`), not set in a model file; remove it")
        from dmd_opt.solvers.policy import check_file_options, check_file_solver
        if "solver" in out:
            out["solver"] = check_file_solver(out.get("backend"), out["solver"], V.join(field, "solver"))
        if "options" in out:
            out["options"] = check_file_options(out["options"], V.join(field, "options"))
    return out


def load(source: str | os.PathLike | dict) -> Model:
    """Load and validate a model from a TOML file path or a dict."""
    if isinstance(source, dict):
        V.plain_data(source, "")
        raw = dict(source)
        path = None
    elif isinstance(source, (str, os.PathLike)):
        raw = read_toml(source)
        path = os.fspath(source)
    else:
        raise ModelError("model", f"expected a model file path or a table, got {type(source).__name__}")
    kind = raw.pop("kind", "revenue")
    ensure_kinds(kind)   # the family registry lives in core.kinds
    if not isinstance(kind, str) or kind not in KINDS:
        raise ModelError("kind", f"unknown model kind {V.show(kind)}; known kinds: {', '.join(sorted(KINDS))}")
    options = check_options(kind, raw.pop("solve", {}))
    data = KINDS[kind].parse(raw)
    return Model(kind, data, options, path, raw)


def solve_model(model: Model | str | dict, **overrides):
    """Solve a model with its file options, updated by ``overrides`` (None values ignored).

    Overrides come from the caller (Python API, command-line flags): their types are checked
    like the file's, but they may name any solver or solver option.
    """
    if not isinstance(model, Model):
        model = load(model)
    opts = dict(model.options)
    given = {k: v for k, v in overrides.items() if v is not None}
    opts.update(check_options(model.kind, given, from_file=False) if given else {})
    return KINDS[model.kind].solve(model.data, **opts)
