r"""Size limits: estimate what a model will build, and refuse *before* allocating.

Model files come from strangers.  A file of a few bytes can ask for a history
tree of :math:`2^{60}` nodes, a grid of :math:`10^{8}` points or a billion
simulated paths.  Every loader and builder therefore computes, from the
validated *dimensions* alone, how much it is about to allocate and calls
:func:`check_size` (or one of the estimators below, which call it).  When an
estimate exceeds its limit the model is refused with a
:class:`~dmd_opt.core.errors.LimitError` — a :class:`~dmd_opt.core.errors.ModelError`
that names the field, states the estimate, the limit and, where there is one,
the alternative (``method = "cg"``, a stationary model with a Markov mechanism,
a coarser grid)::

    horizon: the history tree would have 1.2e+18 nodes (limit 2e+07 tree_nodes);
    use a shorter horizon or horizon = "infinite" (a Markov mechanism) …

Limits
    :class:`Limits` holds every limit; :data:`DEFAULT` are the defaults.  The
    limits in force are :func:`current` — the process default set with
    :func:`set_limits` (the command line's ``--limit NAME=VALUE``), or those of
    a ``with using(tree_nodes=…):`` block (a context variable, so threads and
    tasks do not see each other's).  ``DMD_OPT_LIMITS="memory=8GiB,rows=1e8"`` in
    the environment sets the process default at import.

Memory
    ``memory`` bounds the estimated bytes of the largest structure a model
    builds.  When the process runs under an address-space limit
    (``ulimit -v``, ``RLIMIT_AS``) the budget is at most half of the head-room
    left under it (:func:`memory_budget`), so a model is refused rather than
    killed.

Estimates are deliberately simple (counts times bytes per entry, with the
constant factors of the builders' temporary copies); they are upper-bound
flavoured, never exact.  ``docs/security.md`` lists the limits and their
defaults.
"""

from __future__ import annotations

import math
import os
import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace
from typing import Iterable, Iterator, Sequence

from dmd_opt.core.errors import LimitError, ModelError

GiB = 2 ** 30
MiB = 2 ** 20


@dataclass(frozen=True)
class Limits:
    """Every size limit (see ``docs/security.md``).

    Input files
        ``file_bytes`` (a model file), ``certificate_bytes`` (a certificate's JSON),
        ``side_file_bytes`` (a certificate's ``.npz`` array file), ``nesting``
        (depth of nested tables/arrays), ``items`` (numbers, strings and tables
        in one input), ``string_chars`` (one string), ``magnitude`` (largest
        |number| in model data: the LP solver treats ~1e20 as infinite and loses
        all accuracy long before).
    What a model builds
        ``periods`` (stored periods of a finite horizon), ``tree_nodes`` (history
        tree nodes, all periods), ``rows`` (rows of one LP), ``profiles`` (joint
        type profiles of one period), ``grid_points`` (states of a Bellman grid),
        ``simulation`` (simulated path-periods), ``memory`` (bytes of the largest
        structure).
    """

    file_bytes: int = 16 * MiB
    certificate_bytes: int = 256 * MiB
    side_file_bytes: int = 1 * GiB
    nesting: int = 32
    items: int = 5_000_000
    string_chars: int = 10_000
    magnitude: float = 1e12
    periods: int = 10_000
    tree_nodes: int = 20_000_000
    rows: int = 50_000_000
    profiles: int = 4096
    grid_points: int = 1_000_000
    simulation: int = 100_000_000
    memory: int = 8 * GiB

    def replace(self, **changes) -> "Limits":
        """A copy with some limits changed (each validated)."""
        for k, v in changes.items():
            changes[k] = _check_value(k, v)
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: The built-in defaults.
DEFAULT = Limits()
NAMES = tuple(f.name for f in fields(Limits))
_INT_NAMES = tuple(n for n in NAMES if n != "magnitude")

_process_default: list[Limits] = [DEFAULT]
_current: ContextVar[Limits | None] = ContextVar("dmd_opt_limits", default=None)


def _check_value(name: str, value) -> int | float:
    if name not in NAMES:
        raise ModelError("limit", f"unknown limit {name!r}; limits: {', '.join(NAMES)}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ModelError(f"limit.{name}", f"expected a number, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ModelError(f"limit.{name}", f"must be a positive finite number, got {value!r}")
    if name in _INT_NAMES:
        if value >= 2 ** 62:
            raise ModelError(f"limit.{name}", f"must be below 2**62, got {value!r}")
        return int(value)
    return float(value)


def current() -> Limits:
    """The limits in force (innermost :func:`using` block, else the process default)."""
    lim = _current.get()
    return lim if lim is not None else _process_default[0]


def set_limits(limits: Limits | None = None, **changes) -> Limits:
    """Set the process-wide default limits (``set_limits(tree_nodes=10**8)``); returns the previous ones.

    ``set_limits(DEFAULT)`` restores the built-in defaults.
    """
    prev = _process_default[0]
    base = limits if limits is not None else prev
    _process_default[0] = base.replace(**changes) if changes else base
    return prev


@contextmanager
def using(limits: Limits | None = None, **changes) -> Iterator[Limits]:
    """``with using(memory=2 * GiB): ...`` — limits for the block (this thread/task only)."""
    base = limits if limits is not None else current()
    lim = base.replace(**changes) if changes else base
    token = _current.set(lim)
    try:
        yield lim
    finally:
        _current.reset(token)


_UNITS = {"": 1, "k": 10 ** 3, "m": 10 ** 6, "g": 10 ** 9, "t": 10 ** 12,
          "kb": 10 ** 3, "mb": 10 ** 6, "gb": 10 ** 9, "tb": 10 ** 12,
          "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40, "b": 1}


def parse_limit(text: str) -> tuple[str, int | float]:
    """``"memory=8GiB"`` → ``("memory", 8589934592)``; ``"tree_nodes=1e8"`` → ``("tree_nodes", 100000000)``."""
    if not isinstance(text, str):
        raise ModelError("limit", f"expected NAME=VALUE, got {type(text).__name__}")
    name, eq, val = text.partition("=")
    name, val = name.strip(), val.strip().replace("_", "")
    if not eq or not name or not val:
        raise ModelError("limit", f"expected NAME=VALUE (e.g. memory=8GiB), got {text!r}")
    m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]*)", val)
    if not m or m.group(2).lower() not in _UNITS:
        raise ModelError(f"limit.{name}", f"cannot read {val!r} (a number, optionally with k/M/G or KiB/MiB/GiB)")
    value = float(m.group(1)) * _UNITS[m.group(2).lower()]
    return name, _check_value(name, value)


def limits_from_env(env: dict | None = None) -> Limits:
    """The defaults updated by ``DMD_OPT_LIMITS="name=value,…"`` (empty: the defaults)."""
    text = (os.environ if env is None else env).get("DMD_OPT_LIMITS", "")
    changes = dict(parse_limit(part) for part in text.split(",") if part.strip())
    return DEFAULT.replace(**changes) if changes else DEFAULT


# ---------------------------------------------------------------------------------------
# refusing
# ---------------------------------------------------------------------------------------
def fmt(n: float, unit: str = "") -> str:
    """A short human figure: ``1.2e+09``, ``4.5 GiB`` (unit ``"bytes"``), ``3,000``."""
    if unit == "bytes":
        for u, s in (("TiB", 2 ** 40), ("GiB", GiB), ("MiB", MiB), ("KiB", 2 ** 10)):
            if n >= s:
                return f"{n / s:.3g} {u}"
        return f"{int(n)} bytes"
    if n < 1e6 and float(n).is_integer():
        return f"{int(n):,}"
    return f"{float(n):.3g}"


def check_size(field: str, estimate: float, limit: str, *, what: str, noun: str = "",
               alternative: str | None = None) -> None:
    """Refuse (:class:`LimitError` on ``field``) when ``estimate`` exceeds the limit named ``limit``.

    The message reads "``what`` ``estimate`` ``noun`` (limit … ``limit``); ``alternative``;
    or raise the limit …", e.g. "the history tree would have 2.3e+18 nodes (limit 2e+07
    tree_nodes); use …".
    """
    if limit == "memory":
        cap = memory_budget()
    else:
        cap = getattr(current(), limit)
    if not (estimate <= cap):          # also catches NaN
        unit = "bytes" if limit in ("memory", "file_bytes", "certificate_bytes", "side_file_bytes") else ""
        under = ", under this process' address-space limit" if limit == "memory" and cap < current().memory else ""
        msg = (f"{what} {fmt(estimate, unit)}{' ' + noun if noun else ''} "
               f"(limit {fmt(cap, unit)} {limit}{under})")
        if alternative:
            msg += f"; {alternative}"
        msg += f"; or raise the limit (--limit {limit}=… or dmd_opt.core.limits.set_limits({limit}=…))"
        raise LimitError(field, msg, name=limit, estimate=float(estimate), limit=float(cap))


def memory_budget() -> int:
    """Bytes one structure may take: the ``memory`` limit, capped by half of the head-room
    under the process' address-space limit (``RLIMIT_AS``) when one is set."""
    cap = current().memory
    try:
        import resource
        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):  # pragma: no cover - non-POSIX
        return cap
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return cap
    used = _address_space_used()
    return int(max(0, min(cap, (soft - used) // 2)))


def _address_space_used() -> int:
    try:
        with open("/proc/self/statm", "rb") as fh:
            pages = int(fh.read().split()[0])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # pragma: no cover - no /proc
        return 0


# ---------------------------------------------------------------------------------------
# estimators (plain numbers in, exact Python integers for counts: no overflow)
# ---------------------------------------------------------------------------------------
def product(values: Iterable) -> int:
    """Exact product of non-negative integers (Python ints: never wraps around)."""
    out = 1
    for v in values:
        out *= int(v)
    return out


def tree_nodes(profiles: Sequence[int]) -> int:
    r""":math:`\sum_t \prod_{s\le t} R_s` — nodes of the history tree with ``R_t`` profiles at ``t``.

    Stops early once the sum exceeds every plausible limit (the exact figure of a
    10\ :sup:`9`-period tree is not needed to refuse it).
    """
    total, k = 0, 1
    for r in profiles:
        k *= int(r)
        total += k
        if total > 10 ** 30:
            return total
    return total


def check_periods(field: str, periods, *, per_period_bytes: float = 0.0, alternative: str | None = None) -> None:
    """A finite horizon's per-period tables: ``periods`` against ``periods`` and memory."""
    check_size(field, periods, "periods", what="a horizon of", noun="periods", alternative=alternative or
               'use horizon = "infinite" (a stationary model) where the model allows it')
    if per_period_bytes:
        check_size(field, periods * per_period_bytes, "memory", what="its per-period tables would take",
                   alternative=alternative)


def check_tree(field: str, profiles: Sequence[int], *, values_per_node: float = 1.0,
               alternative: str | None = None) -> int:
    """Refuse a history tree over ``profiles`` (profiles per period) that is too large; returns its node count."""
    nodes = tree_nodes(profiles)
    alt = alternative or ('shorten the horizon, or use a stationary model (horizon = "infinite") '
                          'and a Markov mechanism')
    check_size(field, nodes, "tree_nodes", what="the history tree would have", noun="nodes", alternative=alt)
    check_size(field, nodes * values_per_node * 8.0, "memory", what="the history tree's arrays would take",
               alternative=alt)
    return nodes


def check_rows(field: str, rows: float, *, nonzeros: float | None = None, alternative: str | None = None,
               what: str = "the program would have") -> None:
    """An LP of ``rows`` rows (and ``nonzeros`` coefficients: ~40 bytes each while it is built)."""
    check_size(field, rows, "rows", what=what, noun="rows", alternative=alternative)
    if nonzeros is not None:
        check_size(field, 40.0 * nonzeros + 64.0 * rows, "memory", what="building the program would take",
                   alternative=alternative)


def check_dense(field: str, shape: Sequence, *, itemsize: int = 8, copies: float = 1.0, what: str | None = None,
                alternative: str | None = None) -> None:
    """A dense array of ``shape`` (``copies`` of it alive at once)."""
    n = product(shape)
    desc = what or f"a dense {'×'.join(str(int(s)) for s in shape)} array would take"
    check_size(field, n * itemsize * copies, "memory", what=desc, alternative=alternative)


def check_count(field: str, count: float, limit: str, *, what: str, noun: str = "",
                alternative: str | None = None, bytes_each: float = 0.0) -> None:
    """A count against the limit ``limit`` (and, with ``bytes_each``, against memory)."""
    check_size(field, count, limit, what=what, noun=noun, alternative=alternative)
    if bytes_each:
        check_size(field, count * bytes_each, "memory", what=f"{what} — taking", alternative=alternative)


def check_grid(field: str, points: float, *, rows_per_point: float, nonzeros_per_point: float,
               alternative: str = "use a coarser grid") -> None:
    """A stacked Bellman LP on ``points`` grid states (``dmd_opt.dp.bellman``): the grid against
    ``grid_points``, the stacked LP against ``rows`` and ``memory``."""
    check_count(field, points, "grid_points", what="the grid would have", noun="points", alternative=alternative)
    check_rows(field, points * rows_per_point, nonzeros=points * nonzeros_per_point,
               what="the stacked Bellman LP would have", alternative=alternative)


def check_simulation(field: str, paths: float, periods: float, *, bytes_per_cell: float = 24.0) -> None:
    """Simulated paths × periods against ``simulation`` and ``memory``."""
    cells = (int(paths) * (int(periods) + 1))
    alt = "simulate fewer paths or periods (simulate_paths, simulate_periods)"
    check_count(field, cells, "simulation", what="the simulation would have", noun="path-periods",
                alternative=alt, bytes_each=bytes_per_cell)


def revenue_program_size(profiles: Sequence[int], types: Sequence[Sequence[int]],
                         decisions: Sequence[int], *, full: bool = True) -> dict:
    r"""Size of the revenue program on the history tree (``families.revenue``).

    With :math:`K_t` nodes at period ``t`` (:math:`K_{-1} = 1`), agent ``i`` with :math:`n_{i,t}`
    types and :math:`|A_t|` decisions: at most :math:`K_{t-1} n_{i,t}` value rows (a value per
    history before ``t`` and true type) and :math:`K_{t-1} n_{i,t}(n_{i,t}-1)` IC rows (every
    misreport); a row sums over the :math:`K_t/(K_{t-1}n_{i,t})` completions by the others'
    reports, each with :math:`|A_t| + 2 + n_{i,t+1}` coefficients, so value and IC rows hold
    :math:`K_t(|A_t|+2+n_{i,t+1})` and :math:`K_t(n_{i,t}-1)(|A_t|+2+n_{i,t+1})` coefficients.
    Lottery, budget and (periodic) participation rows add :math:`2K_t + K_{t-1}n_{i,t}`.
    ``full=False``: the constraint-generation skeleton (value rows only, IC rows added lazily).
    """
    T = len(profiles)
    K, k = [], 1
    for r in profiles:
        k *= int(r)
        K.append(k)
    rows = nnz = 0
    cols = 0
    for t in range(T):
        H = K[t - 1] if t else 1                           # histories before period t
        cols += K[t] * (int(decisions[t]) + len(types[t])) + K[t] * len(types[t])
        rows += 2 * K[t]                                   # lottery and (optional) budget rows
        for i, n in enumerate(types[t]):
            n = int(n)
            n_next = int(types[t + 1][i]) if t + 1 < T else 0
            per = int(decisions[t]) + 2 + n_next
            rows += H * n * (n if full else 1) + H * n      # value (+ IC) and participation rows
            nnz += K[t] * (n if full else 1) * per
    return {"nodes": sum(K), "rows": rows, "columns": cols, "nonzeros": nnz}


__all__ = ["Limits", "DEFAULT", "NAMES", "GiB", "MiB", "current", "set_limits", "using", "parse_limit",
           "limits_from_env", "check_size", "memory_budget", "tree_nodes", "check_periods", "check_tree",
           "check_rows", "check_dense", "check_count", "check_grid", "check_simulation", "revenue_program_size", "product", "fmt"]

try:
    _process_default[0] = limits_from_env()
except ModelError as _exc:  # a bad DMD_OPT_LIMITS must not make the package unimportable
    import warnings
    warnings.warn(f"DMD_OPT_LIMITS ignored: {_exc}", stacklevel=1)
