"""The ``revenue`` model kind: model files → :class:`~dmd_opt.core.environment.Environment` →
:func:`dmd_opt.families.revenue.solve.solve_revenue`."""

from __future__ import annotations

from dmd_opt.core.environment import Environment
from dmd_opt.core.kinds import register_kind
from dmd_opt.families.revenue.program import OPTIONS, revenue_program
from dmd_opt.families.revenue.solve import solve_revenue

_PROGRAM_OPTIONS = ("participation", "disclosure", "objective", "fixed_allocation", "budget_balance", "ic", "money")


def _build(env: Environment, **opts):
    """The program a certificate was made for: the reduced form's final LP, or the revenue program."""
    if opts.get("method", "auto") in ("auto", "reduced_form"):
        from dmd_opt.families.revenue.reduced_form import choose_method, program_for_certificate
        method, _ = choose_method(env, opts.get("method", "auto"), participation=opts.get("participation", "interim"),
                                  fixed_allocation=opts.get("fixed_allocation"),
                                  budget_balance=opts.get("budget_balance", False),
                                  units=opts.get("units", 1), reserve=opts.get("reserve"),
                                  constraints=opts.get("constraints"), payments=opts.get("payments", "winner_pays"),
                                  ic=opts.get("ic", "bayesian"), money=opts.get("money", True))
        if method == "reduced_form":
            return program_for_certificate(env, **opts)
    return revenue_program(env, **{k: v for k, v in opts.items() if k in _PROGRAM_OPTIONS})


def register_kinds() -> None:
    register_kind("revenue", Environment.from_dict, solve_revenue, options=OPTIONS,
                  description="revenue / welfare maximisation under dynamic IC and participation",
                  build=_build)
