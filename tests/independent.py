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
