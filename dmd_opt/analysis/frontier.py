r"""The revenue–welfare frontier of dynamic mechanisms (docs/theory.md#comparing-mechanisms).

Among mechanisms satisfying the constraints of the revenue program (docs/theory.md#revenue-maximisation)
(dynamic IC at every history, a participation notion, a disclosure rule), the
Pareto frontier of (expected revenue :math:`R`, expected welfare :math:`W`) is

.. math::

    W(\bar R) = \max\{\,W(x) : (x, p, V) \text{ feasible},\; R(x, p) \ge \bar R\,\},
    \qquad \bar R \in [R_{\text{eff}}, R_{\max}],

the ε-constraint method (Haimes et al. 1971).  It is computed on the revenue
program itself: the builder of :func:`dmd_opt.families.revenue.program.revenue_program`
with the welfare objective, plus **one labelled row** of family
``"revenue_floor"`` holding the revenue coefficients (so the audit and
certificates see it like any other row).  :math:`R_{\max}` is the revenue-optimal
mechanism; :math:`R_{\text{eff}}` the largest revenue of a welfare-maximising
mechanism (the same program with a ``"welfare_floor"`` row at the maximal welfare).
Since :math:`R = W - \sum_i E V_i(\varnothing,\cdot)`, moving along the frontier trades
welfare for rent extraction.

The feasible set is convex and both objectives are concave (linear for finite
decisions, concave quadratic for the quantity model), so the frontier is concave
and also traced by the weighted objectives :math:`\lambda R + (1-\lambda) W`
(``method="weighted"``) — the only method for quantity models, whose revenue is
quadratic and cannot be a linear row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from dmd_opt.analysis.compare import as_environment, efficient_mechanism
from dmd_opt.analysis.floors import floored_program, seller_efficient_result
from dmd_opt.analysis.plots import plot_frontier
from dmd_opt.analysis.tables import records
from dmd_opt.core.errors import DmdOptError, ModelError
from dmd_opt.families.revenue.program import decode, expected_efficient_surplus, revenue_program
from dmd_opt.solvers import solve
from dmd_opt.verify import verify as run_verify


@dataclass
class Frontier:
    """Frontier points (``table``), marked mechanisms (``points``: name → (R, W)), first best."""

    table: object
    points: dict = field(default_factory=dict)
    first_best: float | None = None
    method: str = "constraint"
    participation: str = "interim"
    model: str = ""                  # the environment's name (the figure's title)

    def __repr__(self) -> str:
        return (f"<Frontier {self.model!r}: {len(self.table)} points ({self.method}, "
                f"{self.participation} participation), marked: {', '.join(self.points) or 'none'}>")

    def plot(self, path=None, ax=None):
        """The frontier figure (:func:`dmd_opt.analysis.plots.plot_frontier`)."""
        return plot_frontier(self, path, ax=ax)

    def to_dict(self) -> dict:
        return {"method": self.method, "participation": self.participation, "first_best": self.first_best,
                "points": {k: {"revenue": r, "welfare": w} for k, (r, w) in self.points.items()},
                "frontier": records(self.table)}


def _solve(env, prog, backend, solver, verify):
    sol = solve(prog, backend=backend, solver=solver)
    if sol.x is None or sol.status not in ("optimal", "inaccurate"):
        return sol, None, None
    mech = decode(env, prog, sol)
    return sol, mech, (run_verify(mech) if verify else None)


def frontier(env, participation: str = "interim", disclosure: str = "public", n: int = 11,
             revenues: Iterable[float] | None = None, weights: Iterable[float] | None = None,
             method: str = "auto", efficient: Iterable[str] = ("pivot", "team", "balanced"),
             backend: str = "highs", solver: str | None = None, verify: bool = True) -> Frontier:
    """Trace the revenue–welfare frontier of ``env`` (see module docstring).

    Parameters
    ----------
    participation, disclosure : as in :func:`dmd_opt.families.revenue.program.revenue_program`
    n : number of frontier points (evenly spaced revenue floors, or weights)
    revenues : explicit revenue floors (constraint method)
    weights : explicit weights λ on revenue in λR + (1−λ)W (weighted method)
    method : ``"constraint"`` (LP models), ``"weighted"`` or ``"auto"`` (constraint for LPs)
    efficient : efficient mechanisms to mark (pivot, team, balanced, agv; skipped if unavailable)

    Returns a :class:`Frontier` whose ``table`` has one row per point: the floor or weight,
    status, revenue, welfare, expected rents and (if ``verify``) the verifier's largest regret.
    """
    import pandas as pd
    env = as_environment(env)
    if method == "auto":
        method = "weighted" if (env.quantity is not None or weights is not None) else "constraint"
    if method not in ("constraint", "weighted"):
        raise ModelError("method", f"expected 'constraint', 'weighted' or 'auto', got {method!r}")
    opts = {"participation": participation, "disclosure": disclosure}
    W_star = expected_efficient_surplus(env)
    rows = []
    points: dict[str, tuple[float, float]] = {}

    def record(sol, mech, ver, **extra):
        row = {**extra, "status": sol.status, "objective": sol.objective if mech is not None else None}
        if mech is not None:
            row.update({"revenue": mech.revenue(), "welfare": mech.welfare()})
            row["rents_expected"] = row["welfare"] - row["revenue"]
            if ver is not None:
                row["max_regret"] = ver.max_regret
        rows.append(row)
        return mech

    if method == "constraint":
        # End points: the revenue optimum and the most profitable welfare optimum.
        s_top, m_top, v_top = _solve(env, revenue_program(env, objective="revenue", **opts), backend, solver, verify)
        if m_top is None:
            raise ModelError("participation", f"the revenue program is {s_top.status} ({s_top.solver_status})")
        s_w, m_w, _ = _solve(env, revenue_program(env, objective="welfare", **opts), backend, solver, False)
        W_max = m_w.welfare()
        s_lo, m_lo, v_lo = _solve(env, floored_program(env, "revenue", "welfare",
                                                       W_max - 1e-12 * max(1.0, abs(W_max)), **opts),
                                  backend, solver, verify)
        R_lo = m_lo.revenue() if m_lo is not None else m_w.revenue()
        R_hi = m_top.revenue()
        grid = np.linspace(R_lo, R_hi, n) if revenues is None else np.asarray(list(revenues), float)
        for R in grid:
            # a hair below the target so that the end points stay feasible in floating point
            level = R - 1e-9 * max(1.0, abs(R)) if R in (R_lo, R_hi) else R
            sol, mech, ver = _solve(env, floored_program(env, "welfare", "revenue", level, **opts),
                                    backend, solver, verify)
            record(sol, mech, ver, revenue_floor=float(R))
        points[f"optimal ({participation})"] = (m_top.revenue(), m_top.welfare())
        if m_lo is not None:
            points[f"efficient, max revenue ({participation})"] = (m_lo.revenue(), m_lo.welfare())
    else:
        lam = np.linspace(1e-3, 1.0, n) if weights is None else np.asarray(list(weights), float)
        if np.any((lam < 0) | (lam > 1)):
            raise ModelError("weights", "weights on revenue must lie in [0, 1]")
        for w in lam:
            obj = {"revenue": float(w), "welfare": float(1 - w)} if w < 1 else "revenue"
            sol, mech, ver = _solve(env, revenue_program(env, objective=obj, **opts), backend, solver, verify)
            record(sol, mech, ver, weight=float(w))
        ok = [r for r in rows if r.get("revenue") is not None]
        if ok:
            top = max(ok, key=lambda r: (r["revenue"], r["welfare"]))
            points[f"optimal ({participation})"] = (top["revenue"], top["welfare"])
        # the welfare end exactly (a weight of 0 on revenue leaves payments undetermined)
        low = seller_efficient_result(env, participation=participation, disclosure=disclosure,
                                      backend=backend, solver=solver)
        if low.mechanism is not None:
            record(low.solution, low.mechanism, low.verification, weight=0.0)
            points[f"efficient, max revenue ({participation})"] = (low.mechanism.revenue(), low.mechanism.welfare())
    for kind in efficient:
        try:
            m = efficient_mechanism(env, kind)
            points[kind] = (m.revenue(), m.welfare())
        except (DmdOptError, ValueError, NotImplementedError):
            pass
    table = pd.DataFrame(rows)
    if method == "weighted" and len(table):
        table = table.sort_values("weight", kind="stable").reset_index(drop=True)
    return Frontier(table, points, W_star, method, participation, env.name)
