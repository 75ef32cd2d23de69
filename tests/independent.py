"""Independent reference computations for the tests (no dmd_opt program code).

* :func:`brute_force_revenue` — the revenue LP written a second, different way:
  instead of one-shot constraints on the history tree, it enumerates every
  deterministic reporting *strategy* of every agent (a map from its own true-type
  history to reports) and requires truth-telling to beat each one in expectation
  from the initial type on (Bayesian IC with private disclosure; for one agent
  this is the same problem as the public one).  Solved with ``scipy.optimize.linprog``.
  For Markov private values both formulations have the same optimum: after any
  history the agent's optimal continuation depends only on its current type.
* :func:`ironed_virtual_values` — Myerson's ironing for discrete types via the
  concave hull of the revenue curve in quantile space.
* :func:`battaglini_low_path` — Battaglini (2005) low-type quantities along the
  all-low path with u = θq, c(q) = q²/2.
* :func:`courty_li_virtual_values` — discrete Courty–Li handicaps with two ex-ante types.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import linprog


def _paths(init, trans, T):
    """All type paths of one agent with their probabilities."""
    out = []
    for path in itertools.product(*[range(len(init) if t == 0 else trans[t - 1].shape[1]) for t in range(T)]):
        p = init[path[0]]
        for t in range(1, T):
            p *= trans[t - 1][path[t - 1], path[t]]
        out.append((path, p))
    return out


def _strategies(sizes):
    """All deterministic strategies: for each t, a map from own type history (θ_0..θ_t) to a report."""
    T = len(sizes)
    hist = [list(itertools.product(*[range(sizes[s]) for s in range(t + 1)])) for t in range(T)]
    choices = [list(itertools.product(range(sizes[t]), repeat=len(hist[t]))) for t in range(T)]
    for combo in itertools.product(*choices):
        maps = [dict(zip(hist[t], combo[t])) for t in range(T)]
        yield maps


def brute_force_revenue(values, initials, transitions, utilities, costs, delta, participation="interim"):
    """Optimal expected discounted revenue by strategy enumeration (finite decisions).

    ``values[i][t]`` type values (only sizes are used), ``initials[i]``,
    ``transitions[i][t]`` (n_t × n_{t+1}), ``utilities[i][t]`` (|A_t| × n_{i,t}),
    ``costs[t]`` (|A_t|,).  Returns the optimal revenue (or None if not optimal).
    """
    N, T = len(values), len(values[0])
    sizes = [[len(values[i][t]) for t in range(T)] for i in range(N)]
    A = [len(costs[t]) for t in range(T)]
    # Nodes: report-profile histories; index them with a dict.
    node_index = {}
    var_x = []
    for t in range(T):
        for hist in itertools.product(*[itertools.product(*[range(sizes[i][s]) for i in range(N)])
                                        for s in range(t + 1)]):
            node_index[hist] = len(node_index)
            var_x.append((t, hist))
    nn = len(node_index)
    nx = sum(A[t] for t, _ in var_x)
    xoff, o = [], 0
    for t, _ in var_x:
        xoff.append(o)
        o += A[t]
    # variables: x (lotteries), p[node, i]
    nvar = nx + nn * N

    def px(k, i):
        return nx + k * N + i

    agent_paths = [_paths(initials[i], transitions[i], T) for i in range(N)]
    c = np.zeros(nvar)
    # objective (maximise revenue -> minimise negative)
    for prof_paths in itertools.product(*agent_paths):
        pr = np.prod([pp[1] for pp in prof_paths])
        if pr == 0:
            continue
        for t in range(T):
            hist = tuple(tuple(prof_paths[i][0][s] for i in range(N)) for s in range(t + 1))
            k = node_index[hist]
            for i in range(N):
                c[px(k, i)] -= delta ** t * pr
            c[xoff[k]:xoff[k] + A[t]] += delta ** t * pr * costs[t]

    def payoff_row(i, theta0, strategy):
        """Coefficients of agent i's expected payoff given θ_{i,0}=theta0 and a strategy."""
        row = np.zeros(nvar)
        own = [pp for pp in agent_paths[i] if pp[0][0] == theta0]
        z = sum(p for _, p in own)
        others = [agent_paths[j] for j in range(N) if j != i]
        for path, p in own:
            reps = [strategy[t][path[:t + 1]] for t in range(T)]
            for oth in itertools.product(*others):
                po = np.prod([q[1] for q in oth]) if oth else 1.0
                w = p / z * po
                if w == 0:
                    continue
                oi = iter(oth)
                full = []
                for j in range(N):
                    full.append(reps if j == i else list(next(oi)[0]))
                for t in range(T):
                    hist = tuple(tuple(full[j][s] for j in range(N)) for s in range(t + 1))
                    k = node_index[hist]
                    row[xoff[k]:xoff[k] + A[t]] += delta ** t * w * utilities[i][t][:, path[t]]
                    row[px(k, i)] -= delta ** t * w
        return row

    A_ub, b_ub = [], []
    for i in range(N):
        truthful = [dict(((h, h[-1]) for h in itertools.product(*[range(sizes[i][s]) for s in range(t + 1)])))
                    for t in range(T)]
        strategies = list(_strategies(sizes[i]))
        for th0 in range(sizes[i][0]):
            if initials[i][th0] == 0:
                continue
            tv = payoff_row(i, th0, truthful)
            for st in strategies:
                dv = payoff_row(i, th0, st)
                A_ub.append(dv - tv)          # deviation − truthful ≤ 0
                b_ub.append(0.0)
            if participation == "interim":
                A_ub.append(-tv)
                b_ub.append(0.0)
        if participation == "ex_ante":
            row = sum(initials[i][th0] * payoff_row(i, th0, truthful)
                      for th0 in range(sizes[i][0]) if initials[i][th0] > 0)
            A_ub.append(-row)
            b_ub.append(0.0)
    A_eq = np.zeros((nn, nvar))
    for t, hist in var_x:
        k = node_index[hist]
        A_eq[k, xoff[k]:xoff[k] + A[t]] = 1.0
    bounds = [(0, 1)] * nx + [(None, None)] * (nn * N)
    res = linprog(c, A_ub=np.array(A_ub), b_ub=np.array(b_ub), A_eq=A_eq, b_eq=np.ones(nn),
                  bounds=bounds, method="highs")
    return -res.fun if res.status == 0 else None


def brute_force_env(env, participation="interim"):
    """:func:`brute_force_revenue` on a dmd_opt Environment (reads its arrays only)."""
    T, N = env.horizon, env.n_agents
    return brute_force_revenue(
        [[env.type_values(i, t) for t in range(T)] for i in range(N)],
        [env.agents[i].initial for i in range(N)],
        [[env.transition(i, t) for t in range(T - 1)] for i in range(N)],
        [[env.utility(i, t) for t in range(T)] for i in range(N)],
        [env.cost(t) for t in range(T)], env.discount, participation)


def ironed_virtual_values(values, probs):
    """Myerson's ironed virtual values for discrete ascending values.

    Revenue curve in quantile space: points (q_k, v_k q_k) with q_k = P(v ≥ v_k),
    plus (0, 0).  The ironed virtual value of type k is the slope of the concave
    hull between q_{k+1} and q_k.
    """
    v, f = np.asarray(values, float), np.asarray(probs, float)
    n = len(v)
    q = np.r_[np.cumsum(f[::-1])[::-1], 0.0]            # q_0..q_n (q_n = 0)
    R = np.r_[v * q[:n], 0.0]
    # concave hull over points sorted by q ascending
    pts = sorted(zip(q, R))
    hull = []
    for p in pts:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (y2 - y1) * (p[0] - x1) <= (p[1] - y1) * (x2 - x1):   # middle point below chord
                hull.pop()
            else:
                break
        hull.append(p)
    hx = np.array([h[0] for h in hull])
    hy = np.array([h[1] for h in hull])
    Rbar = np.interp(q, hx, hy)
    return (Rbar[:n] - Rbar[1:]) / f


def virtual_values(values, probs):
    v, f = np.asarray(values, float), np.asarray(probs, float)
    tail = np.r_[np.cumsum(f[::-1])[::-1][1:], 0.0]       # P(v > v_k)
    dv = np.r_[np.diff(v), 0.0]
    return v - dv * tail / f


def battaglini_low_path(theta_L, theta_H, mu_H, P, T):
    """q_t on the all-low path: θ_L − μ_H Δθ (P_HH − P_LH)^{t} / Pr(L^{t+1}), clipped at 0.

    ``P`` = [[P_LL, P_LH], [P_HL, P_HH]]; t = 0..T-1 (0-based).
    """
    d = theta_H - theta_L
    out = []
    for t in range(T):
        prob_path = (1 - mu_H) * P[0][0] ** t
        out.append(max(0.0, theta_L - mu_H * d * (P[1][1] - P[0][1]) ** t / prob_path))
    return np.array(out)


def courty_li_virtual_values(values, f_tau, f_v_given_tau):
    """Discrete Courty–Li handicapped values for two ex-ante types (L = 0, H = 1).

    With interim participation the binding constraint is H mimicking L at stage 1,
    and L's stage-2 allocation is charged
    (f(H)/f(L)) (ϑ_{j+1} − ϑ_j) (F(ϑ_j|L) − F(ϑ_j|H)) / f(ϑ_j|L); H is undistorted.
    """
    v = np.asarray(values, float)
    fL, fH = (np.asarray(x, float) for x in f_v_given_tau)
    FL, FH = np.cumsum(fL), np.cumsum(fH)
    dv = np.r_[np.diff(v), 0.0]
    psiL = v - (f_tau[1] / f_tau[0]) * dv * (FL - FH) / fL
    return psiL, v.copy()


# ---------------------------------------------------------------------------------------
# A general brute-force program: strategies enumerated from every start point
# ---------------------------------------------------------------------------------------
class BruteModel:
    """A finite model for :func:`brute_force_general`, written without dmd_opt.

    ``sizes[i][t]`` number of types; ``initial`` (R_0,) joint law of the first profile and
    ``kernels[t]`` (R_t, R_{t+1}) joint transitions over profiles (C order, last agent
    fastest); ``util(i, t, a, own)`` agent i's utility of decision ``a`` given its own true
    type history ``own = (θ_{i,0}, …, θ_{i,t})``; ``costs[t]`` (|A_t|,); ``delta``.
    """

    def __init__(self, sizes, initial, kernels, util, costs, delta):
        self.sizes, self.initial, self.kernels = sizes, np.asarray(initial, float), kernels
        self.util, self.costs, self.delta = util, [np.asarray(c, float) for c in costs], delta
        self.N, self.T = len(sizes), len(costs)
        self.shapes = [tuple(sizes[i][t] for i in range(self.N)) for t in range(self.T)]

    @classmethod
    def from_env(cls, env):
        """Read a dmd_opt Environment's arrays: its joint law (the product of the agents' laws when
        types are independent) and utilities of the current type."""
        N, T = env.n_agents, env.horizon
        sizes = [[env.n_types(i, t) for t in range(T)] for i in range(N)]
        kernels = [np.asarray(env.kernel(t))[0] for t in range(T - 1)]
        util = (lambda i, t, a, own: float(env.utility(i, t)[a, own[-1]]))
        return cls(sizes, np.asarray(env.initial), kernels, util, [env.cost(t) for t in range(T)], env.discount)

    def paths(self):
        """Every joint type path (tuple of per-period profiles as digit tuples) with its probability."""
        out = []
        for path in itertools.product(*[itertools.product(*[range(n) for n in self.shapes[t]])
                                        for t in range(self.T)]):
            idx = [int(np.ravel_multi_index(p, self.shapes[t])) for t, p in enumerate(path)]
            pr = self.initial[idx[0]]
            for t in range(1, self.T):
                pr *= self.kernels[t - 1][idx[t - 1], idx[t]]
            out.append((path, pr))
        return out


def brute_force_general(model: BruteModel, ic="bayesian", participation="interim", money=True,
                        objective="revenue"):
    """Optimal objective of the dynamic program with public disclosure, by enumeration.

    Variables: a lottery x and payments p at every public history of report profiles.
    Incentive constraints are stated on *strategies*, not one-shot deviations: from every
    start point — a period t, a public history h of earlier reports (including ones where
    i lied), i's own true type history ω up to t with positive probability given the
    others' reports in h, and for ``ic="expost"`` also the others' current types — truthful
    reporting from t on must beat every deterministic reporting strategy of i that maps
    what i has seen (its later own types, the others' later reports) to reports, the
    others being truthful.  Beliefs are conditional path probabilities (any joint law).
    Participation: ``interim`` / ``ex_ante`` on the truthful value at t = 0, ``periodic`` at
    every Bayesian start point, ``expost`` at every ex-post start point.
    """
    m = model
    N, T, d = m.N, m.T, m.delta
    A = [len(c) for c in m.costs]
    nodes = {}
    for t in range(T):
        for hist in itertools.product(*[itertools.product(*[range(n) for n in m.shapes[s]]) for s in range(t + 1)]):
            nodes[hist] = len(nodes)
    xoff = np.cumsum([0] + [A[len(h) - 1] for h in nodes])[:-1]
    nx = int(sum(A[len(h) - 1] for h in nodes))
    nvar = nx + len(nodes) * N
    paths = m.paths()

    def pcol(hist, i):
        return nx + nodes[hist] * N + i

    def xcols(hist):
        k = nodes[hist]
        return slice(xoff[k], xoff[k] + A[len(hist) - 1])

    def payoff_row(i, t, prefix, weights, strategy):
        """Agent i's expected payoff from period t on: ``weights`` = [(path, prob)] (conditional),
        ``prefix`` = reports before t, ``strategy(s, own_new, others_seen) -> report``."""
        row = np.zeros(nvar)
        for path, w in weights:
            hist = list(prefix)
            for s in range(t, T):
                own_new = tuple(path[u][i] for u in range(t, s + 1))
                seen = tuple(tuple(path[u][j] for j in range(N) if j != i) for u in range(t, s))
                r = strategy(s, own_new, seen)
                prof = tuple(r if j == i else path[s][j] for j in range(N))
                hist.append(prof)
                h = tuple(hist)
                own = tuple(path[u][i] for u in range(s + 1))
                row[xcols(h)] += d ** (s - t) * w * np.array([m.util(i, s, a, own) for a in range(A[s])])
                row[pcol(h, i)] -= d ** (s - t) * w
        return row

    def strategies(i, t, fixed_first=None):
        """Every deterministic strategy from t: report at s depends on (own types t..s, others' reports t..s−1)."""
        keys = []
        for s in range(t, T):
            own = list(itertools.product(*[range(m.sizes[i][u]) for u in range(t, s + 1)]))
            oth = list(itertools.product(*[list(itertools.product(*[range(m.sizes[j][u]) for j in range(N) if j != i]))
                                           for u in range(t, s)]))
            keys.append([(s, a, b) for a in own for b in oth])
        flat = [k for ks in keys for k in ks]
        choices = [range(m.sizes[i][k[0]]) for k in flat]
        for combo in itertools.product(*choices):
            table = dict(zip(flat, combo))
            yield (lambda s, a, b, table=table: table[(s, a, b)])

    truthful = (lambda s, a, b: a[-1])
    A_ub, b_ub = [], []
    for i in range(N):
        for t in range(T):
            for prefix in itertools.product(*[itertools.product(*[range(n) for n in m.shapes[s]]) for s in range(t)]):
                for omega in itertools.product(*[range(m.sizes[i][s]) for s in range(t + 1)]):
                    cons = [(p, pr) for p, pr in paths if pr > 0
                            and all(p[s][i] == omega[s] for s in range(t + 1))
                            and all(p[s][j] == prefix[s][j] for s in range(t) for j in range(N) if j != i)]
                    z = sum(pr for _, pr in cons)
                    if z <= 0:
                        continue
                    groups = [cons] if ic == "bayesian" else \
                        [[(p, pr) for p, pr in cons if tuple(p[t][j] for j in range(N) if j != i) == c]
                         for c in sorted({tuple(p[t][j] for j in range(N) if j != i) for p, _ in cons})]
                    for g in groups:
                        zg = sum(pr for _, pr in g)
                        g = [(p, pr / zg) for p, pr in g]
                        tv = payoff_row(i, t, prefix, g, truthful)
                        for st in strategies(i, t):
                            A_ub.append(payoff_row(i, t, prefix, g, st) - tv)
                            b_ub.append(0.0)
                        if participation == "periodic" and ic == "bayesian" or participation == "expost" and ic == "expost":
                            A_ub.append(-tv)
                            b_ub.append(0.0)
    if participation == "expost" and ic == "bayesian":
        raise ValueError("brute_force_general: ex-post participation is enumerated with ic='expost'")
    if participation in ("interim", "ex_ante"):
        for i in range(N):
            rows = []
            for th in range(m.sizes[i][0]):
                cons = [(p, pr) for p, pr in paths if pr > 0 and p[0][i] == th]
                z = sum(pr for _, pr in cons)
                if z <= 0:
                    continue
                rows.append((z, payoff_row(i, 0, (), [(p, pr / z) for p, pr in cons], truthful)))
            if participation == "interim":
                for _, r in rows:
                    A_ub.append(-r)
                    b_ub.append(0.0)
            else:
                A_ub.append(-sum(z * r for z, r in rows))
                b_ub.append(0.0)
    c = np.zeros(nvar)
    w_rev, w_wel = (1.0, 0.0) if objective == "revenue" else (0.0, 1.0)
    for path, pr in paths:
        for t in range(T):
            h = tuple(path[:t + 1])
            for i in range(N):
                c[pcol(h, i)] -= w_rev * d ** t * pr
                if w_wel:
                    own = tuple(path[u][i] for u in range(t + 1))
                    c[xcols(h)] -= w_wel * d ** t * pr * np.array([m.util(i, t, a, own) for a in range(A[t])])
            c[xcols(h)] += (w_rev + w_wel) * d ** t * pr * m.costs[t]
    A_eq = np.zeros((len(nodes), nvar))
    for h, k in nodes.items():
        A_eq[k, xcols(h)] = 1.0
    pb = (None, None) if money else (0.0, 0.0)
    bounds = [(0, 1)] * nx + [pb] * (len(nodes) * N)
    res = linprog(c, A_ub=np.array(A_ub) if A_ub else None, b_ub=np.array(b_ub) if b_ub else None,
                  A_eq=A_eq, b_eq=np.ones(len(nodes)), bounds=bounds, method="highs")
    return -res.fun if res.status == 0 else None
