"""Relational contracts (kind ``relational``): self-generation against independent computations.

* the finite game solved by a direct LP over its public histories (tests/independent_relational.py)
  equals the recursion truncated at the same horizon;
* under commitment the frontier equals the package's Guo–Hörner solver on the same data;
* closed forms of the power-dynamics game: stationary modes, the principal's and the agent's
  worst payoffs, the threshold below which no cooperation is possible;
* every simulated path obeys every enforcement constraint (independent recomputation), leaves
  cooperative empowerment and never returns;
* validation: every bad value is one ModelError naming the field.
"""

from __future__ import annotations

import numpy as np
import pytest

from dmd_opt.core.errors import ModelError
from dmd_opt.families.relational import RelationalModel, StageGame, enumerate_plans, fixed_point, lmp_game
from dmd_opt.interfaces.models import load

from independent_relational import history_lp, stage_equilibria


def model(delta=0.5, n=31, **lmp):
    kw = {"variant": "trust", "B": 2.0, "b": 1.0, "p": 0.3}
    kw.update(lmp)
    return RelationalModel.from_dict({"delta": delta, "lmp": kw, "grid": {"n": n}})


@pytest.fixture(scope="module")
def trust():
    """The shipped power-dynamics model on a coarser grid (C or U at the end)."""
    m = model(0.5, 41)
    res = m.solve()
    res.simulate(T=120, n_paths=10_000, seed=3)
    return res


# ---------------------------------------------------------------------------------------
# finite horizon: the recursion against a direct LP over histories
# ---------------------------------------------------------------------------------------
def coordination_game():
    """Two stage equilibria (both keep quiet, both act) and a tempting private deviation."""
    out = [("lo", "wait", "quiet", (0.0, 0.0)), ("lo", "wait", "act", (-1.0, 0.5)),
           ("hi", "wait", "quiet", (0.0, 0.0)), ("hi", "wait", "act", (1.5, 1.0)),
           ("lo", "go", "quiet", (-0.5, 0.0)), ("lo", "go", "act", (1.0, 0.4)),
           ("hi", "go", "quiet", (0.2, 0.0)), ("hi", "go", "act", (2.0, 1.2))]
    return StageGame.create(["lo", "hi"], [0.5, 0.5], ["wait", "go"], ["quiet", "act"], out, messages=True)


@pytest.mark.parametrize("game,delta", [(lmp_game("trust", 2, 1, 0.3), 0.5),
                                        (lmp_game("trust", 2, 1, 0.5, exposure=0.4), 0.6),
                                        (lmp_game("lecture", 2, 1, 0.6), 0.7),
                                        (coordination_game(), 0.6)], ids=["trust", "trust_x", "lecture", "coord"])
def test_two_period_game_matches_history_lp(game, delta):
    plans = enumerate_plans(game)
    one = fixed_point(plans, delta, 21, horizon=1).W
    pts = stage_equilibria(game) * (1 - delta)
    assert one.U_lo == pytest.approx(pts[:, 0].min(), abs=1e-9)
    assert one.U_hi == pytest.approx(pts[:, 0].max(), abs=1e-9)
    assert one.upper.max() == pytest.approx(pts[:, 1].max(), abs=1e-9)
    two = fixed_point(plans, delta, 21, horizon=2).W
    for j in range(0, two.K, 4):
        exact = history_lp(game, delta, two.grid[j])
        assert exact is not None
        assert two.upper[j] == pytest.approx(exact, abs=1e-8)


# ---------------------------------------------------------------------------------------
# commitment: the package's Guo–Hörner solver on the same data
# ---------------------------------------------------------------------------------------
def test_commitment_matches_guo_horner():
    from dmd_opt.families.recursive.guo_horner import GuoHorner
    L, H, c, beta, q, n = 0.5, 2.0, 1.0, 0.8, 0.5, 21
    gh = GuoHorner.create(L, H, c, beta, q=q, n_grid=n).solve(tol=1e-10)
    out = []
    for s, v in (("L", L), ("H", H)):
        out += [(s, "no", "none", (0.0, 0.0)), (s, "fund", "none", (v - c, v))]
    g = StageGame.create(["L", "H"], [1 - q, q], ["no", "fund"], ["none"], out, messages=True)
    r = fixed_point(enumerate_plans(g), beta, n, enforcement="commitment", randomization="message",
                    special=False, tol=1e-10)
    assert np.abs(r.W.grid - gh.states).max() < 1e-12
    assert np.abs(r.W.upper - gh.values[0]).max() < 1e-7


# ---------------------------------------------------------------------------------------
# closed forms of the power-dynamics game
# ---------------------------------------------------------------------------------------
def test_trust_game_anchors(trust):
    B, b, p = 2.0, 1.0, 0.3
    W = trust.W
    # centralisation (0, 0) and unrestricted empowerment (B, x = 0) are the ends of the frontier
    assert W.U_lo == pytest.approx(0.0, abs=1e-9) and W.upper[0] == pytest.approx(0.0, abs=1e-9)
    assert W.U_hi == pytest.approx(B, abs=1e-9) and W.upper[-1] == pytest.approx(0.0, abs=1e-9)
    assert trust.principal_worst() == pytest.approx(0.0, abs=1e-9)
    # restricted empowerment is not self-enforcing here (δ p b < (1−δ) B): (p b, p B) is outside
    assert not trust.model.anchors()["restricted_self_enforcing"]
    assert float(trust.W.upper_at(p * b)) < p * B - 0.1
    ab = trust.absorbing()
    assert ab[0] and ab[-1]
    assert trust.absorbing_mode(0) == "centralisation"
    assert trust.absorbing_mode(trust.grid.size - 1) == "unrestricted empowerment"
    assert list(trust.modes_at(trust.initial_index)) == ["cooperative empowerment"]


def test_restricted_empowerment_absorbs_when_self_enforcing():
    B, b, p, delta = 2.0, 1.0, 0.6, 0.8
    res = model(delta, 41, p=p).solve()
    assert res.model.anchors()["restricted_self_enforcing"]
    j = int(np.argmin(np.abs(res.grid - p * b)))
    assert res.grid[j] == pytest.approx(p * b, abs=1e-12)          # a stationary mode is a node
    assert res.frontier[j] == pytest.approx(p * B, abs=1e-8)
    assert res.objective == pytest.approx(p * B, abs=1e-8)         # the principal's first best
    sim = res.simulate(T=150, n_paths=2000, seed=1)
    assert sim.absorbing_shares() == {"restricted empowerment": 1.0}
    assert res.check_paths(sim) <= 1e-9


def test_no_cooperation_below_threshold():
    B, b = 2.0, 1.0
    threshold = (B - b) / (2 * B - b)
    low = model(threshold - 0.03, 21).solve()
    high = model(threshold + 0.03, 21).solve()
    assert low.model.anchors()["cooperation_threshold_delta"] == pytest.approx(threshold)
    assert low.objective == pytest.approx(0.0, abs=1e-8)           # starts absorbed
    assert low.absorbing()[low.initial_index]
    assert high.objective > 0.05


def test_lecture_payoffs_cannot_end_in_centralisation():
    m = RelationalModel.from_dict({"delta": 0.6, "grid": {"n": 11},
                                   "lmp": {"variant": "lecture", "B": 2.0, "b": 1.0, "p": 0.4,
                                           "annihilation": -50.0}})
    res = m.solve(tol=1e-8)
    b, B, p = 1.0, 2.0, 0.4
    # she can always take the agent's project herself (b) or hers blindly (p B): her worst payoff
    assert res.principal_worst() == pytest.approx(max(b, p * B), abs=1e-7)
    assert res.W.U_hi == pytest.approx(B, abs=1e-9) and res.frontier[-1] == pytest.approx(b, abs=1e-7)
    assert not res.W.contains(0.0, 0.0)                             # centralisation is no equilibrium
    rho, _, _ = res.policy()
    names = res.plans.names()
    assert all(rho[:, q].max() == 0 for q, nm in enumerate(names) if nm == "centralisation")
    annih = [q for q in range(res.plans.Q) if 3 in res.plans.action[q]]
    assert rho[:, annih].max() == 0                                 # annihilation is never credible
    assert res.check().max_violation < 1e-8


def test_relational_costs_commitment_when_obedience_binds():
    m = RelationalModel.from_dict({"delta": 0.6, "grid": {"n": 11},
                                   "lmp": {"variant": "lecture", "B": 2.0, "b": 1.0, "p": 0.4}})
    rel = m.solve(tol=1e-8)
    com = m.with_enforcement("commitment").solve(tol=1e-8)
    assert com.objective >= rel.objective - 1e-9
    assert com.objective - rel.objective > 1e-3


# ---------------------------------------------------------------------------------------
# dynamics
# ---------------------------------------------------------------------------------------
def test_paths_obey_enforcement_and_polarise(trust):
    sim = trust.simulation
    assert sim.n == 10_000
    assert trust.check_paths() <= 1e-9
    assert (sim.absorbed_at >= 0).all()                            # every path is absorbed
    coop = sim.mode_names.index("cooperative empowerment")
    after = np.arange(sim.T)[None, :] >= sim.absorbed_at[:, None]
    assert not np.any((sim.modes == coop) & after)                 # ... and never cooperates again
    assert sim.modes[:, 0].tolist() == [coop] * sim.n              # the contract starts cooperative
    shares = sim.absorbing_shares()
    assert set(shares) == {"centralisation", "unrestricted empowerment"}
    small = trust.simulate(T=120, n_paths=2_000, seed=11).absorbing_shares()
    assert abs(small["centralisation"] - shares["centralisation"]) < 0.04
    trust.simulation = sim


def test_frontier_converges_with_grid():
    vals = [model(0.5, n).solve(tol=1e-8).objective for n in (6, 11, 21)]
    assert abs(vals[2] - vals[1]) <= abs(vals[1] - vals[0]) + 1e-12


@pytest.mark.parametrize("param", ["p", "delta", "B"])
def test_comparative_statics(param):
    base = {"delta": 0.5, "p": 0.3, "B": 2.0}
    out = []
    for k in (0, 1):
        d = dict(base)
        d[param] = {"p": (0.3, 0.5), "delta": (0.5, 0.7), "B": (2.0, 3.0)}[param][k]
        out.append(model(d["delta"], 11, p=d["p"], B=d["B"]).solve(tol=1e-8).objective)
    assert out[1] > out[0]


# ---------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw,field", [
    ({"delta": True, "lmp": {"B": 2, "b": 1, "p": 0.3}}, "delta"),
    ({"delta": 1.0, "lmp": {"B": 2, "b": 1, "p": 0.3}}, "delta"),
    ({"delta": 0.5, "lmp": {"B": 1, "b": 1, "p": 0.3}}, "lmp.B"),
    ({"delta": 0.5, "lmp": {"B": 2, "b": 1, "p": 1.0}}, "lmp.p"),
    ({"delta": 0.5, "lmp": {"B": 2, "b": 1, "p": 0.3, "variant": "x"}}, "lmp.variant"),
    ({"delta": 0.5, "lmp": {"B": 2, "b": 1, "p": 0.3, "colour": 1}}, "lmp.colour"),
    ({"delta": 0.5, "lmp": {"B": 2, "b": 1, "p": 0.3, "annihilation": -1}}, "lmp.annihilation"),
    ({"delta": 0.5}, "stage"),
    ({"delta": 0.5, "lmp": {"B": 2, "b": 1, "p": 0.3}, "grid": {"n": 10 ** 9}}, "grid.n"),
    ({"delta": 0.5, "lmp": {"B": 2, "b": 1, "p": 0.3}, "grid": {"n": 2.5}}, "grid.n"),
    ({"delta": 0.5, "lmp": {"B": 2, "b": 1, "p": 0.3}, "enforcement": "court"}, "enforcement"),
    ({"delta": 0.5, "lmp": {"B": 2, "b": 1, "p": 0.3, "variant": "commitment"}, "enforcement": "relational"},
     "enforcement"),
    ({"delta": 0.5, "stage": {"states": ["a"], "prob": [1.0], "principal_actions": ["x"], "agent_actions": ["y"],
                              "outcome": [{"state": "a", "principal": "x", "agent": "z", "payoff": [0, 0]}]}},
     "stage.outcome[0].agent"),
    ({"delta": 0.5, "stage": {"states": ["a", "b"], "prob": [0.5, 0.5], "principal_actions": ["x"],
                              "agent_actions": ["y"],
                              "outcome": [{"state": "a", "principal": "x", "agent": "y", "payoff": [0, 0]}]}},
     "stage.outcome"),
    ({"delta": 0.5, "stage": {"states": ["a"], "prob": [1.0], "principal_actions": ["x"], "agent_actions": ["y"],
                              "outcome": [{"state": "a", "principal": "x", "agent": "y", "payoff": [0, True]}]}},
     "stage.outcome[0].payoff[1]"),
    ({"delta": 0.5, "stage": {"states": [f"s{i}" for i in range(9)], "prob": [1 / 9] * 9,
                              "principal_actions": ["x"], "agent_actions": ["y"], "outcome": []}},
     "stage.states"),
])
def test_validation(raw, field):
    with pytest.raises(ModelError) as e:
        RelationalModel.from_dict(raw)
    assert e.value.field == field


def test_plan_enumeration_is_guarded():
    acts = [f"a{i}" for i in range(40)]
    out = [(s, "p", a, (0.0, 0.0)) for s in ("s0", "s1", "s2", "s3") for a in acts]
    with pytest.raises(ModelError) as e:
        StageGame.create(["s0", "s1", "s2", "s3"], [0.25] * 4, ["p"], acts, out)
        enumerate_plans(StageGame.create(["s0", "s1", "s2", "s3"], [0.25] * 4, ["p"], acts, out))
    assert e.value.field == "stage"


def test_shipped_models_load():
    for name in ("lmp_power_dynamics", "lmp_restricted", "lmp_lecture", "lmp_commitment"):
        m = load(f"models/{name}.toml")
        assert m.kind == "relational"


def test_mechanism_protocol(trust):
    mech = trust.mechanism
    assert mech.form == "relational" and mech.env is trust.model
    rule = mech[trust.initial_promise]
    assert rule.decisions == ("cooperative empowerment",) and rule.allocation.tolist() == [1.0]
    r = mech[trust.initial_promise, "available"]
    assert r.decisions == ("empower/principal_project",)
    assert r.state["continuation_promise"] > trust.initial_promise      # rewarded for her project
    r = mech[trust.initial_promise, "unavailable"]
    assert r.state["continuation_promise"] < trust.initial_promise      # his project costs him promises
    assert mech.revenue() == trust.objective and mech.rents()[0][0] == trust.initial_promise
    assert mech.verify().max_violation < 1e-8
    assert len(mech.to_frame()) == trust.grid.size and mech.to_dict()["form"] == "relational"
    assert "RelationalMechanism" in repr(mech)
    with pytest.raises(KeyError):
        mech[1.0, "sunny"]


# ---------------------------------------------------------------------------------------
# random small stage games
# ---------------------------------------------------------------------------------------
from hypothesis import given, settings, strategies as st  # noqa: E402


@st.composite
def small_games(draw):
    msgs = draw(st.booleans())
    pay = st.integers(-4, 6).map(lambda k: k / 2)
    out = []
    for s in ("s0", "s1"):
        for a in ("a0", "a1"):
            for e in ("e0", "e1"):
                if e == "e0" or draw(st.booleans()):
                    out.append((s, a, e, (draw(pay), draw(pay))))
    p = draw(st.sampled_from([0.3, 0.5, 0.7]))
    return StageGame.create(["s0", "s1"], [p, 1 - p], ["a0", "a1"], ["e0", "e1"], out, messages=msgs)


@settings(max_examples=6, deadline=None)
@given(small_games(), st.sampled_from([0.4, 0.6]))
def test_random_games_two_periods_and_self_enforcement(game, delta):
    plans = enumerate_plans(game)
    two = fixed_point(plans, delta, 9, horizon=2).W
    for j in (0, two.K // 2, two.K - 1):
        exact = history_lp(game, delta, two.grid[j])
        assert exact is not None and two.upper[j] == pytest.approx(exact, abs=1e-7)
    res = RelationalModel(game, delta, "relational", 9, None, "random").solve(tol=1e-8)
    assert res.status == "optimal"
    assert res.check().max_violation < 1e-7
    # the stage game's equilibria repeat forever: the set contains them
    for u, v in stage_equilibria(game):
        assert res.W.contains(u, v, tol=1e-6)
