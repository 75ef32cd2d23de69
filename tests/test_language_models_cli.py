"""The shipped models of the designer's language, solved by the command line with asserted numbers.

Every number is computed here without the package: expected efficient surplus by enumerating
the joint law in the file (Crémer–McLean), Myerson's ironed virtual values by pooling adjacent
violators (DSIC = BIC revenue under independence), Courty–Li's handicapped values, and the
strategy-enumeration LP of ``tests/independent.py``.
"""

import itertools
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import ROOT
from independent import BruteModel, brute_force_general, courty_li_virtual_values

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib

from dmd_opt.interfaces.cli import app
from dmd_opt.interfaces.models import load

MODELS = ROOT / "models"


def _cli(*args):
    out = CliRunner().invoke(app, ["solve", *map(str, args), "--json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def _raw(name):
    return tomllib.loads((MODELS / name).read_text(encoding="utf-8"))


def _surplus(joint, values):
    joint = np.asarray(joint, float)
    return sum(joint[idx] * max(0.0, max(v[k] for v, k in zip(values, idx)))
               for idx in itertools.product(*[range(len(v)) for v in values]))


def _ironed_virtual_values(values, probs):
    """Myerson's discrete virtual values v_k − (v_{k+1} − v_k)(1 − F_k)/f_k, ironed by pooling
    adjacent violators with weights f (the slope of the concave hull of the revenue curve)."""
    v, f = np.asarray(values, float), np.asarray(probs, float)
    tail = 1.0 - np.cumsum(f)
    phi = v - np.r_[np.diff(v), 0.0] * tail / f
    blocks = []                                    # [value, weight, count]
    for p, w in zip(phi, f):
        blocks.append([p, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            p2, w2, c2 = blocks.pop()
            p1, w1, c1 = blocks.pop()
            blocks.append([(p1 * w1 + p2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    return np.concatenate([[b[0]] * b[2] for b in blocks])


def _myerson_revenue(raw):
    agents = raw["agents"]
    phis = [_ironed_virtual_values(a["types"], a["initial"]) for a in agents]
    total = 0.0
    for idx in itertools.product(*[range(len(a["types"])) for a in agents]):
        p = np.prod([a["initial"][k] for a, k in zip(agents, idx)])
        total += p * max(0.0, max(phi[k] for phi, k in zip(phis, idx)))
    return total


def test_correlated_full_extraction_by_the_cli():
    raw = _raw("correlated_full_extraction.toml")
    rec = _cli(MODELS / "correlated_full_extraction.toml")
    surplus = _surplus(raw["joint_initial"], [a["types"] for a in raw["agents"]])
    assert rec["status"] == "optimal" and rec["verification"]["passed"]
    assert rec["objective"] == pytest.approx(surplus, abs=1e-9) == pytest.approx(2.3)
    assert rec["correlation"]["full_row_rank"] and rec["correlation"]["extraction_gap"] == pytest.approx(0, abs=1e-9)


def test_correlated_rank_deficient_by_the_cli():
    raw = _raw("correlated_rank_deficient.toml")
    rec = _cli(MODELS / "correlated_rank_deficient.toml")
    surplus = _surplus(raw["joint_initial"], [a["types"] for a in raw["agents"]])
    brute = brute_force_general(BruteModel.from_env(load(MODELS / "correlated_rank_deficient.toml").data))
    assert rec["status"] == "optimal" and rec["verification"]["passed"]
    assert rec["objective"] == pytest.approx(brute, abs=1e-7)
    assert rec["correlation"]["efficient_surplus"] == pytest.approx(surplus, abs=1e-9)
    assert rec["correlation"]["extraction_gap"] == pytest.approx(surplus - brute, abs=1e-7)
    assert surplus - brute > 0.1 and not rec["correlation"]["full_row_rank"]


@pytest.mark.parametrize("name", ["dsic_auction", "ironing_2", "ironing_3"])
def test_dsic_equals_bic_equals_myerson_by_the_cli(name):
    """Independent private values: the dominant-strategy optimum (ex-post IC and IR) and the
    Bayesian one (interim IR) both earn E[max_i φ̄_i(v_i)⁺] (Myerson 1981)."""
    f = MODELS / f"{name}.toml"
    dsic = _cli(f, "--ic", "expost", "--participation", "expost")
    bic = _cli(f, "--ic", "bayesian", "--participation", "interim")
    want = _myerson_revenue(_raw(f"{name}.toml"))
    assert dsic["options"]["ic"] == "expost" and bic["options"]["ic"] == "bayesian"
    assert dsic["objective"] == pytest.approx(want, abs=1e-8)
    assert bic["objective"] == pytest.approx(want, abs=1e-8)
    assert dsic["verification"]["passed"] and bic["verification"]["passed"]


def test_dsic_auction_revenue_is_the_hand_computed_2_7():
    assert _myerson_revenue(_raw("dsic_auction.toml")) == pytest.approx(2.7)


def test_handicap_auction_dynamic_ex_post_equals_bayesian_by_the_cli():
    """Esö–Szentes under public disclosure: the periodic ex-post program loses nothing."""
    f = MODELS / "handicap_auction.toml"
    ep = _cli(f, "--disclosure", "public", "--ic", "expost")
    bic = _cli(f, "--disclosure", "public", "--ic", "bayesian")
    assert ep["objective"] == pytest.approx(bic["objective"], abs=1e-8)
    assert ep["verification"]["passed"] and bic["verification"]["passed"]


def test_courty_li_undiscounted_by_the_cli():
    raw = _raw("courty_li_undiscounted.toml")
    rec = _cli(MODELS / "courty_li_undiscounted.toml")
    assert rec["status"] == "optimal" and rec["verification"]["passed"]
    env = load(MODELS / "courty_li_undiscounted.toml").data
    f_tau = raw["agents"][0]["initial"]
    fL, fH = env.transition(0, 0)
    values = env.type_values(0, 1)
    psiL, psiH = courty_li_virtual_values(values, f_tau, (fL, fH))
    closed = f_tau[0] * fL @ np.maximum(psiL, 0) + f_tau[1] * fH @ np.maximum(psiH, 0)
    assert rec["objective"] == pytest.approx(closed, abs=1e-9) == pytest.approx(1.7)
    assert rec["environment"]["discount"] == 1.0


def test_no_money_allocation_by_the_cli(tmp_path):
    """No payments anywhere; the four-period value lies between serving always (no screening is
    possible in one period without money) and the first best, and the same file cut to two
    periods matches strategy enumeration."""
    f = MODELS / "no_money_allocation.toml"
    rec = _cli(f)
    assert rec["status"] == "optimal" and rec["options"]["money"] is False
    periods = rec["mechanism"]["periods"]
    assert len(periods) == 4
    assert all(np.all(np.asarray(p["payments"], float) == 0.0) for p in periods)
    disc = sum(0.9 ** t for t in range(4))
    always = (0.5 * 0.5 + 0.5 * 2.0 - 1.0) * disc          # serve every period: E[v] − c
    first_best = 0.5 * (2.0 - 1.0) * disc                    # serve H only
    assert always + 0.1 < rec["objective"] < first_best - 0.1
    short = tmp_path / "two_periods.toml"
    short.write_text(f.read_text(encoding="utf-8").replace("horizon = 4", "horizon = 2"), encoding="utf-8")
    rec2 = _cli(short)
    brute = brute_force_general(BruteModel.from_env(load(short).data), "bayesian", "none", money=False,
                                objective="welfare")
    assert rec2["objective"] == pytest.approx(brute, abs=1e-9) == pytest.approx(0.675)
