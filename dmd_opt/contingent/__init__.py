"""Contingent transfers for interdependent values (Heng Liu; SPEC §4).  See ``docs/contingent.md``.

Environment (joint Markov signals, interdependent utilities) → efficient policy (finite MDP)
→ diagnostics (spanning, convex independence) → VCG-type transfers (pseudo-inverse) or
report-dependent transfers (LP on :class:`~dmd_opt.program.Program`) → Markov mechanism →
periodic ex-post IC verification; plus the dynamic winner-pay auction example.
"""

from .environment import ContingentEnvironment, from_dict
from .policy import ContingentPolicy, efficient_policy
from .diagnostics import DiagnosticsReport, diagnose
from .last_period import LastPeriod, last_period_transfers
from .transfers import VCGTransfers, vcg_transfers, targets
from .report_lp import ReportTransfers, report_program, solve_report
from .mechanism import ContingentMechanism, vcg_mechanism, report_mechanism, naive_team_mechanism
from .verify import PeriodicExPostReport, periodic_expost

__all__ = ["ContingentEnvironment", "from_dict", "ContingentPolicy", "efficient_policy",
           "DiagnosticsReport", "diagnose", "LastPeriod", "last_period_transfers", "VCGTransfers",
           "vcg_transfers", "targets", "ReportTransfers", "report_program", "solve_report",
           "ContingentMechanism", "vcg_mechanism", "report_mechanism", "naive_team_mechanism",
           "PeriodicExPostReport", "periodic_expost"]
