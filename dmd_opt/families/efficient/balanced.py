r"""The balanced team mechanism (Athey–Segal 2007, (5.1)–(5.2) and the Markov form (6.1)).

Start from any mechanism whose truthful reporting is a BNE (here: the team mechanism)
with transfers :math:`\psi_j` to agent ``j`` and present value :math:`\Psi_j`.  Agent ``j``'s
*incentive payment* at ``t`` is the change in the expectation of its future transfers
caused by its own period-``t`` report,

.. math::

    \gamma_{j,t}(\theta_j^t,\theta_{-j}^{t-1}) = E\Big[\sum_{\tau\ge t}\delta^{\tau-t}\psi_{j,\tau}
        \Bigm| \theta_j^t,\theta_{-j}^{t-1}\Big] - E\Big[\sum_{\tau\ge t}\delta^{\tau-t}\psi_{j,\tau}\Bigm|\theta^{t-1}\Big]

(equal to (5.2): the transfers before ``t`` cancel), with the others' period-``t`` types
drawn from their law given the public history (truthful continuation).  The balanced
transfer is

.. math::  \psi^B_{i,t} = \gamma_{i,t} - \frac{1}{N-1}\sum_{j\ne i}\gamma_{j,t}, \qquad \sum_i \psi^B_{i,t} = 0

at every history.  A principal's cost :math:`c_t(a)` is shared equally: the transfers being
balanced are :math:`\psi_i = c_t/N - p_i` and the balanced payments are
:math:`p^B_i = c_t/N - \psi^B_i`, so :math:`\sum_i p^B_{i,t} = c_t(a_t)` — the designer
exactly breaks even in every period (with ``c ≡ 0``: :math:`\sum_i p^B_i = 0`).  Each
agent's payoff changes by a term its reports cannot move in expectation, as in
Proposition 2.  With independent types truthful reporting remains a BNE
(Proposition 2); with correlated types it need not — the conditional law of the
others' types then depends on ``j``'s own type, and we use that conditional law
(the natural extension), which the verifier shows to fail (the shipped counter-example).

Two implementations that must agree on finite horizons: :func:`balanced_tree` on the
history tree from any tree mechanism, and :func:`balanced_markov` for Markov
mechanisms (transfers depending on the previous and current profile, (6.1)), which
also covers the stationary infinite horizon by solving a linear system.
"""

from __future__ import annotations

import numpy as np

from dmd_opt.core.joint import JointModel
from dmd_opt.core.truthful import mix_rows
from dmd_opt.mechanisms.markov import JointTreeMechanism, MarkovMechanism
from dmd_opt.mechanisms.tree import TreeMechanism
from dmd_opt.verify.expost import tree_view
from dmd_opt.families.efficient.team import team_mechanism


def _own_first(arr: np.ndarray, shape: tuple[int, ...], j: int) -> np.ndarray:
    """(H, R) → (H, n_j, R_{-j})."""
    a = arr.reshape((arr.shape[0],) + tuple(shape))
    return np.moveaxis(a, 1 + j, 1).reshape(arr.shape[0], shape[j], -1)


def _from_own_first(arr: np.ndarray, shape: tuple[int, ...], j: int) -> np.ndarray:
    """Inverse of :func:`_own_first`."""
    rest = [shape[k] for k in range(len(shape)) if k != j]
    a = arr.reshape((arr.shape[0], shape[j]) + tuple(rest))
    return np.moveaxis(a, 1, 1 + j).reshape(arr.shape[0], -1)


def incentive_payment(C: np.ndarray, law: np.ndarray, shape: tuple[int, ...], j: int) -> np.ndarray:
    """γ_j (H, R): E[C | h, θ_j] − E[C | h] for continuation values ``C`` (H, R) of the
    period's profiles and their law ``law`` (H, R) given the parent history ``h``."""
    Cj = _own_first(C, shape, j)
    Lj = _own_first(law, shape, j)
    s = Lj.sum(axis=2, keepdims=True)
    marg = Lj.sum(axis=1, keepdims=True)
    ms = marg.sum(axis=2, keepdims=True)
    fallback = np.where(ms > 0, marg / np.where(ms > 0, ms, 1), 1.0 / Lj.shape[2])
    b = np.where(s > 0, Lj / np.where(s > 0, s, 1), fallback)           # law of c given θ_j
    A = np.sum(b * Cj, axis=2)                                           # (H, n_j)
    B = np.sum(law * C, axis=1)                                          # (H,)
    gam = np.broadcast_to((A - B[:, None])[:, :, None], Cj.shape)
    return _from_own_first(np.ascontiguousarray(gam), shape, j)


def _balance(gammas: list[np.ndarray]) -> np.ndarray:
    """ψ^B_i = γ_i − (Σ_{j≠i} γ_j)/(N−1), stacked on the last axis; exact zero sum."""
    G = np.stack(gammas, axis=-1)
    N = G.shape[-1]
    psi = G - (G.sum(axis=-1, keepdims=True) - G) / (N - 1)
    # remove rounding so Σ_i ψ_i = 0 to the last bit: put the residual on the last agent
    psi[..., -1] = -psi[..., :-1].sum(axis=-1)
    return psi


def markov_incentive_payments(base: MarkovMechanism) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """γ_j of (6.1) for a Markov mechanism: per payment entry an array (P_t, R_t, N) indexed by
    the previous and current profile, and the per-agent cost shares c_t(a)/N (R_t,)."""
    m: JointModel = base.model
    d = m.discount
    # transfers net of an equal share of the principal's cost: p_i = c/N − ψ_i (see module doc)
    share = [(x @ m.costs[0 if m.stationary else min(t, len(m.costs) - 1)]) / m.N
             for t, x in enumerate(base.allocation)]
    tr = [sh[None, :, None] - p for sh, p in zip(share, base.payments)]
    if m.stationary:
        S = m.n_profiles(0)
        P = base._chain(0)                                                # (S, S)
        # D(θ) = E[ψ(θ, θ') + δ D(θ') | θ]  — expected PV of transfers from next period on
        rhs = np.einsum("sq,sqn->sn", P, tr[1])
        D = np.linalg.solve(np.eye(S) - d * P, rhs)                        # (S, N)
        Cs = [(tr[0][0] + d * D)[None], tr[1] + d * D[None, :, :]]      # first period, later periods
        laws = [m.initial[None, :], P]
        shapes = [m.profile_shape(0), m.profile_shape(0)]
    else:
        T = m.horizon
        Cs = [None] * T
        laws = [m.initial[None, :]] + [base._chain(t) for t in range(T - 1)]
        D = np.zeros((m.n_profiles(T - 1), m.N))
        for t in range(T - 1, -1, -1):
            Cs[t] = tr[t] + d * D[None, :, :]                             # (P_t, R_t, N)
            if t > 0:
                D = np.einsum("sq,sqn->sn", laws[t], Cs[t])               # (R_{t-1}, N)
        shapes = [m.profile_shape(t) for t in range(T)]
    gammas = [np.stack([incentive_payment(C[:, :, j], law, shape, j) for j in range(m.N)], axis=-1)
              for C, law, shape in zip(Cs, laws, shapes)]
    return gammas, share


def balanced_markov(base: MarkovMechanism | None = None, model=None, name: str = "balanced") -> MarkovMechanism:
    """Balanced transfers (6.1) for a Markov mechanism (default: the team mechanism of ``model``)."""
    if base is None:
        base = team_mechanism(model)
    m: JointModel = base.model
    if m.N < 2:
        raise ValueError("balancing needs at least two agents")
    gammas, share = markov_incentive_payments(base)
    pays = [sh[None, :, None] - _balance([g[..., j] for j in range(m.N)]) for g, sh in zip(gammas, share)]
    return MarkovMechanism(m, list(base.allocation), pays, name=name,
                           meta={**base.meta, "balanced_from": base.name,
                                 "construction": "balanced team mechanism, Markov form (Athey-Segal (6.1))"})


def balanced_tree(mech, name: str = "balanced (history form)"):
    """Balanced transfers (5.1)–(5.2) on the history tree of any finite-horizon mechanism
    (TreeMechanism, JointTreeMechanism or finite MarkovMechanism); returns the same kind of
    tree object with the new payments."""
    m, alloc, pay = tree_view(mech)
    if m.N < 2:
        raise ValueError("balancing needs at least two agents")
    T, d = len(alloc), m.discount
    share = [(alloc[t] @ m.costs[t]) / m.N for t in range(T)]
    tr = [sh[:, None] - p for sh, p in zip(share, pay)]
    laws = [m.initial[None, :]]
    for t in range(1, T):
        prof = np.arange(alloc[t - 1].shape[0]) % m.n_profiles(t - 1)
        laws.append(mix_rows(m, t - 1, alloc[t - 1], prof))              # (K_{t-1}, R_t)
    new = [None] * T
    C_next = None
    for t in range(T - 1, -1, -1):
        K = alloc[t].shape[0]
        C = tr[t].copy()
        if C_next is not None:
            Rn = m.n_profiles(t + 1)
            C += d * np.einsum("kr,krn->kn", laws[t + 1], C_next.reshape(K, Rn, m.N))
        H = laws[t].shape[0]
        gam = [incentive_payment(C[:, j].reshape(H, -1), laws[t], m.profile_shape(t), j).ravel() for j in range(m.N)]
        new[t] = share[t][:, None] - _balance(gam)
        C_next = C
    if isinstance(mech, TreeMechanism):
        return TreeMechanism(mech.env, alloc, new, disclosure="public", name=name,
                             meta={**mech.meta, "balanced_from": mech.name})
    if m.env is not None and not isinstance(mech, JointTreeMechanism):
        return TreeMechanism(m.env, alloc, new, disclosure="public", name=name, meta={"balanced_from": getattr(mech, "name", "")})
    return JointTreeMechanism(m, alloc, new, name=name, meta={"balanced_from": getattr(mech, "name", "")})
