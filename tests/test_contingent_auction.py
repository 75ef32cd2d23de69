"""Liu's dynamic winner-pay auction vs the repeated second-price auction (docs/theory.md#contingent-transfers-with-interdependent-values)."""

from __future__ import annotations

import numpy as np
import pytest

from dmd_opt.families import contingent as C
from dmd_opt.families.contingent.auction import second_price_efficiency_program, winner_pay_auction
from dmd_opt.interfaces.models import read_toml

from conftest import MODELS


def _env(gamma=None, **over):
    raw = read_toml(MODELS / "liu_winner_pay_auction.toml")
    raw.pop("kind")
    raw.pop("solve")
    if gamma is not None:
        raw["valuation"] = {"kind": "linear", "gamma": gamma}
    raw.update(over)
    return C.from_dict(raw)


def test_equilibrium_bid_and_efficiency_gamma_above_one():
    env = _env()
    rep = winner_pay_auction(env)
    assert rep.gamma == 2.0 and rep.beta == pytest.approx(1 + 2.0 * (2 - 1))
    assert rep.eta_residual <= 1e-9                       # Liu's condition (2) holds (spanning)
    assert rep.winner_pay_regret <= 1e-9                  # β θ is an ex-post best response everywhere
    assert rep.winner_pay_efficient
    assert rep.welfare_winner_pay == pytest.approx(rep.welfare_efficient, rel=1e-12)
    # closed form: type θ_k's optimal bids are exactly (β θ_{k-1}, β θ_{k+1}] (ties go to bidder 1)
    lo, hi = zip(*rep.best_response_intervals)
    assert lo[0] == -np.inf and hi[2] == np.inf
    assert lo[1] == pytest.approx(3.0, abs=1e-6) and hi[1] == pytest.approx(9.0, abs=1e-6)
    assert lo[2] == pytest.approx(6.0, abs=1e-6) and hi[0] == pytest.approx(6.0, abs=1e-6)
    for k, th in enumerate([1.0, 2.0, 3.0]):
        assert lo[k] < rep.beta * th <= hi[k]
    # the standard repeated second-price auction: β θ is an equilibrium there too, but the highest
    # signal wins — inefficient for γ > 1 — and no symmetric bid function is efficient (LP infeasible)
    assert rep.second_price_regret <= 1e-9
    assert rep.welfare_second_price < rep.welfare_efficient - 1.0
    assert rep.second_price_efficient_lp == "infeasible" and rep.farkas_ray is not None


def test_second_price_farkas_ray_is_a_valid_certificate():
    env = _env()
    prog = second_price_efficiency_program(env, 2.0)
    from dmd_opt.certificates import check_certificate, make_certificate
    from dmd_opt.solvers import solve
    sol = solve(prog)
    assert sol.status == "infeasible"
    chk = check_certificate(make_certificate(prog, sol), program=prog)
    assert chk.ok, chk.verdict


def test_gamma_below_one_second_price_is_efficient():
    rep = winner_pay_auction(_env(gamma=0.5))
    assert rep.second_price_efficient_lp == "optimal"
    assert rep.welfare_second_price == pytest.approx(rep.welfare_efficient, rel=1e-12)
    assert not rep.winner_pay_efficient                   # lowest-bid-wins is for γ > 1


def test_three_bidders_bid_one_plus_two_gamma():
    rng = np.random.default_rng(7)
    R = 8
    K = rng.dirichlet(np.ones(R), size=R)
    env = C.from_dict({"agents": [{"name": f"b{i}", "signals": [1.0, 2.0]} for i in range(3)],
                       "decisions": "allocate", "valuation": {"kind": "linear", "gamma": 1.5},
                       "discount": 0.8, "horizon": "infinite",
                       "joint_initial": (np.ones(R) / R).tolist(), "joint_transition": K.tolist()})
    rep = winner_pay_auction(env)
    assert rep.beta == pytest.approx(1 + 1.5 * 2)
    assert rep.eta_residual <= 1e-9
    assert rep.winner_pay_regret <= 1e-9 and rep.winner_pay_efficient
    assert rep.welfare_second_price < rep.welfare_efficient


def test_auction_needs_allocation_independent_signals():
    env = _env()
    K = env.kernels[0].copy()
    K[1] = np.roll(K[1], 1, axis=1)
    bad = C.ContingentEnvironment(env.signals, env.decisions(0), env.utility, env.initial, [K], 0.9,
                                  meta=env.meta)
    from dmd_opt.core.errors import ModelError
    with pytest.raises(ModelError, match="joint_transition"):
        winner_pay_auction(bad)
