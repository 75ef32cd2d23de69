r"""The solver-neutral program: a labelled sparse LP / separable convex QP.

A :class:`Program` is

.. math::

    \text{opt}_{x}\; c^\top x + \tfrac12 \sum_j Q_j x_j^2 + c_0
    \quad\text{s.t.}\quad \ell^r \le A x \le u^r,\;\; \ell^x \le x \le u^x,

with ``sense`` = ``"max"`` or ``"min"`` (for ``"max"`` the diagonal ``Q`` must be
≤ 0, for ``"min"`` ≥ 0, so the program is convex).  Variables come in named
blocks (``x``, ``p``, ``V`` …) with an array shape; constraints come in blocks
added as whole COO triplets, each row carrying a label record

    family, agent, period, history, true_type, report

(integers, −1 where not applicable; ``family`` is a string per block).  Rows
are never Python objects: a block is ``(rows, cols, vals)`` numpy arrays plus
bound and label arrays, and :meth:`Program.matrix` concatenates all blocks
into one CSR matrix once.

Dual sign convention (every backend): ``row_dual[r]`` is the derivative of the
optimal objective value (in the program's own sense) with respect to the
right-hand side of row ``r``'s active bound; ``col_dual[j]`` likewise for
variable ``j``'s active bound.  So for ``max`` a binding ``≥`` row has dual ≤ 0
and a binding ``≤`` row has dual ≥ 0.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

LABEL_FIELDS = ("agent", "period", "history", "true_type", "report")


def _num(a) -> np.ndarray:
    """Numbers as a float array — or, for the exact rebuild of a certificate check
    (:mod:`dmd_opt.certificates.exact_data`), as the object array of rationals it is."""
    a = np.asarray(a)
    return a if a.dtype == object else a.astype(float)


@dataclass
class VarBlock:
    """A named block of variables occupying columns ``offset .. offset+size-1``."""

    name: str
    shape: tuple[int, ...]
    offset: int
    lb: np.ndarray
    ub: np.ndarray
    description: str = ""

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def index(self) -> np.ndarray:
        """Column indices arranged in the block's shape."""
        return np.arange(self.offset, self.offset + self.size).reshape(self.shape)


@dataclass
class ConBlock:
    """A block of rows: COO triplets with *local* row numbers, bounds and labels."""

    family: str
    n_rows: int
    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    labels: dict[str, np.ndarray]
    offset: int = 0
    description: str = ""


@dataclass
class Program:
    """A labelled LP/QP built block by block (see module docstring)."""

    name: str = "program"
    sense: str = "max"
    var_blocks: dict[str, VarBlock] = field(default_factory=dict)
    con_blocks: list[ConBlock] = field(default_factory=list)
    n_vars: int = 0
    n_rows: int = 0
    c: np.ndarray | None = None
    q_diag: np.ndarray | None = None
    objective_offset: float = 0.0
    objective_scale: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)
    _A: sp.csr_matrix | None = None

    # ---- building ----------------------------------------------------------------
    def add_variables(self, name: str, shape, lb=-np.inf, ub=np.inf, description: str = "") -> np.ndarray:
        """Add a variable block; returns its column indices in ``shape``."""
        if name in self.var_blocks:
            raise ValueError(f"variable block {name!r} already exists")
        shape = tuple(int(s) for s in np.atleast_1d(shape))
        size = int(np.prod(shape, dtype=np.int64))
        blk = VarBlock(name, shape, self.n_vars,
                       np.broadcast_to(_num(lb), shape).ravel().copy(),
                       np.broadcast_to(_num(ub), shape).ravel().copy(), description)
        self.var_blocks[name] = blk
        self.n_vars += size
        self._A = None
        return blk.index()

    def add_constraints(self, family: str, n_rows: int, rows, cols, vals, lo, hi,
                        description: str = "", **labels) -> int:
        """Add ``n_rows`` rows given as COO triplets with local row numbers.

        ``lo``/``hi`` broadcast to ``n_rows``; each label in ``LABEL_FIELDS``
        broadcasts too (default −1).  Returns the global offset of the block.
        """
        n_rows = int(n_rows)
        lab = {}
        for k in LABEL_FIELDS:
            v = labels.pop(k, -1)
            lab[k] = np.broadcast_to(np.asarray(v, dtype=np.int64), (n_rows,)).copy()
        if labels:
            raise TypeError(f"unknown label fields {sorted(labels)}")
        blk = ConBlock(family, n_rows, np.asarray(rows, np.int64).ravel(),
                       np.asarray(cols, np.int64).ravel(), _num(vals).ravel(),
                       np.broadcast_to(_num(lo), (n_rows,)).copy(),
                       np.broadcast_to(_num(hi), (n_rows,)).copy(),
                       lab, self.n_rows, description)
        if not (blk.rows.shape == blk.cols.shape == blk.vals.shape):
            raise ValueError("rows, cols and vals must have the same length")
        self.con_blocks.append(blk)
        self.n_rows += n_rows
        self._A = None
        return blk.offset

    def set_objective(self, c: np.ndarray, sense: str = "max", q_diag: np.ndarray | None = None,
                      offset: float = 0.0) -> None:
        if sense not in ("max", "min"):
            raise ValueError("sense must be 'max' or 'min'")
        self.c = _num(c)
        self.sense = sense
        self.q_diag = None if q_diag is None or not np.any(q_diag) else _num(q_diag)
        self.objective_offset = offset if _num(offset).dtype == object else float(offset)

    # ---- assembled views -------------------------------------------------------------
    @property
    def col_lower(self) -> np.ndarray:
        return np.concatenate([b.lb for b in self.var_blocks.values()]) if self.var_blocks else np.zeros(0)

    @property
    def col_upper(self) -> np.ndarray:
        return np.concatenate([b.ub for b in self.var_blocks.values()]) if self.var_blocks else np.zeros(0)

    @property
    def row_lower(self) -> np.ndarray:
        return np.concatenate([b.lo for b in self.con_blocks]) if self.con_blocks else np.zeros(0)

    @property
    def row_upper(self) -> np.ndarray:
        return np.concatenate([b.hi for b in self.con_blocks]) if self.con_blocks else np.zeros(0)

    def objective_vector(self) -> np.ndarray:
        return np.zeros(self.n_vars) if self.c is None else self.c

    def matrix(self) -> sp.csr_matrix:
        """All constraint blocks as one CSR matrix (cached; duplicates summed)."""
        if self._A is None:
            if self.con_blocks:
                r = np.concatenate([b.rows + b.offset for b in self.con_blocks])
                c = np.concatenate([b.cols for b in self.con_blocks])
                v = np.concatenate([b.vals for b in self.con_blocks])
            else:
                r = c = np.zeros(0, np.int64)
                v = np.zeros(0)
            A = sp.csr_matrix((v, (r, c)), shape=(self.n_rows, self.n_vars))
            A.sum_duplicates()
            self._A = A
        return self._A

    def row_families(self) -> np.ndarray:
        """Family name of every row (object array)."""
        return np.concatenate([np.full(b.n_rows, b.family, dtype=object) for b in self.con_blocks]) \
            if self.con_blocks else np.zeros(0, dtype=object)

    def row_labels(self) -> dict[str, np.ndarray]:
        out = {"family": self.row_families()}
        for k in LABEL_FIELDS:
            out[k] = np.concatenate([b.labels[k] for b in self.con_blocks]) if self.con_blocks \
                else np.zeros(0, np.int64)
        return out

    def labels_frame(self):
        """Row labels as a pandas DataFrame (one row per constraint)."""
        import pandas as pd
        return pd.DataFrame(self.row_labels())

    def block(self, name: str) -> VarBlock:
        return self.var_blocks[name]

    def block_slice(self, name: str) -> slice:
        b = self.var_blocks[name]
        return slice(b.offset, b.offset + b.size)

    def values(self, x: np.ndarray, name: str) -> np.ndarray:
        """The part of a full primal vector belonging to block ``name``, in its shape."""
        b = self.var_blocks[name]
        return np.asarray(x[b.offset:b.offset + b.size]).reshape(b.shape)

    def family_rows(self, family: str) -> np.ndarray:
        """Global row indices of every row of a family."""
        idx = [np.arange(b.offset, b.offset + b.n_rows) for b in self.con_blocks if b.family == family]
        return np.concatenate(idx) if idx else np.zeros(0, np.int64)

    def objective_value(self, x: np.ndarray) -> float:
        val = float(self.objective_vector() @ x) + self.objective_offset
        if self.q_diag is not None:
            val += 0.5 * float(self.q_diag @ (x * x))
        return val

    def fingerprint(self) -> str:
        """SHA-256 of the program data (matrix, bounds, objective, sense)."""
        A = self.matrix()
        h = hashlib.sha256()
        for arr in (A.indptr, A.indices, A.data, self.col_lower, self.col_upper,
                    self.row_lower, self.row_upper, self.objective_vector(),
                    np.zeros(0) if self.q_diag is None else self.q_diag):
            a = np.ascontiguousarray(arr)
            h.update(str(a.dtype).encode())
            h.update(str(a.shape).encode())
            h.update(a.tobytes())
        h.update(self.sense.encode())
        h.update(repr(self.objective_offset).encode())
        return h.hexdigest()

    def summary(self) -> dict:
        fams: dict[str, int] = {}
        for b in self.con_blocks:
            fams[b.family] = fams.get(b.family, 0) + b.n_rows
        return {"name": self.name, "sense": self.sense, "variables": self.n_vars,
                "rows": self.n_rows, "nonzeros": int(self.matrix().nnz),
                "quadratic": self.q_diag is not None, "families": fams}
