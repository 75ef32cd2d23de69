"""Exact certificates of dynamic (tree-of-histories) programs and of the quantity QPs.

The checker rebuilds the program on the model's numbers as the fractions they state
(every node probability and discount weight formed exactly) and re-solves the recorded
basis in rational arithmetic.  Before, it read the program's rounded floats back as
simple fractions, which fails on these trees: objective weights like
0.9⁴·0.3·0.7·0.2·0.1·0.6 have denominators no double pins down, so the free payment
columns' costs and rows no longer cancel and the exact program is unbounded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import dmd_opt.interfaces.models as io
from dmd_opt.certificates import check_certificate
from dmd_opt.certificates.exact_check import exact_optimum
from dmd_opt.certificates.exact_data import Exact, build_exact, exact_program_data, rational_twin
from dmd_opt.certificates.format import model_fingerprint
from dmd_opt.families.revenue.program import revenue_program

MODELS = Path(__file__).resolve().parents[1] / "models"


def tree_model(T: int, participation: str = "interim"):
    return io.load({"kind": "revenue", "horizon": T, "discount": 0.9,
                    "agents": [{"types": [1.0, 2.0, 3.0], "initial": [0.3, 0.4, 0.3],
                                "transition": [[0.7, 0.2, 0.1], [0.2, 0.6, 0.2], [0.1, 0.3, 0.6]]}],
                    "decisions": {"kind": "allocate"}, "solve": {"participation": participation}})


def _cert(m, tmp_path=None):
    """Solve and write the certificate (as a file when ``tmp_path`` is given: what users check)."""
    r = io.solve_model(m, verify=False)
    if tmp_path is None:
        return r, r.certificate(model=m)
    path = tmp_path / "cert.json"
    r.certificate(path, model=m)
    return r, path


def _plain(cert):
    out = dict(cert)
    out["arrays"] = {"storage": "inline", "values": {k: np.asarray(v).tolist()
                                                     for k, v in cert["arrays"]["values"].items()}}
    return json.loads(json.dumps(out))


@pytest.mark.parametrize("name", ["battaglini.toml", "courty_li_fosd.toml", "courty_li_mps.toml",
                                  "mussa_rosen_3_bunching.toml"])
def test_shipped_dynamic_models_are_certified_exactly(name, tmp_path):
    m = io.load(MODELS / name)
    r, cert = _cert(m, tmp_path)
    res = check_certificate(cert)
    assert res.ok and res.method == "exact", res.verdict
    assert res.details["exact_data"] == "model"
    assert res.details["exact_optimum"] == pytest.approx(r.objective, abs=1e-9)
    if r.program.q_diag is not None:
        assert "KKT point" in res.verdict


def test_battaglini_exact_optimum(tmp_path):
    """The exact optimum is a rational whose denominator is a power of 2 times a power of 5 (the
    data are halves and tenths, δ = 0.9), equal to HiGHS' floating optimum."""
    from fractions import Fraction
    m = io.load(MODELS / "battaglini.toml")
    r, cert = _cert(m, tmp_path)
    q = Fraction(check_certificate(cert).details["exact_optimum_rational"])
    d = q.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    assert d == 1 and float(q) == pytest.approx(r.objective, abs=1e-9)


@pytest.mark.parametrize("participation", ["interim", "ex_ante", "periodic"])
def test_three_type_tree_is_exact(participation):
    m = tree_model(5, participation)
    r, cert = _cert(m)
    assert r.program.n_rows > 1400
    res = check_certificate(cert)
    assert res.ok and res.method == "exact" and res.details["exact_data"] == "model", res.verdict
    assert res.details["exact_optimum"] == pytest.approx(r.objective, abs=1e-9)


def test_reading_the_floats_back_fails_on_the_tree():
    """The root cause: with the objective read from its floats the exact program is unbounded
    along free variables (reduced cost ~1e-18); the rational rebuild removes it."""
    m = tree_model(5)
    r, cert = _cert(m)
    prog = revenue_program(m.data, participation="interim")
    vals = {k: np.asarray(v) for k, v in cert["arrays"]["values"].items()}
    c = -prog.objective_vector()
    without = exact_optimum(prog, vals, c, None, -1.0, exact_seconds=30)
    assert not without["ok"] and "unbounded along free variables" in without["reason"]
    prog.meta["exact_build"] = lambda: build_exact(revenue_program, m.data, participation="interim")
    with_model = exact_optimum(prog, vals, c, None, -1.0, exact_seconds=30)
    assert with_model["ok"] and with_model["data_note"].startswith("the model's numbers")


def test_exact_build_matches_the_float_program():
    m = tree_model(4)
    prog = revenue_program(m.data, participation="interim")
    data = exact_program_data(build_exact(revenue_program, m.data, participation="interim"), prog)
    assert data.max_rel_difference < 1e-15
    # the payment cost at the history (1, 1, 1, 3): δ³ · 0.3 · 0.7 · 0.7 · 0.1, exactly
    from fractions import Fraction as F
    want = F(9, 10) ** 3 * F(3, 10) * F(7, 10) ** 2 * F(1, 10)
    assert str(want) in {str(v) for v in data.c}
    assert F(float(want)) != want                                    # a float cannot hold it


def test_tampering_with_a_basic_variable_fails():
    m = tree_model(5)
    _, cert = _cert(m)
    cert = _plain(cert)
    vals = cert["arrays"]["values"]
    cs = np.asarray(vals["col_status"])
    x = np.asarray(vals["x"])
    j = int(np.nonzero((cs == 1) & (np.abs(x) > 1e-3))[0][0])
    vals["x"][j] = x[j] * 1.01
    res = check_certificate(cert)
    assert not res.ok and res.verdict.startswith("FAILED"), res.verdict


def test_tampering_with_a_probability_fails():
    m = tree_model(5)
    _, cert = _cert(m)
    cert = _plain(cert)
    P = cert["model"]["data"]["agents"][0]["transition"]
    P[0][0], P[0][1] = 0.6, 0.3                        # still a distribution: the model parses
    cert["model"]["fingerprint"] = model_fingerprint("revenue", cert["model"]["data"], cert["model"]["options"])
    res = check_certificate(cert)
    assert not res.ok and "REFUSED" in res.verdict     # the program it builds is another one


def test_a_probability_changed_in_the_exact_rebuild_is_caught():
    """If the rational data were not the floats' (a changed probability), the exact attempt says so."""
    m = tree_model(4)
    prog = revenue_program(m.data, participation="interim")
    twin = rational_twin(m.data)
    P = np.array(twin.agents[0].transitions[0], dtype=object)
    P[0, 0] = Exact.of(0.71)
    object.__setattr__(twin.agents[0], "transitions", tuple([P] * len(twin.agents[0].transitions)))
    with pytest.raises(ValueError, match="differ from the stored floats"):
        exact_program_data(revenue_program(twin, participation="interim"), prog)


def test_exact_numbers_refuse_nothing_but_read_floats_as_stated():
    a = Exact.of(0.1)
    assert str((a * 3).q) == "3/10" and str((1.0 - a).q) == "9/10" and (a + a == Exact.of(0.2))
    assert float(a) == 0.1 and (np.array([a, a], dtype=object).sum()).q == Exact.of(0.2).q
