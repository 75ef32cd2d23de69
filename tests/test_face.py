"""Optimal-face analysis: non-unique allocations and rows binding at every optimum."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import dmd_opt.interfaces.models as io
from dmd_opt.core.environment import Environment
from dmd_opt.audit.face import optimal_face
from dmd_opt.families.revenue.program import revenue_program
from dmd_opt.solvers import solve

from conftest import MODELS


def _buyer(vals, probs):
    env = Environment.from_dict({"agents": [{"types": list(vals), "initial": list(probs)}],
                                 "decisions": {"kind": "allocate"}})
    prog = revenue_program(env)
    return env, prog, solve(prog)


def _sell_prob(rep, block="x"):
    """Selling probability of each type (decisions: keep, sell) from a FaceReport range."""
    r = rep.ranges[block]
    return r["lo"][1::2], r["hi"][1::2]


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_unique_posted_price(mode):
    """Values 1, 2, 3 equally likely: price 2 (revenue 4/3) is the unique optimum."""
    _, prog, s = _buyer([1, 2, 3], [1 / 3, 1 / 3, 1 / 3])
    rep = optimal_face(prog, s, mode=mode)
    assert rep.unique("x")
    lo, hi = _sell_prob(rep)
    assert np.allclose(lo, [0, 1, 1], atol=1e-7) and np.allclose(hi, [0, 1, 1], atol=1e-7)


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_tied_prices_make_the_allocation_non_unique(mode):
    """Values 1, 2 equally likely: price 1 and price 2 both give revenue 1, and so does
    every lottery between them — the low type's selling probability ranges over [0, 1]."""
    _, prog, s = _buyer([1, 2], [0.5, 0.5])
    rep = optimal_face(prog, s, mode=mode)
    assert not rep.unique("x")
    lo, hi = _sell_prob(rep)
    assert lo[0] == pytest.approx(0, abs=1e-7) and hi[0] == pytest.approx(1, abs=1e-7)
    assert lo[1] == pytest.approx(1, abs=1e-7)          # the high type is always served
    assert "NOT unique" in " ".join(rep.summary_lines())


def test_ironing_allocation_is_not_unique_fast_and_full_agree():
    m = io.load(MODELS / "ironing_2.toml")
    r = io.solve_model(m)
    fast = optimal_face(r.program, r.solution, mode="fast")
    full = optimal_face(r.program, r.solution, mode="full")
    wf = fast.ranges["x"]["hi"] - fast.ranges["x"]["lo"]
    wF = full.ranges["x"]["hi"] - full.ranges["x"]["lo"]
    assert not full.unique("x")
    assert set(np.nonzero(wf > 1e-6)[0]) == set(np.nonzero(wF > 1e-6)[0])
    assert set(fast.always_binding()) == set(full.always_binding())


@pytest.mark.parametrize("name", ["courty_li_mps.toml", "battaglini.toml", "handicap_auction.toml"])
def test_dynamic_programs_fast_equals_full(name):
    m = io.load(MODELS / name)
    r = io.solve_model(m)
    blocks = ("q",) if "battaglini" in name else ("x",)
    fast = optimal_face(r.program, r.solution, mode="fast", blocks=blocks)
    full = optimal_face(r.program, r.solution, mode="full", blocks=blocks)
    assert set(fast.always_binding()) == set(full.always_binding())
    assert fast.unique(blocks[0]) == full.unique(blocks[0])
    # rows said to be slack somewhere really are: a positive slack was witnessed
    sometimes = ~full.rows["always"]
    assert np.all(full.rows["max_slack_on_face"][sometimes] > full.eps)


def test_battaglini_off_path_rows_bind_only_at_the_returned_solution():
    """Battaglini's t = 1 IC (high → low) binds at every optimum (nonzero dual); some
    off-path IC rows bind at the returned solution only (payments there are not unique)."""
    m = io.load(MODELS / "battaglini.toml")
    r = io.solve_model(m)
    rep = optimal_face(r.program, r.solution, mode="full", blocks=("q",))
    R = rep.rows
    key = (R["family"] == "IC") & (R["period"] == 0) & (R["true_type"] == 1) & (R["report"] == 0)
    assert key.sum() == 1 and R["always"][key].all() and R["reason"][key][0] == "nonzero dual"
    assert (~R["always"]).sum() >= 1
    assert rep.unique("q")       # quantities of a strictly concave QP are unique


@settings(max_examples=15, deadline=None)
@given(st.integers(2, 5), st.integers(0, 10_000))
def test_uniqueness_matches_posted_price_argmax(n, seed):
    """One buyer: the optimum is a posted price (Riley–Zeckhauser 1983); the allocation is
    unique iff exactly one price attains max_k v_k·P(v ≥ v_k)."""
    rng = np.random.default_rng(seed)
    vals = np.sort(rng.choice(np.arange(1, 12), n, replace=False)).astype(float)
    w = rng.integers(1, 5, n).astype(float)
    probs = w / w.sum()
    rev = np.array([v * probs[vals >= v].sum() for v in vals])
    best = rev.max()
    n_best = int(np.sum(rev >= best - 1e-12))
    if n_best == 1 and np.sort(rev)[-2] > best - 1e-6:
        return                                      # near-tie: numerically ambiguous, skip
    _, prog, s = _buyer(vals, probs)
    rep = optimal_face(prog, s, mode="fast")
    assert rep.unique("x") == (n_best == 1)


@pytest.mark.parametrize("name", ["static_monopoly.toml", "ironing_1.toml", "courty_li_fosd.toml"])
def test_duals_agree_across_backends_where_unique(name):
    """Shadow prices are unique only on part of a degenerate optimum (dual face LPs tell
    which); there HiGHS (simplex), Clarabel (interior point, via cvxpy) and pyomo agree,
    and every backend's duals lie inside the dual ranges."""
    from dmd_opt.audit.face import dual_ranges
    from dmd_opt.solvers import available_backends
    installed = available_backends()
    m = io.load(MODELS / name)
    r = io.solve_model(m, verify=False)
    d = dual_ranges(r.program, r.solution)
    u = d["unique"]
    assert u.sum() >= 2          # (ranges may be unbounded on redundant rows)
    others = []
    if "cvxpy" in installed:
        others.append(solve(r.program, backend="cvxpy", solver="CLARABEL"))
    if "pyomo" in installed:
        others.append(solve(r.program, backend="pyomo"))
    if not others:
        pytest.skip("no second backend installed")
    for s in [r.solution] + others:
        assert s.status == "optimal"
        assert np.all(s.row_dual >= d["lo"] - 1e-5) and np.all(s.row_dual <= d["hi"] + 1e-5)
        assert np.max(np.abs(s.row_dual - r.solution.row_dual)[u]) < 1e-6
