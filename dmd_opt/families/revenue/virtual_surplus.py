r"""Dynamic virtual surplus: IC multipliers, handicaps, impulse responses and the LP's duals.

**Dynamic virtual surplus** (Pavan, Segal & Toikka 2014, §3–4; Battaglini 2005, two types;
Courty & Li 2000; Eső & Szentes 2007).  With Markov types and interim (or periodic)
participation, the multipliers of the adjacent downward IC rows of the revenue program have
the closed form of :mod:`dmd_opt.families.revenue.local` (a forward pass over the tree):

.. math::

    \lambda_0(\theta_{k+1}\to\theta_k) = 1 - F_0(\theta_k),\qquad
    \lambda_t(h,\theta_{k+1}\to\theta_k) = \delta\,\ell(h)\,\big(F_t(\theta_k\mid r)-F_t(\theta_k\mid r^+)\big),

:math:`\ell(h)` the parent's multiplier of the report :math:`r` that led to :math:`h` (times
the belief in the others' reports), zero when :math:`r` is the top type.  Divided by the
discounted probability of the node, they give each history's *handicap coefficient*
:math:`H_t(h,\theta) = \lambda_t(h,\theta^+\!\to\theta)/(\delta^t\Pr(h)\Pr(\theta\mid h))` and
the *virtual utility* :math:`u(a,\theta) - H_t\,(u(a,\theta^+) - u(a,\theta))`; with
:math:`u = \theta\cdot s(a)` the handicap is :math:`H_t(\theta^+-\theta)` and the virtual value
:math:`\theta - H_t(\theta^+-\theta)`.  Along an agent's own type path the handicap factors as

.. math::

    \text{handicap}_t = \frac{(1-F_0(\theta_0))(\theta_0^+-\theta_0)}{f_0(\theta_0)}\;
    \prod_{s=1}^t \frac{\big(F_s(\theta_s\mid\theta_{s-1}) - F_s(\theta_s\mid\theta_{s-1}^+)\big)
    (\theta_s^+-\theta_s)}{P_s(\theta_s\mid\theta_{s-1})\,(\theta_{s-1}^+-\theta_{s-1})},

the discrete analogue of PST's handicap :math:`\frac{1-F_0}{f_0}\,I_t`: each factor is a
finite difference of :math:`-\partial F_s/\partial\theta_{s-1}` over the density, i.e. the
discrete *impulse response* :math:`I_t` of :math:`\theta_t` to :math:`\theta_0` (computed here
directly from the transitions, independently of the multipliers).  The virtual surplus of a
decision at a history is :math:`\sum_i` virtual utility :math:`-\,c(a)`; where the adjacent
relaxation is exact (e.g. first-order stochastic dominance and a monotone virtual surplus)
the optimal mechanism maximises it history by history and the multipliers *are* the LP's
duals of the adjacent downward IC rows (:func:`dual_comparison`).  Ex-ante participation
gives zero multipliers (no handicap: the seller extracts the expected surplus up front).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dmd_opt.core.display import fmt
from dmd_opt.core.errors import ModelError


@dataclass
class DynamicVirtualSurplus:
    r"""IC multipliers, handicaps, impulse responses and virtual surplus on the history tree.

    Per agent ``i`` and period ``t``: ``multipliers[i][t]`` (S_t, n_t − 1) in the value order
    (pair k: type k+1 claims type k; ``order[i][t]`` the value order); per node arrays of
    length K_t: ``coefficient[i][t]`` (H), ``handicap[i][t]`` (H·(θ⁺ − θ)),
    ``virtual_value[i][t]`` (θ − handicap), ``impulse[i][t]`` (discrete impulse response of
    the agent's own path); ``virtual_surplus[t]`` (K_t, |A_t|) per decision (None for the
    quantity family, whose virtual surplus is Σ_i ψ_i q_i − c(q_i)); ``best[t]`` the
    maximising decision (per node; per node and agent, the quantity, in the quantity family).
    ``relaxed_value`` is the optimum of the adjacent-IC relaxation,
    :math:`(w_{rev}+w_{wel})\sum_t\delta^t\sum_k \Pr(k)\max_a g(k,a)` — the program's optimum
    exactly when the relaxation is exact.  Zero-probability histories carry NaN."""

    env: Any
    participation: str
    order: list
    multipliers: list
    coefficient: list
    handicap: list
    virtual_value: list
    impulse: list
    virtual_surplus: list
    best: list
    relaxed_value: float = float("nan")
    tree: Any = field(default=None, repr=False)

    def _tree(self):
        if self.tree is None:
            from dmd_opt.core.tree import HistoryTree
            self.tree = HistoryTree(self.env)
        return self.tree

    def frame(self, agent: int = 0):
        """One row per node: period, history, probability, reported type, multiplier of the
        adjacent pair, handicap, virtual value, impulse response (pandas)."""
        import pandas as pd
        tree = self._tree()
        rows = []
        for t in range(tree.T):
            k = np.arange(tree.n_nodes(t))
            r = tree.last_reports(t)[:, agent]
            df = pd.DataFrame({"period": t + 1, "node": k, "history": tree.history_labels(t, k),
                               "probability": tree.node_prob[t],
                               "type": [self.env.type_labels(agent, t)[x] for x in r],
                               "handicap": self.handicap[agent][t], "virtual_value": self.virtual_value[agent][t],
                               "impulse_response": self.impulse[agent][t],
                               "handicap_coefficient": self.coefficient[agent][t]})
            if self.virtual_surplus[t] is not None:
                df["best_decision"] = [self.env.decisions(t)[b] for b in self.best[t]]
                df["virtual_surplus"] = np.max(self.virtual_surplus[t], axis=1)
            else:
                df["best_quantity"] = self.best[t][:, agent]
            rows.append(df)
        return pd.concat(rows, ignore_index=True)

    def to_dict(self, max_nodes: int = 2000) -> dict:
        """Per period (up to the first with more than ``max_nodes`` histories): the history
        labels, per agent the multipliers (by information state, adjacent pairs in the value
        order ``pairs``), handicaps, virtual values and impulse responses by history, and the
        virtual surplus with its maximiser."""
        tree = self._tree()
        out = {"participation": self.participation, "relaxed_value": self.relaxed_value, "periods": []}
        for t in range(tree.T):
            if tree.n_nodes(t) > max_nodes:
                out["truncated_after_period"] = t
                break
            k = np.arange(tree.n_nodes(t))
            per = {"period": t + 1, "histories": tree.history_labels(t, k),
                   "pairs": [[[self.env.type_labels(i, t)[o[k + 1]], self.env.type_labels(i, t)[o[k]]]
                              for k in range(o.size - 1)] for i, o in ((i, self.order[i][t]) for i in range(tree.N))],
                   "multipliers": [self.multipliers[i][t] for i in range(tree.N)],
                   "handicap": [self.handicap[i][t] for i in range(tree.N)],
                   "virtual_value": [self.virtual_value[i][t] for i in range(tree.N)],
                   "impulse_response": [self.impulse[i][t] for i in range(tree.N)]}
            if self.virtual_surplus[t] is not None:
                per["virtual_surplus"] = self.virtual_surplus[t]
                per["best_decision"] = [self.env.decisions(t)[b] for b in self.best[t]]
            else:
                per["best_quantity"] = self.best[t]
            out["periods"].append(per)
        return out

    def summary_lines(self, max_rows: int = 6) -> list[str]:
        """A few sentences: the handicapped histories (at most ``max_rows``) and the relaxed value."""
        tree = self._tree()
        lines = [f"dynamic virtual values ({self.participation} participation; handicap = "
                 f"multiplier/(δ^t Pr) × (θ⁺ − θ); relaxed optimum {fmt(self.relaxed_value, 10)}):"]
        shown = 0
        for t in range(tree.T):
            for i in range(tree.N):
                h = self.handicap[i][t]
                nz = np.nonzero(np.nan_to_num(h) > 1e-12)[0]
                for k in nz[:max(0, max_rows - shown)]:
                    lines.append(f"  period {t + 1}, {tree.history_labels(t, k)[0]}: {self.env.agent_names[i]} "
                                 f"handicap {fmt(h[k])}, virtual value {fmt(self.virtual_value[i][t][k])}")
                    shown += 1
        total = sum(int(np.sum(np.nan_to_num(self.handicap[i][t]) > 1e-12)) for t in range(tree.T)
                    for i in range(tree.N))
        if total > shown:
            lines.append(f"  … {total - shown} more handicapped histories (economics()['dynamic'].frame())")
        if shown == 0:
            lines.append("  no handicaps (every multiplier is zero: no distortion)")
        return lines


def dynamic_virtual_surplus(env, participation: str = "interim", w_rev: float = 1.0,
                            disclosure: str = "public", w_wel: float = 0.0) -> DynamicVirtualSurplus:
    """The closed-form multipliers and the virtual surplus by history (module docstring).

    Needs independent Markov types whose law does not depend on the decision, utilities of
    the current type, one agent or public disclosure.  ``w_rev`` and ``w_wel`` are the
    objective's weights on revenue and welfare: the multipliers scale with ``w_rev`` and the
    handicaps are per unit of ``w_rev + w_wel``."""
    from dmd_opt.core.tree import HistoryTree
    from dmd_opt.families.revenue.local import adjacent_ic_multipliers
    if disclosure == "private" and env.n_agents > 1:
        raise ModelError("disclosure", "the dynamic virtual surplus needs one agent or public disclosure")
    if participation not in ("ex_ante", "interim", "periodic", "none"):
        raise ModelError("participation", f"unknown participation {participation!r}")
    if not getattr(env, "independent", True) or getattr(env, "decision_dependent", False):
        raise ModelError("agents", "the dynamic virtual surplus needs independent types with a decision-free law")
    if getattr(env, "reads_own_history", False):
        raise ModelError("agents", "the dynamic virtual surplus needs utilities of the current type "
                         "(some utility reads earlier own types)")
    order = [[type_order(env, i, t) for t in range(env.horizon)] for i in range(env.n_agents)]
    weight = w_rev + w_wel
    if weight <= 0:
        raise ModelError("objective", "the virtual surplus needs a positive weight on revenue or welfare")
    tree = HistoryTree(env)
    lam, order = adjacent_ic_multipliers(env, tree, participation, w_rev, order)
    T, N, delta = tree.T, tree.N, env.discount
    coef, hand, vv, imp = ([[None] * T for _ in range(N)] for _ in range(4))
    surplus, best, relaxed = [], [], 0.0
    for t in range(T):
        K = tree.n_nodes(t)
        h = np.arange(K) // tree.R[t]
        last = tree.last_reports(t)
        reach = (delta ** t) * (tree.node_prob[t - 1][h] if t > 0 else np.ones(K))
        g = None if env.quantity is not None else -np.broadcast_to(env.cost(t), (K, env.n_decisions(t))).copy()
        for i in range(N):
            n, o = env.n_types(i, t), order[i][t]
            pos = np.argsort(o)
            th = last[:, i]
            own = (env.agent_transition(i, t - 1)[tree.last_reports(t - 1)[h, i], th] if t > 0
                   else env.agent_initial(i)[th])
            lam_nat = np.zeros((tree.n_histories(t), n))
            lam_nat[:, o[:-1]] = lam[i][t]
            with np.errstate(divide="ignore", invalid="ignore"):
                H = np.where(reach * own > 0, lam_nat[h, th] / (weight * reach * own), np.nan)
            v = np.asarray(env.type_values(i, t), float)
            up = np.r_[v[o[1:]], v[o[-1]]][pos]                          # θ⁺ (top: itself)
            coef[i][t] = H
            hand[i][t] = H * (up[th] - v[th])
            vv[i][t] = v[th] - hand[i][t]
            imp[i][t] = _impulse(env, tree, i, t, order)
            if g is not None:
                u = np.asarray(env.utility(i, t), float)                    # (A, n)
                du = u[:, np.r_[o[1:], o[-1]][pos]] - u                      # u(a, θ⁺) − u(a, θ)
                g = g + u[:, th].T - np.nan_to_num(H)[:, None] * du[:, th].T
        if g is None:
            qbest = np.stack([_best_quantity(env.quantity, vv[i][t]) for i in range(N)], axis=1)   # (K, N)
            gmax = np.nansum(np.stack([vv[i][t] for i in range(N)], axis=1) * qbest
                             - env.quantity.cost(qbest), axis=1)
            best.append(qbest)
        else:
            gmax = g.max(axis=1)
            best.append(np.argmax(g, axis=1))
        surplus.append(g)
        relaxed += weight * (delta ** t) * float(np.nansum(tree.node_prob[t] * gmax))
    return DynamicVirtualSurplus(env, participation, order, lam, coef, hand, vv, imp, surplus, best, relaxed, tree)


def type_order(env, i: int, t: int) -> np.ndarray:
    """Agent i's period-t types from lowest to highest: by value, or — for types given by
    labels only (an ex-ante type such as Courty and Li's traveller) — by first-order
    stochastic dominance of the next period's value distributions they induce, which must
    then rank them."""
    v = np.asarray(env.type_values(i, t), float)
    if np.all(np.isfinite(v)):
        return np.argsort(v, kind="stable")
    horizon = env.horizon or 0
    nxt = np.asarray(env.type_values(i, t + 1), float) if t + 1 < horizon else None
    if nxt is None or not np.all(np.isfinite(nxt)):
        raise ModelError(f"agents[{i}].types", f"period {t + 1}'s types are labels only and the next period "
                         "has no values to rank them by: the handicaps need an order of the types")
    P = env.agent_transition(i, t)[:, np.argsort(nxt, kind="stable")]
    o = np.argsort(P @ np.sort(nxt), kind="stable")                    # by expected next value
    F = np.cumsum(P[o], axis=1)[:, :-1]
    if np.any(np.diff(F, axis=0) > 1e-12):
        raise ModelError(f"agents[{i}].types", f"period {t + 1}'s types are labels only and the next-period "
                         "value distributions they induce are not ranked by first-order stochastic dominance")
    return o


def _best_quantity(qm, psi: np.ndarray) -> np.ndarray:
    """argmax_{q ∈ [0, q̄]} ψ q − c₁q − c₂q²/2 for each virtual value ψ."""
    psi = np.nan_to_num(psi)
    if qm.cost_quadratic > 0:
        q = np.maximum(0.0, (psi - qm.cost_linear) / qm.cost_quadratic)
    else:
        q = np.where(psi > qm.cost_linear, np.inf, 0.0)
    return np.minimum(q, float(qm.qmax))


def _impulse(env, tree, i: int, t: int, order) -> np.ndarray:
    """Discrete impulse response of agent i's period-t type to its first type along its own
    path (module docstring), at every period-t node; 0 past a top type, NaN where undefined."""
    K = tree.n_nodes(t)
    out = np.ones(K)
    if t == 0:
        return out
    d = tree.digits(t)[:, :, i]                                         # (K, t+1) own reports
    for s in range(1, t + 1):
        o_prev, o_cur = order[i][s - 1], order[i][s]
        p_prev, p_cur = np.argsort(o_prev), np.argsort(o_cur)
        v_prev = np.asarray(env.type_values(i, s - 1), float)
        v_cur = np.asarray(env.type_values(i, s), float)
        P = env.agent_transition(i, s - 1)                               # (n_{s-1}, n_s)
        F = np.cumsum(P[:, o_cur], axis=1)                               # by position of θ_s
        a, b = d[:, s - 1], d[:, s]
        ka, kb = p_prev[a], p_cur[b]
        top_prev = ka == o_prev.size - 1
        top_cur = kb == o_cur.size - 1
        up_prev = o_prev[np.minimum(ka + 1, o_prev.size - 1)]
        up_cur = o_cur[np.minimum(kb + 1, o_cur.size - 1)]
        dF = F[a, kb] - F[up_prev, kb]
        num = dF * (v_cur[up_cur] - v_cur[b])
        den = P[a, b] * (v_prev[up_prev] - v_prev[a])
        with np.errstate(divide="ignore", invalid="ignore"):
            fac = np.where(top_prev | top_cur, 0.0, num / den)
        out = out * fac
    return out


def dual_comparison(result, dvs: DynamicVirtualSurplus | None = None) -> dict:
    r"""Compare the closed-form multipliers with the solved program (:math:`\lambda` = −dual
    in the package's sign convention).

    With every :math:`\lambda \ge 0`, plugging them into the Lagrangian leaves the adjacent
    relaxation, whose optimum ``relaxed_value`` (the expected virtual surplus, maximised
    history by history) bounds the program's optimum from above (weak duality).  When the two
    are equal (``exact``) the multipliers, padded with zeros on every other IC row, are an
    *optimal dual* of the program, so every adjacent row with :math:`\lambda > 0` must bind
    at the solver's optimum (``complementary``, checked on its row activities).  The
    solver's own duals equal them row by row when the program's dual is unique; with pooled
    types or corner allocations several IC rows bind together and the solver may spread the
    weight over other rows (``max_gap``, ``max_other_ic_dual``).

    Returns ``relaxed_value``, ``program_value``, ``min_multiplier``, ``exact``,
    ``complementary``, ``slack_with_multiplier`` (largest slack of an adjacent row with
    λ > tolerance), ``max_gap`` (row by row on the adjacent downward rows), ``max_other_ic_dual``
    (largest |dual| on the other IC rows), ``rows`` compared, ``same_as_solver`` (row-by-row
    agreement and no weight elsewhere) and ``agree`` (``exact`` and ``complementary``), all
    within 1e-7 relative tolerances."""
    prog, sol = result.program, result.solution
    if sol is None or sol.row_dual is None:
        raise ModelError("solution", "the solution has no duals to compare")
    obj = prog.meta.get("objective", {}) or {}
    w_rev, w_wel = float(obj.get("revenue", 1.0)), float(obj.get("welfare", 0.0))
    if dvs is None:
        dvs = dynamic_virtual_surplus(result.env, prog.meta.get("participation", "interim"), w_rev,
                                      prog.meta.get("disclosure", "public"), w_wel)
    lab = prog.row_labels()
    ic = np.nonzero(lab["family"] == "IC")[0]
    lam_lp = -sol.row_dual[ic]
    ag, per, hist, tt, rep = (np.asarray(lab[k][ic]) for k in ("agent", "period", "history", "true_type", "report"))
    pred = np.zeros(ic.size)
    adjacent = np.zeros(ic.size, bool)
    for i in range(result.env.n_agents):
        for t in range(len(dvs.multipliers[i])):
            pos = np.argsort(dvs.order[i][t])
            m = np.nonzero((ag == i) & (per == t))[0]
            hi, lo = pos[tt[m]], pos[rep[m]]
            adj = hi == lo + 1
            pred[m[adj]] = dvs.multipliers[i][t][hist[m[adj]], lo[adj]]
            adjacent[m[adj]] = True
    tol = 1e-7 * max(1.0, float(np.max(np.abs(pred), initial=0.0)))
    gap = float(np.max(np.abs(pred[adjacent] - lam_lp[adjacent]), initial=0.0))
    other = float(np.max(np.abs(lam_lp[~adjacent]), initial=0.0))
    value = float(sol.objective)
    min_lam = min((float(x.min()) for li in dvs.multipliers for x in li if x.size), default=0.0)
    exact = bool(min_lam >= -tol and abs(value - dvs.relaxed_value) <= 1e-7 * max(1.0, abs(value)))
    slack = 0.0
    if sol.row_activity is not None:
        s = (sol.row_activity[ic] - prog.row_lower[ic])[adjacent & (pred > tol)]
        slack = float(np.max(s, initial=0.0))
    complementary = bool(slack <= 1e-7 * float(getattr(result.env, "payoff_scale", 1.0)))
    return {"relaxed_value": dvs.relaxed_value, "program_value": value, "min_multiplier": min_lam, "exact": exact,
            "complementary": complementary, "slack_with_multiplier": slack, "max_gap": gap,
            "max_other_ic_dual": other, "rows": int(adjacent.sum()),
            "same_as_solver": bool(gap <= tol and other <= tol), "agree": bool(exact and complementary)}
