"""One JSON record for every result and every command (``docs/result.schema.json``).

Every ``to_dict()`` of a result object and every ``dmd-opt … --json`` output is a
*result record*: a JSON object with the same head whatever the model kind or the
command,

=================  ==========================================================
``schema_version``  version of the record format (:data:`SCHEMA_VERSION`)
``command``         ``solve``, ``verify``, ``audit``, ``check``, ``compare`` or ``sweep``
``kind``            the model kind (``revenue``, ``efficient``, ``contingent`` …)
``status``          ``optimal``, ``infeasible``, ``iteration_limit`` … (snake case)
``objective``       the program's optimal value, or ``null``
``verification``    the independent check: ``{max_regret, passed, notion, tolerance,
                    scale, …}`` or ``null`` when nothing was checked
``mechanism``       the mechanism's rules (``{name, …}``) or ``null``
``options``         the program options the result was computed with
``model``           ``{name, file}`` of the model
``message``         a sentence explaining a non-optimal status ("" otherwise)
=================  ==========================================================

followed by the kind's own fields (``revenue``, ``welfare``, ``program``,
``diagnostics``, ``promise_grid`` …).  The verdict of a check is always
``verification.passed`` (``true``/``false``; ``null`` when no verdict applies).

Build records with :func:`result_record` and :func:`verification_record`; the
command-line interface relabels them with :func:`for_command`.

>>> rec = result_record("revenue", "optimal", 1.5, options={"participation": "interim"},
...                     verification=verification_record(0.0, True, notion="bayesian", tolerance=1e-7))
>>> rec["schema_version"], rec["kind"], rec["verification"]["passed"]
('1.0', 'revenue', True)
>>> for_command(rec, "verify")["command"]
'verify'
"""

from __future__ import annotations

import math
from typing import Any

from dmd_opt.core.serialise import to_jsonable

#: Version of the record format; bumped when a head field changes meaning.
SCHEMA_VERSION = "1.0"
#: The JSON Schema of records, relative to the repository root.
SCHEMA_FILE = "docs/result.schema.json"
#: Commands that emit records.
COMMANDS = ("solve", "verify", "audit", "check", "compare", "sweep")
#: The head fields, in order.
HEAD = ("schema_version", "command", "kind", "status", "objective", "verification", "mechanism",
        "options", "model", "message")


def _number(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def verification_record(max_regret: float | None, passed: bool | None, *, notion: str | None = None,
                        tolerance: float | None = None, scale: float | None = None, **extras: Any) -> dict:
    """The ``verification`` object of a record.

    ``max_regret`` is the largest gain from misreporting the independent verifier found
    (in payoff units; ``null`` when the program has no verifier), ``passed`` the verdict
    (regret, participation and budget within ``tolerance × scale``), ``notion`` what was
    checked (``bayesian``, ``periodic_expost``, ``claims`` …).  ``extras`` carry the
    verifier's own details (per agent, worst deviation …).
    """
    rec = {"max_regret": _number(max_regret), "passed": None if passed is None else bool(passed),
           "notion": notion, "tolerance": _number(tolerance), "scale": _number(scale)}
    _merge(rec, extras)
    return to_jsonable(rec)


def result_record(kind: str, status: str, objective: float | None = None, *,
                  verification: dict | None = None, mechanism: dict | None = None,
                  options: dict | None = None, model: dict | str | None = None, message: str = "",
                  command: str = "solve", **extras: Any) -> dict:
    """A result record (module docstring); ``extras`` are the kind's own fields.

    ``model`` is ``{"name": …}`` (a string is taken as the name).  ``extras`` may not
    reuse a head field name.  The record is JSON-ready (numpy values converted,
    non-finite numbers become ``null``).
    """
    if command not in COMMANDS:
        raise ValueError(f"command: unknown command {command!r}; expected one of {', '.join(COMMANDS)}")
    if isinstance(model, str):
        model = {"name": model}
    if mechanism is not None and "name" not in mechanism:
        mechanism = {"name": "", **mechanism}
    rec = {"schema_version": SCHEMA_VERSION, "command": command, "kind": str(kind), "status": str(status),
           "objective": _number(objective), "verification": verification, "mechanism": mechanism,
           "options": dict(options or {}), "model": dict(model or {}), "message": str(message or "")}
    _merge(rec, extras)
    return to_jsonable(rec)


def for_command(record: dict, command: str, **extras: Any) -> dict:
    """A copy of ``record`` relabelled as the output of ``command``, with ``extras`` added
    (a head field in ``extras`` replaces the record's, e.g. ``verification``)."""
    if command not in COMMANDS:
        raise ValueError(f"command: unknown command {command!r}; expected one of {', '.join(COMMANDS)}")
    out = dict(record)
    out["command"] = command
    out.update(to_jsonable(extras))
    return out


def _merge(rec: dict, extras: dict) -> None:
    clash = sorted(set(extras) & set(rec))
    if clash:
        raise ValueError(f"record fields {clash} are head fields; pass them as arguments")
    rec.update(extras)
