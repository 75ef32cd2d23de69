r"""The static AGV (expected-externality) transfers applied dynamically — the counter-example
(Athey–Segal 2013, Example 1; docs/theory.md#the-static-agv-mechanism-applied-dynamically).

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

from dmd_opt.core.truthful import mix_rows, tree_node_probabilities
from dmd_opt.mechanisms.markov import JointTreeMechanism, MarkovMechanism
from dmd_opt.mechanisms.tree import TreeMechanism
from dmd_opt.verify.expost import tree_view
from dmd_opt.families.efficient.balanced import _balance


def agv_tree(mech, name: str = "static AGV (applied dynamically)"):
    """AGV transfers on the history tree of a finite-horizon mechanism (default: its team
    transfers); needs independent types."""
    m, alloc, pay = tree_view(mech)
    if not m.independent:
        raise ValueError("the AGV construction is defined for independent types")
    T, d, N = len(alloc), m.discount, m.N
    share = [(alloc[t] @ m.costs[t]) / N for t in range(T)]     # equal cost shares, as in balanced.py
    tr = [sh[:, None] - p for sh, p in zip(share, pay)]
    probs = tree_node_probabilities(m, alloc)
    # E[Ψ_i | node] = past transfers + δ^t × continuation
    past = [np.zeros((1, N))]
    for t in range(1, T):
        R = m.n_profiles(t)
        prev = past[-1] + d ** (t - 1) * tr[t - 1]
        past.append(np.repeat(prev, R, axis=0))
    cont = [None] * T
    C_next = None
    laws = [m.initial[None, :]]
    for t in range(1, T):
        prof = np.arange(alloc[t - 1].shape[0]) % m.n_profiles(t - 1)
        laws.append(mix_rows(m, t - 1, alloc[t - 1], prof))
    for t in range(T - 1, -1, -1):
        C = tr[t].copy()
        if C_next is not None:
            K = alloc[t].shape[0]
            C += d * np.einsum("kr,krn->kn", laws[t + 1], C_next.reshape(K, m.n_profiles(t + 1), N))
        cont[t] = C
        C_next = C
    Dval = [past[t] + d ** t * cont[t] for t in range(T)]                # (K_t, N): E[Ψ | node]
    gam = [np.zeros((alloc[t].shape[0], N)) for t in range(T)]
    for i in range(N):
        own_prev = np.zeros(1, dtype=np.int64)        # own report history index per node
        w_prev = np.ones(1)                            # weight of the node given own reports

        for t in range(T):
            shape = m.profile_shape(t)
            R = m.n_profiles(t)
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
        return JointTreeMechanism(m, alloc, pays, name=name)
    return TreeMechanism(m.env, alloc, pays, disclosure="public", name=name,
                         meta={"construction": "static AGV transfers applied period by period"})


def agv_markov(base, name: str = "static AGV (Markov, applied dynamically)"):
    r"""Stationary version: agent i's incentive payment is the expected continuation team
    transfer with the others' current types drawn from their *initial* (prior) law, whatever
    has been reported,

    .. math::

        A_i(\theta_i) = \sum_{\theta_{-i}} \pi_{-i}(\theta_{-i})\, C_i(\theta_i,\theta_{-i}),\qquad
        \gamma_{i,t} = A_i(\theta_{i,t}) - E[A_i(\theta'_i)\mid\theta_{i,t-1}, a_{t-1}],

    with :math:`C_i(\theta)` the expected present value of i's team transfers from a period
    whose profile is θ; balanced as in :func:`dmd_opt.families.efficient.balanced._balance`.  Needs
    independent types and a base mechanism whose transfers depend on the current profile only
    (the team mechanism)."""
    m = base.model
    if not (m.stationary and m.independent):
        raise ValueError("agv_markov needs a stationary model with independent types")
    S, N, d = m.n_profiles(0), m.N, m.discount
    share = [(x @ m.costs[0]) / N for x in base.allocation]
    tr = [sh[None, :, None] - p for sh, p in zip(share, base.payments)]
    if np.ptp(tr[1], axis=0).max() > 0:
        raise ValueError("agv_markov needs transfers that depend on the current profile only")
    P = base._chain(0)
    D = np.linalg.solve(np.eye(S) - d * P, P @ tr[1][0])                # (S, N)
    C = tr[1][0] + d * D                                                # (S, N)
    dig = m.profile_digits(0)
    x = base.allocation[1]                                               # (S, |A|), a lottery under random ties
    gam = [np.zeros((1, S, N)), np.zeros((S, S, N))]
    for i in range(N):
        shape = m.profile_shape(0)
        Ci = np.moveaxis(C[:, i].reshape(shape), i, 0).reshape(shape[i], -1)      # (n_i, R_-i)
        prior = np.ones(())
        for j in range(N):
            if j != i:
                prior = np.multiply.outer(prior, m.agent_initial(j))
        A = Ci @ prior.ravel()                                           # (n_i,)
        own = dig[:, i]
        gam[0][0, :, i] = A[own] - m.agent_initial(i) @ A
        Pi = m.agent_kernels[0][i]                                       # (|A|, n_i, n_i)
        expected = np.sum(x * (Pi[:, own, :] @ A).T, axis=1)             # (S,) by previous profile
        gam[1][:, :, i] = A[own][None, :] - expected[:, None]
    pays = [sh[None, :, None] - _balance([g[..., j] for j in range(N)]) for g, sh in zip(gam, share)]
    return MarkovMechanism(m, list(base.allocation), pays, name=name,
                           meta={"construction": "static AGV transfers with prior beliefs, stationary"})
