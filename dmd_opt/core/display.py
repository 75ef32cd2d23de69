"""How results look to a person: cleaned numbers, short reprs and notebook HTML.

Human output follows one convention everywhere (summaries, tables, reprs): agents and periods
are counted from 1 ("agent 1", "period 1") and types are shown by their labels; JSON keeps the
0-based indices of the program's row labels.  Numbers are cleaned of floating-point noise:
a value within ``1e-12 × scale`` of zero prints as ``0`` (never ``-0`` or ``-5.55e-16``).

>>> fmt(-5.551115123125783e-16), fmt(-0.0), fmt(2.0 / 3), fmt(2.6645e-15), fmt(3e-9)
('0', '0', '0.666667', '0', '3e-09')
>>> fmt(2.6645e-15, scale=None, digits=3), fmt(0.4, scale=1e12), fmt(None), fmt(True), fmt([1.0, 2.0])
('2.66e-15', '0', '—', 'yes', '1, 2')
"""

from __future__ import annotations

import html
import math
from typing import Any, Iterable

#: Relative size below which a number prints as zero (× the payoff scale).
ZERO = 1e-12


def clean(v: float, scale: float = 1.0, zero: float = ZERO) -> float:
    """``v`` with floating-point noise removed: 0.0 when ``|v| ≤ zero × scale`` (no ``-0.0``)."""
    v = float(v)
    if not math.isfinite(v):
        return v
    return 0.0 if abs(v) <= zero * max(abs(scale), 1e-300) else v


def fmt(v: Any, digits: int = 6, scale: float | None = 1.0, zero: float = ZERO) -> str:
    """A number (or any value) as people read it, in ``digits`` significant digits.

    Values within ``zero × scale`` of 0 print as ``0`` (pass the payoff scale of the model;
    ``scale=None`` prints the raw value, e.g. for a residual).  ``None`` and NaN print as an
    em dash, booleans as yes/no, sequences as comma-separated numbers.
    """
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)) or (hasattr(v, "ndim") and getattr(v, "ndim", 0) >= 1):
        return fmt_list(list(v), digits, scale)
    if isinstance(v, (int,)) and not isinstance(v, bool):
        return str(v)
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(x):
        return "—"
    if scale is not None:
        x = clean(x, scale, zero)
    if x == 0:
        return "0"
    return f"{x:.{digits}g}"


def fmt_list(values: Iterable, digits: int = 6, scale: float | None = 1.0, sep: str = ", ") -> str:
    """Numbers joined for a sentence: ``1, 2`` (never ``[1. 2.]``)."""
    return sep.join(fmt(v, digits, scale) for v in values)


def fmt_mapping(d: dict, digits: int = 6) -> str:
    """A parameter table as words: ``crra, sigma 1, subsistence 0`` (never a Python dict)."""
    parts = []
    for k, v in d.items():
        if k == "kind":
            parts.insert(0, str(v))
        elif isinstance(v, (list, tuple)):
            parts.append(f"{k} {fmt_list(v, digits)}")
        else:
            parts.append(f"{k} {fmt(v, digits)}")
    return ", ".join(parts)


def _model_name(res) -> str:
    for owner in (res, getattr(res, "env", None), getattr(res, "model", None)):
        name = getattr(owner, "name", None)
        if isinstance(name, str) and name:
            return name
    return ""


def _head(res) -> list[tuple[str, str]]:
    rows = [("status", str(getattr(res, "status", "—")))]
    obj = getattr(res, "objective", None)
    if obj is not None:
        rows.append(("objective", fmt(obj, 10)))
    for attr in ("revenue", "welfare"):
        v = getattr(type(res), attr, None)
        if isinstance(v, property):
            val = getattr(res, attr, None)
            if val is not None:
                rows.append((attr, fmt(val, 10)))
    mech = getattr(res, "mechanism", None)
    if mech is not None:
        rows.append(("mechanism", str(getattr(mech, "name", type(mech).__name__))))
    mechs = getattr(res, "mechanisms", None)
    if isinstance(mechs, dict) and len(mechs) > 1:
        rows.append(("mechanisms", "/".join(mechs)))
    ver = getattr(res, "verification", None)
    claimed = getattr(ver, "max_claimed_regret", None)   # several mechanisms: the regrets they claim away
    regret = claimed() if callable(claimed) else getattr(ver, "max_regret", None) if ver is not None else None
    if regret is not None and not callable(regret):
        rows.append(("max regret", fmt(regret, 3)))
    return rows


def result_repr(res) -> str:
    """``<RevenueResult 'battaglini': status=optimal, objective=2.742712891, …>`` — one line."""
    name = _model_name(res)
    fields = ", ".join(f"{k.replace(' ', '_')}={v}" for k, v in _head(res))
    return f"<{type(res).__name__}{' ' + repr(name) if name else ''}: {fields}>"


def result_html(res) -> str:
    """Notebook view: the head fields as a small table and the summary lines below."""
    name = html.escape(_model_name(res))
    rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                   f"{html.escape(v)}</td></tr>" for k, v in _head(res))
    summary = getattr(res, "summary", None)
    lines = summary() if callable(summary) else []
    body = html.escape("\n".join(lines))
    return (f"<div><strong>{html.escape(type(res).__name__)}</strong> {name}"
            f"<table>{rows}</table>"
            + (f"<details><summary>summary</summary><pre>{body}</pre></details>" if lines else "")
            + "</div>")
