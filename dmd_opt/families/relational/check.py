r"""Independent check of a relational contract's enforcement constraints.

Given the policy read off the final linear program — at every promise on the grid a
lottery over pure plans and, per public outcome, the continuation promise
:math:`w_A` and the principal's continuation value :math:`w_P` — this module
recomputes every constraint from the stage game alone, without the LP's rows:

* promise keeping :math:`\sum_q\rho_q\sum_\theta\pi_\theta[(1-\delta)u_A+\delta w_A] = U`
  and the value :math:`\sum_q\rho_q\sum_\theta\pi_\theta[(1-\delta)u_P+\delta w_P] = \bar V(U)`;
* the agent's truth-telling / obedience for every plan, state and deviation (another
  message cell, another feasible action); an action no type takes on path is followed
  by the lowest promise :math:`U_{lo}` of the continuation set;
* the principal's obedience for every plan, message cell and alternative action
  :math:`a'`, against her punishment :math:`D(c,a')` recomputed here by brute force
  (:func:`punishment_bruteforce`: every pure response of the agent, continuation
  promises searched over the grid's breakpoints and the points the agent's
  constraints pin down — exact for the piecewise-linear boundary);
* continuations inside the continuation set (:math:`U_{lo}\le w_A\le U_{hi}`,
  :math:`\underline V(w_A)\le w_P\le\bar V(w_A)`).

Residuals are violations (positive = violated) in payoff units.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from dmd_opt.families.relational.game import Plans


def _lower(W, u):
    return np.interp(u, W.grid, W.lower) if not W.degenerate else np.full(np.shape(u), W.lower.min())


def punishment_bruteforce(plans: Plans, delta: float, W, cell: tuple, a: int) -> float | None:
    """The principal's lowest payoff after action ``a`` in message cell ``cell`` (π-weighted),
    by enumeration; ``None`` when a response has more than two distinct actions (use the LP)."""
    g = plans.game
    choices = [np.nonzero(g.feasible[s, a])[0].tolist() for s in cell]
    lo, hi = W.U_lo, W.U_hi
    cand_base = np.unique(np.concatenate([W.grid, [lo, hi]]))
    best = np.inf
    for resp in itertools.product(*choices):
        acts = sorted(set(resp))
        if len(acts) > 2:
            return None
        # constraints x_i − x_j ≥ gap (j = −1: x_i ≥ gap)
        cons = []
        for s, e in zip(cell, resp):
            for e2 in np.nonzero(g.feasible[s, a])[0]:
                if e2 == e:
                    continue
                gap = (1 - delta) * (g.u_agent[s, a, e2] - g.u_agent[s, a, e]) / delta
                if e2 in acts:
                    cons.append((acts.index(e), acts.index(int(e2)), gap))
                else:
                    cons.append((acts.index(e), -1, lo + gap))
        stage = sum(g.prob[s] * (1 - delta) * g.u_principal[s, a, e] for s, e in zip(cell, resp))
        weight = np.array([sum(g.prob[s] for s, e in zip(cell, resp) if e == act) for act in acts])
        n = len(acts)
        extra = [c[2] for c in cons if c[1] < 0]
        cand1 = np.unique(np.concatenate([cand_base, extra]))
        cand1 = cand1[(cand1 >= lo - 1e-12) & (cand1 <= hi + 1e-12)]
        if n == 1:
            ok = np.ones(cand1.size, bool)
            for i, j, gap in cons:
                if j < 0:
                    ok &= cand1 >= gap - 1e-12
                elif gap > 1e-12:
                    ok &= False
            if ok.any():
                v = stage + delta * weight[0] * _lower(W, cand1[ok]).min()
                best = min(best, float(v))
            continue
        # two actions: candidates for each, plus the points the other one pins down
        gaps = [gap for i, j, gap in cons if j >= 0]
        c2 = np.unique(np.concatenate([cand1] + [cand1 + gp for gp in gaps] + [cand1 - gp for gp in gaps]))
        c2 = c2[(c2 >= lo - 1e-12) & (c2 <= hi + 1e-12)]
        X0, X1 = np.meshgrid(c2, c2, indexing="ij")
        xs = (X0, X1)
        ok = np.ones(X0.shape, bool)
        for i, j, gap in cons:
            if j < 0:
                ok &= xs[i] >= gap - 1e-12
            else:
                ok &= xs[i] - xs[j] >= gap - 1e-12
        if ok.any():
            v = stage + delta * (weight[0] * _lower(W, X0[ok]) + weight[1] * _lower(W, X1[ok]))
            best = min(best, float(v.min()))
    return best


@dataclass
class PolicyCheck:
    """Largest violation of each family and where it occurs."""

    promise_keeping: float
    value: float
    agent_ic: float
    principal_obedience: float
    continuation_set: float
    punishment_gap: float
    per_block: np.ndarray          # (K,) largest constraint violation at each grid promise (value excluded)

    @property
    def max_violation(self) -> float:
        """Largest violation of a constraint (the principal's value is the objective: reported
        in ``value``, not counted)."""
        return float(max(self.promise_keeping, self.agent_ic, self.principal_obedience, self.continuation_set))

    def passed(self, tol: float = 1e-7, scale: float = 1.0) -> bool:
        return self.max_violation <= tol * scale

    def summary_lines(self) -> list[str]:
        return [f"promise keeping: largest error {self.promise_keeping:.2e}",
                f"agent's incentives (truthful message and action): largest gain from a deviation {self.agent_ic:.2e}",
                f"principal's obedience against her punishment: largest gain {self.principal_obedience:.2e}",
                f"continuations inside the continuation set: largest excess {self.continuation_set:.2e}",
                f"principal's value: largest difference from the frontier {self.value:.2e}",
                f"punishments recomputed by enumeration vs the LP: largest difference {self.punishment_gap:.2e}"]

    def to_dict(self) -> dict:
        return {"promise_keeping": self.promise_keeping, "value": self.value, "agent_ic": self.agent_ic,
                "principal_obedience": self.principal_obedience, "continuation_set": self.continuation_set,
                "punishment_gap": self.punishment_gap, "max_violation": self.max_violation}


def check_policy(plans: Plans, delta: float, W_in, grid: np.ndarray, values: np.ndarray, rho: np.ndarray,
                 wA: np.ndarray, wP: np.ndarray, relational: bool, D_lp: dict | None = None,
                 randomization: str = "period", blocks: np.ndarray | None = None) -> PolicyCheck:
    """Recompute every constraint at the grid promises ``blocks`` (default all).

    ``rho`` (K, Q) plan lotteries, ``wA``, ``wP`` (K, O) continuation promise and
    principal value per outcome (only read where the plan has weight)."""
    g = plans.game
    S, Q = g.n_states, plans.Q
    K = grid.size
    blocks = np.arange(K) if blocks is None else np.asarray(blocks)
    srange = np.arange(S)
    uA = g.u_agent[srange[None, :], plans.action, plans.agent]
    uP = g.u_principal[srange[None, :], plans.action, plans.agent]
    pi = g.prob
    per = np.zeros(K)
    used = rho > 1e-9
    # promise keeping and value
    onA = (1 - delta) * uA[None] + delta * wA[:, plans.outcome]          # (K, Q, S)
    onP = (1 - delta) * uP[None] + delta * wP[:, plans.outcome]
    onA = np.where(used[:, :, None], onA, 0.0)
    onP = np.where(used[:, :, None], onP, 0.0)
    U = (rho[:, :, None] * onA * pi).sum(axis=(1, 2))
    V = (rho[:, :, None] * onP * pi).sum(axis=(1, 2))
    pk = np.abs(U - grid)
    val = np.abs(V - values)
    per = np.maximum(per, pk)        # the principal's value is the objective, not a constraint
    # continuation set
    cs = np.zeros(K)
    out_used = used[:, plans.out_plan]
    if W_in.degenerate:
        up = np.full(wA.shape, W_in.upper.max())
        dn = np.full(wA.shape, W_in.lower.min())
    else:
        up = np.interp(np.clip(wA, W_in.U_lo, W_in.U_hi), W_in.grid, W_in.upper)
        dn = np.interp(np.clip(wA, W_in.U_lo, W_in.U_hi), W_in.grid, W_in.lower)
    viol = np.maximum.reduce([W_in.U_lo - wA, wA - W_in.U_hi, wP - up, dn - wP])
    viol = np.where(out_used, viol, -np.inf)
    cs = np.max(viol, axis=1, initial=0.0)
    per = np.maximum(per, cs)
    # agent
    E = len(g.agent_actions)
    ic = np.zeros(K)
    out_index = {(int(plans.out_plan[o]), int(plans.out_cell[o]), int(plans.out_agent[o])): o
                 for o in range(plans.O)}
    U_off = W_in.U_lo
    if randomization == "period":
        for q in range(Q):
            mask = used[:, q]
            if not mask.any():
                continue
            for s in range(S):
                own = onA[:, q, s]
                for c2 in range(len(plans.cell_states[q])):
                    a2 = plans.cell_action[q][c2]
                    for e2 in np.nonzero(g.feasible[s, a2])[0]:
                        if c2 == plans.cell[q, s] and e2 == plans.agent[q, s]:
                            continue
                        o2 = out_index.get((q, c2, int(e2)), -1)
                        cont = wA[:, o2] if o2 >= 0 else U_off
                        dev = (1 - delta) * g.u_agent[s, a2, e2] + delta * cont
                        ic = np.maximum(ic, np.where(mask, dev - own, 0.0))
    else:
        for part in np.unique(plans.partition):
            qs = np.nonzero(plans.partition == part)[0]
            for s in range(S):
                on = (rho[:, qs] * np.where(used[:, qs], onA[:, qs, s], 0.0)).sum(axis=1)
                for c2 in range(len(plans.partitions[part])):
                    best = np.zeros(K)
                    for q in qs:
                        a2 = plans.cell_action[q][c2]
                        opts = []
                        for e2 in np.nonzero(g.feasible[s, a2])[0]:
                            o2 = out_index.get((q, c2, int(e2)), -1)
                            cont = wA[:, o2] if o2 >= 0 else np.full(K, U_off)
                            opts.append((1 - delta) * g.u_agent[s, a2, e2] + delta * cont)
                        best += np.where(used[:, q], rho[:, q] * np.max(opts, axis=0), 0.0)
                    ic = np.maximum(ic, best - on)
    per = np.maximum(per, ic)
    # principal
    ob = np.zeros(K)
    gap = 0.0
    if relational:
        A = len(g.principal_actions)
        Dcache: dict = {}
        for q in range(Q):
            mask = used[:, q]
            if not mask.any():
                continue
            for c, cs_ in enumerate(plans.cell_states[q]):
                a = plans.cell_action[q][c]
                mine = sum(pi[s] * onP[:, q, s] for s in cs_)
                for a2 in range(A):
                    if a2 == a:
                        continue
                    key = (tuple(cs_), a2)
                    if key not in Dcache:
                        d = punishment_bruteforce(plans, delta, W_in, tuple(cs_), a2)
                        if d is None:
                            d = D_lp[key]
                        Dcache[key] = d
                        if D_lp is not None and key in D_lp:
                            gap = max(gap, abs(d - D_lp[key]))
                    ob = np.maximum(ob, np.where(mask, Dcache[key] - mine, 0.0))
        per = np.maximum(per, ob)
    sel = blocks
    return PolicyCheck(float(pk[sel].max(initial=0)), float(val[sel].max(initial=0)), float(ic[sel].max(initial=0)),
                       float(ob[sel].max(initial=0)), float(cs[sel].max(initial=0)), float(gap), per)
