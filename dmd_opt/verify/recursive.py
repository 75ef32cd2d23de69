r"""Verifier of recursive (promised-utility) contracts: IC and promise keeping at every state.

A recursive contract for one agent with types :math:`\theta \in \{\theta_1..\theta_K\}`
(i.i.d. with law :math:`\pi`, or Markov with :math:`P(\theta'\mid\theta)`) is, at every state
:math:`s` — a promised utility :math:`v_s` (ex ante) or a vector :math:`U_s` (one promise per
current type) — and every report :math:`k`, an expected flow payoff :math:`F_s(k, \theta)` for
the true type :math:`\theta` and an expected continuation promise :math:`w_s(k)` (ex ante) or
:math:`W_s(k) \in \mathbb R^K` (by next type).  Under truthful reporting from tomorrow on, type
:math:`\theta` reporting :math:`k` gets

.. math::

    G_s(k, \theta) = F_s(k,\theta) + \beta\, E[w_s(k)]
    \quad\text{or}\quad F_s(k,\theta) + \beta \sum_{\theta'} P(\theta'\mid\theta) W_s(k)_{\theta'},

(Thomas and Worrall 1990; Fernandes and Phelan 2000 for the Markov case).  The verifier checks

* **IC** (temporary incentive compatibility): regret :math:`\max_k G_s(k,\theta) - G_s(\theta,\theta) \ge 0`;
* **promise keeping**: :math:`|\sum_\theta \pi_\theta G_s(\theta,\theta) - v_s|` (ex ante) or
  :math:`\max_\theta |G_s(\theta,\theta) - U_{s,\theta}|` (by type).

If promises are kept at every state and no state has a profitable one-shot misreport, truth-telling
is optimal (one-shot deviation principle; continuations are lotteries over states, each of which
keeps its promise).  For one agent ex-post and Bayesian IC coincide, so every notion runs the same
check.  Only the contract's own numbers are used (no LP).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dmd_opt.core.display import fmt
from dmd_opt.verify.report import ReportHead


@dataclass(repr=False)
class RecursiveReport(ReportHead):
    """IC regret and promise-keeping residual of a recursive contract (module docstring)."""

    max_regret: float
    promise_keeping: float             # largest promise-keeping residual over the states
    by_stage: list[dict]
    worst: dict
    scale: float
    revenue: float
    welfare: float
    notion: str = "bayesian"
    budget_max_imbalance: float = 0.0  # no budget constraint in a recursive contract
    extra: dict = field(default_factory=dict)

    @property
    def max_regret_on_path(self) -> float:
        return self.max_regret         # every grid state can be reached by a continuation lottery

    def ir_violation(self, participation: str) -> float:
        """The contracts have no participation constraint beyond the promise itself: 0."""
        return 0.0

    def passed(self, participation: str | None = None, tol: float = 1e-7, budget_balance: bool = False) -> bool:
        """Regret and promise-keeping residual within ``tol × scale``."""
        return bool(super().passed(participation, tol, budget_balance) and self.promise_keeping <= tol * self.scale)

    def to_dict(self) -> dict:
        return {**self.head_numbers(), "promise_keeping": self.promise_keeping, "by_stage": self.by_stage,
                "worst": self.worst, **self.extra}

    def summary_lines(self) -> list[str]:
        w = self.worst
        lines = [f"recursive contract: max IC regret {fmt(self.max_regret, 3, self.scale)}, promise-keeping "
                 f"residual {fmt(self.promise_keeping, 3, self.scale)} (payoff scale {fmt(self.scale)})"]
        if w and self.max_regret > 0:
            lines.append(f"  worst: {w['stage']}, state {fmt(w['state'])}, true type {w['true_type']} reporting "
                         f"{w['report']} gains {fmt(w['regret'], 3, self.scale)}")
        return lines


def _payoffs(stage, transition: np.ndarray, beta: float) -> np.ndarray:
    """(S, k, θ): flow plus β × the continuation promise the true type values."""
    F = np.where(np.isnan(stage.flow), -np.inf, stage.flow)
    W = stage.continuation                                           # (S, K, d)
    if W.shape[-1] == 1:
        cont = np.broadcast_to(W[:, :, :1], F.shape)
    else:
        cont = np.einsum("skn,tn->skt", W, transition)               # next-type law of the true type
    return F + beta * cont


def verify_recursive(mech, notion: str = "bayesian") -> RecursiveReport:
    """Check every stage of a recursive contract (``form = "recursive"``; module docstring).

    ``mech.stages``: objects with ``name``, ``states`` (S,) or (S, K), ``flow`` (S, K, K) and
    ``continuation`` (S, K, d); ``mech.transition`` (K, K), ``mech.prior`` (K,), ``mech.beta``,
    ``mech.type_labels``, ``mech.payoff_scale``."""
    best = {"regret": -np.inf}
    reg_all, pk_all, by_stage = 0.0, 0.0, []
    for stage in mech.stages:
        G = _payoffs(stage, np.asarray(mech.transition, float), mech.beta)
        K = G.shape[1]
        truth = G[:, np.arange(K), np.arange(K)]                     # (S, θ)
        reg = G.max(axis=1) - truth
        states = np.asarray(stage.states, float)
        if states.ndim == 1:
            pk = np.abs(truth @ np.asarray(mech.prior, float) - states)
        else:
            pk = np.max(np.abs(truth - states), axis=1)
        r, p = float(reg.max()), float(pk.max())
        reg_all, pk_all = max(reg_all, r), max(pk_all, p)
        by_stage.append({"stage": stage.name, "max_regret": max(0.0, r), "promise_keeping": p})
        if r > best["regret"]:
            s, th = np.unravel_index(int(np.argmax(reg)), reg.shape)
            best = {"stage": stage.name, "state": states[s].tolist(), "true_type": mech.type_labels[th],
                    "report": mech.type_labels[int(np.argmax(G[s, :, th]))], "regret": r}
    return RecursiveReport(max(0.0, reg_all), pk_all, by_stage, best, mech.payoff_scale,
                           mech.revenue(), mech.welfare(), notion)
