r"""The economics users read, for any solved program or mechanism.

The computations live with the revenue family, whose docstrings state the theory:
:mod:`dmd_opt.families.revenue.virtual_values` (Myerson's virtual values and ironing),
:mod:`dmd_opt.families.revenue.virtual_surplus` (the dynamic virtual surplus with
Pavan–Segal–Toikka's handicaps and impulse responses), :mod:`dmd_opt.families.revenue.interim`
(interim reduced forms, revenue equivalence) and :mod:`dmd_opt.families.revenue.economics`
(``RevenueResult.economics()``); this module is the reading room: tables (pandas DataFrames)
and one-call summaries.

* :func:`virtual_values`, :func:`ironing` — arrays for a type distribution;
  :func:`static_virtual_values` — every agent of an environment;
* :func:`dynamic_virtual_surplus` — multipliers, handicaps, impulse responses and virtual
  surplus by history; :func:`dual_comparison` — against a solved program's duals;
* :func:`interim_reduced_forms` / :func:`reduced_form_frame` — :math:`Q, T, U, V` by agent,
  period and own type, for tree and Markov mechanisms;
* :func:`regret_frame` — the Bayesian verifier's regrets by agent, period and own type with
  the best deviation;
* :func:`revenue_equivalence` — do two mechanisms' revenues differ by more than their lowest
  types' utilities?

>>> from dmd_opt.analysis.economics import ironing
>>> ironed, intervals, _ = ironing([1, 2, 3, 4], [0.3, 0.05, 0.3, 0.35])
>>> [round(float(x), 4) for x in ironed], intervals
([-2.7143, -2.7143, 1.8333, 4.0], [[0, 1]])
"""

from __future__ import annotations


from dmd_opt.families.revenue.economics import Economics, result_economics
from dmd_opt.families.revenue.interim import ReducedForm, interim_reduced_forms, revenue_equivalence
from dmd_opt.families.revenue.virtual_surplus import DynamicVirtualSurplus, dual_comparison, dynamic_virtual_surplus
from dmd_opt.families.revenue.virtual_values import StaticVirtualValues, ironing, static_virtual_values, virtual_values

__all__ = ["virtual_values", "ironing", "static_virtual_values", "dynamic_virtual_surplus", "dual_comparison",
           "interim_reduced_forms", "reduced_form_frame", "regret_frame", "revenue_equivalence",
           "result_economics", "Economics", "DynamicVirtualSurplus", "ReducedForm", "StaticVirtualValues"]


def reduced_form_frame(mech, periods: int | None = None):
    """Interim reduced forms of every agent as one DataFrame: agent, period, type,
    probability, Q (service probability / expected quantity), T (payment), U (period
    utility), V (continuation utility)."""
    import pandas as pd
    return pd.concat([rf.frame() for rf in interim_reduced_forms(mech, periods)], ignore_index=True)


def regret_frame(report):
    """A verifier's regrets by own type as a DataFrame (:mod:`dmd_opt.verify.by_type`): agent,
    name, period, type, type_index, probability of the type, ``expected_regret`` (interim:
    expected over the states at which the agent has that type, truthful play), ``max_regret``
    over every state (on and off path), where it occurs (``history`` — and
    ``true_previous_type`` for the joint-process verifier, ``previous_profile`` for stationary
    Markov rules) and the ``best_report`` there.  Works on the reports of
    :func:`dmd_opt.verify.bayesian.verify_bayesian` and :mod:`dmd_opt.verify.expost`."""
    import pandas as pd
    rows = []
    for a in report.agents:
        for t, per in enumerate(getattr(a, "by_type", None) or []):
            if per is None:
                continue
            lists = {k: v for k, v in per.items() if isinstance(v, list) and k != "types"}
            for k, lab in enumerate(per["types"]):
                rows.append({"agent": a.agent, "name": a.name, "period": per.get("period", t + 1), "type": lab,
                             "type_index": k, **{key: v[k] for key, v in lists.items()}})
    df = pd.DataFrame(rows)
    if not df.empty:
        df["expected_regret"] = df["expected_regret"].astype(float)
    return df
