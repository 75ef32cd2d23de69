r"""The program's data as the rationals the model states — not as rounded floats.

A revenue program's coefficients are products of model data: a node probability
is :math:`\pi(\theta_0)\prod_s P(\theta_{s+1}\mid\theta_s)`, an objective weight
:math:`\delta^t` times it.  With short decimals (0.3, 0.7, 0.9) such a product
is a rational with a modest denominator (:math:`10^{2T}`), but the float the
builder stores is that rational rounded, and reading the float back as "the
simplest nearby fraction" fails once the denominator exceeds what a double
pins down (about :math:`10^{8}`).  The exact program is then a 1e-17 perturbation
of the intended one: a payment whose cost and constraint coefficients should
cancel exactly does not, and the exact LP is unbounded along it.

The fix is to build the program a second time from rational data: every float of
the model (the parsed :class:`~dmd_opt.core.environment.Environment`, or any
other dataclass of arrays) is replaced by an :class:`Exact` number — the simple
fraction it was written as (:func:`.exact.nice`: 0.3 → 3/10, 0.3333333333333333
→ 1/3) — and the kind's own builder runs unchanged on it, so that every product
and sum is carried out in rational arithmetic (python-flint ``fmpq``).
:func:`exact_program_data` then returns the rational matrix, costs and bounds
aligned with the float program, after checking that each rational rounds to the
stored float (the two builds describe the same program).

:class:`Exact` refuses nothing a builder does with floats: a float constant in
the builder (``1.0``, a weight ``0.5``) is read the same way as model data, and
the build records that it happened.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from dmd_opt.certificates import exact as X


class Exact:
    """A rational number that mixes with ints and floats (floats read by :func:`.exact.nice`)."""

    __slots__ = ("q",)

    def __init__(self, q):
        self.q = q

    @staticmethod
    def of(v) -> "Exact":
        if isinstance(v, Exact):
            return v
        if isinstance(v, (bool, np.bool_)):
            return Exact(X.Q(int(v)))
        if isinstance(v, (int, np.integer)):
            return Exact(X.Q(int(v)))
        if isinstance(v, (float, np.floating)):
            if not np.isfinite(v):
                raise ValueError("a non-finite number in the program data")
            return Exact(X.nice(float(v)))
        return Exact(X.Q(v))

    # arithmetic
    def __add__(self, o):
        o = _q_or_none(o)
        return NotImplemented if o is None else Exact(self.q + o)

    __radd__ = __add__

    def __sub__(self, o):
        o = _q_or_none(o)
        return NotImplemented if o is None else Exact(self.q - o)

    def __rsub__(self, o):
        o = _q_or_none(o)
        return NotImplemented if o is None else Exact(o - self.q)

    def __mul__(self, o):
        o = _q_or_none(o)
        return NotImplemented if o is None else Exact(self.q * o)

    __rmul__ = __mul__

    def __truediv__(self, o):
        o = _q_or_none(o)
        return NotImplemented if o is None else Exact(self.q / o)

    def __rtruediv__(self, o):
        o = _q_or_none(o)
        return NotImplemented if o is None else Exact(o / self.q)

    def __pow__(self, k):
        if not isinstance(k, (int, np.integer)):
            raise TypeError("only integer powers of exact numbers")
        return Exact(self.q ** int(k))

    def __neg__(self):
        return Exact(-self.q)

    def __pos__(self):
        return self

    def __abs__(self):
        return Exact(abs(self.q))

    # comparisons
    def __eq__(self, o):
        try:
            return self.q == _q(o)
        except (TypeError, ValueError):
            return NotImplemented

    def __ne__(self, o):
        r = self.__eq__(o)
        return r if r is NotImplemented else not r

    def __lt__(self, o):
        return self.q < _q(o)

    def __le__(self, o):
        return self.q <= _q(o)

    def __gt__(self, o):
        return self.q > _q(o)

    def __ge__(self, o):
        return self.q >= _q(o)

    def __hash__(self):
        return hash(self.q)

    def __bool__(self):
        return self.q != 0

    def __float__(self):
        return X.to_float(self.q)

    def __repr__(self):
        return f"Exact({self.q})"


def _q(o):
    if isinstance(o, Exact):
        return o.q
    return Exact.of(o).q


_SCALARS = (int, float, np.integer, np.floating, bool, np.bool_)


def _q_or_none(o):
    """The rational of a scalar operand; None (→ NotImplemented) for arrays and the like."""
    if isinstance(o, Exact):
        return o.q
    if isinstance(o, _SCALARS):
        return Exact.of(o).q
    if X.flint is not None and isinstance(o, X.flint.fmpq):
        return o
    return None


def exact_array(a) -> np.ndarray:
    """A float array as an object array of :class:`Exact` (same shape; ±inf entries stay floats)."""
    a = np.asarray(a)
    if a.dtype == object:
        return a
    out = np.empty(a.shape, dtype=object)
    flat = out.reshape(-1)
    src = a.reshape(-1)
    finite = np.isfinite(src) if a.dtype.kind == "f" else np.ones(src.size, bool)
    vals = X.nicevec(np.where(finite, src, 0.0).astype(float)) if a.dtype.kind == "f" \
        else [X.Q(int(v)) for v in src]
    for k, v in enumerate(vals):
        flat[k] = Exact(v) if finite[k] else float(src[k])
    out.setflags(write=False)
    return out


def rational_twin(obj: Any, _depth: int = 0) -> Any:
    """A copy of model data with every float (scalar or array) made :class:`Exact`.

    Walks dataclasses (without calling their constructors, so nothing is re-validated
    or coerced back to floats), tuples, lists and dicts; integer arrays stay as they are.
    """
    if _depth > 50:
        raise ValueError("model data nested too deeply for an exact rebuild")
    if isinstance(obj, np.ndarray):
        return exact_array(obj) if obj.dtype.kind == "f" else obj
    if isinstance(obj, (float, np.floating)):
        return Exact.of(obj) if np.isfinite(obj) else obj      # ±inf (an absent bound) stays a float
    if isinstance(obj, (bool, np.bool_, int, np.integer, str, type(None))):
        return obj
    if isinstance(obj, tuple):
        return tuple(rational_twin(v, _depth + 1) for v in obj)
    if isinstance(obj, list):
        return [rational_twin(v, _depth + 1) for v in obj]
    if isinstance(obj, dict):
        return {k: rational_twin(v, _depth + 1) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        new = object.__new__(type(obj))
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.name == "source":                       # the raw input: kept for fingerprints only
                object.__setattr__(new, f.name, value)
            else:
                object.__setattr__(new, f.name, rational_twin(value, _depth + 1))
        return new
    raise TypeError(f"cannot make {type(obj).__name__} exact")


def _rationals(a) -> list:
    """fmpq values of an array of Exact / ints / floats (floats by :func:`.exact.nice`)."""
    a = np.asarray(a)
    if a.dtype != object:
        return X.nicevec(a.astype(float)) if a.dtype.kind == "f" else [X.Q(int(v)) for v in a]
    return [v.q if isinstance(v, Exact) else Exact.of(v).q for v in a.reshape(-1)]


def _bounds(a) -> list:
    """Rationals of a bound array, None for ±inf."""
    a = np.asarray(a)
    out = []
    for v in a.reshape(-1):
        if isinstance(v, Exact):
            out.append(v.q)
        elif v is None or not np.isfinite(float(v)):
            out.append(None)
        else:
            out.append(Exact.of(v).q)
    return out


@dataclasses.dataclass
class ExactData:
    """Rational data of a program, aligned with its float arrays (CSR order of ``matrix()``)."""

    A: list                   # values aligned with program.matrix().data
    c: list
    q: list | None
    row_lower: list           # None for −inf
    row_upper: list
    col_lower: list
    col_upper: list
    offset: Any
    max_rel_difference: float


def exact_program_data(exact_prog, prog, rel_tol: float = 1e-9) -> ExactData:
    """The rational data of ``exact_prog`` (a build on :func:`rational_twin` data), aligned with ``prog``.

    Raises ``ValueError`` when the two builds differ in structure or when a
    rational does not round to the stored float within ``rel_tol`` (relative).
    """
    A = prog.matrix()
    if exact_prog.n_rows != prog.n_rows or exact_prog.n_vars != prog.n_vars:
        raise ValueError("the exact build has a different shape")
    r = np.concatenate([b.rows + b.offset for b in exact_prog.con_blocks]) if exact_prog.con_blocks else np.zeros(0, np.int64)
    cidx = np.concatenate([b.cols for b in exact_prog.con_blocks]) if exact_prog.con_blocks else np.zeros(0, np.int64)
    vals = []
    for b in exact_prog.con_blocks:
        vals.extend(_rationals(b.vals))
    order = np.lexsort((cidx, r))
    r, cidx = r[order], cidx[order]
    vals = [vals[k] for k in order.tolist()]
    # sum duplicates (the float matrix does the same)
    if r.size:
        new = np.r_[True, (r[1:] != r[:-1]) | (cidx[1:] != cidx[:-1])]
        starts = np.nonzero(new)[0]
        ends = np.r_[starts[1:], r.size]
        merged = []
        for s, e in zip(starts.tolist(), ends.tolist()):
            acc = vals[s]
            for k in range(s + 1, e):
                acc = acc + vals[k]
            merged.append(acc)
        ur, uc = r[starts], cidx[starts]
    else:
        merged, ur, uc = [], r, cidx
    # align with the float CSR (which may hold structural zeros the exact build also has)
    if ur.size != A.nnz or not (np.array_equal(ur, np.repeat(np.arange(A.shape[0]), np.diff(A.indptr)))
                                and np.array_equal(uc, A.indices)):
        raise ValueError("the exact build has a different sparsity pattern")
    worst = _compare(merged, A.data)
    c_ex = _rationals(exact_prog.objective_vector())
    worst = max(worst, _compare(c_ex, prog.objective_vector()))
    q_ex = None
    if prog.q_diag is not None:
        if exact_prog.q_diag is None:
            raise ValueError("the exact build has no quadratic part")
        q_ex = _rationals(exact_prog.q_diag)
        worst = max(worst, _compare(q_ex, prog.q_diag))
    bounds = []
    for name in ("row_lower", "row_upper", "col_lower", "col_upper"):
        ex = _bounds(getattr(exact_prog, name))
        fl = getattr(prog, name)
        if any((e is None) != (not np.isfinite(f)) for e, f in zip(ex, fl)):
            raise ValueError(f"the exact build has different infinite {name.replace('_', ' ')}s")
        worst = max(worst, _compare([e if e is not None else X.ZERO for e in ex], np.where(np.isfinite(fl), fl, 0.0)))
        bounds.append(ex)
    if worst > rel_tol:
        raise ValueError(f"the rational data differ from the stored floats by up to {worst:.3g} (relative)")
    off = Exact.of(exact_prog.objective_offset).q if not isinstance(exact_prog.objective_offset, Exact) \
        else exact_prog.objective_offset.q
    return ExactData(merged, c_ex, q_ex, *bounds, off, worst)


def _compare(exact: list, floats) -> float:
    """Largest relative difference between rationals and floats."""
    f = np.asarray(floats, float).ravel()
    if len(exact) != f.size:
        raise ValueError("the exact build has a different number of values")
    if f.size == 0:
        return 0.0
    e = np.array([X.to_float(v) for v in exact])
    return float(np.max(np.abs(e - f) / np.maximum(np.abs(f), 1e-300)))


def build_exact(build, data, **options):
    """Run a kind's builder on the rational twin of its model data; returns the exact-valued Program."""
    twin = rational_twin(data)
    return build(twin, **options)
