r"""Tie-breaking among optimal decisions of a finite MDP (docs/efficient.md#tie-breaking).

A dynamic program determines the optimal *values* uniquely, but not the optimal
*decisions*: at a state where several decisions reach the maximum of

.. math::  Q_t(s, a) = R_t(s, a) + \delta \sum_{s'} P_t(s' \mid s, a)\, W_{t+1}(s'),

every choice among them is optimal, and the mechanisms built on the policy (team, pivot,
balanced, contingent transfers) differ with the choice.  A :class:`TieBreak` states the rule:

* ``"lowest"`` — the decision listed first (the default);
* ``"highest"`` — the decision listed last;
* an explicit order — a list of decision labels, the first tied one in the list wins;
* ``"uniform"`` — a fair lottery over the tied decisions: the policy becomes a
  randomisation :math:`x_t(a \mid s) = 1/|A^*_t(s)|` on the tied set :math:`A^*_t(s)`, and its
  value :math:`\sum_a x_t(a\mid s) Q_t(s,a)` equals :math:`W_t(s)` up to the tolerance.

Two decisions tie at ``s`` when :math:`Q_t(s,a) \ge \max_b Q_t(s,b) - \varepsilon\,S_t` with
:math:`\varepsilon` = :data:`TIE_RTOL` (``1e-9``) and the scale
:math:`S_t = \max(\text{payoff scale}, \max_{s,a}|Q_t(s,a)|)` — relative to the size of the
payoffs, so that rescaling utilities does not change which decisions tie.

:func:`backward_induction` solves a finite horizon under a rule; :func:`stationary_policy`
applies a rule to the optimal values of a stationary problem and evaluates the chosen
(possibly randomised) policy exactly, :math:`v = (I - \delta P_x)^{-1} r_x` (Puterman §6.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from dmd_opt.core import validation as V
from dmd_opt.core.errors import ModelError
from dmd_opt.dp import mdp

TIE_RULES = ("lowest", "highest", "uniform")
TIE_RTOL = 1e-9


@dataclass(frozen=True)
class TieBreak:
    """A tie rule: ``rule`` is ``lowest``, ``highest``, ``uniform`` or ``order`` (then ``order``
    lists decision labels, most preferred first); ``rtol`` is the relative tie tolerance."""

    rule: str = "lowest"
    order: tuple[str, ...] = ()
    rtol: float = TIE_RTOL

    @property
    def randomised(self) -> bool:
        return self.rule == "uniform"

    @property
    def spec(self):
        """The option's value as a user writes it (``"uniform"`` or a list of labels)."""
        return list(self.order) if self.rule == "order" else self.rule

    def ranks(self, labels: Sequence[str]) -> np.ndarray:
        """(A,) preference rank of each decision (lower wins) for a deterministic rule."""
        A = len(labels)
        if self.rule == "highest":
            return np.arange(A)[::-1].copy()
        if self.rule == "order":
            pos = {lab: k for k, lab in enumerate(self.order)}
            return np.array([pos[str(lab)] for lab in labels], dtype=np.int64)
        return np.arange(A)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"rule": self.rule, "tolerance": self.rtol,
                               "tolerance_scale": "max(payoff scale, largest |Q| of the period)"}
        if self.rule == "order":
            out["order"] = list(self.order)
        return out

    def describe(self) -> str:
        what = {"lowest": "the first-listed decision", "highest": "the last-listed decision",
                "uniform": "a uniform lottery over the tied decisions"}.get(self.rule)
        if what is None:
            what = "the first of the order " + ", ".join(self.order)
        return f"ties (within {self.rtol:g} × scale) go to {what}"


def tie_break(value: Any = None, field: str = "solve.tie_break",
              labels: Sequence[Sequence[str]] | None = None) -> TieBreak:
    """Validate a tie rule: ``None`` (→ lowest), a :class:`TieBreak`, one of :data:`TIE_RULES`,
    or a list of decision labels.  With ``labels`` (the decision labels of every period) an
    order must name each label exactly once."""
    if value is None:
        return TieBreak()
    if isinstance(value, TieBreak):
        tb = value
    elif isinstance(value, str):
        tb = TieBreak(V.choice(value, field, TIE_RULES))
    elif isinstance(value, (list, tuple)):
        names = V.sequence(value, field)
        for k, nm in enumerate(names):
            V.string(nm, V.join(field, k), nonempty=True)
        seen = set()
        for k, nm in enumerate(names):
            if nm in seen:
                raise ModelError(V.join(field, k), f"decision {nm!r} listed twice")
            seen.add(nm)
        tb = TieBreak("order", tuple(names))
    else:
        raise ModelError(field, f"expected 'lowest', 'highest', 'uniform' or a list of decision labels, "
                                f"got {V.type_name(value)} {V.show(value)}")
    if tb.rule == "order" and labels is not None:
        known = {str(lab) for labs in labels for lab in labs}
        for k, nm in enumerate(tb.order):
            if nm not in known:
                raise ModelError(V.join(field, k), f"unknown decision {nm!r}; decisions: {', '.join(sorted(known))}")
        missing = sorted(known - set(tb.order))
        if missing:
            raise ModelError(field, f"an order must list every decision; missing {', '.join(map(repr, missing))}")
    return tb


def select(Q: np.ndarray, tb: TieBreak, labels: Sequence[str], scale: float = 1.0):
    """Apply ``tb`` to the Q-values (S, A) (−inf = infeasible).

    Returns ``(decision, lottery, tied)``: ``decision`` (S,) the chosen decision (under
    ``uniform``, the first-listed tied one, a representative), ``lottery`` (S, A) the chosen
    randomisation (one-hot for a deterministic rule), ``tied`` (S, A) the tied sets."""
    finite = np.isfinite(Q)
    best = np.max(np.where(finite, Q, -np.inf), axis=1)
    size = float(np.max(np.abs(np.where(finite, Q, 0.0)))) if Q.size else 0.0
    tol = tb.rtol * max(float(scale), size, 1e-300)
    tied = finite & (Q >= best[:, None] - tol)
    S, A = Q.shape
    if tb.randomised:
        decision = np.argmax(tied, axis=1)
        lottery = tied / tied.sum(axis=1, keepdims=True)
    else:
        r = tb.ranks(labels)
        decision = np.argmin(np.where(tied, r[None, :], np.iinfo(np.int64).max), axis=1)
        lottery = np.zeros((S, A))
        lottery[np.arange(S), decision] = 1.0
    return decision.astype(np.int64), lottery, tied


def lottery_value(Q: np.ndarray, lottery: np.ndarray) -> np.ndarray:
    """(S,): Σ_a x(a|s) Q(s, a), with infeasible decisions (probability 0) left out."""
    return np.sum(np.where(lottery > 0, lottery * np.where(np.isfinite(Q), Q, 0.0), 0.0), axis=1)


@dataclass
class TiedPolicy:
    """``decision[t]`` (S_t,), ``lottery[t]`` (S_t, A_t), ``values`` [W_0, …, W_{T-1}, terminal],
    ``tied_states`` the number of (period, state) pairs with more than one optimal decision."""

    decision: list[np.ndarray]
    lottery: list[np.ndarray]
    values: list[np.ndarray]
    tied_states: int


def backward_induction(R: Sequence[np.ndarray], P: Sequence, delta: float, tb: TieBreak,
                       labels: Sequence[Sequence[str]], scale: float = 1.0, terminal=None) -> TiedPolicy:
    """Finite-horizon DP as :func:`dmd_opt.dp.mdp.backward_induction` (same ``R``, ``P``
    layout), choosing among tied decisions by ``tb``; ``labels[t]`` names period t's decisions.
    ``W_t`` is the value of the chosen policy (equal to the optimum up to the tolerance)."""
    T = len(R)
    v = np.zeros(1) if terminal is None else np.asarray(terminal, float)
    dec, lot, vals = [None] * T, [None] * T, [None] * T
    n_tied = 0
    for t in range(T - 1, -1, -1):
        Rt = np.asarray(R[t], float)
        S, A = Rt.shape
        Pt = mdp.as_transition(P[t], S, A, v.shape[0], field_name=f"P[{t}]")
        Q = mdp.bellman_operator(Rt, Pt, float(delta), v)
        dec[t], lot[t], tied = select(Q, tb, labels[min(t, len(labels) - 1)], scale)
        n_tied += int(np.count_nonzero(tied.sum(axis=1) > 1))
        v = lottery_value(Q, lot[t])
        vals[t] = v
    return TiedPolicy(dec, lot, vals + [np.asarray(terminal if terminal is not None else np.zeros(1), float)], n_tied)


def stationary_policy(R: np.ndarray, P, delta: float, values: np.ndarray, tb: TieBreak,
                      labels: Sequence[str], scale: float = 1.0) -> TiedPolicy:
    """Apply ``tb`` to the optimal ``values`` of a stationary discounted MDP and evaluate the
    chosen (possibly randomised) stationary policy exactly."""
    R = np.asarray(R, float)
    S, A = R.shape
    Pm = mdp.as_transition(P, S, A)
    Q = mdp.bellman_operator(R, Pm, float(delta), np.asarray(values, float))
    dec, lot, tied = select(Q, tb, labels, scale)
    if not tb.randomised:
        v = mdp.policy_value(R, Pm, delta, dec)
    else:
        X = sp.csr_matrix((lot.ravel(), (np.repeat(np.arange(S), A), np.arange(S * A))), shape=(S, S * A))
        M = sp.identity(S, format="csr") - float(delta) * sp.csr_matrix(X @ Pm)
        rx = lottery_value(R, lot)
        if S <= 4000:
            v = np.linalg.solve(M.toarray(), rx)
        else:
            import scipy.sparse.linalg as spla   # only for large randomised policies
            v = spla.spsolve(M.tocsc(), rx)
    return TiedPolicy([dec], [lot], [v], int(np.count_nonzero(tied.sum(axis=1) > 1)))
