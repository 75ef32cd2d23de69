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
option names of the kind; typed values, :data:`OPTION_RULES`; solver *names* and
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

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dmd_opt.core import validation as V
from dmd_opt.core.errors import ModelError
from dmd_opt.core.kinds import KINDS, ModelKind, register_kind  # noqa: F401  (re-exported)
from dmd_opt.core.serialise import atomic_write, dumps, read_regular_file, to_jsonable  # noqa: F401

try:  # Python ≥ 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib


# Family modules that register kinds (imported on first use, so that loading a
# revenue model does not import the recursive or contingent families).
_FAMILIES = (
    "dmd_opt.families.revenue.kind",
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


# ---------------------------------------------------------------------------------------
# [solve] options: typed values (the kinds check their meaning when they solve)
# ---------------------------------------------------------------------------------------
def _bool(v, f):
    return V.boolean(v, f)


def _str(v, f):
    return V.string(v, f, nonempty=True, max_chars=200)


def _pos_real(v, f):
    return V.real(v, f, lo=0.0, lo_open=True, magnitude=False)


def _count(hi):
    return lambda v, f: V.integer(v, f, lo=0, hi=hi)


def _unit_open(v, f):
    return V.real(v, f, lo=0.0, hi=1.0, lo_open=True, hi_open=True)


def _backend(v, f):
    from dmd_opt.solvers.policy import BACKEND_NAMES
    return V.choice(v, f, BACKEND_NAMES)


def _objective(v, f):
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        V.mapping(v, f, optional=("revenue", "welfare"))
        return {k: V.real(x, V.join(f, k), lo=0.0) for k, x in v.items()}
    raise ModelError(f, f"expected 'revenue', 'welfare' or a table {{revenue = w1, welfare = w2}}, "
                        f"got {V.type_name(v)}")


def _array_or_name(v, f):
    if isinstance(v, str):
        return v
    V.sequence(v, f)
    return v


#: Typed rules of option names shared across kinds (a kind decides which names it accepts and
#: what the values mean).  ``backend``/``solver``/``options`` are checked by the solver policy.
OPTION_RULES: dict[str, Callable[[Any, str], Any]] = {
    "backend": _backend,
    "verify": _bool, "progress": _bool, "budget_balance": _bool, "self_enforcement": _bool, "auction": _bool,
    "participation": _str, "disclosure": _str, "method": _str, "blocks": _str, "mechanism": _str,
    "horizon_method": _str,
    "objective": _objective,
    "fixed_allocation": _array_or_name,
    "tol": _pos_real, "solver_tol": _pos_real,
    "delta": _unit_open,
    "max_iter": lambda v, f: V.integer(v, f, lo=1, hi=10 ** 8),
    "seed": _count(2 ** 32 - 1),
    "simulate_periods": _count(10 ** 9),
    "simulate_paths": _count(10 ** 9),
    "continuation_values": lambda v, f: V.array(v, f),
}


def check_options(kind: str, options: Any, *, from_file: bool = True, field: str = "solve") -> dict:
    """Validate a ``[solve]`` table for ``kind``: known names, typed values; for a model file
    also the solver policy (a solver *name*, numeric solver options only)."""
    if not isinstance(options, dict):
        raise ModelError(field, f"expected a table of program options, got {V.type_name(options)}")
    allowed = KINDS[kind].options
    out = {}
    for k, v in options.items():
        f = V.join(field, k)
        if not isinstance(k, str) or (allowed and k not in allowed):
            raise ModelError(f, f"unknown option for kind {kind!r}; allowed: {', '.join(allowed)}")
        if v is None:
            continue
        rule = OPTION_RULES.get(k)
        out[k] = rule(v, f) if rule is not None else v
    if from_file:
        from dmd_opt.solvers.policy import check_file_options, check_file_solver
        if "solver" in out:
            out["solver"] = check_file_solver(out.get("backend"), out["solver"], V.join(field, "solver"))
        if "options" in out:
            out["options"] = check_file_options(out["options"], V.join(field, "options"))
    return out


def load(source: str | os.PathLike | dict) -> Model:
    """Load and validate a model from a TOML file path or a dict."""
    _ensure_kinds()
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
