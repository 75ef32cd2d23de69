r"""What agent :math:`i` knows, believes and gets at period :math:`t` of the revenue program.

The rows of the revenue program (:mod:`.program`) are written, for agent :math:`i` and
period :math:`t`, over three indices:

* an **information state** :math:`s` — what :math:`i` has seen of the reports: the public
  history :math:`h^t` (``public`` disclosure) or its own report history (``private``);
* a **private state** :math:`z` — what :math:`i` knows about itself: its current true type
  :math:`\theta_{i,t}` and, when the model needs it, a *memory* of earlier true types.
  After a lie the true types differ from the reports in :math:`s`, so the memory is part
  of the state.  Agent i remembers period :math:`s < t` when

  - its utility in a later period reads :math:`\theta_{i,s}` (utilities of the initial and
    the current type remember period 1; utilities of the whole own history remember every
    period), or
  - types are correlated across agents and :math:`s = t-1`: with a Markov joint law,
    i's belief about the others' current types given their previous types (= their
    reports) depends on its own previous *true* type.

  Carrying only these is exact: with Markov types, the agent's future payoffs and beliefs
  depend on its true history through them alone.
* a **completion** :math:`c` — what :math:`i` does not control: the others' current types
  (``public``) or their whole truthful report histories (``private``).

A :class:`Stage` holds, as arrays, everything the rows need:

* ``node[s, r, c]`` — the tree node reached when :math:`i` reports :math:`r` at :math:`s` and
  the others' reports are :math:`c`; ``nxt[s, r, c]`` — i's information state at
  :math:`t+1` there;
* ``w[s, z, c]`` — i's belief in :math:`c` at :math:`(s, z)`:

  .. math::  w = \Pr(\theta_{-i,t} = c \mid \theta_{-i,t-1} = r_{-i,t-1}(s),\;
             \theta_{i,t-1},\; \theta_{i,t}),

  which with independent types is :math:`\prod_{j\ne i}P_{j,t-1}(c_j\mid r_{j,t-1})` (stored
  broadcastable: it depends on neither :math:`z` nor, under ``private``, :math:`s`);
* ``util[a, z]`` — the flow utility :math:`u_{i,t}(a, z)`, or for the quantity family the
  unit value ``util[z]``;
* ``q[z, c, \theta']`` — the law of i's next type given its private state and the others'
  current types (:math:`P_{i,t}(\theta'\mid\theta)` with independent types), and
  ``znext[z, \theta']`` — the private state it leads to.

Environment hooks read here (with their defaults for independent Markov types and
utilities of the current type): ``env.independent``; ``env.initial`` and ``env.kernel(t)``
(the joint law over profiles) when types are correlated; ``env.utility_periods(i, t)`` (the
own periods u_{i,t} reads; default ``(t,)``) and ``env.history_utility(i, t)`` (its table
over those periods).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dmd_opt.core.model import ravel, unravel
from dmd_opt.core.tree import HistoryTree
from dmd_opt.families.revenue.layout import completions


@dataclass
class Stage:
    """The arrays of agent ``i``'s rows at period ``t`` (see the module docstring)."""

    n: int                     # reports (current types)
    Z: int                     # private states
    ztype: np.ndarray          # (Z,) current type of each private state
    node: np.ndarray           # (S, n, C)
    nxt: np.ndarray            # (S, n, C)
    w: np.ndarray              # (S or 1, Z or 1, C)
    util: np.ndarray           # (A, Z) utilities, or (Z,) unit values (quantity family)
    q: np.ndarray | None       # (Z, C or 1, n') next-type law; None in the last period
    znext: np.ndarray | None   # (Z, n') next private state

    @property
    def S(self) -> int:
        return self.node.shape[0]

    @property
    def C(self) -> int:
        return self.node.shape[2]


# ---------------------------------------------------------------------------------------
# environment hooks
# ---------------------------------------------------------------------------------------
def independent(env) -> bool:
    """True when types are independent across agents (the joint law is a product)."""
    return bool(getattr(env, "independent", True))


def utility_periods(env, i: int, t: int) -> tuple[int, ...]:
    """The own periods (0-based, increasing, ending with ``t``) that u_{i,t} reads."""
    f = getattr(env, "utility_periods", None)
    return tuple(f(i, t)) if f is not None else (t,)


def _own_table(env, i: int, t: int) -> np.ndarray:
    """u_{i,t} over its periods: (|A_t|, n_{s_1}, …, n_t), or unit values (n_{s_1}, …, n_t)."""
    f = getattr(env, "history_utility", None)
    if f is not None:
        return np.asarray(f(i, t))
    return env.type_values(i, t) if env.quantity is not None else env.utility(i, t)


def memory(env, i: int, t: int) -> tuple[int, ...]:
    """The earlier own periods agent ``i`` remembers at period ``t`` (module docstring)."""
    if env.horizon is None:
        keep = {p for p in utility_periods(env, i, t) if p < t}
    else:       # p is remembered at t when some period s ≥ t reads it (one pass, not one per t)
        keep = set(np.flatnonzero(_last_read(env, i)[:t] >= t).tolist())
    if not independent(env) and t > 0:
        keep.add(t - 1)
    return tuple(sorted(keep))


@lru_cache(maxsize=16)
def _last_read(env, i: int) -> np.ndarray:
    """(T,): the last period whose utility reads agent ``i``'s period-p type (−1: none)."""
    last = np.full(env.horizon, -1, dtype=np.int64)
    for s in range(env.horizon):
        last[list(utility_periods(env, i, s))] = s
    return last


@lru_cache(maxsize=None)
def _digits(dims: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(dims, dtype=np.int64))
    return np.stack(unravel(np.arange(n), dims), axis=-1) if dims else np.zeros((1, 0), np.int64)


def state_periods(env, i: int, t: int) -> tuple[int, ...]:
    """The periods whose own types make up a private state at ``t``: memory, then ``t``."""
    return memory(env, i, t) + (t,)


def private_states(tree: HistoryTree, i: int, t: int) -> int:
    """Number of agent ``i``'s private states at period ``t``."""
    env = tree.env
    return int(np.prod([env.n_types(i, s) for s in state_periods(env, i, t)], dtype=np.int64))


def state_digits(env, i: int, t: int) -> np.ndarray:
    """(Z, |state periods|): the own type of every private state in each of its periods."""
    return _digits(tuple(env.n_types(i, s) for s in state_periods(env, i, t)))


# ---------------------------------------------------------------------------------------
# the joint law, seen by one agent
# ---------------------------------------------------------------------------------------
def _joint_step(env, t: int) -> np.ndarray:
    """(R_{t-1}, R_t): the profile law of period ``t`` given the previous profile ((1, R_0) at t = 0)."""
    if t == 0:
        return np.asarray(env.initial, float)[None, :]
    K = np.asarray(env.kernel(t - 1), float)
    return K[0] if K.ndim == 3 else K


def _split(env, M: np.ndarray, i: int, t: int) -> np.ndarray:
    """(R_{t-1}, R_t) → (n_{i,t-1}, others_{t-1}, n_{i,t}, others_t) (prev axes of size 1 at t = 0)."""
    cur = env.profile_shape(t)
    prev = env.profile_shape(t - 1) if t > 0 else None
    X = M.reshape((M.shape[0],) + tuple(cur))
    X = np.moveaxis(X, 1 + i, 1).reshape(M.shape[0], cur[i], -1)            # (R_prev, n_i, C)
    if prev is None:
        return X.reshape(1, 1, cur[i], -1)
    X = X.reshape(tuple(prev) + X.shape[1:])
    X = np.moveaxis(X, i, 0)
    return X.reshape(prev[i], -1, cur[i], X.shape[-1])


def correlated_beliefs(env, i: int, t: int) -> np.ndarray:
    r""":math:`b[p, o, \theta, c] = \Pr(c\mid o, p, \theta)`: agent i's belief about the others'
    current types c given their previous types o, its own previous type p and its current
    type θ (0 where (p, o, θ) has probability 0: no constraint is needed there)."""
    X = _split(env, _joint_step(env, t), i, t)
    z = X.sum(axis=-1, keepdims=True)
    return np.divide(X, z, out=np.zeros_like(X), where=z > 0)


def correlated_next(env, i: int, t: int) -> np.ndarray:
    r""":math:`q[\theta, c, \theta'] = \Pr(\theta_{i,t+1} = \theta'\mid \theta_{i,t}=\theta,
    \theta_{-i,t} = c)`: the marginal of the joint kernel on agent i's next type."""
    X = _split(env, _joint_step(env, t + 1), i, t + 1)                     # (n_t, C_t, n_{t+1}, C_{t+1})
    return X.sum(axis=-1)


# ---------------------------------------------------------------------------------------
# the stage
# ---------------------------------------------------------------------------------------
def stage_utility(tree: HistoryTree, i: int, t: int) -> np.ndarray:
    """Agent ``i``'s utilities by private state at period ``t``: (|A_t|, Z), or unit values (Z,)."""
    env = tree.env
    table = _own_table(env, i, t)
    per = state_periods(env, i, t)
    d = state_digits(env, i, t)
    cols = tuple(d[:, per.index(s)] for s in utility_periods(env, i, t))
    if env.quantity is not None:
        return table[cols]
    return table[(slice(None),) + cols]


def stage(tree: HistoryTree, i: int, t: int, private: bool) -> Stage:
    """The :class:`Stage` of agent ``i`` at period ``t``."""
    env = tree.env
    n = env.n_types(i, t)
    per = state_periods(env, i, t)
    d = state_digits(env, i, t)                                              # (Z, |per|)
    Z = d.shape[0]
    ztype = d[:, -1]
    node, nxt, w = completions(tree, i, t, private)
    if independent(env):
        w = w[:, None, :]
    else:
        b = correlated_beliefs(env, i, t)                                    # (p, o, θ, c)
        if t == 0:
            w = b[0, 0][ztype][None, :, :]                                   # (1, Z, C)
        else:
            prev = tree.last_reports(t - 1)                                  # (S, N)
            shape = env.profile_shape(t - 1)
            others = [j for j in range(tree.N) if j != i]
            o = np.ravel_multi_index(tuple(prev[:, j] for j in others), [shape[j] for j in others]) \
                if others else np.zeros(len(prev), np.int64)
            p = d[:, per.index(t - 1)]
            w = b[p[None, :], o[:, None], ztype[None, :]]                    # (S, Z, C)
    q = znext = None
    if t < tree.T - 1:
        if independent(env):
            q = env.transition(i, t)[ztype][:, None, :]                      # (Z, 1, n')
        else:
            q = correlated_next(env, i, t)[ztype]                            # (Z, C, n')
        nper = state_periods(env, i, t + 1)
        n2 = env.n_types(i, t + 1)
        # digits of the next private state: remembered periods from (memory, θ_t), then θ'
        src = np.stack([d[:, per.index(s)] for s in nper[:-1]], axis=1) if len(nper) > 1 \
            else np.zeros((Z, 0), np.int64)
        dims = tuple(env.n_types(i, s) for s in nper)
        full = np.concatenate([np.repeat(src[:, None, :], n2, axis=1),
                               np.broadcast_to(np.arange(n2)[None, :, None], (Z, n2, 1))], axis=2)
        znext = ravel(tuple(np.moveaxis(full, -1, 0)), dims)   # (Z, n')
    return Stage(n=n, Z=Z, ztype=ztype, node=node, nxt=nxt, w=w, util=stage_utility(tree, i, t), q=q,
                 znext=znext)


def truthful_state(tree: HistoryTree, i: int, t: int) -> np.ndarray:
    """(K_t,): agent ``i``'s private state at every period-``t`` node under truthful reporting."""
    env = tree.env
    per = state_periods(env, i, t)
    if len(per) == 1:
        return tree.last_reports(t)[:, i]
    return ravel(tuple(tree.report(t, s, i) for s in per), [env.n_types(i, s) for s in per])
