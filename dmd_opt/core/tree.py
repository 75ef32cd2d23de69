r"""The public history tree of report profiles (docs/theory.md#histories-and-disclosure).

A node at (0-based) period ``t`` is a full public history of report profiles
:math:`(r_0, \dots, r_t)`.  Nodes are numbered by the C-order ravel index of
the report *digits*

.. math::  (r_{1,0}, \dots, r_{N,0},\; r_{1,1}, \dots, r_{N,1},\; \dots,\; r_{N,t})

with dimensions the per-period type counts.  Hence with
:math:`R_t = \prod_i |\Theta_{i,t}|` profiles at ``t`` and :math:`K_t = \prod_{s\le t} R_s`
nodes, ``parent(k) = k // R_t`` and the period-``t`` profile index is ``k % R_t``
(itself the ravel index of :math:`(r_{1,t},\dots,r_{N,t})`).  The *public history*
:math:`h^t` before period ``t`` reports is a node at ``t − 1`` (the root, index 0,
when ``t = 0``).

Everything is computed with numpy index arithmetic; nothing is per node in Python.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from dmd_opt.core.errors import ModelError
from dmd_opt.core.limits import check_tree, product
from dmd_opt.core.model import DynamicModel, ravel


class HistoryTree:
    """Index arithmetic for the tree of public report histories of ``env`` over ``T`` periods.

    ``env`` is any :class:`~dmd_opt.core.model.DynamicModel`; the truthful probabilities use the
    agents' own Markov matrices when types are independent, and the joint kernel otherwise (it
    must then not depend on the decision, which the tree of reports does not record)."""

    def __init__(self, env: DynamicModel, horizon: int | None = None):
        T = env.horizon if horizon is None else int(horizon)
        if T is None:
            raise ModelError("horizon", "the history tree needs a finite horizon (pass horizon=T)")
        self.env = env
        self.T = T
        self.N = env.n_agents
        self.shapes = [env.profile_shape(t) for t in range(T)]          # per-period (n_1..n_N)
        self.R = [product(s) for s in self.shapes]                        # profiles per period
        check_tree("horizon", self.R)                                     # exact count, before allocating
        self.K = list(np.cumprod(self.R).astype(np.int64))                # nodes per period

    def n_nodes(self, t: int) -> int:
        return int(self.K[t])

    def n_histories(self, t: int) -> int:
        """Number of public histories before period ``t`` reports (= nodes at t−1)."""
        return 1 if t == 0 else int(self.K[t - 1])

    def profile_digits(self, t: int, profile: np.ndarray) -> np.ndarray:
        """Per-agent reports (..., N) of period-``t`` profile indices."""
        return np.stack(np.unravel_index(profile, self.shapes[t]), axis=-1)

    def last_reports(self, t: int) -> np.ndarray:
        """(K_t, N): each node's period-``t`` report of every agent."""
        k = np.arange(self.K[t])
        return self.profile_digits(t, k % self.R[t])

    def digits(self, t: int) -> np.ndarray:
        """(K_t, t+1, N): every report of every period along each node's history."""
        # mixed-radix digits by repeated division (np.unravel_index stops at 64 dimensions,
        # and a persistent type keeps one profile per period for thousands of periods)
        k = np.arange(self.K[t])
        out = np.empty((self.K[t], t + 1, self.N), dtype=np.intp)
        for s in range(t, -1, -1):
            for i in range(self.N - 1, -1, -1):
                n = self.shapes[s][i]
                if n == 1:
                    out[:, s, i] = 0
                    continue
                k, out[:, s, i] = np.divmod(k, n)
        return out

    def report(self, t: int, s: int, i: int) -> np.ndarray:
        """(K_t,): agent ``i``'s period-``s`` report (s ≤ t) along each period-``t`` node's history.

        One column of :meth:`digits` in O(K_t): the node's period-``s`` ancestor is
        ``k // (K_t / K_s)``, and its profile the ancestor modulo R_s."""
        k = np.arange(self.K[t]) // (int(self.K[t]) // int(self.K[s]))
        inner = int(np.prod(self.shapes[s][i + 1:], dtype=np.int64))
        return (k % self.R[s]) // inner % self.shapes[s][i]

    def own_history_index(self, i: int, t: int) -> np.ndarray:
        """(K_t,): index of agent ``i``'s own report history (r_{i,0..t}) at each node (C order)."""
        d = self.digits(t)[:, :, i]
        dims = [self.shapes[s][i] for s in range(t + 1)]
        return ravel(tuple(d.T), dims)

    def n_own_histories(self, i: int, t: int) -> int:
        """Number of agent ``i``'s own report histories through period ``t`` (1 for t = −1)."""
        return int(np.prod([self.shapes[s][i] for s in range(t + 1)], dtype=np.int64)) if t >= 0 else 1

    def transition_factor(self, t: int) -> np.ndarray:
        """(K_{t−1}, R_t): truthful probability of each period-``t`` profile given the history.

        With independent Markov types this is
        :math:`\\prod_i P_{i,t-1}(r_{i,t}\\mid r_{i,t-1})` (or :math:`\\prod_i\\pi_i(r_{i,0})`); with a
        joint process it is the kernel row :math:`\\mu_{t-1}(r_t\\mid r_{t-1})` (or the first-profile law).
        """
        env = self.env
        if not env.independent:
            return self._joint_factor(t)
        f = np.ones((self.n_histories(t),) + tuple(self.shapes[t]))
        if t > 0:
            last = self.last_reports(t - 1)
        for i in range(self.N):
            if t == 0:
                b = env.agent_initial(i)[None, :]
            else:
                b = env.agent_transition(i, t - 1)[last[:, i]]
            shape = [b.shape[0]] + [1] * self.N
            shape[1 + i] = b.shape[1]
            f = f * b.reshape(shape)
        return f.reshape(self.n_histories(t), self.R[t])

    def _joint_factor(self, t: int) -> np.ndarray:
        env = self.env
        if t == 0:
            return np.asarray(env.initial, float)[None, :]
        K = env.kernel(t - 1)
        if K.shape[0] > 1 and float(np.ptp(K, axis=0).max()) > 0:
            raise ModelError("agents", "the history tree of reports needs a type law that does not depend on "
                                       "the decision")
        return K[0][np.arange(self.n_histories(t)) % self.R[t - 1]]

    def beliefs(self, i: int, t: int) -> list[np.ndarray]:
        """For each agent j, (H_t, n_{j,t}) truthful belief about j's period-``t`` type given h^t
        (independent types: each agent's own Markov matrix)."""
        env = self.env
        if t == 0:
            return [env.agent_initial(j)[None, :] for j in range(self.N)]
        last = self.last_reports(t - 1)
        return [env.agent_transition(j, t - 1)[last[:, j]] for j in range(self.N)]

    @cached_property
    def node_prob(self) -> list[np.ndarray]:
        """Truthful probability of every node, per period."""
        out, prev = [], np.ones(1)
        for t in range(self.T):
            p = (prev[:, None] * self.transition_factor(t)).ravel()
            out.append(p)
            prev = p
        return out

    def history_labels(self, t: int, k: np.ndarray | int) -> list[str]:
        """Readable labels like ``(H,L)|(L,L)`` for nodes ``k`` at period ``t``."""
        k = np.atleast_1d(k)
        d = self.digits(t)[k]
        env = self.env
        out = []
        for row in d:
            parts = []
            for s in range(t + 1):
                prof = [env.type_labels(i, s)[row[s, i]] for i in range(self.N)]
                parts.append(prof[0] if self.N == 1 else "(" + ",".join(prof) + ")")
            out.append("|".join(parts))
        return out
