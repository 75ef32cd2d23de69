"""Certificates: every shipped model passes the solver-free checker; tampering fails it."""

import json
import re
from fractions import Fraction

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings, strategies as st

import dmd_opt.interfaces.models as io
from dmd_opt.core.errors import ModelError
from dmd_opt.certificates import check_certificate, make_certificate, write_certificate
from dmd_opt.certificates import exact as X
from dmd_opt.optim.program import Program
from dmd_opt.solvers import solve

from conftest import MODELS

MODEL_FILES = sorted(p.name for p in MODELS.glob("*.toml"))


def _write(tmp_path, name, **kw):
    m = io.load(MODELS / name)
    if io.KINDS[m.kind].build is None:
        pytest.skip(f"models of kind {m.kind!r} have no program builder (no LP, no certificate)")
    if m.kind == "revenue":
        kw.setdefault("verify", False)      # the DP verifier is tested elsewhere
    r = io.solve_model(m, **kw)
    if not hasattr(r, "certificate"):
        pytest.skip(f"models of kind {m.kind!r} are solved without an LP (no certificate)")
    path = tmp_path / f"{name}.cert.json"
    try:
        r.certificate(path, model=m)
    except ModelError as exc:            # e.g. a closed-form transfer rule: no LP was solved
        pytest.skip(str(exc))
    return m, r, path


@pytest.mark.parametrize("name", MODEL_FILES)
def test_every_shipped_model_certificate_passes(tmp_path, name):
    m, r, path = _write(tmp_path, name)
    res = check_certificate(path)
    assert res.ok, res.verdict
    program = getattr(r, "program", None)
    if r.status == "infeasible":
        assert res.verdict.startswith("infeasible, exact")
    elif program is None:
        # Bellman LPs of the recursive contracts: exact where the rounding of the promise
        # grid allows it, otherwise a rigorous bound; either way a tight one.
        assert res.method in ("exact", "rigorous") and res.details.get("gap_bound", 0.0) <= 1e-6
    elif program.q_diag is not None:
        # quantity models (convex QPs): the KKT point of the recorded QP basis, exactly
        assert res.method == "exact" and "KKT point" in res.verdict, res.verdict
        assert res.details["exact_optimum"] == pytest.approx(r.objective, abs=1e-8)
    else:
        # every shipped LP is certified in exact rational arithmetic
        assert res.method == "exact" and res.verdict.startswith("optimal, exact: gap 0"), res.verdict
        assert res.details["exact_optimum"] == pytest.approx(r.objective, abs=1e-8)
    # the same check with the model file passed explicitly
    assert check_certificate(path, model=io.load(MODELS / name)).ok


def test_static_monopoly_exact_optimum_is_four_thirds(tmp_path):
    """Closed form (Myerson 1981, discrete): price 2 sells with probability 2/3 → 4/3."""
    _, _, path = _write(tmp_path, "static_monopoly.toml")
    res = check_certificate(path)
    assert res.details["exact_optimum_rational"] == "4/3"


def _flip_first_digit(v: float) -> float:
    s = repr(float(v))
    i = next(k for k, ch in enumerate(s) if ch in "123456789")
    new = "2" if s[i] == "1" else "1"
    return float(s[:i] + new + s[i + 1:])


def _tamper(path, key, pick):
    cert = json.loads(path.read_text())
    arr = cert["arrays"]["values"][key]
    k = pick(np.asarray(arr))
    arr[k] = _flip_first_digit(arr[k])
    path.write_text(json.dumps(cert))
    return k


@pytest.mark.parametrize("name", ["static_monopoly.toml", "courty_li_mps.toml", "battaglini.toml"])
def test_flipping_a_digit_of_a_dual_fails(tmp_path, name):
    _, r, path = _write(tmp_path, name)
    assert check_certificate(path).ok
    _tamper(path, "row_dual", lambda a: int(np.argmax(np.abs(a))))
    res = check_certificate(path)
    assert not res.ok and res.verdict.startswith("FAILED"), res.verdict


@pytest.mark.parametrize("name", ["static_monopoly.toml", "ironing_2.toml", "battaglini.toml"])
def test_flipping_a_digit_of_a_primal_fails(tmp_path, name):
    _, r, path = _write(tmp_path, name)
    # a payment (block p) of a node that is reached with positive probability
    p = r.program.block_slice("p")
    _tamper(path, "x", lambda a: p.start + int(np.argmax(np.abs(a[p]))))
    res = check_certificate(path)
    assert not res.ok and "FAILED" in res.verdict, res.verdict


def test_flipping_a_digit_of_the_data_is_refused(tmp_path):
    _, _, path = _write(tmp_path, "static_monopoly.toml")
    cert = json.loads(path.read_text())
    cert["model"]["data"]["agents"][0]["types"][2] = 4.0        # 3 → 4
    path.write_text(json.dumps(cert))
    res = check_certificate(path)
    assert not res.ok and res.verdict.startswith("REFUSED")
    # a different model file passed with --model is refused too
    m2 = io.load(MODELS / "static_monopoly.toml")
    m2.raw["agents"][0]["types"][2] = 4.0
    m2 = io.load({"kind": "revenue", **m2.raw, "solve": m2.options})
    _, _, path2 = _write(tmp_path, "static_monopoly.toml")
    res2 = check_certificate(path2, model=m2)
    assert not res2.ok and "REFUSED" in res2.verdict


def test_farkas_ray_tampering_fails(tmp_path):
    _, r, path = _write(tmp_path, "bilateral_trade_impossible.toml")
    cert = json.loads(path.read_text())
    fams = {row["family"] for row in cert["farkas"]["rows"]}
    assert {"IC", "IR_interim", "budget"} <= fams
    _tamper(path, "dual_ray", lambda a: int(np.argmax(np.abs(a))))
    res = check_certificate(path)
    assert not res.ok, res.verdict


def test_large_certificate_goes_to_npz_and_is_hash_checked(tmp_path):
    m = io.load(MODELS / "handicap_auction.toml")
    r = io.solve_model(m)
    path = tmp_path / "c.json"
    write_certificate(path, r.program, r.solution, model=m, options=r.certificate()["model"]["options"],
                      inline_limit=10)
    cert = json.loads(path.read_text())
    assert cert["arrays"]["storage"] == "npz" and (tmp_path / cert["arrays"]["file"]).exists()
    assert check_certificate(path).ok
    npz = tmp_path / cert["arrays"]["file"]
    data = bytearray(npz.read_bytes())
    data[-5] ^= 1
    npz.write_bytes(bytes(data))
    res = check_certificate(path)
    assert not res.ok and "REFUSED" in res.verdict


def test_forced_rigorous_check_of_an_lp(tmp_path):
    _, _, path = _write(tmp_path, "courty_li_fosd.toml")
    res = check_certificate(path, force="rigorous")
    assert res.ok and res.method == "rigorous" and "(rigorous bound" in res.verdict
    assert res.details["gap_bound"] < 1e-8


def test_checker_calls_no_solver(tmp_path, monkeypatch):
    _, _, path = _write(tmp_path, "ironing_1.toml")
    import dmd_opt.solvers as S
    import dmd_opt.solvers.session as H

    def boom(*a, **k):
        raise AssertionError("the checker called a solver")
    monkeypatch.setattr(S, "solve", boom)
    monkeypatch.setattr(H, "solve_highs", boom)
    monkeypatch.setattr(H.Session, "solve", boom)
    assert check_certificate(path).ok


def test_unbounded_or_error_status_is_not_certified():
    p = Program(sense="max")
    x = p.add_variables("x", 1, lb=0.0)
    p.add_constraints("c", 1, [0], [x[0]], [1.0], 0.0, np.inf)
    p.set_objective(np.array([1.0]), "max")
    s = solve(p)
    cert = make_certificate(p, s)
    res = check_certificate(cert, program=p)
    assert not res.ok


def test_exact_sparse_solver_matches_fractions():
    rng = np.random.default_rng(3)
    n = 40
    A = sp.random(n, n, density=0.08, random_state=4, data_rvs=lambda k: rng.integers(-3, 4, k)) + 5 * sp.eye(n)
    b = rng.integers(-5, 6, n).astype(float)
    w = X.solve_sparse(A, X.qvec(b))
    # exact residual zero
    Ad = A.toarray()
    for i in range(n):
        assert sum(Fraction(Ad[i, j]) * X.as_fraction(w[j]) for j in range(n)) == Fraction(b[i])


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 6), st.integers(0, 10_000))
def test_random_lps_exact_certificate_matches_highs(n_types, seed):
    """Random single-buyer screening problems: the exact optimum equals HiGHS' objective and
    the brute-force best posted price (Riley–Zeckhauser: a posted price is optimal)."""
    from dmd_opt.core.environment import Environment
    from dmd_opt.families.revenue.program import revenue_program
    rng = np.random.default_rng(seed)
    vals = np.sort(rng.choice(np.arange(1, 40), n_types, replace=False)).astype(float)
    w = rng.integers(1, 9, n_types).astype(float)
    probs = w / w.sum()
    env = Environment.from_dict({"agents": [{"types": vals.tolist(), "initial": probs.tolist()}],
                                 "decisions": {"kind": "allocate"}})
    prog = revenue_program(env)
    s = solve(prog)
    cert = make_certificate(prog, s)
    res = check_certificate(cert, program=prog)
    assert res.ok and res.method == "exact", res.verdict
    best = max(v * probs[vals >= v].sum() for v in vals)
    assert res.details["exact_optimum"] == pytest.approx(best, abs=1e-9)
    # soundness of the rigorous mode: its safe dual bound (an upper bound for a max
    # program) is never below the exact optimum
    rig = check_certificate(cert, program=prog, force="rigorous")
    assert rig.ok and rig.method == "rigorous"
    assert rig.details["dual_bound"] >= res.details["exact_optimum"] - 1e-13 * max(1.0, best)


def test_cli_style_result_certificate_roundtrip(tmp_path):
    m = io.load(MODELS / "full_extraction.toml")
    r = io.solve_model(m)
    c = r.certificate(model=m)
    assert c["format"] == "dmd-opt-certificate" and c["version"] == 1
    assert c["program"]["fingerprint"] == r.program.fingerprint()
    assert re.fullmatch(r"[0-9a-f]{64}", c["model"]["fingerprint"])
    assert check_certificate(c).ok


def test_rigorous_check_accepts_one_sided_columns_at_their_bound(tmp_path):
    """Columns in [0, ∞) sitting at 0 with a non-zero reduced cost are not 'free' (regression)."""
    import numpy as np
    from dmd_opt.certificates import check_certificate, write_certificate
    from dmd_opt.optim.program import Program
    from dmd_opt.solvers import solve
    p = Program()
    p.add_variables("w", 3, lb=0.0)
    p.add_constraints("cap", 1, [0, 0, 0], [0, 1, 2], [1.0, 1.0, 1.0], -np.inf, 1.0)
    p.set_objective(np.array([1.0, 2.0, 0.5]), "max")
    s = solve(p, basis=True)
    f = tmp_path / "c.json"
    write_certificate(f, p, s)
    for force in ("exact", "rigorous"):
        res = check_certificate(f, program=p, force=force)
        assert res.ok, res.verdict
