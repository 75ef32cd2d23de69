"""Model kinds: how a family reads a model file's table and solves it.

A family registers a *kind* with :func:`register_kind`: a ``parse`` function
(dict → model data, raising :class:`~dmd_opt.core.errors.ModelError` naming the
field), a ``solve`` function (model data, options → result object) and,
optionally, ``build`` (model data, options → Program) for certificate checks.
The loader (:mod:`dmd_opt.interfaces.models`) dispatches on the kind, so a new
family needs no CLI change.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any, Callable

from dmd_opt.core import validation as V
from dmd_opt.core.errors import ModelError


@dataclass
class ModelKind:
    name: str
    parse: Callable[[dict], Any]
    solve: Callable[..., Any]
    options: tuple[str, ...] = ()
    description: str = ""
    build: Callable[..., Any] | None = None  # (data, **options) -> Program, for certificate checks


KINDS: dict[str, ModelKind] = {}

# Family modules that register kinds, by dotted name — a plugin table: each module is imported
# on first use (importlib), so loading a revenue model does not import the recursive or
# contingent families, and this core module imports no family.
FAMILY_MODULES = (
    "dmd_opt.families.revenue.kind",
    "dmd_opt.families.efficient.kind",
    "dmd_opt.families.contingent.kind",
    "dmd_opt.families.recursive.kind",
    "dmd_opt.families.relational.kind",
)
# The module of each kind known here; a kind not listed loads every family.
KIND_MODULES = {
    "revenue": "dmd_opt.families.revenue.kind",
    "efficient": "dmd_opt.families.efficient.kind",
    "contingent": "dmd_opt.families.contingent.kind",
    "thomas_worrall": "dmd_opt.families.recursive.kind",
    "guo_horner": "dmd_opt.families.recursive.kind",
    "relational": "dmd_opt.families.relational.kind",
}
_registered: set[str] = set()


def ensure_kinds(kind: str | None = None) -> None:
    """Register the family of ``kind`` — or every family (``kind`` None or not listed)."""
    mods = [KIND_MODULES[kind]] if isinstance(kind, str) and kind in KIND_MODULES else list(FAMILY_MODULES)
    for mod in mods:
        if mod not in _registered:
            import_module(mod).register_kinds()
            _registered.add(mod)


def register_kind(name: str, parse: Callable[[dict], Any], solve: Callable[..., Any],
                  options: tuple[str, ...] = (), description: str = "",
                  build: Callable[..., Any] | None = None) -> None:
    """Register a model kind.

    ``parse(dict) -> data``; ``solve(data, **options) -> result``; optional
    ``build(data, **options) -> Program`` rebuilds the LP for certificate checks.
    """
    KINDS[name] = ModelKind(name, parse, solve, tuple(options), description, build)


# ---------------------------------------------------------------------------------------
# [solve] options: typed values shared by every kind (each kind checks their meaning)
# ---------------------------------------------------------------------------------------
BACKEND_NAMES = ("highs", "cvxpy", "pyomo")


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


def _names(v, f):
    """A name or a list of names (e.g. the revenue family's ``selection`` rules)."""
    if isinstance(v, str):
        return _str(v, f)
    return [_str(x, V.join(f, str(i))) for i, x in enumerate(V.sequence(v, f))]


def _tie_break(v, f):
    """``lowest``, ``highest``, ``uniform`` or a list of decision labels (an explicit order);
    the labels are checked against the model's decisions when it is solved."""
    if isinstance(v, str):
        return V.choice(v, f, ("lowest", "highest", "uniform"))
    if not isinstance(v, (list, tuple)):
        raise ModelError(f, f"expected 'lowest', 'highest', 'uniform' or a list of decision labels, "
                            f"got {V.type_name(v)} {V.show(v)}")
    return [V.string(x, V.join(f, i), nonempty=True) for i, x in enumerate(V.sequence(v, f))]


def _solver_options(v, f):
    if not isinstance(v, dict):
        raise ModelError(f, f"expected a table of solver options, got {V.type_name(v)}")
    return v


#: Typed rules of option names shared across kinds (a kind decides which names it accepts and
#: what the values mean).  A new option name of a new kind gets its rule here.
OPTION_RULES: dict[str, Callable[[Any, str], Any]] = {
    "backend": lambda v, f: V.choice(v, f, BACKEND_NAMES),
    "solver": lambda v, f: V.string(v, f, nonempty=True, max_chars=200),
    "options": _solver_options,
    "verify": _bool, "progress": _bool, "budget_balance": _bool, "self_enforcement": _bool, "auction": _bool,
    "money": _bool, "ic": _str,
    "participation": _str, "disclosure": _str, "method": _str, "blocks": _str, "mechanism": _str,
    "horizon_method": _str, "selection": _names, "tie_break": _tie_break,
    "objective": _objective,
    "fixed_allocation": _array_or_name,
    "tol": _pos_real, "solver_tol": _pos_real,
    "delta": _unit_open,
    "max_iter": lambda v, f: V.integer(v, f, lo=1, hi=10 ** 8),
    "seed": _count(2 ** 32 - 1),
    "simulate_periods": _count(10 ** 9),
    "simulate_paths": _count(10 ** 9),
    "continuation_values": lambda v, f: V.array(v, f),
    # relational contracts: the device's timing, and the final LP's data carried by certificates
    "randomization": lambda v, f: V.choice(v, f, ("period", "message")),
    "continuation_set": lambda v, f: V.mapping(v, f, required=("grid", "upper", "lower")),
    "promises": lambda v, f: V.array(v, f, ndim=1),
    "punishments": lambda v, f: V.sequence(v, f, nonempty=False),
    "cuts": lambda v, f: V.mapping(v, f, required=("block", "outcome", "piece", "side")),
    # reduced-form auctions (families/revenue/reduced_form.py reads the tables), and what their
    # certificates carry: the Border chains of the final LP and the implementing lottery
    "units": lambda v, f: V.integer(v, f, lo=1, hi=10 ** 6),
    "reserve": lambda v, f: V.real(v, f),
    "payments": _str,
    "constraints": lambda v, f: V.sequence(v, f, nonempty=False),
    "ic_rows": _str,
    "border_chains": lambda v, f: V.sequence(v, f, nonempty=False),
    "implementation": lambda v, f: V.mapping(v, f, required=("weights", "ranks")),
}


def check_options(kind: str, options: Any, *, field: str = "solve") -> dict:
    """Validate a ``[solve]`` table for ``kind``: option names the kind knows, typed values
    (:data:`OPTION_RULES`); ``None`` values are dropped.  Solver names and solver options of a
    model *file* are checked further by :func:`dmd_opt.interfaces.models.check_options`."""
    if kind not in KINDS:
        raise ModelError("kind", f"unknown model kind {V.show(kind)}; known kinds: {', '.join(sorted(KINDS))}")
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
    return out
