r"""The economics a designer reads off a revenue program: virtual values, ironing, dynamic
virtual surplus (handicaps, impulse responses, IC multipliers), interim reduced forms and
revenue equivalence.

**Virtual values and ironing** (Myerson 1981, §6; discrete form as in Elkind 2007).
With types :math:`\theta_1<\dots<\theta_n` (value order), probabilities :math:`f_k` and
:math:`F_k=\sum_{j\le k}f_j`,

.. math::  \varphi_k = \theta_k - (\theta_{k+1}-\theta_k)\,\frac{1-F_k}{f_k},\qquad \varphi_n = \theta_n .

In quantile space, :math:`q_k = 1-F_{k-1}` (the probability of a type at least
:math:`\theta_k`) and the revenue curve :math:`R(q_k) = \theta_k q_k` (with :math:`R(0)=0`)
has slope :math:`\varphi_k` on :math:`[q_{k+1},q_k]`.  The *ironed* virtual value
:math:`\bar\varphi_k` is the slope of the least concave majorant :math:`\bar R` on the same
interval; equivalently the cumulative virtual surplus :math:`\sum_{j\ge k} f_j\varphi_j = R(q_k)`
is replaced by its concave hull.  An *ironing interval* is a maximal run of types over
which :math:`\bar R > R` at the interior quantiles: all its types share one ironed value and,
in every optimal mechanism, one interim allocation.  With non-linear utilities the same
formula applies decision by decision to :math:`u(a,\theta)` (*virtual utility*).

**Dynamic virtual surplus** (Pavan, Segal & Toikka 2014, §3–4; Battaglini 2005, two types;
Courty & Li 2000; Eső & Szentes 2007).  With Markov types and interim (or periodic)
participation, the multipliers of the adjacent downward IC rows of the revenue program have
the closed form of :mod:`dmd_opt.families.revenue.local` (a forward pass over the tree):

.. math::

    \lambda_0(\theta_{k+1}\to\theta_k) = 1 - F_0(\theta_k),\qquad
    \lambda_t(h,\theta_{k+1}\to\theta_k) = \delta\,\ell(h)\,\big(F_t(\theta_k\mid r)-F_t(\theta_k\mid r^+)\big),

:math:`\ell(h)` the parent's multiplier of the report :math:`r` that led to :math:`h` (times
the belief in the others' reports), zero when :math:`r` is the top type.  Divided by the
discounted probability of the node, they give each history's *handicap coefficient*
:math:`H_t(h,\theta) = \lambda_t(h,\theta^+\!\to\theta)/(\delta^t\Pr(h)\Pr(\theta\mid h))` and
the *virtual utility* :math:`u(a,\theta) - H_t\,(u(a,\theta^+) - u(a,\theta))`; with
:math:`u = \theta\cdot s(a)` the handicap is :math:`H_t(\theta^+-\theta)` and the virtual value
:math:`\theta - H_t(\theta^+-\theta)`.  Along an agent's own type path the handicap factors as

.. math::

    \text{handicap}_t = \frac{(1-F_0(\theta_0))(\theta_0^+-\theta_0)}{f_0(\theta_0)}\;
    \prod_{s=1}^t \frac{\big(F_s(\theta_s\mid\theta_{s-1}) - F_s(\theta_s\mid\theta_{s-1}^+)\big)
    (\theta_s^+-\theta_s)}{P_s(\theta_s\mid\theta_{s-1})\,(\theta_{s-1}^+-\theta_{s-1})},

the discrete analogue of PST's handicap :math:`\frac{1-F_0}{f_0}\,I_t`: each factor is a
finite difference of :math:`-\partial F_s/\partial\theta_{s-1}` over the density, i.e. the
discrete *impulse response* :math:`I_t` of :math:`\theta_t` to :math:`\theta_0` (computed here
directly from the transitions, independently of the multipliers).  The virtual surplus of a
decision at a history is :math:`\sum_i` virtual utility :math:`-\,c(a)`; where the adjacent
relaxation is exact (e.g. first-order stochastic dominance and a monotone virtual surplus)
the optimal mechanism maximises it history by history and the multipliers *are* the LP's
duals of the adjacent downward IC rows (:func:`dual_comparison`).  Ex-ante participation
gives zero multipliers (no handicap: the seller extracts the expected surplus up front).

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

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dmd_opt.core.errors import ModelError


# ---------------------------------------------------------------------------------------
# static virtual values and ironing
# ---------------------------------------------------------------------------------------
def virtual_values(values, probs) -> np.ndarray:
    """Discrete virtual values :math:`\\varphi_k` in the given order (NaN for zero-probability
    types); the value order is taken from ``values``."""
    v, f = np.asarray(values, float), np.asarray(probs, float)
    o = np.argsort(v, kind="stable")
    vs, fs = v[o], f[o]
    tail = 1.0 - np.cumsum(fs)                                    # 1 − F_k
    dv = np.r_[np.diff(vs), 0.0]
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where(fs > 0, vs - dv * np.maximum(tail, 0.0) / fs, np.nan)
    out = np.empty_like(phi)
    out[o] = phi
    return out


def ironing(values, probs, tol: float = 1e-12) -> tuple[np.ndarray, list[list[int]], dict]:
    """Ironed virtual values, ironing intervals and the revenue curve (module docstring).

    Returns ``(ironed, intervals, curve)``: ``ironed`` in the given order (NaN for
    zero-probability types), ``intervals`` lists of type indices (given order, ascending in
    value) sharing one ironed value because the hull lies strictly above the revenue curve
    inside, ``curve`` = ``{"quantile", "revenue", "hull"}`` at :math:`q_1=1 > \\dots > q_{n+1}=0`.
    """
    v, f = np.asarray(values, float), np.asarray(probs, float)
    o = np.argsort(v, kind="stable")
    keep = o[f[o] > 0]                                            # value order, positive mass
    vs, fs = v[keep], f[keep]
    n = vs.size
    q = np.r_[1.0 - np.r_[0.0, np.cumsum(fs)[:-1]], 0.0]          # q_1..q_{n+1}
    q[-1] = 0.0
    R = np.r_[vs * q[:n], 0.0]
    # least concave majorant over the points (q, R), q decreasing: scan by increasing q
    idx = np.arange(n + 1)[::-1]
    hull: list[int] = []
    for j in idx:
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # drop b when it lies on or below the chord from a to j
            if (R[b] - R[a]) * (q[j] - q[a]) <= (R[j] - R[a]) * (q[b] - q[a]):
                hull.pop()
            else:
                break
        hull.append(j)
    hull = sorted(hull)                                           # point indices, q decreasing
    Rbar = np.interp(q[::-1], q[hull][::-1], R[hull][::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ironed_s = (Rbar[:n] - Rbar[1:]) / fs
    scale = max(1.0, float(np.max(np.abs(R))))
    intervals = []
    for a, b in zip(hull[:-1], hull[1:]):
        if b - a >= 2 and np.max(Rbar[a + 1:b] - R[a + 1:b]) > tol * scale:
            intervals.append(sorted(int(x) for x in keep[a:b]))
    ironed = np.full(v.size, np.nan)
    ironed[keep] = ironed_s
    curve = {"quantile": q, "revenue": R, "hull": Rbar, "types": keep}
    return ironed, intervals, curve


@dataclass
class StaticVirtualValues:
    """Virtual values of one agent's first-period types (given order of the model)."""

    agent: int
    name: str
    labels: tuple
    values: np.ndarray
    probs: np.ndarray
    virtual: np.ndarray
    ironed: np.ndarray
    intervals: list
    virtual_utility: np.ndarray | None = None     # (|A|, n): decision by decision
    curve: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        d = {"agent": self.agent, "name": self.name, "labels": list(self.labels), "values": self.values,
             "probabilities": self.probs, "virtual_values": self.virtual, "ironed_virtual_values": self.ironed,
             "ironing_intervals": [[self.labels[k] for k in iv] for iv in self.intervals],
             "ironing_intervals_index": self.intervals}
        if self.virtual_utility is not None:
            d["virtual_utility"] = self.virtual_utility
        return d

    def summary_line(self) -> str:
        fmt = lambda a: ", ".join("—" if not np.isfinite(x) else f"{x:.6g}" for x in a)  # noqa: E731
        s = (f"virtual values of {self.name} ({', '.join(map(str, self.labels))}): {fmt(self.virtual)}; "
             f"ironed: {fmt(self.ironed)}")
        if self.intervals:
            s += "; ironed together: " + ", ".join("{" + ", ".join(str(self.labels[k]) for k in iv) + "}"
                                                   for iv in self.intervals)
        return s


def static_virtual_values(env, t: int = 0) -> list[StaticVirtualValues]:
    """Virtual values, ironed values and ironing intervals of every agent's period-``t`` types
    under its marginal distribution (period 0: the initial distribution), with the virtual
    utility of every decision :math:`u(a,\\theta_k) - (u(a,\\theta_{k+1}) - u(a,\\theta_k))(1-F_k)/f_k`."""
    out = []
    for i in range(env.n_agents):
        f = np.asarray(env.agent_initial(i), float)
        for s in range(t):
            f = f @ env.agent_transition(i, s)
        v = np.asarray(env.type_values(i, t), float)
        ironed, intervals, curve = ironing(v, f)
        vu = None
        util = _agent_utility(env, i, t)
        if util is not None:
            o = np.argsort(v, kind="stable")
            tail = 1.0 - np.cumsum(f[o])
            du = np.zeros_like(util)
            du[:, o[:-1]] = util[:, o[1:]] - util[:, o[:-1]]
            coef = np.zeros(v.size)
            with np.errstate(divide="ignore", invalid="ignore"):
                coef[o] = np.where(f[o] > 0, np.maximum(tail, 0.0) / f[o], np.nan)
            vu = util - du * coef[None, :]
        out.append(StaticVirtualValues(i, env.agent_names[i], tuple(env.type_labels(i, t)), v, f,
                                       virtual_values(v, f), ironed, intervals, vu, curve))
    return out


def _agent_utility(env, i: int, t: int) -> np.ndarray | None:
    """(|A|, n) private-value utility table of agent i (None for the quantity family)."""
    if getattr(env, "quantity", None) is not None:
        return None
    return np.asarray(env.utility(i, t), float)


# ---------------------------------------------------------------------------------------
# dynamic virtual surplus
# ---------------------------------------------------------------------------------------
@dataclass
class DynamicVirtualSurplus:
    """IC multipliers, handicaps, impulse responses and virtual surplus on the history tree.

    Per agent ``i`` and period ``t``: ``multipliers[i][t]`` (S_t, n_t − 1) in the value order
    (pair k: type k+1 claims type k; ``order[i][t]`` the value order); per node arrays of
    length K_t: ``coefficient[i][t]`` (H), ``handicap[i][t]`` (H·(θ⁺ − θ)),
    ``virtual_value[i][t]`` (θ − handicap), ``impulse[i][t]`` (discrete impulse response of
    the agent's own path); ``virtual_surplus[t]`` (K_t, |A_t|) per decision (None for the
    quantity family, whose virtual surplus is Σ_i ψ_i q_i − c(q_i)); ``best[t]`` the
    maximising decision.  Zero-probability histories carry NaN."""

    env: Any
    participation: str
    order: list
    multipliers: list
    coefficient: list
    handicap: list
    virtual_value: list
    impulse: list
    virtual_surplus: list
    best: list

    def frame(self, agent: int = 0):
        """One row per node: period, history, probability, reported type, multiplier of the
        adjacent pair, handicap, virtual value, impulse response (pandas)."""
        import pandas as pd
        from dmd_opt.core.tree import HistoryTree
        tree = HistoryTree(self.env)
        rows = []
        for t in range(tree.T):
            k = np.arange(tree.n_nodes(t))
            r = tree.last_reports(t)[:, agent]
            df = pd.DataFrame({"period": t + 1, "node": k, "history": tree.history_labels(t, k),
                               "probability": tree.node_prob[t],
                               "type": [self.env.type_labels(agent, t)[x] for x in r],
                               "handicap": self.handicap[agent][t], "virtual_value": self.virtual_value[agent][t],
                               "impulse_response": self.impulse[agent][t],
                               "handicap_coefficient": self.coefficient[agent][t]})
            if self.virtual_surplus[t] is not None:
                df["best_decision"] = [self.env.decisions(t)[b] for b in self.best[t]]
                df["virtual_surplus"] = np.max(self.virtual_surplus[t], axis=1)
            rows.append(df)
        return pd.concat(rows, ignore_index=True)

    def to_dict(self, max_nodes: int = 2000) -> dict:
        from dmd_opt.core.tree import HistoryTree
        tree = HistoryTree(self.env)
        out = {"participation": self.participation, "periods": []}
        for t in range(tree.T):
            if tree.n_nodes(t) > max_nodes:
                out["truncated_after_period"] = t
                break
            k = np.arange(tree.n_nodes(t))
            per = {"period": t + 1, "histories": tree.history_labels(t, k),
                   "multipliers": [self.multipliers[i][t] for i in range(tree.N)],
                   "handicap": [self.handicap[i][t] for i in range(tree.N)],
                   "virtual_value": [self.virtual_value[i][t] for i in range(tree.N)],
                   "impulse_response": [self.impulse[i][t] for i in range(tree.N)]}
            if self.virtual_surplus[t] is not None:
                per["virtual_surplus"] = self.virtual_surplus[t]
                per["best_decision"] = [self.env.decisions(t)[b] for b in self.best[t]]
            out["periods"].append(per)
        return out

    def summary_lines(self, max_rows: int = 6) -> list[str]:
        from dmd_opt.core.tree import HistoryTree
        tree = HistoryTree(self.env)
        lines = [f"dynamic virtual values ({self.participation} participation; handicap = "
                 f"multiplier/(δ^t Pr) × (θ⁺ − θ)):"]
        shown = 0
        for t in range(tree.T):
            for i in range(tree.N):
                h = self.handicap[i][t]
                nz = np.nonzero(np.nan_to_num(h) > 1e-12)[0]
                for k in nz[:max(0, max_rows - shown)]:
                    lines.append(f"  period {t + 1}, {tree.history_labels(t, k)[0]}: {self.env.agent_names[i]} "
                                 f"handicap {h[k]:.6g}, virtual value {self.virtual_value[i][t][k]:.6g}")
                    shown += 1
        if shown == 0:
            lines.append("  no handicaps (every multiplier is zero: no distortion)")
        return lines


def dynamic_virtual_surplus(env, participation: str = "interim", w_rev: float = 1.0,
                            disclosure: str = "public") -> DynamicVirtualSurplus:
    """The closed-form multipliers and the virtual surplus by history (module docstring).

    Needs independent Markov types whose law does not depend on the decision, one agent or
    public disclosure; ``w_rev`` scales the multipliers (the revenue weight of the objective)."""
    from dmd_opt.core.tree import HistoryTree
    from dmd_opt.families.revenue.local import adjacent_ic_multipliers
    if disclosure == "private" and env.n_agents > 1:
        raise ModelError("disclosure", "the dynamic virtual surplus needs one agent or public disclosure")
    if participation not in ("ex_ante", "interim", "periodic", "none"):
        raise ModelError("participation", f"unknown participation {participation!r}")
    if not getattr(env, "independent", True) or getattr(env, "decision_dependent", False):
        raise ModelError("agents", "the dynamic virtual surplus needs independent types with a decision-free law")
    tree = HistoryTree(env)
    lam, order = adjacent_ic_multipliers(env, tree, participation, w_rev)
    T, N, delta = tree.T, tree.N, env.discount
    coef, hand, vv, imp = ([[None] * T for _ in range(N)] for _ in range(4))
    surplus, best = [], []
    for t in range(T):
        K = tree.n_nodes(t)
        h = np.arange(K) // tree.R[t]
        last = tree.last_reports(t)
        reach = (delta ** t) * (tree.node_prob[t - 1][h] if t > 0 else np.ones(K))
        g = None if env.quantity is not None else -np.broadcast_to(env.cost(t), (K, env.n_decisions(t))).copy()
        for i in range(N):
            n, o = env.n_types(i, t), order[i][t]
            pos = np.argsort(o)
            th = last[:, i]
            own = (env.agent_transition(i, t - 1)[tree.last_reports(t - 1)[h, i], th] if t > 0
                   else env.agent_initial(i)[th])
            lam_nat = np.zeros((tree.n_histories(t), n))
            lam_nat[:, o[:-1]] = lam[i][t]
            with np.errstate(divide="ignore", invalid="ignore"):
                H = np.where(reach * own > 0, lam_nat[h, th] / (reach * own), np.nan)
            v = np.asarray(env.type_values(i, t), float)
            up = np.r_[v[o[1:]], v[o[-1]]][pos]                          # θ⁺ (top: itself)
            coef[i][t] = H
            hand[i][t] = H * (up[th] - v[th])
            vv[i][t] = v[th] - hand[i][t]
            imp[i][t] = _impulse(env, tree, i, t, order)
            if g is not None:
                u = np.asarray(env.utility(i, t), float)                    # (A, n)
                du = u[:, np.r_[o[1:], o[-1]][pos]] - u                      # u(a, θ⁺) − u(a, θ)
                g = g + u[:, th].T - np.nan_to_num(H)[:, None] * du[:, th].T
        surplus.append(g)
        best.append(None if g is None else np.argmax(g, axis=1))
    return DynamicVirtualSurplus(env, participation, order, lam, coef, hand, vv, imp, surplus, best)


def _impulse(env, tree, i: int, t: int, order) -> np.ndarray:
    """Discrete impulse response of agent i's period-t type to its first type along its own
    path (module docstring), at every period-t node; 0 past a top type, NaN where undefined."""
    K = tree.n_nodes(t)
    out = np.ones(K)
    if t == 0:
        return out
    d = tree.digits(t)[:, :, i]                                         # (K, t+1) own reports
    for s in range(1, t + 1):
        o_prev, o_cur = order[i][s - 1], order[i][s]
        p_prev, p_cur = np.argsort(o_prev), np.argsort(o_cur)
        v_prev = np.asarray(env.type_values(i, s - 1), float)
        v_cur = np.asarray(env.type_values(i, s), float)
        P = env.agent_transition(i, s - 1)                               # (n_{s-1}, n_s)
        F = np.cumsum(P[:, o_cur], axis=1)                               # by position of θ_s
        a, b = d[:, s - 1], d[:, s]
        ka, kb = p_prev[a], p_cur[b]
        top_prev = ka == o_prev.size - 1
        top_cur = kb == o_cur.size - 1
        up_prev = o_prev[np.minimum(ka + 1, o_prev.size - 1)]
        up_cur = o_cur[np.minimum(kb + 1, o_cur.size - 1)]
        dF = F[a, kb] - F[up_prev, kb]
        num = dF * (v_cur[up_cur] - v_cur[b])
        den = P[a, b] * (v_prev[up_prev] - v_prev[a])
        with np.errstate(divide="ignore", invalid="ignore"):
            fac = np.where(top_prev | top_cur, 0.0, num / den)
        out = out * fac
    return out


def dual_comparison(result, dvs: DynamicVirtualSurplus | None = None) -> dict:
    """Compare the closed-form multipliers with the solved program's duals of the adjacent
    downward IC rows (λ = −dual in the package's sign convention).

    Returns ``max_gap`` (largest |λ + dual| over those rows), ``max_other_ic_dual`` (largest
    |dual| on every other IC row), ``rows`` compared and ``agree`` (both within 1e-7 × the
    largest multiplier).  Where the adjacent relaxation is exact and the duals are unique
    the two coincide; elsewhere the gap says by how much the relaxation misses."""
    prog, sol = result.program, result.solution
    if sol is None or sol.row_dual is None:
        raise ModelError("solution", "the solution has no duals to compare")
    w_rev = float(prog.meta.get("objective", {}).get("revenue", 1.0))
    if dvs is None:
        dvs = dynamic_virtual_surplus(result.env, prog.meta.get("participation", "interim"), w_rev,
                                      prog.meta.get("disclosure", "public"))
    lab = prog.row_labels()
    ic = np.nonzero(lab["family"] == "IC")[0]
    y = sol.row_dual[ic]
    ag, per, hist, tt, rep = (lab[k][ic] for k in ("agent", "period", "history", "true_type", "report"))
    pred = np.zeros(ic.size)
    adjacent = np.zeros(ic.size, bool)
    for i in range(result.env.n_agents):
        for t in range(len(dvs.multipliers[i])):
            o = dvs.order[i][t]
            pos = np.argsort(o)
            m = (ag == i) & (per == t)
            adj = m & (pos[tt] == pos[rep] + 1)
            pred[adj] = dvs.multipliers[i][t][hist[adj], pos[rep[adj]]]
            adjacent |= adj
    scale = max(1e-300, float(np.max(np.abs(pred), initial=0.0)))
    gap = float(np.max(np.abs(pred[adjacent] + y[adjacent]), initial=0.0))
    other = float(np.max(np.abs(y[~adjacent]), initial=0.0))
    return {"max_gap": gap, "max_other_ic_dual": other, "rows": int(adjacent.sum()),
            "agree": bool(gap <= 1e-7 * max(scale, 1.0) and other <= 1e-7 * max(scale, 1.0))}


# ---------------------------------------------------------------------------------------
# interim reduced forms
# ---------------------------------------------------------------------------------------
def _service(env, i: int, t: int) -> np.ndarray | None:
    """s(a) with u_i(a, θ) = θ·s(a) for every type, when the utility is linear in the type
    value (allocate decisions, the quantity family); None otherwise."""
    if getattr(env, "quantity", None) is not None:
        return None                                         # quantities: s = q_i, read from x
    u = np.asarray(env.utility(i, t), float)                # (A, n)
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
            from dmd_opt.core.model import DynamicModel  # noqa: F401  (type of env)
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
    from dmd_opt.core.truthful import tree_flow_utility
    env, alloc, pay, probs = _tree_arrays(mech, periods)
    T, N, delta = len(alloc), env.n_agents, env.discount
    out = []
    for i in range(N):
        flows, own = [], []
        for t in range(T):
            R = env.n_profiles(t)
            th = env.profile_digits(t)[np.arange(alloc[t].shape[0]) % R, i]
            u = tree_flow_utility(env, alloc[t], i, t)
            flows.append(u[np.arange(u.shape[0]), th] - pay[t][:, i])
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
