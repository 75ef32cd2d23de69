r"""The head shared by every verification report.

Whatever the notion, a report answers the same questions with the same names:

``notion``
    ``"bayesian"``, ``"expost"`` or ``"periodic_expost"`` (see :mod:`dmd_opt.verify.notions`);
``max_regret``
    the largest gain (≥ 0) an agent gets from its best deviation, over every state the
    notion quantifies over (on and off the truthful path);
``max_regret_on_path``
    the same over states reached with positive probability under truthful reporting;
``ir_violation(participation)``
    the largest violation (≥ 0) of participation: ``"ex_ante"`` (expected payoff), ``"interim"``
    (every first-period type), ``"periodic"`` (every history and type);
``budget_max_imbalance``
    the largest per-period :math:`|\sum_i p_i - c|` or :math:`|\sum_i p_i|` (as the report says);
``revenue``, ``welfare``, ``scale``
    truthful expected revenue and surplus, and the payoff scale tolerances are relative to;
``passed(participation=None, tol=1e-7, budget_balance=False)``
    one verdict: regret, and if asked the IR and budget checks, within ``tol × scale``.

``head()`` returns these as a dict; every report's ``to_dict()`` starts with the numbers of
the head (not the verdict, which depends on the tolerance) and adds the report's details;
``record(tol, participation, budget_balance)`` is the ``verification`` object of a result
record (:func:`dmd_opt.core.record.verification_record`), with the verdict at ``tol``.
"""

from __future__ import annotations

from dmd_opt.core.record import verification_record

PARTICIPATION = ("ex_ante", "interim", "periodic", "expost")


class ReportHead:
    """Mixin giving every report the shared verdict and head (see the module docstring).

    A report defines ``notion``, ``scale``, ``max_regret``, ``max_regret_on_path``,
    ``budget_max_imbalance``, ``revenue``, ``welfare`` and :meth:`ir_violation`."""

    def ir_violation(self, participation: str) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def passed(self, participation: str | None = None, tol: float = 1e-7,
               budget_balance: bool = False) -> bool:
        """True when regret (and IR / budget if asked) are within ``tol × scale``."""
        eps = tol * self.scale
        ok = self.max_regret <= eps
        if participation is not None and participation != "none":     # "none": no participation row
            if participation not in PARTICIPATION:
                raise ValueError(f"participation must be one of {', '.join(PARTICIPATION)}, got {participation!r}")
            ok &= self.ir_violation(participation) <= eps
        if budget_balance:
            ok &= self.budget_max_imbalance <= eps
        return bool(ok)

    def head(self) -> dict:
        """The shared fields, with the verdict at the default tolerance."""
        return {"notion": self.notion, "passed": self.passed(), **self.head_numbers()}

    def head_numbers(self) -> dict:
        """The numbers of the head (what ``to_dict()`` starts with)."""
        return {"max_regret": self.max_regret, "max_regret_on_path": self.max_regret_on_path,
                "ir_violation": {p: self.ir_violation(p) for p in PARTICIPATION},
                "budget_max_imbalance": self.budget_max_imbalance,
                "revenue": self.revenue, "welfare": self.welfare, "scale": self.scale}

    def record(self, tol: float = 1e-7, participation: str | None = None, budget_balance: bool = False) -> dict:
        """The ``verification`` object of a result record, verdict by :meth:`passed` at ``tol``."""
        details = {k: v for k, v in self.to_dict().items() if k not in ("max_regret", "scale")}
        return verification_record(self.max_regret, self.passed(participation, tol, budget_balance),
                                   notion=self.notion, tolerance=tol, scale=self.scale,
                                   participation=participation, **details)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(notion {self.notion!r}: max regret {self.max_regret:.3g}, "
                f"on path {self.max_regret_on_path:.3g}, scale {self.scale:g}, "
                f"{'passed' if self.passed() else 'failed'})")
