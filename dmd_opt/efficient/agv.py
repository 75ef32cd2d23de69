r"""The static AGV (expected-externality) transfers applied dynamically — the counter-example
(Athey–Segal 2007, Example 1; Athey 2009 tutorial; SPEC §3).

d'Aspremont–Gérard-Varet / Arrow: each agent's incentive payment is the expectation of
the team transfer :math:`\Psi_i` given *its own reports only*, the others' types being drawn
from the prior — as if the mechanism were static:

.. math::

    \gamma^{AGV}_{i,t}(\theta_i^t) = \delta^{-t}\big(E[\Psi_i \mid \theta_i^t] - E[\Psi_i \mid \theta_i^{t-1}]\big),
    \qquad \psi^{AGV}_{i,t} = \gamma^{AGV}_{i,t} - \frac{1}{N-1}\sum_{j\ne i}\gamma^{AGV}_{j,t}.

Budget balanced at every history, and Bayesian IC in a one-shot problem, but with
public reports an agent learns about the others before its later reports while its
transfer keeps using the prior — so it misreports (e.g. the buyer in Example 1
over-reports after learning the seller's cost is high).  The verifier shows the regret.
"""

from __future__ import annotations

import numpy as np

from .balanced import _balance


def agv_tree(mech, name: str = "static AGV (applied dynamically)"):
    """AGV transfers on the history tree of a finite-horizon mechanism (default: its team
    transfers); needs independent types."""
    from ..mechanism import TreeMechanism
    from ..verify_expost import _mix_rows, node_probabilities, tree_view
    m, alloc, pay = tree_view(mech)
    if not m.independent:
        raise ValueError("the AGV construction is defined for independent types")
    T, d, N = len(alloc), m.discount, m.N
    share = [(alloc[t] @ m.costs[t]) / N for t in range(T)]     # equal cost shares, as in balanced.py
    tr = [sh[:, None] - p for sh, p in zip(share, pay)]
    probs = node_probabilities(m, alloc)
    # E[Ψ_i | node] = past transfers + δ^t × continuation
    past = [np.zeros((1, N))]
    for t in range(1, T):
        R = m.R(t)
        prev = past[-1] + d ** (t - 1) * tr[t - 1]
        past.append(np.repeat(prev, R, axis=0))
    cont = [None] * T
    C_next = None
    laws = [m.initial[None, :]]
    for t in range(1, T):
        prof = np.arange(alloc[t - 1].shape[0]) % m.R(t - 1)
        laws.append(_mix_rows(m, t - 1, alloc[t - 1], prof))
    for t in range(T - 1, -1, -1):
        C = tr[t].copy()
        if C_next is not None:
            K = alloc[t].shape[0]
            C += d * np.einsum("kr,krn->kn", laws[t + 1], C_next.reshape(K, m.R(t + 1), N))
        cont[t] = C
        C_next = C
    Dval = [past[t] + d ** t * cont[t] for t in range(T)]                # (K_t, N): E[Ψ | node]
    gam = [np.zeros((alloc[t].shape[0], N)) for t in range(T)]
    for i in range(N):
        own_prev = np.zeros(1, dtype=np.int64)        # own report history index per node
        w_prev = np.ones(1)                            # weight of the node given own reports

        for t in range(T):
            shape = m.shape(t)
            R = m.R(t)
            K = alloc[t].shape[0]
            law = laws[t]                                                # (H, R)
            L = np.moveaxis(law.reshape((law.shape[0],) + tuple(shape)), 1 + i, 1)
            others = L.sum(axis=1, keepdims=True)                        # others' factor (own removed)
            others = np.broadcast_to(others, L.shape)
            w_o = np.moveaxis(others, 1, 1 + i).reshape(law.shape[0], R)
            dig = np.stack(np.unravel_index(np.arange(R), shape), axis=-1)[:, i]
            w = (w_prev[:, None] * w_o).ravel()                          # (K,)
            own = (own_prev[:, None] * shape[i] + dig[None, :]).ravel()  # (K,)
            n_own = int(own.max()) + 1
            num = np.bincount(own, weights=w * Dval[t][:, i], minlength=n_own)
            den = np.bincount(own, weights=w, minlength=n_own)
            E_t = np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)
            if t == 0:
                base = np.full(K, float(probs[0] @ Dval[0][:, i]))
            else:
                base = np.repeat(E_last[own_prev], R)
            gam[t][:, i] = d ** (-t) * (E_t[own] - base)
            E_last = E_t
            own_prev, w_prev = own, w
    pays = [share[t][:, None] - _balance([gam[t][:, j] for j in range(N)]) for t in range(T)]
    if m.env is None:
        from ..markov_mechanism import JointTreeMechanism
        return JointTreeMechanism(m, alloc, pays, name=name)
    return TreeMechanism(m.env, alloc, pays, disclosure="public", name=name,
                         meta={"construction": "static AGV transfers applied period by period"})
