"""Independent reference computations for relational contracts (no dmd_opt program code).

* :func:`stage_equilibria` — the pure-strategy equilibria of the one-shot stage game with
  public randomisation, by enumeration of message partitions and actions: the set of
  equilibrium payoffs of the one-period game is their convex hull.
* :func:`history_lp` — the principal's best perfect-public-equilibrium payoff of the
  *two-period* game at a given agent payoff, as one direct LP over the game's public
  histories (period-1 plan, its outcome, period-2 plan), with a public randomisation
  device before each period; punishments from the one-period game, computed here by
  enumeration.  Solved with ``scipy.optimize.linprog``.

Payoffs are normalised as :math:`(1-\\delta)\\sum_t \\delta^t u_t`.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import linprog


def _partitions(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for p in _partitions(rest):
        yield [[first]] + p
        for i in range(len(p)):
            yield p[:i] + [[first] + p[i]] + p[i + 1:]


def plans(game):
    """All pure plans: (cells, principal action per cell, agent action per state)."""
    S, A = game.n_states, len(game.principal_actions)
    parts = list(_partitions(list(range(S)))) if game.messages else [[list(range(S))]]
    out = []
    for part in parts:
        per_cell = []
        for cell in part:
            opts = []
            for a in range(A):
                for es in itertools.product(*[np.nonzero(game.feasible[s, a])[0] for s in cell]):
                    opts.append((a, dict(zip(cell, (int(e) for e in es)))))
            per_cell.append(opts)
        for combo in itertools.product(*per_cell):
            cell_of = {s: ci for ci, cell in enumerate(part) for s in cell}
            act = {s: combo[cell_of[s]][0] for s in range(S)}
            ag = {s: combo[cell_of[s]][1][s] for s in range(S)}
            out.append({"cells": part, "cell_action": [c[0] for c in combo], "cell_of": cell_of,
                        "a": act, "e": ag})
    return out


def outcomes(plan):
    """Public outcomes (cell, agent action) of a plan, and the outcome of each state."""
    keys = sorted({(plan["cell_of"][s], plan["e"][s]) for s in plan["a"]})
    return keys, {s: keys.index((plan["cell_of"][s], plan["e"][s])) for s in plan["a"]}


def stage_equilibria(game):
    """Payoff points (U, V) of the pure equilibria of the one-shot game (no future)."""
    pts = []
    for pl in plans(game):
        ok = True
        for s in pl["a"]:                      # agent: no better message/action
            own = game.u_agent[s, pl["a"][s], pl["e"][s]]
            for ci, a2 in enumerate(pl["cell_action"]):
                for e2 in np.nonzero(game.feasible[s, a2])[0]:
                    if game.u_agent[s, a2, e2] > own + 1e-12:
                        ok = False
        for ci, cell in enumerate(pl["cells"]):   # principal: no better action given the cell
            mine = sum(game.prob[s] * game.u_principal[s, pl["a"][s], pl["e"][s]] for s in cell)
            for a2 in range(len(game.principal_actions)):
                # after a deviation the agent best-responds; the principal gets the worst best response
                dev = 0.0
                for s in cell:
                    u = np.where(game.feasible[s, a2], game.u_agent[s, a2], -np.inf)
                    best = np.nonzero(u >= u.max() - 1e-12)[0]
                    dev += game.prob[s] * min(game.u_principal[s, a2, e] for e in best)
                if dev > mine + 1e-12:
                    ok = False
        if ok:
            U = sum(game.prob[s] * game.u_agent[s, pl["a"][s], pl["e"][s]] for s in pl["a"])
            V = sum(game.prob[s] * game.u_principal[s, pl["a"][s], pl["e"][s]] for s in pl["a"])
            pts.append((U, V))
    return np.array(pts)


def _punish_one_period(game, delta, cell, a2, W1pts):
    """Lowest principal payoff (π-weighted) after action a2 in ``cell`` when one period remains
    afterwards: agent responses × continuation lotteries over the vertices of W1 (an LP each)."""
    best = np.inf
    Ulo = W1pts[:, 0].min()
    for resp in itertools.product(*[np.nonzero(game.feasible[s, a2])[0] for s in cell]):
        acts = sorted(set(int(e) for e in resp))
        n, m = len(acts), len(W1pts)
        # variables: lottery weights over W1's vertices per action
        c = np.zeros(n * m)
        const = 0.0
        for s, e in zip(cell, resp):
            const += game.prob[s] * (1 - delta) * game.u_principal[s, a2, e]
            c[acts.index(e) * m:(acts.index(e) + 1) * m] += delta * game.prob[s] * W1pts[:, 1]
        A_eq = np.zeros((n, n * m))
        for i in range(n):
            A_eq[i, i * m:(i + 1) * m] = 1
        A_ub, b_ub = [], []
        for s, e in zip(cell, resp):
            for e2 in np.nonzero(game.feasible[s, a2])[0]:
                if e2 == e:
                    continue
                row = np.zeros(n * m)
                row[acts.index(e) * m:(acts.index(e) + 1) * m] -= delta * W1pts[:, 0]
                rhs = (1 - delta) * (game.u_agent[s, a2, e] - game.u_agent[s, a2, e2])
                if int(e2) in acts:
                    row[acts.index(int(e2)) * m:(acts.index(int(e2)) + 1) * m] += delta * W1pts[:, 0]
                else:
                    rhs -= delta * Ulo
                A_ub.append(row)
                b_ub.append(rhs)
        r = linprog(c, A_ub=np.array(A_ub) if A_ub else None, b_ub=np.array(b_ub) if b_ub else None,
                    A_eq=A_eq, b_eq=np.ones(n), bounds=(0, None), method="highs")
        if r.status == 0:
            best = min(best, const + r.fun)
    return best


def _punish_last(game, delta, cell, a2):
    """Lowest principal payoff (π-weighted) after a2 in the last period: the agent best-responds."""
    v = 0.0
    for s in cell:
        u = np.where(game.feasible[s, a2], game.u_agent[s, a2], -np.inf)
        best = np.nonzero(u >= u.max() - 1e-12)[0]
        v += game.prob[s] * (1 - delta) * min(game.u_principal[s, a2, e] for e in best)
    return v


def history_lp(game, delta, U):
    """The principal's best PPE payoff of the two-period game when the agent gets U (None if
    U is not an equilibrium payoff).  Variables: r1[q] (period-1 device) and r2[q, o, q2]
    (period-2 device after outcome o of plan q), joint probabilities."""
    P = plans(game)
    Q = len(P)
    W1 = stage_equilibria(game) * (1 - delta)          # the one-period game, normalised
    Ulo1 = W1[:, 0].min()
    outs = [outcomes(p) for p in P]
    # stage payoffs
    def uA(p, s):
        return game.u_agent[s, p["a"][s], p["e"][s]]

    def uP(p, s):
        return game.u_principal[s, p["a"][s], p["e"][s]]
    idx = {}
    n = 0
    for q in range(Q):
        idx[("r1", q)] = n
        n += 1
    for q in range(Q):
        for o in range(len(outs[q][0])):
            for q2 in range(Q):
                idx[("r2", q, o, q2)] = n
                n += 1
    A_ub, b_ub, A_eq, b_eq = [], [], [], []
    c = np.zeros(n)

    def cont(q, o, who):
        """Row vector: δ × (period-2 normalised payoff) × mass at node (q, o)."""
        row = np.zeros(n)
        for q2 in range(Q):
            val = sum(game.prob[s] * (1 - delta) * (uA(P[q2], s) if who == "A" else uP(P[q2], s))
                      for s in range(game.n_states))
            row[idx[("r2", q, o, q2)]] = delta * val
        return row
    # lotteries
    row = np.zeros(n)
    for q in range(Q):
        row[idx[("r1", q)]] = 1
    A_eq.append(row)
    b_eq.append(1.0)
    for q in range(Q):
        for o in range(len(outs[q][0])):
            row = np.zeros(n)
            row[idx[("r1", q)]] = -1
            for q2 in range(Q):
                row[idx[("r2", q, o, q2)]] = 1
            A_eq.append(row)
            b_eq.append(0.0)
    # promise keeping and objective
    pk = np.zeros(n)
    for q in range(Q):
        keys, of = outs[q]
        for s in range(game.n_states):
            pk[idx[("r1", q)]] += game.prob[s] * (1 - delta) * uA(P[q], s)
            c[idx[("r1", q)]] -= game.prob[s] * (1 - delta) * uP(P[q], s)
            pk += game.prob[s] * cont(q, of[s], "A")
            c -= game.prob[s] * cont(q, of[s], "P")
    A_eq.append(pk)
    b_eq.append(U)
    D2 = {}
    D1 = {}
    for q in range(Q):
        keys, of = outs[q]
        p = P[q]
        # period-1 agent incentives
        for s in range(game.n_states):
            for ci, a2 in enumerate(p["cell_action"]):
                for e2 in np.nonzero(game.feasible[s, a2])[0]:
                    if ci == p["cell_of"][s] and e2 == p["e"][s]:
                        continue
                    row = np.zeros(n)        # deviation − truth ≤ 0
                    row[idx[("r1", q)]] += (1 - delta) * (game.u_agent[s, a2, e2] - uA(p, s))
                    row -= cont(q, of[s], "A")
                    if (ci, int(e2)) in keys:
                        row += cont(q, keys.index((ci, int(e2))), "A")
                    else:
                        row[idx[("r1", q)]] += delta * Ulo1
                    A_ub.append(row)
                    b_ub.append(0.0)
        # period-1 principal obedience
        for ci, cell in enumerate(p["cells"]):
            for a2 in range(len(game.principal_actions)):
                if a2 == p["cell_action"][ci]:
                    continue
                key = (tuple(cell), a2)
                if key not in D1:
                    D1[key] = _punish_one_period(game, delta, cell, a2, W1)
                row = np.zeros(n)
                row[idx[("r1", q)]] += D1[key]
                for s in cell:
                    row[idx[("r1", q)]] -= game.prob[s] * (1 - delta) * uP(p, s)
                    row -= game.prob[s] * cont(q, of[s], "P")
                A_ub.append(row)
                b_ub.append(0.0)
        # period 2 at every node
        for o in range(len(keys)):
            for q2 in range(Q):
                p2 = P[q2]
                v = idx[("r2", q, o, q2)]
                keys2, of2 = outs[q2]
                for s in range(game.n_states):
                    for ci, a2 in enumerate(p2["cell_action"]):
                        for e2 in np.nonzero(game.feasible[s, a2])[0]:
                            if ci == p2["cell_of"][s] and e2 == p2["e"][s]:
                                continue
                            row = np.zeros(n)
                            row[v] = game.u_agent[s, a2, e2] - uA(p2, s)
                            A_ub.append(row)
                            b_ub.append(0.0)
                for ci, cell in enumerate(p2["cells"]):
                    for a2 in range(len(game.principal_actions)):
                        if a2 == p2["cell_action"][ci]:
                            continue
                        key = (tuple(cell), a2)
                        if key not in D2:
                            D2[key] = _punish_last(game, delta, cell, a2)
                        row = np.zeros(n)
                        row[v] = D2[key] - sum(game.prob[s] * (1 - delta) * uP(p2, s) for s in cell)
                        A_ub.append(row)
                        b_ub.append(0.0)
    r = linprog(c, A_ub=np.array(A_ub), b_ub=np.array(b_ub), A_eq=np.array(A_eq), b_eq=np.array(b_eq),
                bounds=(0, None), method="highs")
    return None if r.status != 0 else -r.fun
