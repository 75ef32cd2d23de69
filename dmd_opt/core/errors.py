"""Errors raised by dmd_opt.

Every validation failure is a :class:`ModelError` whose message starts with the
path of the offending field (``agents[0].transition[1]: row 2 sums to 0.9,
expected 1``), so that a user can find the mistake in a model file or dict.
"""

from __future__ import annotations


class DmdOptError(Exception):
    """Base class of the package's own errors."""


class ModelError(DmdOptError, ValueError):
    """A model (environment or program options) failed validation.

    Attributes
    ----------
    field : str
        Dotted path of the offending field, e.g. ``agents[0].initial``.
    problem : str
        What is wrong with it.
    """

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)


class SolverError(DmdOptError, RuntimeError):
    """A solver could not be run at all (not installed, bad option name)."""
