"""Textbook models entered as written: δ = 1 for finite horizons, label-only types (an ex-ante
signal with no value), i.i.d. types by one keyword.

Checks: Courty–Li's discrete handicapped virtual values (closed form, ``tests/independent.py``),
strategy enumeration, and equality with the same model written the long way.
"""

import numpy as np
import pytest

from dmd_opt.core.environment import Environment
from dmd_opt.core.errors import ModelError
from dmd_opt.families.revenue.solve import solve_revenue
from dmd_opt.interfaces.models import load, solve_model
from independent import BruteModel, brute_force_general, courty_li_virtual_values


def test_discount_one_only_for_finite_horizons():
    base = {"agents": [{"types": [1, 2], "initial": [0.5, 0.5], "transition": [[0.5, 0.5], [0.5, 0.5]]}],
            "decisions": {"kind": "allocate"}}
    assert Environment.from_dict({**base, "horizon": 3, "discount": 1.0}).discount == 1.0
    with pytest.raises(ModelError) as e:
        Environment.from_dict({**base, "horizon": "infinite", "discount": 1.0})
    assert e.value.field == "discount"
    for bad in (0.0, 1.0000001, True):
        with pytest.raises(ModelError) as e:
            Environment.from_dict({**base, "horizon": 3, "discount": bad})
        assert e.value.field == "discount"


def test_courty_li_undiscounted_as_written(models_dir):
    """Revenue = E_τ E[ψ_τ(v)⁺] with Courty–Li's handicapped values (the high type undistorted)."""
    m = load(models_dir / "courty_li_undiscounted.toml")
    env = m.data
    assert env.discount == 1.0 and np.isnan(env.type_values(0, 0)).all()
    assert env.type_labels(0, 0) == ("leisure", "business")
    r = m.solve()
    fL, fH = env.transition(0, 0)
    psiL, psiH = courty_li_virtual_values([1.0, 2.0, 3.0], [0.5, 0.5], (fL, fH))
    closed = 0.5 * fL @ np.maximum(psiL, 0) + 0.5 * fH @ np.maximum(psiH, 0)
    assert r.objective == pytest.approx(closed, abs=1e-9) == pytest.approx(1.7)
    assert r.objective == pytest.approx(brute_force_general(BruteModel.from_env(env)), abs=1e-9)
    assert r.verification.passed("interim")
    # discounting scales the whole problem: the δ = 0.9 model of the same traveller earns 0.9 × 1.7
    fosd = solve_model(load(models_dir / "courty_li_fosd.toml"))
    assert fosd.objective == pytest.approx(0.9 * r.objective, abs=1e-9)


def test_athey_segal_trade_undiscounted(models_dir):
    """The efficient family takes δ = 1 over a finite horizon too."""
    m = load(models_dir / "athey_segal_trade.toml")
    raw = dict(m.raw)
    raw["discount"] = 1.0
    res = solve_model({**raw, "kind": "efficient", "solve": {"mechanism": "team"}})
    assert res.status == "optimal"


def test_label_only_types_are_values_nowhere():
    agents = [{"types": [["low", "high"], [1.0, 2.0]], "initial": [0.5, 0.5], "transition": [[0.7, 0.3], [0.3, 0.7]]}]
    env = Environment.from_dict({"horizon": 2, "agents": agents, "decisions": {"kind": "allocate", "periods": [2]}})
    assert env.type_labels(0, 0) == ("low", "high")
    with pytest.raises(ModelError) as e:
        Environment.from_dict({"horizon": 2, "agents": agents, "decisions": {"kind": "allocate"}})
    assert e.value.field == "agents[0].types" and "period 1" in e.value.problem
    with pytest.raises(ModelError) as e:
        Environment.from_dict({"horizon": 2, "agents": agents, "decisions": {"kind": "quantity", "cost_quadratic": 1}})
    assert e.value.field == "agents[0].types"
    mixed = [{"types": [["low", 2.0], [1.0, 2.0]], "initial": [0.5, 0.5], "transition": [[0.7, 0.3], [0.3, 0.7]]}]
    with pytest.raises(ModelError) as e:
        Environment.from_dict({"horizon": 2, "agents": mixed, "decisions": {"kind": "allocate", "periods": [2]}})
    assert e.value.field == "agents[0].types[0]"


def test_iid_keyword_is_the_repeated_transition():
    long = Environment.from_dict({"horizon": 3, "agents": [{"types": [1, 3], "initial": [0.4, 0.6],
                                                            "transition": [[0.4, 0.6], [0.4, 0.6]]}],
                                  "decisions": {"kind": "allocate", "cost": 0.5}})
    short = Environment.from_dict({"horizon": 3, "agents": [{"types": [1, 3], "initial": [0.4, 0.6], "iid": True}],
                                   "decisions": {"kind": "allocate", "cost": 0.5}})
    for t in range(2):
        assert np.array_equal(long.transition(0, t), short.transition(0, t))
    assert solve_revenue(short).objective == pytest.approx(solve_revenue(long).objective, abs=1e-12)
    stat = Environment.from_dict({"horizon": "infinite", "discount": 0.9,
                                  "agents": [{"types": [1, 3], "initial": [0.4, 0.6], "iid": True}],
                                  "decisions": {"kind": "allocate"}})
    assert np.allclose(stat.transition(0, 0), [[0.4, 0.6], [0.4, 0.6]])


@pytest.mark.parametrize("agent,field", [
    ({"types": [1, 3], "initial": [0.4, 0.6], "iid": True, "transition": [[1, 0], [0, 1]]}, "agents[0].transition"),
    ({"types": [1, 3], "initial": [0.4, 0.6], "iid": 1}, "agents[0].iid"),
    ({"types": [[1, 3], [1, 2]], "initial": [0.4, 0.6], "iid": True}, "agents[0].types[1]"),
])
def test_iid_validation(agent, field):
    with pytest.raises(ModelError) as e:
        Environment.from_dict({"horizon": 2, "agents": [agent], "decisions": {"kind": "allocate"}})
    assert e.value.field == field
