r"""The objective transform every backend applies: sense flip and scaling, undone exactly.

A :class:`~dmd_opt.optim.program.Program` states

.. math:: \text{opt}_x\; f(x) = c^\top x + \tfrac12 \textstyle\sum_j Q_j x_j^2 + c_0

in its own sense (``max`` or ``min``).  A backend hands its solver the program

.. math:: \text{sense}'\; g(x) = \kappa\, f(x), \qquad \kappa = \pm 2^k ,

with ``sense' = min`` when :math:`\kappa` flips a ``max`` (HiGHS, cvxpy and the pyomo
models the adapter builds all minimise).  The feasible set is unchanged, so the
primal solution is the same, :math:`f^* = g^*/\kappa`, and every multiplier is
:math:`\kappa` times the program's: with the package convention
(``row_dual[r] = ∂ f*/∂ b_r`` in the program's own sense, :mod:`dmd_opt.optim.program`)

.. math:: y = y'/\kappa,\qquad z = z'/\kappa ,

where :math:`y', z'` are the solver's duals of *its* program (∂ g*/∂ b in its sense).
Because :math:`|\kappa|` is a power of two, multiplying the costs by it and dividing
the duals by it are exact in binary floating point: no digit of a dual is lost.

Why scale at all.  Solvers' dual feasibility tolerances are absolute (HiGHS: 1e-7).
On a deep history tree the objective weights (probability × discount) reach 1e-10,
so those columns are "optimal" at any value and the reported optimum drifts: on the
two-type tree with T = 17 it moved by 1.3e-9 (relative) unscaled, against 1e-15
between two different scalings.  :func:`cost_scale` chooses :math:`|\kappa|`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dmd_opt.core.errors import SolverError
from dmd_opt.optim.program import Program

#: the largest absolute cost after scaling lies in (TARGET/2, TARGET]
TARGET = 1e3


def cost_scale(c: np.ndarray, q: np.ndarray | None = None, target: float = TARGET) -> float:
    """The power of two the objective is multiplied by (``"auto"`` scaling).

    When the nonzero costs span more than six decades and the largest is below
    ``target``, the objective is scaled up by :math:`2^k` so that the largest cost
    lies in (target/2, target]; otherwise 1.  Quadratic programs are left alone:
    HiGHS' QP solver stalled on a scaled quantity QP.
    """
    if q is not None and np.any(q != 0):
        return 1.0
    a = np.abs(c[c != 0]) if c.size else c
    if a.size == 0:
        return 1.0
    big, small = float(a.max()), float(a.min())
    if not np.isfinite(big) or big >= target or small >= 1e-6 * big:
        return 1.0
    return float(2.0 ** np.floor(np.log2(target / big)))


def _power_of_two(scale) -> float:
    try:
        F = float(scale)
    except (TypeError, ValueError):
        F = float("nan")
    if not (F > 0 and np.isfinite(F) and np.log2(F) == np.round(np.log2(F))):
        raise SolverError(f"cost_scale must be a power of two or 'auto', got {scale!r}")
    return F


@dataclass(frozen=True)
class ObjectiveTransform:
    """The solver optimises ``factor × f`` in ``sense`` (module docstring).

    ``factor`` is ±2^k; a negative factor flips the program's sense.
    """

    factor: float
    sense: str

    @classmethod
    def to_min(cls, program: Program, scale="auto") -> "ObjectiveTransform":
        """The minimisation form of ``program``: ``factor = ∓F`` with ``F`` from
        :func:`cost_scale` (``scale="auto"``) or the given power of two."""
        F = cost_scale(program.objective_vector(), program.q_diag) if scale == "auto" else _power_of_two(scale)
        return cls(-F if program.sense == "max" else F, "min")

    @classmethod
    def identity(cls, program: Program) -> "ObjectiveTransform":
        """The program as stated (no flip, no scaling)."""
        return cls(1.0, program.sense)

    # ---- forward: program → solver -----------------------------------------------
    def costs(self, c: np.ndarray) -> np.ndarray:
        """Linear costs (and the constant, and Q's diagonal) as the solver sees them."""
        return self.factor * np.asarray(c, float)

    def constant(self, c0: float) -> float:
        return self.factor * float(c0)

    # ---- backward: solver → program ---------------------------------------------
    def objective(self, g: float) -> float:
        """The program's objective value from the solver's."""
        return g / self.factor

    def duals(self, y: np.ndarray | None) -> np.ndarray | None:
        """Row or column duals in the package convention from the solver's."""
        return None if y is None else np.asarray(y, float) / self.factor

    def tolerance(self, v: float) -> float:
        """A tolerance or residual of the solver's program in the program's units."""
        return float(v) / abs(self.factor)
