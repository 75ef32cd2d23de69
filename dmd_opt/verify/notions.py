r"""One entry for every verifier: ``verify(mechanism, notion=...)``.

Incentive notions, for an agent :math:`i` whose opponents report truthfully:

``"bayesian"``
    Bayesian IC: at every information state, truth-telling maximises i's expected payoff
    given its beliefs about the others' types (deviations may span several periods).
``"expost"``
    within-period ex-post IC (Bergemann and Välimäki 2010, §3): along every truthful history,
    truth-telling is optimal for every realisation of the others' current types.
``"periodic_expost"``
    periodic ex-post IC (Liu): the same at *every* public history, including those after
    a lie.

The verifier sees data, never classes: it dispatches on the ``form`` of the rules and on the
environment's flags (:mod:`dmd_opt.core.model`):

=================  ====================================================  =========================================
form               ``"bayesian"``                                          ``"expost"`` / ``"periodic_expost"``
=================  ====================================================  =========================================
``"tree"``         :func:`~dmd_opt.verify.bayesian.verify_bayesian`        :func:`~dmd_opt.verify.expost.verify_tree`;
                   (independent private values, decision-free law;         ``"periodic_expost"`` of quantity models
                   any disclosure, quantity models,                        and one-period private rules and
                   own-history utilities) else                             own-history utilities:
                   :func:`~dmd_opt.verify.expost.verify_tree`              :func:`~dmd_opt.verify.bayesian.verify_bayesian`
``"markov"``       :func:`~dmd_opt.verify.expost.verify_dynamic`           ``"expost"``: :func:`~dmd_opt.verify.expost.verify_dynamic`;
                                                                           ``"periodic_expost"``:
                                                                           :func:`~dmd_opt.verify.periodic.periodic_expost`
``"recursive"``    :func:`~dmd_opt.verify.recursive.verify_recursive`      the same (one agent: ex post = Bayesian)
=================  ====================================================  =========================================

Every report shares the head of :mod:`dmd_opt.verify.report` (``notion``, ``max_regret``,
``max_regret_on_path``, ``ir_violation``, ``budget_max_imbalance``, ``passed``).
"""

from __future__ import annotations

from dmd_opt.verify.bayesian import verify_bayesian
from dmd_opt.verify.expost import verify_dynamic, verify_tree
from dmd_opt.verify.periodic import periodic_expost
from dmd_opt.verify.recursive import verify_recursive

NOTIONS = ("bayesian", "expost", "periodic_expost")


def verify(mechanism, notion: str = "bayesian"):
    """Verify ``mechanism`` under ``notion`` (see the module docstring); returns its report."""
    if notion not in NOTIONS:
        raise ValueError(f"notion must be one of {', '.join(NOTIONS)}, got {notion!r}")
    form = getattr(mechanism, "form", None)
    if form == "tree":
        if notion == "bayesian" and _tree_dp_applies(mechanism):
            return verify_bayesian(mechanism)
        if notion == "periodic_expost" and _tree_dp_expost(mechanism):
            return verify_bayesian(mechanism, notion)
        return verify_tree(mechanism, notion)
    if form == "markov":
        if notion == "periodic_expost":
            return periodic_expost(mechanism)
        return verify_dynamic(mechanism, notion)
    if form == "recursive":
        return verify_recursive(mechanism, notion)
    raise TypeError(f"cannot verify a {type(mechanism).__name__}: it has no rules of a known form "
                    f"(form {form!r}; expected 'tree', 'markov' or 'recursive')")


def _tree_dp_expost(mechanism) -> bool:
    """The tree DP also checks periodic ex-post IC where the joint-kernel verifier cannot: the
    quantity family, utilities of the own type history, and one-period rules of private
    disclosure (the same as public then)."""
    env = mechanism.env
    history = bool(getattr(env, "reads_own_history", False))
    if getattr(env, "quantity", None) is None and getattr(mechanism, "disclosure", "public") == "public" \
            and not history:
        return False
    one_period = len(mechanism.allocation) == 1
    return env.independent and (one_period or getattr(mechanism, "disclosure", "public") == "public")


def _tree_dp_applies(mechanism) -> bool:
    """The Bayesian tree DP needs per-agent Markov types, private values, a decision-free law;
    it is the only check of private disclosure and of the quantity family."""
    env = mechanism.env
    if not env.independent:
        return False          # beliefs depend on the agent's own types: the joint-kernel verifier
    if getattr(mechanism, "disclosure", "public") == "private" or getattr(env, "quantity", None) is not None \
            or getattr(env, "reads_own_history", False):
        return True
    return env.independent and not env.interdependent and not env.decision_dependent
