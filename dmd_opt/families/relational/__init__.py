"""Relational contracts: perfect public equilibria of repeated principal–agent games with a
privately informed agent, computed by self-generation on promised utility.

* :mod:`.game` — finite stage games (data), the Li–Matouschek–Powell power-dynamics games, pure plans;
* :mod:`.aps` — the self-generation operator on a promise grid and its largest fixed point;
* :mod:`.contract` — the model, the optimal contract, its modes and simulated dynamics;
* :mod:`.check` — the independent check of every enforcement constraint;
* :mod:`.kind` — the model kind ``relational``.
"""

from dmd_opt.families.relational.aps import PayoffSet, fixed_point
from dmd_opt.families.relational.contract import RelationalModel, RelationalResult, Simulation
from dmd_opt.families.relational.game import Plans, StageGame, enumerate_plans, lmp_game

__all__ = ["PayoffSet", "fixed_point", "RelationalModel", "RelationalResult", "Simulation", "Plans", "StageGame",
           "enumerate_plans", "lmp_game"]
