"""The solver-neutral program layer: a labelled LP/QP (:class:`Program`) and its :class:`Solution`."""

from dmd_opt.optim.program import Program
from dmd_opt.optim.solution import Solution

__all__ = ["Program", "Solution"]
