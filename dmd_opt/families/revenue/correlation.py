r"""Correlated types: the Crémer–McLean rank condition and the extraction gap.

With correlated types an agent's own type moves its belief about the others'.  Crémer and
McLean (1988, Theorem 2) show that when, for every agent :math:`i`, the matrix of
conditional beliefs

.. math::  B_i = \big[\pi(\theta_{-i}\mid\theta_i)\big]_{\theta_i,\ \theta_{-i}}

has full row rank (no type's belief is a combination of the others'), a Bayesian
incentive-compatible mechanism with interim participation extracts the whole expected
efficient surplus: side bets on the others' reports, priced by the agent's own belief,
make every informational rent disappear.  When a row is a combination of the others
(e.g. two types share a belief) the bets cannot separate those types and the optimum can
fall short of the surplus.  :func:`rank_condition` computes :math:`B_i` and its rank for
the first period (types of probability 0 are left out); the revenue result reports it
next to the surplus and the gap.
"""

from __future__ import annotations

import numpy as np


def belief_matrix(env, i: int) -> np.ndarray:
    """(n_i, R_{-i}) agent ``i``'s first-period beliefs about the others' types, by own type
    (rows of own types with probability 0 are 0)."""
    shape = env.profile_shape(0)
    p = np.moveaxis(np.asarray(env.initial, float).reshape(shape), i, 0).reshape(shape[i], -1)
    z = p.sum(axis=1, keepdims=True)
    return np.divide(p, z, out=np.zeros_like(p), where=z > 0)


def rank_condition(env, tol: float = 1e-9) -> dict:
    """Rank of every agent's belief matrix against its number of (positive-probability) types."""
    agents = []
    for i in range(env.n_agents):
        B = belief_matrix(env, i)
        B = B[B.sum(axis=1) > 0]
        rank = int(np.linalg.matrix_rank(B, tol=tol)) if B.size else 0
        agents.append({"agent": env.agent_names[i], "types": int(B.shape[0]), "belief_rank": rank,
                       "full_row_rank": rank == B.shape[0]})
    return {"agents": agents, "full_row_rank": all(a["full_row_rank"] for a in agents)}
