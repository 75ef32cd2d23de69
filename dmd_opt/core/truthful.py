r"""Rules evaluated under truthful reporting: the shared arithmetic of mechanisms and verifiers.

Two layouts of direct mechanisms on a :class:`~dmd_opt.core.model.DynamicModel`:

* **tree** — one rule per node of the public history tree (:mod:`dmd_opt.core.tree`):
  ``allocation[t]`` (K_t, |A_t|) lotteries over decisions, ``payments[t]`` (K_t, N);
* **Markov** — one rule per (previous, current) report profile: ``allocation[t]``
  (R_t, |A_t|), ``payments[t]`` (P_t, R_t, N) with P_0 = 1; a stationary model stores two
  entries, ``[0]`` for the first period and ``[1]`` for every later one.

Under truthful reporting the profile follows the chain
:math:`\Pr(\theta_{t+1}\mid\theta_t) = \sum_a x_t(a\mid\theta_t)\,\mu_t(\theta_{t+1}\mid\theta_t, a)`
and a flow :math:`f_t(\theta_{t-1},\theta_t)` has present value
:math:`E\sum_t \delta^{t} f_t`; in the stationary case the later periods solve
:math:`Y = (I - \delta P)^{-1} \sum_{\theta'} P(\cdot,\theta') f(\cdot,\theta')`
(the value of a Markov reward process, e.g. Puterman 1994, §6.1).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from dmd_opt.core.limits import check_tree
from dmd_opt.core.model import DynamicModel, unravel


def tree_flow_utility(env: DynamicModel, x: np.ndarray, i: int, t: int) -> np.ndarray:
    r"""(K, n_{i,t}): agent i's expected period-``t`` utility under the rules ``x`` (K, |A_t|) for
    each own true type — :math:`\sum_a x(a)\,u_{i,t}(a,\theta_i)` with private values, or
    :math:`q_i\theta_i` in the quantity family (``x`` then holds the quantities (K, N))."""
    q = getattr(env, "quantity", None)
    if q is not None:
        return x[:, i:i + 1] * env.type_values(i, t)[None, :]
    return x @ env.own_type_utility(i, t)[0].T


def _reads_history(env, i: int, t: int) -> bool:
    f = getattr(env, "utility_periods", None)
    return f is not None and tuple(f(i, t)) != (t,)


def tree_flow_by_history(env: DynamicModel, x: np.ndarray, i: int, t: int) -> np.ndarray:
    r"""(K, Z): agent i's expected period-``t`` utility for each own true type *history*
    :math:`(\theta_{i,1},\dots,\theta_{i,t})` (C order, Z = ∏ n_{i,s}) — utilities that read
    earlier own types (:mod:`dmd_opt.core.own_history`); ``x`` as in :func:`tree_flow_utility`."""
    dims = [env.n_types(i, s) for s in range(t + 1)]
    per = tuple(env.utility_periods(i, t)) if hasattr(env, "utility_periods") else (t,)
    d = unravel(np.arange(int(np.prod(dims, dtype=np.int64))), dims)
    idx = tuple(d[s] for s in per)
    table = env.history_utility(i, t) if _reads_history(env, i, t) else (
        env.type_values(i, t) if getattr(env, "quantity", None) is not None else env.utility(i, t))
    if getattr(env, "quantity", None) is not None:
        return x[:, i:i + 1] * table[idx][None, :]
    return x @ table[(slice(None),) + idx]


def tree_decision_utility(env: DynamicModel, tree, i: int, t: int) -> np.ndarray:
    """(K, |A_t|): agent i's period-``t`` utility of every decision at every node of ``tree``
    when its true types are its reports (the current one, or every one its utility reads)."""
    if not _reads_history(env, i, t):
        return env.own_type_utility(i, t)[0][tree.last_reports(t)[:, i]]
    idx = tuple(tree.report(t, s, i) for s in tuple(env.utility_periods(i, t)))
    return env.history_utility(i, t)[(slice(None),) + idx].T


def tree_truthful_utility(env: DynamicModel, tree, x: np.ndarray, i: int, t: int) -> np.ndarray:
    """(K,): agent i's period-``t`` utility at every node of ``tree`` under the rules ``x`` when
    its true types are its reports."""
    if getattr(env, "quantity", None) is not None:
        if not _reads_history(env, i, t):
            return x[:, i] * env.type_values(i, t)[tree.last_reports(t)[:, i]]
        idx = tuple(tree.report(t, s, i) for s in tuple(env.utility_periods(i, t)))
        return x[:, i] * env.history_utility(i, t)[idx]
    return np.einsum("ka,ka->k", x, tree_decision_utility(env, tree, i, t))


def tree_principal_cost(env: DynamicModel, x: np.ndarray, t: int) -> np.ndarray:
    """(K,): the principal's expected period-``t`` cost under the rules ``x``."""
    q = getattr(env, "quantity", None)
    if q is not None:
        return q.cost(x).sum(axis=1)
    return x @ env.cost(t)


def mix_rows(env: DynamicModel, t: int, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Σ_a x[h, a] μ_t(· | rows[h, ...], a): x (H, A), rows (H, ...) → (H, ..., R_{t+1})."""
    K = env.kernel(t)
    out = np.zeros(rows.shape + (K.shape[2],))
    for a in range(K.shape[0]):
        w = x[:, a]
        if not np.any(w):
            continue
        out += w.reshape((-1,) + (1,) * (rows.ndim - 1) + (1,)) * K[a][rows]
    return out


def tree_node_probabilities(env: DynamicModel, allocation: list[np.ndarray]) -> list[np.ndarray]:
    """Truthful probability of every node of the history tree (decision-dependent transitions included)."""
    out = [np.asarray(env.initial, float).copy()]
    for t in range(1, len(allocation)):
        prof = np.arange(allocation[t - 1].shape[0]) % env.n_profiles(t - 1)
        trans = mix_rows(env, t - 1, allocation[t - 1], prof)            # (K_{t-1}, R_t)
        out.append((out[-1][:, None] * trans).ravel())
    return out


def markov_tree_arrays(env: DynamicModel, allocation: list[np.ndarray],
                       payments: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-node allocation (K_t, |A_t|) and payments (K_t, N) of finite-horizon Markov rules."""
    check_tree("horizon", [env.n_profiles(t) for t in range(env.horizon)],
               values_per_node=env.n_decisions(0) + env.N,
               alternative='the finite-horizon mechanisms live on the history tree: shorten the horizon, or use '
                           'horizon = "infinite" (stationary Markov mechanisms)')
    alloc, pay = [], []
    K_prev = 1
    for t in range(env.horizon):
        R = env.n_profiles(t)
        K = K_prev * R
        k = np.arange(K)
        prof = k % R
        prev = (k // R) % env.n_profiles(t - 1) if t > 0 else np.zeros(K, dtype=np.int64)
        alloc.append(allocation[t][prof])
        pay.append(payments[t][prev, prof])
        K_prev = K
    return alloc, pay


def markov_chain(env: DynamicModel, x: np.ndarray, t: int) -> np.ndarray:
    """(R_t, R_{t+1}) truthful profile transition under the allocation ``x`` (R_t, |A_t|)."""
    return np.einsum("ra,arq->rq", x, env.kernel(t))


def markov_profile_probabilities(env: DynamicModel, allocation: list[np.ndarray]) -> list[np.ndarray]:
    """Finite horizon: the truthful distribution of the profile in each period."""
    out = [np.asarray(env.initial, float).copy()]
    for t in range(env.horizon - 1):
        out.append(out[-1] @ markov_chain(env, allocation[t], t))
    return out


def markov_present_value(env: DynamicModel, allocation: list[np.ndarray],
                         flow: Callable[[int], np.ndarray]) -> float:
    """:math:`E\\sum_t\\delta^t f_t(\\theta_{t-1},\\theta_t)` under truthful play; ``flow(t)`` → (P_t, R_t)
    for each stored entry ``t`` (stationary: 0 the first period, 1 every later one)."""
    d = env.discount
    if not env.stationary:
        probs = markov_profile_probabilities(env, allocation)
        total = float(probs[0] @ flow(0)[0])
        for t in range(1, env.horizon):
            joint = probs[t - 1][:, None] * markov_chain(env, allocation[t - 1], t - 1)   # (R_{t-1}, R_t)
            total += d ** t * float(np.sum(joint * flow(t)))
        return total
    P = markov_chain(env, allocation[0], 0)
    Y = np.linalg.solve(np.eye(P.shape[0]) - d * P, np.sum(P * flow(1), axis=1))
    return float(env.initial @ (flow(0)[0] + d * Y))


def markov_truthful_G(env: DynamicModel, allocation: list[np.ndarray], payments: list[np.ndarray],
                      i: int) -> list[np.ndarray]:
    r"""Agent ``i``'s truthful value before the current payment, by stored entry, (R_t,):
    :math:`G_t(\theta) = \sum_a x_t(a\mid\theta)\big(u_i(a,\theta) + \delta\sum_{\theta'}\mu_t(\theta'\mid\theta,a)
    [G_{t+1}(\theta') - p_{i,t+1}(\theta,\theta')]\big)` — the Markov rules read only the previous and
    the current report, so the continuation after :math:`\theta` does not depend on earlier reports
    (backward induction; for a stationary model a linear system for the later periods)."""
    d = env.discount
    n = len(payments)
    util = [np.sum(allocation[t] * env.profile_utility(i, 0 if env.stationary else t), axis=1) for t in range(n)]

    def cont(t: int, G_next: np.ndarray, nxt: int) -> np.ndarray:
        C = markov_chain(env, allocation[t], 0 if env.stationary else t)
        return d * np.sum(C * (G_next[None, :] - payments[nxt][:, :, i]), axis=1)

    if env.stationary:
        C = markov_chain(env, allocation[1], 0)
        G = np.linalg.solve(np.eye(C.shape[0]) - d * C, util[1] - d * np.sum(C * payments[1][:, :, i], axis=1))
        return [util[0] + cont(0, G, 1), G]
    out: list[np.ndarray] = [None] * n
    for t in range(n - 1, -1, -1):
        out[t] = util[t] if t == n - 1 else util[t] + cont(t, out[t + 1], t + 1)
    return out


def markov_truthful_values(env: DynamicModel, allocation: list[np.ndarray], payments: list[np.ndarray],
                           i: int) -> list[np.ndarray]:
    r"""Agent ``i``'s truthful continuation value by stored entry, (P_t, R_t):
    :math:`V_t(\theta_{t-1},\theta_t) = G_t(\theta_t) - p_{i,t}(\theta_{t-1},\theta_t)` (:func:`markov_truthful_G`)."""
    G = markov_truthful_G(env, allocation, payments, i)
    return [G[t][None, :] - payments[t][:, :, i] for t in range(len(payments))]


def by_own_initial_type(env: DynamicModel, i: int, values: np.ndarray) -> np.ndarray:
    r"""(n_{i,0},): :math:`E[v(\theta_0)\mid\theta_{i,0}]` of per-profile values (R_0,) under the
    first-profile distribution (0 for an own type of probability 0)."""
    shape = env.profile_shape(0)
    p = np.asarray(env.initial, float).reshape(shape)
    v = np.asarray(values, float).reshape(shape)
    axes = tuple(j for j in range(len(shape)) if j != i)
    mass = p.sum(axis=axes)
    tot = (p * v).sum(axis=axes)
    return np.divide(tot, mass, out=np.zeros_like(tot), where=mass > 0)
