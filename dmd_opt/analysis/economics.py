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

import numpy as np

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
    """The Bayesian verifier's regrets by own type as a DataFrame: agent, period, type,
    probability of the type, ``expected_regret`` (interim: expected over the histories at
    which the agent has that type, truthful play), ``max_regret`` over every history (on and
    off path) with the ``history`` index where it occurs and the ``best_report`` there."""
    import pandas as pd
    rows = []
    for a in report.agents:
        for t, per in enumerate(getattr(a, "by_type", []) or []):
            for k in range(len(per["max_regret"])):
                rows.append({"agent": a.agent, "name": a.name, "period": t + 1, "type": per["types"][k],
                             "type_index": k, "probability": per["probability"][k],
                             "expected_regret": per["expected_regret"][k], "max_regret": per["max_regret"][k],
                             "history": per["history"][k], "best_report": per["best_report"][k],
                             "best_report_index": per["best_report_index"][k]})
    df = pd.DataFrame(rows)
    if not df.empty:
        df["expected_regret"] = df["expected_regret"].astype(float)
        df.loc[~np.isfinite(df["expected_regret"]), "expected_regret"] = np.nan
    return df
