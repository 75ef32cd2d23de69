r"""Distortion of an allocation rule against the efficient one, on the history tree.

The *first best* (:func:`efficient_benchmark`) allocates at every node the decision that
maximises the reported surplus :math:`\sum_i u_{i,t}(a, r_i) - c_t(a)` (with decision-independent
transitions the efficient policy is myopic).  The *gap* of a mechanism at a node
(:func:`allocation_gap`) is how far its allocation is from it; aggregated by period
(:func:`distortion_by_period`), by history depth (:func:`distortion_by_history`) and along one
report path (:func:`path_distortion`), it shows the decay of distortions over time —
Battaglini (2005): the low type's distortion shrinks along the all-low path and vanishes after
a high report; Pavan, Segal & Toikka (2014): the distortion is the virtual-value wedge times the
impulse response of the current type to the initial one (docs/theory.md#revenue-maximisation).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from dmd_opt.core.environment import Environment
from dmd_opt.core.tree import HistoryTree
from dmd_opt.core.truthful import tree_decision_utility
from dmd_opt.families.revenue.program import efficient_allocation
from dmd_opt.mechanisms.tree import TreeMechanism


def efficient_benchmark(env: Environment, horizon: int | None = None) -> TreeMechanism:
    """The first-best allocation on the history tree with zero payments (ties: first decision)."""
    tree = HistoryTree(env, horizon)
    alloc = efficient_allocation(env, tree)
    pay = [np.zeros((tree.n_nodes(t), env.n_agents)) for t in range(tree.T)]
    return TreeMechanism(env, alloc, pay, name="first best")


def node_surplus(mech: TreeMechanism, t: int) -> np.ndarray:
    """(K_t,) surplus :math:`\\sum_i u_i(x(k),\\theta_i) - c_t(x(k))` at every node, truthful types."""
    return sum(mech.truthful_utility(i, t) for i in range(mech.env.n_agents)) - mech.principal_cost(t)


def allocation_gap(mech: TreeMechanism, bench: TreeMechanism, t: int, tol: float = 1e-9) -> np.ndarray:
    r"""(K_t,) how far the allocation is from the efficient one at every node.

    Quantity models: :math:`\sum_i (q^*_i - q_i)` (positive = downward distortion,
    Mussa–Rosen/Battaglini).  Finite decisions: the probability of a decision that is
    *not* surplus-maximising at the node's reported profile,
    :math:`1 - \sum_{a \in A^*(k)} x_a(k)` — ties between efficient decisions (equal
    values) are not distortions.  ``bench`` supplies the quantities (quantity models).
    """
    x = mech.allocation[t]
    if mech.is_quantity:
        return (bench.allocation[t] - x).sum(axis=1)
    S = decision_surplus(mech.env, mech.tree, t)
    best = S.max(axis=1, keepdims=True)
    efficient = S >= best - tol * max(1.0, mech.env.payoff_scale)
    return np.clip(1.0 - np.where(efficient, x, 0.0).sum(axis=1), 0.0, 1.0)


def decision_surplus(env: Environment, tree, t: int) -> np.ndarray:
    r"""(K_t, |A_t|) surplus :math:`\sum_i u_{i,t}(a, r_i) - c_t(a)` of each decision at each node."""
    S = -np.broadcast_to(env.cost(t), (tree.n_nodes(t), env.n_decisions(t))).copy()
    for i in range(env.n_agents):
        S += tree_decision_utility(env, tree, i, t)
    return S


def distortion_frame(mech: TreeMechanism, bench: TreeMechanism | None = None, max_nodes: int = 200_000):
    """Node-level table: period, node, history label, probability, gap and surplus loss."""
    import pandas as pd
    bench = bench or efficient_benchmark(mech.env, mech.T)
    tree = mech.tree
    frames = []
    for t in range(mech.T):
        K = tree.n_nodes(t)
        if K > max_nodes:
            break
        k = np.arange(K)
        frames.append(pd.DataFrame({
            "period": t + 1, "node": k, "history": tree.history_labels(t, k),
            "probability": tree.node_prob[t], "gap": allocation_gap(mech, bench, t),
            "surplus_loss": node_surplus(bench, t) - node_surplus(mech, t)}))
    return pd.concat(frames, ignore_index=True)


def distortion_by_period(mech: TreeMechanism, bench: TreeMechanism | None = None, tol: float = 1e-7):
    """Per period: expected gap, expected surplus loss (undiscounted), the largest gap on
    reachable nodes and the probability that the allocation is distorted (gap > tol)."""
    import pandas as pd
    bench = bench or efficient_benchmark(mech.env, mech.T)
    tree, rows = mech.tree, []
    eps = tol * mech.env.payoff_scale
    for t in range(mech.T):
        p = tree.node_prob[t]
        g = allocation_gap(mech, bench, t)
        loss = node_surplus(bench, t) - node_surplus(mech, t)
        reach = p > 0
        rows.append({"period": t + 1, "expected_gap": float(p @ g), "expected_surplus_loss": float(p @ loss),
                     "discounted_surplus_loss": float(mech.env.discount ** t * (p @ loss)),
                     "max_gap": float(np.max(np.abs(g[reach]))) if reach.any() else 0.0,
                     "distorted_probability": float(p[np.abs(g) > eps].sum())})
    return pd.DataFrame(rows)


def _run_lengths(tree, t: int) -> np.ndarray:
    """(K_t,) number of consecutive periods up to t in which the report profile equals the current one."""
    K = tree.n_nodes(t)
    d = tree.digits(t)                                  # (K, t+1, N)
    same = np.all(d == d[:, -1:, :], axis=2)           # (K, t+1)
    # run = trailing count of True
    rev = same[:, ::-1]
    run = np.where(rev.all(axis=1), t + 1, np.argmin(rev, axis=1))
    return run.astype(np.int64) if K else np.zeros(0, np.int64)


def distortion_by_history(mech: TreeMechanism, bench: TreeMechanism | None = None, max_nodes: int = 200_000):
    """Distortion by history depth.

    Groups the nodes of each period by the current report profile and the *run
    length* — how many consecutive periods the profile has been reported,
    ``run = t`` (1-based period) meaning it has never changed since the start.
    Rows: period, profile, run, from_start (run == period), probability mass,
    conditional mean gap and conditional mean surplus loss.  In Battaglini's
    model the row (L, from_start) carries the whole distortion, decreasing in
    the period; every row after a change to H is zero.
    """
    import pandas as pd
    bench = bench or efficient_benchmark(mech.env, mech.T)
    tree, env, N = mech.tree, mech.env, mech.env.n_agents
    out = []
    for t in range(mech.T):
        K = tree.n_nodes(t)
        if K > max_nodes:
            break
        p = tree.node_prob[t]
        g = allocation_gap(mech, bench, t)
        loss = node_surplus(bench, t) - node_surplus(mech, t)
        prof = np.arange(K) % tree.R[t]
        run = _run_lengths(tree, t)
        key = prof * (t + 2) + run
        uniq, inv = np.unique(key, return_inverse=True)
        mass = np.bincount(inv, weights=p, minlength=len(uniq))
        mg = np.bincount(inv, weights=p * g, minlength=len(uniq))
        ml = np.bincount(inv, weights=p * loss, minlength=len(uniq))
        mx = np.zeros(len(uniq))
        np.maximum.at(mx, inv, np.where(p > 0, np.abs(g), 0.0))
        for u, m, a, b, x in zip(uniq, mass, mg, ml, mx):
            pr, r = divmod(int(u), t + 2)
            digits = tree.profile_digits(t, np.array(pr))
            labs = [env.type_labels(i, t)[int(digits[i])] for i in range(N)]
            out.append({"period": t + 1, "profile": labs[0] if N == 1 else "(" + ",".join(labs) + ")",
                        "run": r, "from_start": r == t + 1, "probability": float(m),
                        "mean_gap": float(a / m) if m > 0 else np.nan,
                        "mean_surplus_loss": float(b / m) if m > 0 else np.nan, "max_gap": float(x)})
    return pd.DataFrame(out)


def path_distortion(mech: TreeMechanism, path: Iterable, bench: TreeMechanism | None = None) -> np.ndarray:
    """Gap along one report path: ``path[t]`` is the period-t profile (type index for N = 1,
    or a tuple of type indices).  Returns one value per period of the path."""
    bench = bench or efficient_benchmark(mech.env, mech.T)
    tree, k, out = mech.tree, 0, []
    for t, prof in enumerate(path):
        if t >= mech.T:
            break
        prof = np.atleast_1d(np.asarray(prof, dtype=np.int64))
        r = int(np.ravel_multi_index(tuple(prof), tree.shapes[t]))
        k = k * tree.R[t] + r
        out.append(float(allocation_gap(mech, bench, t)[k]))
    return np.array(out)
