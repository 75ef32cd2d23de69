"""Errors raised by dmd_opt.

Every validation failure is a :class:`ModelError` whose message starts with the
path of the offending field (``agents[0].transition[1]: row 2 sums to 0.9,
expected 1``), so that a user can find the mistake in a model file or dict.
The message is always one line: newlines are replaced and very long messages
(a value's repr, say) are shortened, so that the command line can print it as
it is.  A :class:`LimitError` is a ModelError raised *before* allocating, when
the estimated size of what a model would build exceeds a limit of
:mod:`dmd_opt.core.limits`.
"""

from __future__ import annotations

#: Longest message kept (characters); longer ones are cut in the middle.
MAX_MESSAGE = 600


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line, at most ``limit`` characters (cut in the middle with ``…``)."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        half = (limit - 1) // 2
        text = text[:half] + "…" + text[-half:]
    return text


class DmdOptError(Exception):
    """Base class of the package's own errors."""


class ModelError(DmdOptError, ValueError):
    """A model (environment or program options) failed validation.

    Attributes
    ----------
    field : str
        Dotted path of the offending field, e.g. ``agents[0].initial``; never empty
        (errors about the whole input name ``model`` or ``certificate``).
    problem : str
        What is wrong with it.
    """

    def __init__(self, field: str, problem: str):
        field = one_line(field, 200) if field is not None else ""
        self.field = field or "model"
        self.problem = one_line(problem)
        super().__init__(f"{self.field}: {self.problem}")


class LimitError(ModelError):
    """A size limit refused a model before anything was allocated.

    ``estimate`` and ``limit`` are in the unit of the limit ``name`` (see
    :class:`dmd_opt.core.limits.Limits`).
    """

    def __init__(self, field: str, problem: str, *, name: str = "", estimate: float = 0.0,
                 limit: float = 0.0):
        self.name, self.estimate, self.limit = name, estimate, limit
        super().__init__(field, problem)


class SolverError(DmdOptError, RuntimeError):
    """A solver could not be run at all (not installed, bad option name)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that ``finally`` blocks and checkpoints run
    (the command line exits with 143 = 128 + SIGTERM)."""
