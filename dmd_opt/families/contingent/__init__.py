"""Contingent transfers for interdependent values (Heng Liu; docs/theory.md#contingent-transfers-with-interdependent-values).  See ``docs/contingent.md``.

Environment (joint Markov signals, interdependent utilities) → efficient policy (finite MDP)
→ diagnostics (spanning, convex independence) → VCG-type transfers (pseudo-inverse) or
report-dependent transfers (LP on :class:`~dmd_opt.optim.program.Program`) → Markov mechanism →
periodic ex-post IC verification; plus the dynamic winner-pay auction example.
"""

from dmd_opt.families.contingent.environment import ContingentEnvironment, from_dict
from dmd_opt.families.contingent.policy import ContingentPolicy, efficient_policy
from dmd_opt.families.contingent.diagnostics import DiagnosticsReport, diagnose
from dmd_opt.families.contingent.last_period import LastPeriod, last_period_transfers
from dmd_opt.families.contingent.transfers import VCGTransfers, vcg_transfers, targets
from dmd_opt.families.contingent.report_lp import ReportTransfers, report_program, solve_report
from dmd_opt.families.contingent.mechanism import ContingentMechanism, vcg_mechanism, report_mechanism, naive_team_mechanism
from dmd_opt.verify.periodic import PeriodicExPostReport, periodic_expost

__all__ = ["ContingentEnvironment", "from_dict", "ContingentPolicy", "efficient_policy",
           "DiagnosticsReport", "diagnose", "LastPeriod", "last_period_transfers", "VCGTransfers",
           "vcg_transfers", "targets", "ReportTransfers", "report_program", "solve_report",
           "ContingentMechanism", "vcg_mechanism", "report_mechanism", "naive_team_mechanism",
           "PeriodicExPostReport", "periodic_expost"]
