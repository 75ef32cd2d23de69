r"""The solved recursive contracts as :class:`~dmd_opt.mechanisms.recursive.PromiseMechanism`.

**Thomas–Worrall** (state: the borrower's promised utility :math:`v`).  Report :math:`k` at
:math:`v` brings a transfer lottery :math:`x_k(b)` and a continuation promise :math:`w_k`;
income :math:`\theta` reporting :math:`k` gets :math:`F(k,\theta) = E_{x_k} u(\theta + b)` now
(:math:`-\infty` where consumption would fall to subsistence) and :math:`\beta w_k` later.
The payment *by* the agent is :math:`-b`.  At the initial promise :math:`v_0` (the middle
of the grid, where ``objective`` is read) ``revenue`` is the lender's expected discounted
profit :math:`-C(v_0)`, ``welfare`` the money-metric surplus
:math:`C^{FB}(v_0) - C(v_0) \le 0` (what full insurance of :math:`v_0` would cost minus what the
contract costs: the price of private information), and ``rents`` each income's interim utility.

**Guo–Hörner** (state: ex-ante promise :math:`U`, or :math:`(U_L, U_H)` by current type with
Markov values; one stage per belief regime, i.e. last report).  Report :math:`k` brings the
allocation probability :math:`a_k` — flow :math:`(1-\beta)\theta a_k` to the true value
:math:`\theta` — and a continuation lottery; there is no money (payments are 0, ``revenue`` is 0).
``welfare`` is the principal's optimal value :math:`(1-\beta)E\sum_t\beta^t a_t(v_t - c)`, the
surplus of the allocation, and ``rents`` the agent's utility by first-period value.
"""

from __future__ import annotations

import numpy as np

from dmd_opt.mechanisms.recursive import PromiseMechanism, PromiseStage


class AsMechanism:
    """Mixin for solved contracts: ``mechanism`` (the contract as a PromiseMechanism),
    ``verification`` (its :func:`dmd_opt.verify.recursive.verify_recursive` report, or None when
    nothing was solved) and ``verification_dict(tol)`` (the result record's ``verification``).
    A result class provides ``_contract()`` → PromiseMechanism and ``_solved()`` → bool."""

    @property
    def mechanism(self) -> PromiseMechanism:
        """The contract as a :class:`~dmd_opt.mechanisms.recursive.PromiseMechanism`."""
        return self._contract()

    @property
    def verification(self):
        """IC and promise keeping at every state of every stage, or None when nothing was solved."""
        return self.mechanism.verify() if self._solved() else None

    def verification_dict(self, tol: float = 1e-7) -> dict | None:
        """The record's ``verification``, verdict at ``tol`` × scale."""
        ver = self.verification
        return None if ver is None else ver.record(tol=tol)


def _expected_utility(x: np.ndarray, U: np.ndarray) -> np.ndarray:
    """(S, K, θ): Σ_b x[s, k, b] U[θ, b], −∞ where a lottery puts weight on a non-finite utility."""
    bad = ~np.isfinite(U)
    F = np.einsum("skb,tb->skt", x, np.where(bad, 0.0, U))
    hit = np.einsum("skb,tb->skt", (x > 0).astype(float), bad.astype(float)) > 0
    return np.where(hit, -np.inf, F)


def thomas_worrall_mechanism(res) -> PromiseMechanism:
    """The insurance contract of a :class:`~.thomas_worrall.TWResult` (grid lotteries) or
    :class:`~.thomas_worrall.CARAResult` (closed form evaluated on the grid)."""
    m = res.model
    th, v = np.asarray(m.income, float), np.asarray(res.grid, float)
    with np.errstate(all="ignore"):
        if hasattr(res, "_lotteries"):
            x, lam = res._lotteries()                                       # (S, K, nb), (S, K, nv)
            flow = _expected_utility(x, m.utility(th[:, None] + m.transfer_grid[None, :]))
            b = x @ m.transfer_grid                                         # (S, K)
            w = lam @ m.promise_grid
        else:
            b, w = res.transfers.T, res.continuations.T                     # (S, K)
            flow = m.utility(th[None, None, :] + b[:, :, None])
            flow = np.where(np.isfinite(flow), flow, -np.inf)
    stage = PromiseStage("stationary", v, flow, w[:, :, None], b[:, :, None], -b, -np.asarray(res.cost, float))
    K = th.size
    labels = tuple(f"{t:g}" for t in th)
    prob = np.asarray(m.prob, float)
    v0 = float(res.reference_promise)
    wts = PromiseMechanism._weights(stage, v0)
    truth = flow[:, np.arange(K), np.arange(K)] + m.beta * w                # (S, θ): interim utility
    cost0 = float(res.C(v0))
    evaluation = {"revenue": -cost0, "welfare": float(m.first_best_cost(v0)) - cost0, "rents": wts @ truth}
    finite = np.abs(flow[np.isfinite(flow)])
    scale = max(1.0, float(finite.max()) if finite.size else 1.0, (1 - m.beta) * float(np.max(np.abs(v))))
    return PromiseMechanism(m, [stage], labels, ("transfer",), prob, np.tile(prob, (K, 1)), float(m.beta),
                            v0, evaluation, f"{m.name}: optimal insurance contract", scale,
                            {"method": getattr(res, "method", "")})


def _gh_stage(m, name, states, y, cont, value) -> PromiseStage:
    """One Guo–Hörner Bellman stage from the LP choices ``y`` (S, n_cols) on ``states``."""
    S = len(states)
    a = np.clip(y[:, :2], 0.0, 1.0)
    flow = (1 - m.beta) * a[:, :, None] * m.theta[None, None, :]
    if cont is None:                                                         # last period: no future
        W = np.zeros((S, 2, 1 if not m.markov else 2))
    else:
        G = len(cont)
        lam = y[:, 2:2 + 2 * G].reshape(S, 2, G)
        W = np.einsum("skg,g...->sk...", lam, np.asarray(cont, float))
        W = W[:, :, None] if W.ndim == 2 else W
    return PromiseStage(name, np.asarray(states, float), flow, W, a[:, :, None], np.zeros((S, 2)),
                        np.asarray(value, float))


def guo_horner_mechanism(res) -> PromiseMechanism:
    """The allocation rule of a :class:`~.guo_horner.GHResult` (every stage and belief regime)."""
    m = res.model
    regimes = ["prior"] if not m.markov else ["after report L", "after report H"]
    stages = []
    if res.finite is None:
        for r, lab in enumerate(regimes):
            stages.append(_gh_stage(m, lab, res.states, res.y[r], res.states, res.values[r]))
    else:
        f = res.finite
        for h in range(len(f["grids"]), 0, -1):                            # first period first
            cont = f["grids"][h - 2] if h > 1 else None
            for r, lab in enumerate(regimes):
                stages.append(_gh_stage(m, f"{h} periods left, {lab}", f["grids"][h - 1], f["choices"][h - 1][r],
                                        cont, f["values"][h - 1][r]))
    _, y0, promise = res._first_period()
    first = _gh_stage(m, "first period", np.full((1,) + np.shape(res.states)[1:], np.nan), y0[None, :],
                      res.cont_states, np.zeros(1))
    K = 2
    truth = (first.flow[0, np.arange(K), np.arange(K)]
             + m.beta * (first.continuation[0, :, 0] if not m.markov
                         else np.einsum("kn,kn->k", first.continuation[0], m.P)))
    evaluation = {"revenue": 0.0, "welfare": float(res.objective), "rents": truth}
    return PromiseMechanism(m, stages, ("L", "H"), ("allocate",), np.asarray(m.prior, float),
                            np.asarray(m.P, float), float(m.beta), np.asarray(promise, float).tolist(),
                            evaluation, f"{m.name}: optimal allocation without money", max(1.0, float(m.H)),
                            {"markov": m.markov, "horizon": m.horizon})
