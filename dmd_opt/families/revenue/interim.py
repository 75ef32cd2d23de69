r"""Interim reduced forms of tree and Markov mechanisms, and revenue equivalence.

**Interim reduced forms** (Border 1991; Myerson 1981 for the static case): for agent
:math:`i`, period :math:`t` and own type :math:`\theta`, under truthful play,
:math:`Q_{i,t}(\theta) = E[s_i(x_t)\mid\theta_{i,t}=\theta]` (the probability of being served,
or the expected quantity), :math:`T_{i,t}(\theta) = E[p_{i,t}\mid\theta]`, the period's
utility :math:`U_{i,t}(\theta) = E[u_i(x_t,\theta) - p_{i,t}\mid\theta]` and the continuation
utility :math:`V_{i,t}(\theta)` from period :math:`t` on.

**Revenue equivalence** (Myerson 1981, Lemma 3; dynamic: PST 2014, Theorem 2): two
Bayesian-IC mechanisms with the same allocation rule give each type the same expected
utility up to a constant per agent, so their expected revenues differ exactly by the
difference in the lowest types' expected utilities, :math:`\sum_i [U^B_i(\underline\theta_i) -
U^A_i(\underline\theta_i)]`; :func:`revenue_equivalence` measures both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dmd_opt.core.errors import ModelError
from dmd_opt.core.model import ravel


def _service(env, i: int, t: int) -> np.ndarray | None:
    """s(a) with u_i(a, θ) = θ·s(a) for every type, when the utility is linear in the type
    value (allocate decisions, the quantity family); None otherwise."""
    if getattr(env, "quantity", None) is not None:
        return None                                         # quantities: s = q_i, read from x
    try:
        u = np.asarray(env.own_type_utility(i, t), float)   # (R, n, A)
    except ModelError:                                      # utilities of earlier own types
        return None
    if u.shape[0] > 1 and not np.allclose(u, u[:1]):        # interdependent values
        return None
    u = u[0].T                                              # (A, n)
    v = np.asarray(env.type_values(i, t), float)
    nz = np.abs(v) > 1e-12
    if not np.any(nz):
        return None
    s = u[:, np.argmax(nz)] / v[np.argmax(nz)]
    if not np.allclose(u, s[:, None] * v[None, :], atol=1e-12 * max(1.0, float(np.abs(u).max()))):
        return None
    return s


def _tree_arrays(mech, periods: int | None):
    """(env, allocation, payments, node probabilities) of a tree- or finite Markov-form mechanism."""
    from dmd_opt.core.truthful import markov_tree_arrays, tree_node_probabilities
    form = getattr(mech, "form", None)
    env = mech.env
    if form == "tree":
        alloc, pay = list(mech.allocation), list(mech.payments)
    elif form == "markov":
        if env.stationary:
            n = 3 if periods is None else int(periods)
            alloc, pay = _stationary_tree(mech, n)
        else:
            alloc, pay = markov_tree_arrays(env, mech.allocation, mech.payments)
    else:
        raise ModelError("mechanism", f"interim reduced forms need a tree or Markov mechanism, got form {form!r}")
    if periods is not None:
        alloc, pay = alloc[:periods], pay[:periods]
    probs = getattr(getattr(mech, "tree", None), "node_prob", None) if form == "tree" and \
        getattr(env, "quantity", None) is not None else None
    if probs is None:
        probs = tree_node_probabilities(env, alloc) if getattr(env, "quantity", None) is None else mech.tree.node_prob
    return env, alloc, pay, probs[:len(alloc)]


def _stationary_tree(mech, n: int):
    """The first n periods of a stationary Markov mechanism on the history tree."""
    m = mech.model
    alloc, pay, K_prev = [], [], 1
    R = m.n_profiles(0)
    for t in range(n):
        e = 0 if t == 0 else 1
        K = K_prev * R
        k = np.arange(K)
        prof, prev = k % R, (k // R) % R if t > 0 else np.zeros(K, np.int64)
        alloc.append(mech.allocation[e][prof])
        pay.append(mech.payments[e][prev if t > 0 else 0, prof])
        K_prev = K
    return alloc, pay


@dataclass
class ReducedForm:
    """Interim reduced form of one agent: arrays (periods, n) — ``probability`` of each own
    type, ``Q`` (service probability or expected quantity; NaN when utilities are not linear
    in the type value), ``T`` (expected payment), ``U`` (period utility), ``V`` (continuation
    utility from the period on), ``x`` (periods, n, |A|) expected decision lottery."""

    agent: int
    name: str
    labels: list
    probability: list
    Q: list
    T: list
    U: list
    V: list
    x: list

    def frame(self):
        import pandas as pd
        rows = []
        for t in range(len(self.Q)):
            for k, lab in enumerate(self.labels[t]):
                rows.append({"agent": self.name, "period": t + 1, "type": lab, "probability": self.probability[t][k],
                             "Q": self.Q[t][k], "T": self.T[t][k], "U": self.U[t][k], "V": self.V[t][k]})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        return {"agent": self.agent, "name": self.name,
                "periods": [{"period": t + 1, "types": list(self.labels[t]), "probability": self.probability[t],
                             "Q": self.Q[t], "T": self.T[t], "U": self.U[t], "V": self.V[t]}
                            for t in range(len(self.Q))]}


def interim_reduced_forms(mech, periods: int | None = None) -> list[ReducedForm]:
    """Interim reduced forms of every agent and period (module docstring) of a tree- or
    Markov-form mechanism under truthful play (stationary Markov: the first ``periods``,
    default 3).  Types of zero probability carry NaN."""
    if getattr(mech, "form", None) == "interim":
        return _from_interim_rule(mech)
    env, alloc, pay, probs = _tree_arrays(mech, periods)
    T, N, delta = len(alloc), env.n_agents, env.discount
    out = []
    for i in range(N):
        flows, own = [], []
        for t in range(T):
            K = alloc[t].shape[0]
            th = env.profile_digits(t)[np.arange(K) % env.n_profiles(t), i]
            u, z = _truthful_flow(env, alloc[t], i, t, th)
            flows.append(u[np.arange(K), z] - pay[t][:, i])
            own.append(th)
        cont = [None] * T                                           # V at every node, backward
        for t in reversed(range(T)):
            cont[t] = flows[t].copy()
            if t + 1 < T:
                R1 = env.n_profiles(t + 1)
                w = (probs[t + 1] * cont[t + 1]).reshape(-1, R1).sum(axis=1)
                with np.errstate(divide="ignore", invalid="ignore"):
                    cont[t] = cont[t] + delta * np.where(probs[t] > 0, w / probs[t], 0.0)
        P_, Q_, T_, U_, V_, X_, L_ = [], [], [], [], [], [], []
        for t in range(T):
            n = env.n_types(i, t)
            th, p = own[t], probs[t]
            mass = np.bincount(th, weights=p, minlength=n)

            def cond(values, th=th, p=p, mass=mass, n=n):
                s = np.bincount(th, weights=p * values, minlength=n)
                with np.errstate(divide="ignore", invalid="ignore"):
                    return np.where(mass > 0, s / mass, np.nan)
            if getattr(env, "quantity", None) is not None:
                q = cond(alloc[t][:, i])
                xa = q[:, None]
            else:
                A = alloc[t].shape[1]
                xa = np.stack([cond(alloc[t][:, a]) for a in range(A)], axis=1)
                s = _service(env, i, t)
                q = xa @ s if s is not None else np.full(n, np.nan)
            P_.append(mass.tolist())
            Q_.append(q.tolist())
            T_.append(cond(pay[t][:, i]).tolist())
            U_.append(cond(flows[t]).tolist())
            V_.append(cond(cont[t]).tolist())
            X_.append(xa.tolist())
            L_.append(list(env.type_labels(i, t)))
        out.append(ReducedForm(i, env.agent_names[i], L_, P_, Q_, T_, U_, V_, X_))
    return out


def _truthful_flow(env, x: np.ndarray, i: int, t: int, th: np.ndarray):
    """(flows by own true state (K, Z), truthful state of each node (K,)): the current type, or
    the whole own type history when the period's utility reads earlier own types."""
    from dmd_opt.core.truthful import tree_flow_by_history, tree_flow_utility
    periods = getattr(env, "utility_periods", None)
    if periods is None or tuple(periods(i, t)) == (t,):
        return tree_flow_utility(env, x, i, t), th
    K = x.shape[0]
    digits, rest = [], np.arange(K)
    for s in reversed(range(t + 1)):                      # node index = profile history in C order
        R = env.n_profiles(s)
        digits.append(env.profile_digits(s)[rest % R, i])
        rest = rest // R
    dims = [env.n_types(i, s) for s in range(t + 1)]
    z = ravel(tuple(reversed(digits)), dims)          # any number of periods (core.model.ravel)
    return tree_flow_by_history(env, x, i, t), z


def _from_interim_rule(mech) -> list[ReducedForm]:
    """One-period reduced forms of a mechanism given by its interim rule (``form = "interim"``:
    ``Q`` and ``T`` stacked bidder after bidder, utilities θ·Q)."""
    env = mech.env
    Q, T = np.asarray(mech.Q, float), np.asarray(mech.T, float)
    out, off = [], 0
    for i in range(env.n_agents):
        n = env.n_types(i, 0)
        q, p = Q[off:off + n], T[off:off + n]
        u = np.asarray(env.type_values(i, 0), float) * q - p
        out.append(ReducedForm(i, env.agent_names[i], [list(env.type_labels(i, 0))],
                               [np.asarray(env.agent_initial(i), float).tolist()], [q.tolist()], [p.tolist()],
                               [u.tolist()], [u.tolist()], [q[:, None].tolist()]))
        off += n
    return out


def interim_rule_regrets(mech) -> list:
    r"""Regrets by own type of a mechanism given by its interim rule (``form = "interim"``):
    for bidder i of type θ, :math:`\max_r [v(\theta)Q_i(r) - T_i(r)] - [v(\theta)Q_i(\theta) - T_i(\theta)]`
    with the best report (:mod:`dmd_opt.verify.by_type`); one entry per bidder with ``agent``,
    ``name`` and ``by_type`` like the verifiers' per-agent checks."""
    from types import SimpleNamespace

    from dmd_opt.verify.by_type import regret_by_type
    out = []
    for i, rf in enumerate(_from_interim_rule(mech)):
        v = np.asarray(mech.env.type_values(i, 0), float)
        q, p = np.asarray(rf.Q[0]), np.asarray(rf.T[0])
        gain = v[:, None] * q[None, :] - p[None, :]                      # [true, report]
        reg = (gain.max(axis=1) - np.diag(gain))[None, :]
        per = regret_by_type(1, rf.labels[0], reg, np.arange(v.size), np.asarray(rf.probability[0])[None, :],
                             gain.argmax(axis=1)[None, :], tol=1e-12 * max(1.0, float(np.abs(gain).max())))
        out.append(SimpleNamespace(agent=i, name=rf.name, by_type=[per]))
    return out


# ---------------------------------------------------------------------------------------
# revenue equivalence
# ---------------------------------------------------------------------------------------
def revenue_equivalence(a, b, tol: float = 1e-7) -> dict:
    """Compare two mechanisms on the same environment (module docstring).

    ``same_allocation``: the allocation rules agree at every history (within ``tol`` × scale);
    ``revenue_difference`` = R(b) − R(a); ``lowest_type_difference`` = Σ_i [U^a_i(θ̲) − U^b_i(θ̲)]
    (each agent's expected first-period utility of its lowest type, which by revenue
    equivalence accounts for the whole difference when both are Bayesian IC with the same
    allocation); ``unexplained`` = revenue_difference − lowest_type_difference, and
    ``equivalent`` says whether it is within ``tol`` × scale.  Both mechanisms are verified
    (Bayesian IC) and their regrets reported, since the theorem needs IC."""
    ea, eb = a.env, b.env
    if ea.n_agents != eb.n_agents or any(ea.n_types(i, 0) != eb.n_types(i, 0) for i in range(ea.n_agents)):
        raise ModelError("mechanism", "the two mechanisms are written on different environments")
    _, xa, _, _ = _tree_arrays(a, None)
    _, xb, _, _ = _tree_arrays(b, None)
    scale = float(getattr(ea, "payoff_scale", 1.0))
    same = len(xa) == len(xb) and all(x.shape == y.shape and np.max(np.abs(x - y), initial=0.0) <= tol * scale
                                      for x, y in zip(xa, xb))
    gap_alloc = max((float(np.max(np.abs(x - y), initial=0.0)) for x, y in zip(xa, xb) if x.shape == y.shape),
                    default=float("inf"))
    ra, rb = a.rents(), b.rents()
    low = []
    for i in range(ea.n_agents):
        v = np.asarray(ea.type_values(i, 0), float)
        f = np.asarray(ea.agent_initial(i), float)
        k = int(np.argmin(np.where(f > 0, v, np.inf)))              # lowest type with positive mass
        low.append(float(ra[i][k] - rb[i][k]))
    d_rev = float(b.revenue() - a.revenue())
    d_low = float(sum(low))
    ver_a, ver_b = a.verify("bayesian"), b.verify("bayesian")
    return {"same_allocation": bool(same), "allocation_gap": gap_alloc,
            "revenue_a": a.revenue(), "revenue_b": b.revenue(), "revenue_difference": d_rev,
            "lowest_type_utility_difference_by_agent": low, "lowest_type_difference": d_low,
            "unexplained": d_rev - d_low, "equivalent": bool(same and abs(d_rev - d_low) <= tol * scale),
            "max_regret_a": float(ver_a.max_regret), "max_regret_b": float(ver_b.max_regret)}
