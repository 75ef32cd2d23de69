"""Recursive contracts with promised utility (docs/theory.md#recursive-contracts-with-promised-utility).

* :mod:`.engine` — value iteration / backward induction with stacked, labelled Bellman LPs;
* :mod:`.thomas_worrall` — dynamic insurance (Thomas & Worrall 1990), CARA cross-check;
* :mod:`.guo_horner` — allocation without money (Guo & Hörner), i.i.d. and Markov types;
* :mod:`.plots` — figures.
"""

from dmd_opt.dp.bellman import Template, TemplateBuilder, VIResult, bellman_step, stack, value_iteration
from dmd_opt.families.recursive.guo_horner import GHResult, GuoHorner
from dmd_opt.families.recursive.thomas_worrall import ThomasWorrall, TWResult, cara_constant, cara_cost
from dmd_opt.families.recursive.utility import Utility

__all__ = ["Template", "TemplateBuilder", "VIResult", "bellman_step", "stack", "value_iteration",
           "GuoHorner", "GHResult", "ThomasWorrall", "TWResult", "cara_constant", "cara_cost", "Utility"]
