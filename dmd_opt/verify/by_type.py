r"""Regrets by own type: what each type of an agent gains from its best deviation.

The verifiers compute, at every information state :math:`m` and own true state :math:`z`
of an agent in a period, the regret :math:`U - V \ge 0` (best reporting strategy against
truth-telling, :mod:`dmd_opt.verify.bayesian`, :mod:`dmd_opt.verify.expost`).  Grouped by the
agent's current type :math:`\theta(z)`:

* ``expected_regret[θ]`` :math:`= E[U - V \mid \theta_t = \theta]` under truthful play — the
  *interim* regret of type :math:`\theta` (NaN for a type never reached, or when no law over
  the states is given, as for stationary Markov rules);
* ``max_regret[θ]`` — the largest regret over every state (on and off the truthful path) and
  where it occurs, with ``best_report`` there (the argmax deviation; None when the regret is 0);
* ``probability[θ]`` — the truthful probability of the type in that period.
"""

from __future__ import annotations

import numpy as np


def regret_by_type(period: int | None, labels, reg: np.ndarray, ztype: np.ndarray, weight: np.ndarray | None,
                   best_report: np.ndarray, states: dict | None = None, tol: float | None = None) -> dict:
    """Group regrets by current type (module docstring).

    ``reg``, ``weight`` (truthful probability of each state, 0 off path; None: no law) and
    ``best_report`` (the maximising report, an index into ``labels``) are (M, Z) arrays over
    information states × own true states; ``ztype`` (Z,) the current type of each true state;
    ``states`` optional (M,) arrays describing each information state (``history`` …),
    copied for the worst state of each type.  Regrets ≤ ``tol`` (default: rounding, 1e-12 ×
    the payoff size ``scale`` of the caller or 1) count as 0."""
    n = len(labels)
    reg = np.asarray(reg, float)
    if tol is None:
        tol = 1e-12
    out: dict = {} if period is None else {"period": period}
    out["types"] = list(labels)
    if weight is not None:
        w = np.asarray(weight, float)
        mass = np.bincount(ztype, weights=w.sum(axis=0), minlength=n)
        tot = np.bincount(ztype, weights=(w * np.maximum(reg, 0.0)).sum(axis=0), minlength=n)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["probability"] = mass.tolist()
            out["expected_regret"] = np.where(mass > 0, tot / mass, np.nan).tolist()
    else:
        out["probability"] = [float("nan")] * n
        out["expected_regret"] = [float("nan")] * n
    mx = np.zeros(n)
    best = np.full(n, -1, np.int64)
    where = np.zeros(n, np.int64)
    for k in range(n):
        cols = np.nonzero(ztype == k)[0]
        if cols.size == 0:
            continue
        sub = reg[:, cols]
        m, c = np.unravel_index(int(np.argmax(sub)), sub.shape)
        where[k] = m
        if sub[m, c] > tol:
            mx[k] = float(sub[m, c])
            best[k] = int(best_report[m, cols[c]])
    out["max_regret"] = mx.tolist()
    for key, arr in (states or {"state": np.arange(reg.shape[0])}).items():
        out[key] = [int(np.asarray(arr)[m]) for m in where]
    out["best_report_index"] = best.tolist()
    out["best_report"] = [labels[b] if b >= 0 else None for b in best]
    return out


def regret_lines(agents, scale: float, tol: float = 1e-7, limit: int = 5) -> list[str]:
    """Sentences for the types whose largest regret exceeds ``tol × scale`` (largest first, at
    most ``limit``): agent, period, type, its expected and largest regret and the best report."""
    from dmd_opt.core.display import fmt
    rows = []
    for a in agents:
        for per in getattr(a, "by_type", None) or []:
            if per is None:
                continue
            for k, lab in enumerate(per["types"]):
                if per["max_regret"][k] > tol * scale:
                    rows.append((per["max_regret"][k], a.name, per.get("period"), lab, per["expected_regret"][k],
                                 per["best_report"][k]))
    rows.sort(key=lambda r: -r[0])
    lines = [f"  {name}{'' if t is None else f', period {t}'}, type {lab}: regret up to {fmt(m, 3, scale)} "
             f"(expected {fmt(e, 3, scale)}), best report {rep}" for m, name, t, lab, e, rep in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"  … {len(rows) - limit} more types with regret (dmd_opt.regrets(report))")
    return (["regret by type:"] + lines) if lines else []
