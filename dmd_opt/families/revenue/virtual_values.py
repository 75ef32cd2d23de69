r"""Static virtual values and ironing of each agent's types (Myerson 1981).

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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dmd_opt.core.display import fmt


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
    if not np.all(np.isfinite(v)):                                # label-only types: no value order
        return np.full(v.size, np.nan), [], {}
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
        util = _agent_utility(env, i, t) if np.all(np.isfinite(v)) else None
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
