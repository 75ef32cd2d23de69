"""Efficient dynamic mechanisms (docs/theory.md#efficient-dynamic-mechanisms): the efficient policy on the joint type state,
team, dynamic pivot, balanced team (Athey–Segal) and static-AGV mechanisms, and the
self-enforcement report.  See ``docs/efficient.md``."""

from dmd_opt.core.joint import JointModel, correlated_from_dict, from_environment
from dmd_opt.families.efficient.policy import EfficientPolicy, efficient_policy, others_welfare
from dmd_opt.families.efficient.team import team_mechanism
from dmd_opt.families.efficient.pivot import pivot_mechanism, marginal_contributions
from dmd_opt.families.efficient.balanced import balanced_markov, balanced_tree
from dmd_opt.families.efficient.agv import agv_markov, agv_tree

__all__ = ["JointModel", "correlated_from_dict", "from_environment", "EfficientPolicy",
           "efficient_policy", "others_welfare", "team_mechanism", "pivot_mechanism",
           "marginal_contributions", "balanced_markov", "balanced_tree", "agv_tree", "agv_markov"]
