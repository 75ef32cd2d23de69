r"""Contingent transfers for a randomised efficient policy (a uniform lottery over tied decisions).

When the efficient policy draws the decision from a lottery :math:`\ell(\cdot \mid r_t)` over
tied efficient decisions, the transfers of Liu §3 are computed with the lottery in place of
the decision.  Agent i reporting r with true signal s then gets, in expectation over the draw,

.. math::

    \sum_a \ell_r(a)\, u^i(a, \theta), \qquad
    \mu^{-i}_\ell(\cdot \mid \theta) = \sum_a \ell_r(a)\, \mu^{-i}(\cdot \mid a, \theta),

so each lottery that the policy uses acts as one more *decision* whose utilities and
transition are the mixtures: the equations of Theorem 3.2,
:math:`\delta (M^{-i}_\ell)^\top p = -\tilde u^{-i}_\ell`, with
:math:`M^{-i}_\ell = \sum_a \ell(a) M^{-i}_a` and :math:`\tilde u^{-i}_\ell = \sum_a \ell(a)\tilde u^{-i}_a`,
make i's expected payoff from any report the social value :math:`\sum_a \ell_r(a) Q(a, \theta)`
of the lottery chosen at the true state, at most :math:`W(\theta)` and equal to it under truth
(every tied decision reaches the maximum).  The transfer is indexed by the previous report
profile (through the lottery), not by the realised decision.

:func:`lottery_environment` builds that environment (the original decisions first, then one
decision per lottery in use); the whole pipeline (diagnostics, last period, VCG-type or
report-dependent transfers) runs on it unchanged, and :func:`to_lotteries` moves the resulting
mechanism back onto the original decisions, where it is verified.
"""

from __future__ import annotations

import numpy as np

from dmd_opt.families.contingent.environment import ContingentEnvironment
from dmd_opt.families.contingent.mechanism import ContingentMechanism
from dmd_opt.families.contingent.policy import ContingentPolicy


def lottery_environment(env: ContingentEnvironment, policy: ContingentPolicy):
    """``(env_l, policy_l, L)``: the environment whose decisions are env's decisions followed by
    the distinct non-degenerate lotteries of ``policy``; ``L`` (|A'|, |A|) the lotteries as rows
    (identity first); ``policy_l`` the deterministic policy over them (same values)."""
    A = env.n_decisions(0)
    rows = np.concatenate(policy.lottery, axis=0)
    mixed = rows[(rows > 0).sum(axis=1) > 1]
    extra = np.unique(np.round(mixed, 15), axis=0) if mixed.size else np.zeros((0, A))
    L = np.vstack([np.eye(A), extra])
    labels = list(env.decisions(0))
    for row in extra:
        labels.append("lottery(" + ", ".join(f"{labels[a]}: {row[a]:.4g}" for a in np.flatnonzero(row > 0)) + ")")
    utility = np.einsum("ka,nar->nkr", L, env.utility)
    kernels = [np.einsum("ka,ars->krs", L, K) for K in env.kernels]
    env_l = ContingentEnvironment(env.signals, labels, utility, env.initial, kernels, env.discount, env.horizon,
                                  env.last_period, env.last_decision, env.agent_names, env.signal_labels,
                                  env.name, dict(env.meta or {}))
    key = {tuple(np.round(r, 15)): k for k, r in enumerate(L)}
    dec = [np.array([key[tuple(np.round(r, 15))] for r in x], dtype=np.int64) for x in policy.lottery]
    pol_l = ContingentPolicy(env_l, dec, list(policy.values), policy.method, None, policy.tie_break,
                             policy.tied_profiles)
    return env_l, pol_l, L


def to_lotteries(mech: ContingentMechanism, env: ContingentEnvironment, policy: ContingentPolicy,
                 L: np.ndarray) -> ContingentMechanism:
    """The mechanism of the lottery environment on ``env``'s own decisions: the same payments,
    the allocation the lottery rows of ``L``."""
    n = len(mech.allocation)
    lot = [mech.allocation[t] @ L for t in range(n)]
    dec = list(policy.decision)
    return ContingentMechanism(env, dec, list(mech.payments), mech.name, dict(mech.meta or {}), lottery=lot)
