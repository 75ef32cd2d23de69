"""Commitment against relational contracts on one environment (``dmd-opt compare`` for kind ``relational``).

The same stage game and discount factor are solved twice: with self-enforcing promises
(perfect public equilibrium) and with commitment (the principal's actions written into an
enforceable contract; only the agent's incentives bind).  The principal's optimal value
can only fall without commitment; the gap is the cost of non-commitment.  Each row also
reports the agent's payoff at the optimum, the principal's worst equilibrium payoff, the
first period's modes, the independent check and, when simulated, the absorbing modes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class RelationalComparison:
    relational: Any
    commitment: Any

    @property
    def cost_of_non_commitment(self) -> float:
        return float(self.commitment.objective - self.relational.objective)

    def rows(self) -> list[dict]:
        out = []
        for name, r in (("relational", self.relational), ("commitment", self.commitment)):
            c = r.check()
            row = {"mechanism": name, "family": "relational", "status": r.status,
                   "principal": r.objective, "agent": r.initial_promise,
                   "welfare": r.objective + r.initial_promise, "revenue": None,
                   "max_ic_regret": c.agent_ic, "principal_obedience": c.principal_obedience,
                   "principal_worst": r.principal_worst() if name == "relational" else None,
                   "agent_range": [r.W.U_lo, r.W.U_hi],
                   "first_period": r.modes_at(r.initial_index), "iterations": r.aps.iterations}
            if r.simulation is not None:
                row["absorbing_shares"] = r.simulation.absorbing_shares()
                row["absorption_time"] = r.simulation.absorption_times()
            out.append(row)
        return out

    def to_dict(self) -> dict:
        from dmd_opt.core.record import result_record, verification_record
        rel, com = self.relational, self.commitment
        rows = self.rows()
        worst = max(rel.check().max_violation, com.check().max_violation)
        scale = rel.model.game.scale
        ver = verification_record(worst, bool(worst <= 1e-7 * scale), notion="self_enforcement", tolerance=1e-7,
                                  scale=scale, by_mechanism={r["mechanism"]: r["max_ic_regret"] for r in rows})
        status = rel.status if rel.status != "optimal" else com.status
        first_best = float(np.max(com.frontier))
        return result_record("relational", status, rel.objective, verification=ver,
                             mechanism={"name": f"{rel.model.name}: relational contract"}, command="compare",
                             options={"grid": rel.model.n_grid}, model={"name": rel.model.name},
                             mechanisms=rows, first_best=first_best, distortion_by_period=[],
                             cost_of_non_commitment=self.cost_of_non_commitment,
                             frontiers={"relational": {"promise": rel.grid, "principal": rel.frontier},
                                        "commitment": {"promise": com.grid, "principal": com.frontier}})

    def summary(self) -> list[str]:
        rel, com = self.relational, self.commitment
        lines = [f"{rel.model.name}: commitment vs relational contract (δ = {rel.model.delta:g})"]
        for r in self.rows():
            modes = ", ".join(f"{k} ({v:.2f})" for k, v in r["first_period"].items())
            worst = "" if r["principal_worst"] is None else f"principal's worst {r['principal_worst']:.4g}; "
            line = (f"  {r['mechanism']:>10}: principal {r['principal']:.6g} at agent promise {r['agent']:.6g}; "
                    f"{worst}first period: {modes}")
            if "absorbing_shares" in r:
                line += "; absorbing: " + ", ".join(f"{k} {v:.1%}" for k, v in r["absorbing_shares"].items())
            lines.append(line)
        lines.append(f"  cost of non-commitment: {self.cost_of_non_commitment:.6g} "
                     f"({self.cost_of_non_commitment / max(abs(com.objective), 1e-12):.1%} of the commitment value)")
        if self.cost_of_non_commitment < -1e-9:
            lines.append("  (negative only through the promise grids: each frontier is an inner approximation on its "
                         "own range — e.g. a commitment to extreme punishments stretches it; raise grid.n)")
        return lines

    def plot(self, directory) -> list[Path]:
        from dmd_opt.analysis.relational_plots import plot_commitment_vs_relational, plot_relational
        directory = Path(directory)
        out = [plot_commitment_vs_relational(self.relational, self.commitment,
                                             directory / "commitment_vs_relational.png")]
        out += plot_relational(self.relational, directory / "relational")
        out += plot_relational(self.commitment, directory / "commitment")
        return out


def compare_relational(model, **opts) -> RelationalComparison:
    """Solve ``model`` (a RelationalModel) relational and under commitment, with the file's options."""
    from dmd_opt.families.relational.kind import solve_relational
    rel_model = model.with_enforcement("relational")
    com_model = model.with_enforcement("commitment")
    rel = solve_relational(rel_model, **opts)
    com = solve_relational(com_model, **{k: v for k, v in opts.items() if k != "randomization"})
    return RelationalComparison(rel, com)
