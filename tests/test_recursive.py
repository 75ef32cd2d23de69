"""Thomas–Worrall dynamic insurance (docs/theory.md#recursive-contracts-with-promised-utility): policy shapes, binding IC, convex cost,
CARA closed form (independent convex program, cvxpy/Clarabel) with a grid-refinement
table, geometric convergence at rate β, immiseration, model files and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from dmd_opt.core.errors import ModelError
from dmd_opt.interfaces.models import load, solve_model
from dmd_opt.families.recursive import ThomasWorrall, cara_constant, cara_cost
from dmd_opt.solvers import solve


@pytest.fixture(scope="module")
def tw_log():
    m = ThomasWorrall.create([1.0, 2.0], [0.5, 0.5], 0.9, {"kind": "log"}, n_promise=30, n_transfer=21)
    return m.solve()


def test_policies_cost_and_binding_ic(tw_log):
    r = tw_log
    assert r.status == "optimal"
    m = r.model
    b, w = r.transfers, r.continuations
    inner = slice(2, -2)
    bmin, bmax = m.transfer_grid[0], m.transfer_grid[-1]
    free = (b[0] > bmin + 1e-9) & (b[0] < bmax - 1e-9) & (b[1] > bmin + 1e-9) & (b[1] < bmax - 1e-9)
    free[:2] = free[-2:] = False
    assert free.sum() >= 10
    assert np.all(b[0, free] > b[1, free] + 1e-6)            # transfers decrease in income (insurance)
    assert np.all(w[0, inner] < w[1, inner] - 1e-6)          # continuations increase in income (IC)
    v = r.grid
    assert np.all(w[0, inner] <= v[inner] + 1e-9) and np.all(w[1, inner] >= v[inner] - 1e-9)
    C = r.cost
    assert np.all(np.diff(C) > 0)                            # increasing
    slopes = np.diff(C) / np.diff(v)
    assert np.all(np.diff(slopes) >= -1e-7 * np.abs(slopes[1:]).max())   # convex
    assert np.all(C >= m.first_best_cost(v) - 1e-9)          # information is costly
    assert r.C(m.autarky_value) < 0                          # insurance gains at the autarky value
    share = r.ic_binding_share()
    assert share["1->0"] == 1.0                              # high income's IC binds everywhere
    assert share["0->1"] < 0.2
    # labels: one promise-keeping row per grid point, history = grid point
    prog = r.vi.stacked.program
    lab = prog.row_labels()
    pk = lab["family"] == "promise_keeping"
    assert np.array_equal(np.sort(lab["history"][pk]), np.arange(v.size))
    ic = lab["family"] == "IC"
    assert set(zip(lab["true_type"][ic].tolist(), lab["report"][ic].tolist())) == {(0, 1), (1, 0)}


def test_convergence_geometric_rate_beta(tw_log):
    rec = tw_log.vi.record
    d = np.array([x.sup_change for x in rec])
    assert d[-1] < 1e-8
    ratios = d[5:] / d[4:-1]
    assert np.all(np.abs(ratios - 0.9) < 0.02)
    assert abs(tw_log.vi.rate() - 0.9) < 1e-4


def test_fast_path_equals_program_solved_by_another_backend():
    """The hot-started highspy loop solves exactly the labelled Program: re-solve the final
    Program with cvxpy/Clarabel and compare every block value."""
    m = ThomasWorrall.create([1.0, 2.0], [0.5, 0.5], 0.9, {"kind": "log"}, n_promise=10, n_transfer=9)
    r = m.solve(tol=1e-9)
    st = r.vi.stacked
    sol = solve(st.program, backend="cvxpy", solver="CLARABEL")
    assert sol.status == "optimal"
    vals = st.block_values(st.program.objective_vector(), sol.x)[0]
    fast = st.block_values(st.program.objective_vector(), r.vi.solution.x)[0]
    assert np.allclose(vals, fast, atol=1e-6)
    # and a fixed point: one more Bellman step changes C by less than beta * tol
    assert np.max(np.abs(fast - r.cost)) < 1e-8


def test_cara_closed_form_and_refinement_table():
    th, pi, beta, g = [0.0, 1.0], [0.5, 0.5], 0.8, 1.0
    const = cara_constant(th, pi, beta, g)
    assert const["status"] == "optimal"
    # independent check of the convex program: the Bellman equation holds at other promises
    table = []
    for nv, nb in ((15, 11), (30, 21), (60, 41)):
        m = ThomasWorrall.create(th, pi, beta, {"kind": "cara", "gamma": g}, n_promise=nv, n_transfer=nb,
                                 transfer_range=(-3, 3))
        r = m.solve(tol=1e-9)
        v = m.promise_grid
        vc = -np.exp(np.linspace(np.log(-v[0]), np.log(-v[-1]), 9))[2:-2]
        err = np.max(np.abs(r.C(vc) - cara_cost(vc, th, pi, beta, g, const)))
        table.append((nv, nb, err))
    print("\nCARA grid refinement (n_promise, n_transfer, max |C - closed form|):", table)
    errs = [e for _, _, e in table]
    assert errs[1] < errs[0] / 2.5 and errs[2] < errs[1] / 2.5    # ~ quadratic in the grid spacing
    assert errs[2] < 0.05


def test_grid_refinement_stable_log():
    base = ThomasWorrall.create([1.0, 2.0], [0.5, 0.5], 0.9, {"kind": "log"}, n_promise=20, n_transfer=21)
    pts = None
    out = []
    for n in (20, 40, 80):
        r = base.refined(n).solve()
        pts = r.sample_points() if pts is None else pts
        out.append(r.C(pts))
    d1, d2 = np.max(np.abs(out[1] - out[0])), np.max(np.abs(out[2] - out[1]))
    print("\nlog utility grid refinement: max |C_40 - C_20| =", d1, " max |C_80 - C_40| =", d2)
    assert d2 < d1 / 1.5
    assert np.max(np.abs(out[2] - out[1])[2:]) < 0.1       # away from the steep low end


def test_immiseration_cara():
    m = ThomasWorrall.create([0.0, 1.0], [0.5, 0.5], 0.9, {"kind": "cara", "gamma": 1.0}, n_promise=40,
                             n_transfer=31, transfer_range=(-4, 4))
    r = m.solve()
    P = r.simulate(v0=m.autarky_value, T=400, n_paths=1000, seed=3)
    mean = P.mean(axis=0)
    q = np.quantile(P, [0.1, 0.5, 0.9], axis=0)
    # mean and every quantile drift down, and keep drifting
    assert mean[400] < mean[100] < mean[0]
    assert q[1, 400] < q[1, 100] < q[1, 0]
    assert q[0, 400] < q[0, 100]
    assert q[2, 400] < q[2, 0]
    assert np.mean(P[:, 400] < m.autarky_value) > 0.8


def test_model_files_and_bad_input():
    raw = {"kind": "thomas_worrall", "income": [1.0, 2.0], "prob": [0.5, 0.5], "beta": 0.9,
           "utility": {"kind": "crra", "sigma": 2.0, "subsistence": 0.2}, "grid": {"n_promise": 15, "n_transfer": 11}}
    res = solve_model(load(raw), simulate_periods=20, simulate_paths=10)
    assert res.status == "optimal"
    lines = res.summary()
    assert any("C =" in x for x in lines) and any("IC binding" in x for x in lines)
    d = res.to_dict()
    assert d["objective"] == pytest.approx(res.objective) and len(d["convergence"]) == res.vi.iterations
    tab = dict(raw, utility={"kind": "tabular", "points": [[0.1, -3.0], [1.0, 0.0], [2.0, 0.8], [4.0, 1.5]]})
    assert solve_model(load(tab), simulate_periods=0).status == "optimal"
    bad = [({"prob": [0.5, 0.6]}, "prob"), ({"income": [2.0, 1.0]}, "income"), ({"beta": 1.0}, "beta"),
           ({"utility": {"kind": "tabular", "points": [[0, 0], [1, 1], [2, 3]]}}, "utility.points"),
           ({"utility": {"kind": "quadratic"}}, "utility.kind"), ({"grid": {"n_promise": 2}}, "grid.n_promise"),
           ({"grid": {"promise_range": [-1e5, 0.0]}}, "grid.promise_range"), ({"colour": 1}, "colour")]
    for change, field in bad:
        with pytest.raises(ModelError, match=field.replace(".", r"\.")):
            load(dict(raw, **change))


def test_shipped_model_files_load():
    for f in ("thomas_worrall", "thomas_worrall_cara", "thomas_worrall_cara_exact", "guo_horner", "guo_horner_iid", "guo_horner_finite"):
        assert load(f"models/{f}.toml").kind in ("thomas_worrall", "guo_horner")


def test_inverse_marginal_cost_martingale(tw_log):
    """Thomas–Worrall's first-order condition: the promise-keeping multiplier C'(v) equals
    E_k C'(w_k) (the IC multipliers cancel in expectation).  C'(v) is read from the labelled
    promise-keeping row's dual; C'(w_k) is the slope of the segment the continuation lottery
    mixes over.  So C'(v_t) is a martingale — the engine of immiseration."""
    r = tw_log
    m = r.model
    v, C = r.grid, r.cost
    slope = np.diff(C) / np.diff(v)
    pk_dual = r.binding()["promise_keeping_dual"][:, 0]
    _, lam = r._lotteries()
    checked = 0
    for i in range(2, v.size - 2):
        sl = []
        for k in range(m.K):
            sup = np.nonzero(lam[i, k] > 1e-7)[0]
            if sup.size != 2 or sup[1] != sup[0] + 1:
                break
            sl.append(slope[sup[0]])
        else:
            assert m.prob @ np.array(sl) == pytest.approx(pk_dual[i], rel=1e-6, abs=1e-9)
            checked += 1
    assert checked >= 10
    # the multiplier is the derivative of the cost function
    assert np.all(np.diff(pk_dual) > 0)
    mid = 0.5 * (slope[:-1] + slope[1:])
    assert np.all(np.abs(pk_dual[1:-1] - mid) <= np.abs(np.diff(slope)) + 1e-9)


def test_cli_solve_prints_cost_and_writes_plots(tmp_path):
    import json

    from typer.testing import CliRunner

    from dmd_opt.interfaces.cli import app
    model = tmp_path / "tw.toml"
    model.write_text('kind = "thomas_worrall"\nincome = [1.0, 2.0]\nprob = [0.5, 0.5]\nbeta = 0.9\n'
                     '[utility]\nkind = "log"\n[grid]\nn_promise = 15\nn_transfer = 11\n'
                     '[solve]\nsimulate_periods = 30\nsimulate_paths = 20\n')
    runner = CliRunner()
    out = runner.invoke(app, ["solve", str(model), "--plot", str(tmp_path / "plots")])
    assert out.exit_code == 0, out.output
    assert "C =" in out.output and "IC binding" in out.output
    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert pngs == ["tw_continuations.png", "tw_convergence.png", "tw_cost.png", "tw_paths.png", "tw_transfers.png"]
    js = runner.invoke(app, ["solve", str(model), "--json"])
    data = json.loads(js.output)
    assert data["status"] == "optimal" and len(data["cost"]) == 15
    aud = runner.invoke(app, ["audit", str(model)])
    assert aud.exit_code == 0 and "binding IC by pattern" in aud.output
    bad = runner.invoke(app, ["solve", str(model), "--backend", "cvxpy"])
    assert bad.exit_code != 0 and "solve.backend" in bad.output


def test_warm_started_refinement_matches_cold_start():
    base = ThomasWorrall.create([1.0, 2.0], [0.5, 0.5], 0.9, {"kind": "log"}, n_promise=15, n_transfer=11)
    coarse = base.solve()
    warm = coarse.refine(30)
    cold = base.refined(30).solve()
    assert warm.vi.iterations < cold.vi.iterations
    assert np.max(np.abs(warm.cost - cold.cost)) < 1e-6


def test_column_generation_window_is_exact():
    """Loading only nearby continuation columns and pricing the rest in gives the full
    LP's optimum: same cost function, and every column of the full Program has a
    non-negative reduced cost (an optimality certificate for the full Bellman LP)."""
    m = ThomasWorrall.create([1.0, 2.0], [0.5, 0.5], 0.9, {"kind": "log"}, n_promise=45, n_transfer=15)
    win = m.solve(window=3)
    full = m.solve(window=None)
    assert win.vi.solution.info["loaded_columns"] < full.vi.solution.info["loaded_columns"]
    assert win.vi.solution.info["priced_in_columns"] > 0
    assert np.max(np.abs(win.cost - full.cost)) < 1e-9
    sol = win.vi.solution
    prog = win.vi.stacked.program
    at_zero = (sol.x <= 1e-12) & (prog.col_upper > 0)   # (ub = 0: transfers below the consumption floor)
    assert np.all(sol.col_dual[at_zero] >= -1e-7)        # min program: d cost / d (lower bound) >= 0
    A = prog.matrix()
    assert np.max(np.abs(A @ sol.x - sol.row_activity)) < 1e-8


def test_certificate_of_final_bellman_lp(tmp_path):
    """The final Bellman LP (costs from the last iteration's continuation values, carried as
    the program option ``continuation_values``) is rebuilt from the model by the checker and
    its optimality verified without a solver."""
    from dmd_opt.certificates import check_certificate
    raw = {"kind": "thomas_worrall", "income": [1.0, 2.0], "prob": [0.5, 0.5], "beta": 0.9,
           "utility": {"kind": "log"}, "grid": {"n_promise": 12, "n_transfer": 9}}
    model = load(raw)
    res = solve_model(model, simulate_periods=0)
    path = tmp_path / "tw_cert.json"
    res.certificate(path, model=model)
    out = check_certificate(path)
    assert out.ok, out.verdict
    # the certified LP values are T(V_in): within the stopping tolerance of V_in
    assert np.max(np.abs(res.cost - res.vi.V_in[0])) < 1e-8
