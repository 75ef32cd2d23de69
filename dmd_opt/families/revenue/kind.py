"""The ``revenue`` model kind: model files → :class:`~dmd_opt.core.environment.Environment` →
:func:`dmd_opt.families.revenue.solve.solve_revenue`."""

from __future__ import annotations

from dmd_opt.core.environment import Environment
from dmd_opt.core.kinds import register_kind
from dmd_opt.families.revenue.program import OPTIONS, revenue_program
from dmd_opt.families.revenue.solve import solve_revenue

_PROGRAM_OPTIONS = ("participation", "disclosure", "objective", "fixed_allocation", "budget_balance", "ic", "money")


def _build(env: Environment, **opts):
    return revenue_program(env, **{k: v for k, v in opts.items() if k in _PROGRAM_OPTIONS})


def register_kinds() -> None:
    register_kind("revenue", Environment.from_dict, solve_revenue, options=OPTIONS,
                  description="revenue / welfare maximisation under dynamic IC and participation",
                  build=_build)
