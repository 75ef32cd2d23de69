r"""Liu's dynamic winner-pay auction (slides §3.3, "Indirect implementation with auctions").

One object per period, bidders :math:`i = 1..N` with symmetric interdependent values
:math:`v^i(\theta) = \theta^i + \gamma\sum_{j\ne i}\theta^j`, signals that evolve independently of
the allocation.  For :math:`\gamma > 1` the efficient winner has the *lowest* signal
(:math:`v^i - v^k = (1-\gamma)(\theta^i - \theta^k)`), and no standard auction is efficient.
With :math:`\beta = 1 + \gamma(N-1)` and :math:`\eta^{-i}` solving Liu's condition (2)

.. math:: \tfrac1N\sum_j \theta^j_t = \sum_{\theta^{-i}_{t+1}} \eta^{-i}(\theta^{-i}_{t+1})\,
          \mu^{-i}(\theta^{-i}_{t+1}\mid\theta_t)

(a pseudo-inverse solve per :math:`\theta^{-i}_t`, as in Lemma A.4), the auction is:
lowest bid wins (ties to the lowest index); the winner pays the second-lowest bid
:math:`b^{(2)}_t = \min_{k\ne i} b^k_t` now and, next period,

.. math:: r^i_{t+1} = \frac{N\gamma}{\delta}\Big[\eta^{-i}\big(b^{-i}_{t+1}/\beta\big) - b^{(2)}_t/\beta\Big].

(The slide's ":math:`b^j_t`" is the second-lowest bid: with it the winner's surplus is
:math:`(\gamma-1)(\theta^{(2)}-\theta^i)`, exactly the efficiency gain, so bidding
:math:`\beta\theta^i` is an ex-post best response.)  This module verifies that on a discrete
model by enumeration — every profile, every bid on a dense grid, others bidding
:math:`\beta\theta` now and next period — and compares the repeated standard second-price
auction: its equilibrium :math:`b = \beta\theta` (highest wins) loses welfare when
:math:`\gamma > 1`, and an LP on :class:`~dmd_opt.optim.program.Program` shows that *no* symmetric
bid function makes it efficient in ex-post equilibrium (infeasible, with a Farkas ray),
while for :math:`\gamma < 1` the same LP is feasible.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dmd_opt.core.errors import ModelError
from dmd_opt.optim.program import Program
from dmd_opt.solvers import solve
from dmd_opt.families.contingent.environment import ContingentEnvironment
from dmd_opt.families.contingent.policy import efficient_policy


def _check(env: ContingentEnvironment) -> float:
    val = env.meta.get("valuation", {})
    if val.get("kind") != "linear":
        raise ModelError("valuation", "the winner-pay auction needs valuation = {kind = \"linear\", gamma = ...}")
    if any(not np.array_equal(s, env.signals[0]) for s in env.signals):
        raise ModelError("agents", "the symmetric auction needs the same signal grid for every bidder")
    for t in range(env.steps):
        K = env.kernel(t)
        if np.max(np.abs(K - K[:1])) > 1e-12:
            raise ModelError("joint_transition", "the auction example needs signals that do not depend on the allocation")
    return float(val["gamma"])


def eta(env: ContingentEnvironment, i: int, t: int = 0):
    """(R^{-i}, R'^{-i}) :math:`\\eta^{-i}(\\theta^{-i}_{t+1};\\theta^{-i}_t)` and the residual of condition (2)."""
    MT = env.others_marginal(t, i)[0]                          # (R^-i, n_i, R'^-i)
    vals = env.signals[0][env.digits]                          # (R, N) signal values
    target = (vals.mean(axis=1))[env.profile_of(i)]            # (R^-i, n_i)
    e = np.einsum("ons,os->on", np.linalg.pinv(MT), target)
    res = float(np.max(np.abs(np.einsum("osn,on->os", MT, e) - target)))
    return e, res


@dataclass
class AuctionReport:
    gamma: float
    beta: float
    eta_residual: float
    winner_pay_regret: float            # max over profiles, bidders, bids of the one-shot gain
    winner_pay_efficient: bool
    best_response_intervals: list       # per own signal: (lo, hi) open interval of optimal bids
    slope_range: tuple                  # slopes c with c·θ a best response against βθ for all θ
    welfare_efficient: float
    welfare_winner_pay: float
    welfare_second_price: float
    second_price_regret: float          # regret of βθ in the standard repeated SPA
    second_price_efficient_lp: str      # status of "an efficient symmetric SPA equilibrium exists"
    farkas_ray: list | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def summary(self) -> list[str]:
        lo, hi = self.slope_range
        return [f"winner-pay auction: γ = {self.gamma:g}, equilibrium bid β·θ with β = 1+γ(N−1) = {self.beta:g}; "
                f"condition (2) residual {self.eta_residual:.2g}",
                f"  ex-post regret of β·θ (all profiles, dense bid grid): {self.winner_pay_regret:.3g}; "
                f"allocation efficient: {self.winner_pay_efficient}",
                f"  slopes c with c·θ a best response to β·θ: ({lo:g}, {hi:g})",
                f"  welfare: efficient {self.welfare_efficient:.6g}, winner-pay {self.welfare_winner_pay:.6g}, "
                f"repeated second-price {self.welfare_second_price:.6g}",
                f"  repeated second-price auction: β·θ regret {self.second_price_regret:.3g}; "
                f"efficient symmetric ex-post equilibrium LP: {self.second_price_efficient_lp}"]


def _winner(bids: np.ndarray, lowest: bool) -> np.ndarray:
    """Index of the winning bid per row (ties to the lowest index)."""
    return np.argmin(bids, axis=1) if lowest else np.argmax(bids, axis=1)


def second_price_efficiency_program(env: ContingentEnvironment, gamma: float) -> Program:
    r"""LP feasibility: a symmetric bid function :math:`b(\theta_k)` under which the standard
    second-price auction (highest bid wins, pays the highest other bid) allocates efficiently
    and is an ex-post equilibrium of the stage game at every profile with a unique efficient
    winner w (the repeated game has no intertemporal link without contingent transfers):
    ``order``: :math:`b(\theta^w) \ge b(\theta^l)`; ``winner``: :math:`v^w - \max_{k\ne w} b(\theta^k) \ge 0`
    — written :math:`v^w - b(\theta^k) \ge 0` for the (any) highest loser; ``loser``:
    :math:`v^l - b(\theta^w) \le 0`."""
    grid = env.signals[0]
    K = grid.size
    prog = Program(name="efficient symmetric second-price equilibrium", sense="min")
    b = prog.add_variables("bid", (K,))
    vals = env.digits                                         # (R, N) signal indices
    u = env.utility                                           # (N, A=N, R)
    rows_o, rows_w, rows_l = [], [], []
    for k in range(env.R):
        v = np.array([u[i, i, k] for i in range(env.N)])
        w = int(np.argmax(v))
        if np.sum(np.isclose(v, v[w])) > 1:
            continue                                          # ties: either winner is efficient
        for l in range(env.N):
            if l == w:
                continue
            rows_o.append((vals[k, w], vals[k, l], k, l))
            rows_l.append((vals[k, w], v[l], k, l))
        # the winner pays the highest other bid: one row per other bidder (each could be highest)
        for l in range(env.N):
            if l != w:
                rows_w.append((vals[k, l], v[w], k, w))
    n = len(rows_o)
    if n:
        o = np.array(rows_o)
        prog.add_constraints("order", n, np.repeat(np.arange(n), 2), b[o[:, :2].astype(int)].ravel(),
                             np.tile([1.0, -1.0], n), 0.0, np.inf, history=o[:, 2], agent=o[:, 3])
        lw = np.array(rows_w)
        prog.add_constraints("winner", len(rows_w), np.arange(len(rows_w)), b[lw[:, 0].astype(int)],
                             np.ones(len(rows_w)), -np.inf, lw[:, 1], history=lw[:, 2], agent=lw[:, 3])
        ll = np.array(rows_l)
        prog.add_constraints("loser", len(rows_l), np.arange(len(rows_l)), b[ll[:, 0].astype(int)],
                             np.ones(len(rows_l)), ll[:, 1], np.inf, history=ll[:, 2], agent=ll[:, 3])
    prog.set_objective(np.zeros(K), sense="min")
    prog.meta["gamma"] = gamma
    return prog


def winner_pay_auction(env: ContingentEnvironment, backend: str = "highs", bid_grid: int = 400) -> AuctionReport:
    """Verify the dynamic winner-pay auction and compare the repeated second-price auction."""
    gamma = _check(env)
    N, R, d = env.N, env.R, env.discount
    beta = 1.0 + gamma * (N - 1)
    grid = env.signals[0]
    vals = grid[env.digits]                                   # (R, N)
    K = env.kernel(0)[0]                                      # (R, R'), allocation independent
    etas = [eta(env, i) for i in range(N)]
    eta_res = max(r for _, r in etas)
    pol = efficient_policy(env)
    eq_bids = beta * vals                                     # (R, N)
    lo_b, hi_b = beta * grid.min() - 1.0, beta * grid.max() + 1.0
    cand = np.unique(np.concatenate([np.linspace(lo_b, hi_b, bid_grid), beta * grid,
                                     beta * grid - 1e-9, beta * grid + 1e-9]))
    regret = 0.0
    intervals = []
    for i in range(N):
        oi = env.others_index(i)
        e_i = etas[i][0]                                      # (R^-i, R'^-i)
        sec = np.min(np.delete(eq_bids, i, axis=1), axis=1)   # second-lowest bid if i wins, per profile
        # expected next-period contingent payment of a winner, from the rule itself:
        # r = Nγ/δ [η(b'^{-i}/β ; b^{-i}/β) − b^(2)/β], others bidding β θ' next period
        Er = (N * gamma / d) * (np.einsum("kq,kq->k", K, e_i[oi][:, oi]) - sec / beta)
        v = vals[:, i] + gamma * (vals.sum(axis=1) - vals[:, i])
        win_payoff = v - sec - d * Er                         # per profile
        others = np.delete(eq_bids, i, axis=1)
        pay = np.zeros((R, cand.size))
        for c, bid in enumerate(cand):
            bids = np.insert(others, i, bid, axis=1)
            pay[:, c] = np.where(_winner(bids, True) == i, win_payoff, 0.0)
        eq = np.where(_winner(eq_bids, True) == i, win_payoff, 0.0)
        regret = max(regret, float(np.max(pay.max(axis=1) - eq)))
        if i == 0:
            opt = pay >= pay.max(axis=1, keepdims=True) - 1e-12   # (R, bids) optimal bids per profile
            for s in range(grid.size):
                rows = env.digits[:, i] == s
                ok = np.all(opt[rows], axis=0)
                if not ok.any():
                    intervals.append((np.nan, np.nan))
                    continue
                lo, hi = float(cand[ok].min()), float(cand[ok].max())   # grid ends stand for ±∞
                intervals.append((-np.inf if lo == cand[0] else lo, np.inf if hi == cand[-1] else hi))
    slopes = [(lo / g if g > 0 else -np.inf, hi / g if g > 0 else np.inf) for (lo, hi), g in zip(intervals, grid)]
    slope_range = (max(s[0] for s in slopes), min(s[1] for s in slopes))
    # allocations and welfare
    welfare_of = lambda alloc: float(env.initial @ np.linalg.solve(np.eye(R) - d * K, vals[np.arange(R), alloc] * (1 - gamma) + gamma * vals.sum(axis=1)))  # noqa: E731
    wp_alloc = _winner(eq_bids, True)
    spa_alloc = _winner(eq_bids, False)
    eff_v = env.welfare_flow(0)
    efficient = bool(np.all(np.isclose(eff_v[np.arange(R), wp_alloc], eff_v.max(axis=1))))
    # standard SPA: regret of β θ (highest wins, pays highest other bid), stage game
    spa_reg = 0.0
    for i in range(N):
        others = np.delete(eq_bids, i, axis=1)
        hi_other = others.max(axis=1)
        v = vals[:, i] + gamma * (vals.sum(axis=1) - vals[:, i])
        eq = np.where(spa_alloc == i, v - hi_other, 0.0)
        for bid in cand:
            bids = np.insert(others, i, bid, axis=1)
            spa_reg = max(spa_reg, float(np.max(np.where(_winner(bids, False) == i, v - hi_other, 0.0) - eq)))
    prog = second_price_efficiency_program(env, gamma)
    sol = solve(prog, backend=backend)
    ray = None if sol.dual_ray is None else np.asarray(sol.dual_ray).tolist()
    return AuctionReport(gamma, beta, eta_res, regret, efficient, intervals, slope_range,
                         pol.expected_welfare(), welfare_of(wp_alloc), welfare_of(spa_alloc), spa_reg,
                         sol.status, ray, {"eta": [e.tolist() for e, _ in etas],
                                           "winner_by_profile": wp_alloc.tolist(),
                                           "second_price_winner_by_profile": spa_alloc.tolist()})
