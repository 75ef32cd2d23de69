r"""Exact rational linear algebra for certificate checks (python-flint).

Every float in a :class:`~dmd_opt.optim.program.Program` is a dyadic rational, so the
program *as stored* has an exact optimum.  The checker re-solves square
systems :math:`Mw = r` (the optimal basis, or the KKT system of an active set)
in :class:`flint.fmpq` arithmetic.  Dense rational elimination of an
:math:`m\times m` basis would be far too slow for thousands of rows, so the
sparse matrix is first put in *block triangular form* (Duff 1977; Pothen & Fan
1990, "Computing the block triangular form of a sparse matrix"):

1. a maximum bipartite matching of rows to columns puts a nonzero on every
   diagonal position (none exists ⇒ the matrix is structurally singular);
2. the strongly connected components of the directed graph "equation i uses
   unknown j" are the irreducible diagonal blocks, and a topological order of
   the component graph is a block back-substitution order.

Tree-of-histories programs are nearly triangular (a value row defines
:math:`V(h,\theta)` from the children of :math:`h`), so most blocks have one
row and the work is a sparse substitution; the few larger blocks (IC rows that
tie the payments of one node together) are solved densely with
``fmpq_mat.solve``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, maximum_bipartite_matching

try:
    import flint
    Q = flint.fmpq
    ZERO = Q(0)
except ImportError:  # pragma: no cover - flint is a dependency; Fractions keep it working
    flint = None
    Q = Fraction
    ZERO = Fraction(0)


class SingularSystem(ValueError):
    """The square system has no unique solution."""


def q(v: float):
    """The exact rational value of a finite float (or an int)."""
    if isinstance(v, (int, np.integer)):
        return Q(int(v))
    n, d = float(v).as_integer_ratio()
    return Q(n, d)


def nice(v: float, max_den: int = 10 ** 6):
    """The simplest fraction (denominator ≤ ``max_den``) within 4 units in the last place of ``v``.

    Model data such as 1/3 or 0.1 are stored as the nearest doubles, and
    products of them (a node probability 0.3 × 0.35) are a rounding or two
    away from the intended rational; read back this way they are the intended
    rationals.  Fractions with denominators ≤ 10⁶ are ~1e-12 apart, so a double
    within 4 ulps of one is no coincidence.  Falls back to the exact dyadic value.
    """
    f = Fraction(float(v)).limit_denominator(max_den)
    if abs(float(f) - float(v)) <= 4 * np.spacing(abs(float(v))):
        return Q(f.numerator, f.denominator)
    return q(v)


_NICE: dict = {}
_EXACT: dict = {}


def _cached(a, cache: dict, fn) -> list:
    a = np.asarray(a, float)
    if not np.all(np.isfinite(a)):
        raise ValueError("cannot convert a non-finite number to a rational")
    out = []
    get = cache.get
    for v in a.tolist():
        r = get(v)
        if r is None:
            r = cache[v] = fn(v)
        out.append(r)
    if len(cache) > 1_000_000:   # model data repeat a few values; keep the cache bounded
        cache.clear()
    return out


def nicevec(a, max_den: int = 10 ** 6) -> list:
    """:func:`nice` of every entry (converted once per distinct value)."""
    return _cached(a, _NICE, nice)


def qvec(a) -> list:
    """Exact rationals of a float array (inf/nan are not allowed here)."""
    return _cached(a, _EXACT, q)


def to_float(v) -> float:
    if flint is not None and isinstance(v, flint.fmpq):
        return int(v.p) / int(v.q)
    return float(v)


def as_fraction(v) -> Fraction:
    if flint is not None and isinstance(v, flint.fmpq):
        return Fraction(int(v.p), int(v.q))
    return Fraction(v)


class RationalCSR:
    """A float CSR matrix with its entries converted to rationals once."""

    def __init__(self, A: sp.spmatrix, rationalize: bool = False):
        A = sp.csr_matrix(A)
        A.sum_duplicates()
        self.A = A
        self.shape = A.shape
        self.indptr = A.indptr
        self.indices = A.indices
        self.data = (nicevec if rationalize else qvec)(A.data)

    def matvec(self, x: list) -> list:
        """Exact ``A @ x`` for a list of rationals."""
        out = []
        ip, ix, d = self.indptr, self.indices, self.data
        for i in range(self.shape[0]):
            s = ZERO
            for k in range(ip[i], ip[i + 1]):
                s += d[k] * x[ix[k]]
            out.append(s)
        return out

    def rmatvec(self, y: list, nz_rows=None) -> list:
        """Exact ``A.T @ y`` (only rows with nonzero ``y`` are visited)."""
        out = [ZERO] * self.shape[1]
        ip, ix, d = self.indptr, self.indices, self.data
        rows = range(self.shape[0]) if nz_rows is None else nz_rows
        for i in rows:
            yi = y[i]
            if yi == 0:
                continue
            for k in range(ip[i], ip[i + 1]):
                j = ix[k]
                out[j] += d[k] * yi
        return out


def solve_sparse(M: sp.spmatrix, rhs: list, Mq: list | None = None, conv=None) -> list:
    """Solve the square system ``M w = rhs`` exactly (see the module docstring).

    ``M`` is a float sparse matrix (its entries are taken as exact rationals,
    or given in ``Mq`` aligned with ``M.tocsr().data``); ``rhs`` a list of
    rationals.  Raises :class:`SingularSystem` when no unique solution exists.
    """
    M = sp.csr_matrix(M)
    M.sum_duplicates()
    M.eliminate_zeros()
    m, n = M.shape
    if m != n:
        raise SingularSystem(f"the system is not square ({m} equations, {n} unknowns)")
    if m == 0:
        return []
    data = Mq if Mq is not None else (conv or qvec)(M.data)
    match = maximum_bipartite_matching(M, perm_type="column")   # row i -> column match[i]
    if np.any(match < 0):
        raise SingularSystem(f"structurally singular: {int(np.sum(match < 0))} equations without a pivot")
    # Unknown of column match[i] is "solved by" equation i: graph on equations,
    # edge i -> i' when equation i uses the unknown solved by equation i'.
    owner = np.empty(n, np.int64)
    owner[match] = np.arange(m)
    rows_of = np.repeat(np.arange(m), np.diff(M.indptr))
    dst = owner[M.indices]
    keep = rows_of != dst
    G = sp.csr_matrix((np.ones(int(keep.sum()), np.int8), (rows_of[keep], dst[keep])), shape=(m, m))
    ncomp, comp = connected_components(G, directed=True, connection="strong")
    order = _topological_order(ncomp, comp, rows_of[keep], dst[keep])
    members = [[] for _ in range(ncomp)]
    for i in np.argsort(comp, kind="stable").tolist():
        members[comp[i]].append(i)
    w = [None] * n
    ip, ix = M.indptr, M.indices
    for c in reversed(order):  # sinks first: they depend on nothing unsolved
        eqs = members[c]
        unk = [int(match[i]) for i in eqs]
        if len(eqs) == 1:
            i, j = eqs[0], unk[0]
            s = rhs[i]
            piv = None
            for k in range(ip[i], ip[i + 1]):
                jj = ix[k]
                if jj == j:
                    piv = data[k]
                else:
                    s -= data[k] * w[jj]
            if piv == 0:
                raise SingularSystem(f"zero pivot at equation {i}")
            w[j] = s / piv
            continue
        pos = {j: a for a, j in enumerate(unk)}
        size = len(eqs)
        dense = [[ZERO] * size for _ in range(size)]
        b = []
        for a, i in enumerate(eqs):
            s = rhs[i]
            for k in range(ip[i], ip[i + 1]):
                jj = ix[k]
                p = pos.get(jj)
                if p is None:
                    s -= data[k] * w[jj]
                else:
                    dense[a][p] = data[k]
            b.append(s)
        sol = _dense_solve(dense, b)
        for a, j in enumerate(unk):
            w[j] = sol[a]
    return w


def _topological_order(ncomp: int, comp: np.ndarray, src: np.ndarray, dst: np.ndarray) -> list[int]:
    """Components ordered so that every edge goes from an earlier to a later one.

    Kahn's algorithm level by level, vectorised: each round takes every
    component without incoming edges (tree programs have few levels).
    """
    cs, cd = comp[src], comp[dst]
    inter = cs != cd
    if not inter.any():
        return list(range(ncomp))
    key = np.unique(cs[inter].astype(np.int64) * ncomp + cd[inter])
    es, ed = key // ncomp, key % ncomp
    E = sp.csr_matrix((np.ones(es.size, np.int64), (es, ed)), shape=(ncomp, ncomp))
    indeg = np.bincount(ed, minlength=ncomp)
    done = np.zeros(ncomp, bool)
    order = []
    frontier = np.nonzero(indeg == 0)[0]
    while frontier.size:
        order.append(frontier)
        done[frontier] = True
        sub = E[frontier]
        if sub.nnz:
            indeg = indeg - np.bincount(sub.indices, minlength=ncomp)
        frontier = np.nonzero((indeg == 0) & ~done)[0]
    out = np.concatenate(order).tolist()
    if len(out) != ncomp:  # cannot happen for a condensation; guard anyway
        raise SingularSystem("component graph is not acyclic")
    return out


def _dense_solve(dense: list[list], b: list) -> list:
    if flint is not None:
        Mm = flint.fmpq_mat(len(dense), len(dense), [v for row in dense for v in row])
        try:
            x = Mm.solve(flint.fmpq_mat(len(b), 1, b))
        except ZeroDivisionError:
            raise SingularSystem(f"a {len(b)}×{len(b)} diagonal block is singular") from None
        return [x[i, 0] for i in range(len(b))]
    # Fractions: Gaussian elimination with pivoting on nonzeros.
    n = len(b)
    a = [row[:] + [b[i]] for i, row in enumerate(dense)]
    for col in range(n):
        piv = next((r for r in range(col, n) if a[r][col] != 0), None)
        if piv is None:
            raise SingularSystem(f"a {n}×{n} diagonal block is singular")
        a[col], a[piv] = a[piv], a[col]
        for r in range(n):
            if r != col and a[r][col] != 0:
                f = a[r][col] / a[col][col]
                a[r] = [u - f * v for u, v in zip(a[r], a[col])]
    return [a[i][n] / a[i][i] for i in range(n)]


def nullspace_vector_near(M: sp.spmatrix, guess: np.ndarray, rationalize: bool = False) -> list | None:
    """An exact rational ``w`` with ``M w = 0`` close to the float ``guess``.

    Used to repair a floating Farkas ray: ``M`` holds the equations the ray
    must satisfy exactly (zero combination of free columns).  Reduced row
    echelon form of ``M`` (dense ``fmpq_mat.rref``) expresses the pivot
    coordinates through the free ones; the free coordinates are set to the
    rationalised guess.  Returns None when that gives the zero vector.
    """
    M = sp.csr_matrix(M)
    r, n = M.shape
    g = [Fraction(v).limit_denominator(10 ** 12) for v in np.asarray(guess, float).tolist()]
    g = [Q(x.numerator, x.denominator) for x in g]
    if r == 0:
        return g
    dense = M.toarray()
    if flint is None:  # pragma: no cover
        raise SingularSystem("python-flint is needed for the null-space repair")
    Mm = flint.fmpq_mat(r, n, (nicevec if rationalize else qvec)(dense.ravel()))
    R, rank = Mm.rref()
    w = list(g)
    pivots = []
    for i in range(rank):
        j = next(j for j in range(n) if R[i, j] != 0)
        pivots.append(j)
    pset = set(pivots)
    for i, j in enumerate(pivots):
        s = ZERO
        for k in range(n):
            if k not in pset and R[i, k] != 0:
                s += R[i, k] * w[k]
        w[j] = -s / R[i, j]
    return w if any(v != 0 for v in w) else None
