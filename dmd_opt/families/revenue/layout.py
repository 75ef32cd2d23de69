"""What the revenue program, constraint generation and the local-IC relaxation share.

:class:`Layout` holds the column offsets of the allocation (x or q), payment (p) and
value (V) blocks of :func:`dmd_opt.families.revenue.program.revenue_program`;
:func:`completions` the node, next-state and weight tables of agent i's value and IC
rows at period t — for each information state s and report r, the nodes k(s, r, c)
over what i does not control, c (the others' current reports under public
disclosure, their whole histories under private disclosure), with their weights
w(s, c).  See the module docstring of :mod:`dmd_opt.families.revenue.program` for
the rows these tables build.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dmd_opt.core.tree import HistoryTree


@dataclass
class Layout:
    """Column offsets of the x/q, p and V blocks, by period (and agent for V).

    ``v_states[i][t]`` information states and ``v_width[i][t]`` private states per
    information state (:mod:`.stages`): agent i's value columns at period t are
    ``V0 + v_off[i][t] + s * v_width[i][t] + z``.
    """

    tree: HistoryTree
    alloc_width: list[int]
    x_off: list[int]
    p_off: list[int]
    v_off: list[list[int]]
    v_states: list[list[int]]
    X0: int = 0
    P0: int = 0
    V0: int = 0
    v_width: list[list[int]] = field(default_factory=list)


def _sum_by(index: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """``np.bincount(index, weights, minlength=size)`` that also sums rationals (object arrays,
    the exact rebuild of :mod:`dmd_opt.certificates.exact_data`)."""
    if weights.dtype != object:
        return np.bincount(index, weights=weights, minlength=size)
    out = np.zeros(size, object)
    np.add.at(out, index, weights)
    return out


def completions(tree: HistoryTree, i: int, t: int, private: bool):
    """Node, next-state and weight tables of agent i's rows at period t.

    Returns ``node (S, n, C)``, ``nxt (S, n, C)``, ``w (S, C)`` over information
    states ``S``, reports ``n`` and completions ``C`` (see module docstring).  With
    correlated types the belief depends on i's own types: ``w`` is then 1 and
    :func:`dmd_opt.families.revenue.stages.stage` supplies the conditional beliefs.
    """
    env, N = tree.env, tree.N
    n = env.n_types(i, t)
    shape = tree.shapes[t]
    if not private or N == 1:
        S = tree.n_histories(t)
        others = [j for j in range(N) if j != i]
        oshape = [shape[j] for j in others]
        C = int(np.prod(oshape)) if others else 1
        cd = np.unravel_index(np.arange(C), oshape) if others else ()
        digits = [None] * N
        for pos, j in enumerate(others):
            digits[j] = cd[pos][None, :]
        digits[i] = np.arange(n)[:, None]
        prof = np.ravel_multi_index(tuple(np.broadcast_to(d, (n, C)) for d in digits), shape)  # (n, C)
        node = np.arange(S, dtype=np.int64)[:, None, None] * tree.R[t] + prof[None, :, :]
        if not getattr(env, "independent", True):
            return node, node, np.ones((S, C))
        b = tree.beliefs(i, t)
        w = np.ones((S, C))
        for pos, j in enumerate(others):
            w = w * b[j][:, cd[pos]]
        return node, node, w
    # Private disclosure: i conditions on its own reports only.
    own = tree.own_history_index(i, t)
    d = tree.digits(t)
    od = np.delete(d, i, axis=2).reshape(d.shape[0], -1)
    odims = [tree.shapes[s][j] for s in range(t + 1) for j in range(N) if j != i]
    oth = np.ravel_multi_index(tuple(od.T), odims)
    n_own, C = tree.n_own_histories(i, t), int(np.prod(odims))
    table = np.empty((n_own, C), np.int64)
    table[own, oth] = np.arange(tree.n_nodes(t))
    S = tree.n_own_histories(i, t - 1)
    node = table.reshape(S, n, C)
    nxt = np.broadcast_to((np.arange(S)[:, None] * n + np.arange(n)[None, :])[:, :, None], (S, n, C))
    w = _sum_by(oth, tree.node_prob[t], C)
    return node, nxt, np.broadcast_to(w[None, :], (S, C))
