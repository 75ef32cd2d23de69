"""Liu's contingent transfers (docs/theory.md#contingent-transfers-with-interdependent-values): diagnostics, transfers, LP, mechanism, verifier.

Every number is checked against an independent computation: loops over the joint kernel for
M^{-i}, numpy's SVD, brute-force face enumeration and NNLS for hull distances, a pure-Python
recursion for one-shot deviations, a second LP backend, and the certificate checker.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
from scipy.optimize import nnls

from dmd_opt.families import contingent as C
from dmd_opt.core.errors import ModelError
from dmd_opt.interfaces.models import load, read_toml, solve_model

from conftest import MODELS


def _raw(name):
    raw = read_toml(MODELS / f"{name}.toml")
    raw.pop("kind")
    raw.pop("solve", None)
    return raw


def _setup(name):
    env = C.from_dict(_raw(name))
    pol = C.efficient_policy(env)
    return env, pol, C.last_period_transfers(env, pol.at(env.horizon - 1))


@pytest.fixture(scope="module")
def spanning():
    return _setup("liu_spanning")


@pytest.fixture(scope="module")
def ci_model():
    return _setup("liu_convex_independence")


# ------------------------------------------------------------------ independent helpers
def _M_loops(env, t, i, a, o):
    """M^{-i}[o', s] by summing the joint kernel with explicit loops."""
    keep = [j for j in range(env.N) if j != i]
    oshape = [env.shape[j] for j in keep]
    odig = np.unravel_index(o, oshape)
    M = np.zeros((env.n_others(i), env.shape[i]))
    K = env.kernel(t)[a]
    for s in range(env.shape[i]):
        dig = [0] * env.N
        dig[i] = s
        for j, d in zip(keep, odig):
            dig[j] = d
        k = int(np.ravel_multi_index(dig, env.shape))
        for k2 in range(env.R):
            d2 = np.unravel_index(k2, env.shape)
            o2 = int(np.ravel_multi_index([d2[j] for j in keep], oshape))
            M[o2, s] += K[k, k2]
    return M


def _hull_brute(A, b):
    """Distance of b to conv(columns of A): minimum over faces of equality-constrained LS."""
    n = A.shape[1]
    best = np.inf
    for size in range(1, n + 1):
        for S in itertools.combinations(range(n), size):
            As = A[:, S]
            k = len(S)
            K = np.zeros((k + 1, k + 1))
            K[:k, :k] = 2 * As.T @ As
            K[:k, k] = K[k, :k] = 1
            sol = np.linalg.lstsq(K, np.concatenate([2 * As.T @ b, [1]]), rcond=None)[0][:k]
            if np.all(sol >= -1e-12):
                best = min(best, float(np.linalg.norm(b - As @ sol)))
    return best


def _hull_nnls(A, b, w=1e4):
    lam, _ = nnls(np.vstack([A, w * np.ones(A.shape[1])]), np.concatenate([b, [w]]))
    return float(np.linalg.norm(b - A @ lam))


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("mutate,field", [
    (lambda r: r.update(discount=1.5), "discount"),
    (lambda r: r["agents"][0].update(utility=[[1, 2]]), "agents[0].utility"),
    (lambda r: r.update(joint_initial=[0.5] * 9, renormalize=False), "joint_initial"),
    (lambda r: r["joint_transition_by_decision"][1][2].__setitem__(0, 0.9), "joint_transition_by_decision"),
    (lambda r: r.update(last_period="constant"), "last_decision"),
    (lambda r: r.update(last_period="sometimes"), "last_period"),
    (lambda r: r.update(colour="blue"), "colour"),
    (lambda r: r.update(agents=r["agents"][:1]), "agents"),
    (lambda r: r.update(last_decision="C", last_period="constant"), "last_decision"),
])
def test_bad_input_names_the_field(mutate, field):
    raw = copy.deepcopy(_raw("liu_spanning"))
    mutate(raw)
    with pytest.raises(ModelError) as exc:
        C.from_dict(raw)
    assert exc.value.field.startswith(field), exc.value


# ------------------------------------------------------------------ diagnostics
def test_blocks_match_loops_and_numpy_svd(spanning):
    env, pol, _ = spanning
    rep = C.diagnose(env, pol)
    assert len(rep.blocks) == env.steps * env.N * env.n_decisions(0) * 3
    for b in rep.blocks:
        M = _M_loops(env, b.step, b.agent, b.decision, b.others)
        np.testing.assert_allclose(b.M, M, atol=1e-14)
        s = np.linalg.svd(M, compute_uv=False)
        np.testing.assert_allclose(b.singular_values, s, atol=1e-12)
        assert b.rank == np.linalg.matrix_rank(M) == 3
        assert b.pinv_norm == pytest.approx(np.linalg.norm(np.linalg.pinv(M), 2), rel=1e-10)
        assert b.condition == pytest.approx(np.linalg.cond(M), rel=1e-10)
    assert rep.spanning() and rep.convex_independence()
    assert rep.sup_pinv_norm == pytest.approx(max(np.linalg.norm(np.linalg.pinv(b.M), 2) for b in rep.blocks))


@pytest.mark.parametrize("name,method", [("liu_spanning", "active_set"), ("liu_spanning_fails", "active_set"),
                                         ("liu_convex_independence", "active_set"),
                                         ("liu_spanning", "qp"), ("liu_convex_independence", "qp")])
def test_hull_margins_match_brute_force_and_nnls(name, method):
    env = C.from_dict(_raw(name))
    rep = C.diagnose(env, method=method)
    for b in rep.blocks:
        for k in range(b.M.shape[1]):
            others = [j for j in range(b.M.shape[1]) if j != k]
            d_brute = _hull_brute(b.M[:, others], b.M[:, k])
            assert b.ci_distances[k] == pytest.approx(d_brute, abs=1e-7)
            assert b.ci_distances[k] == pytest.approx(_hull_nnls(b.M[:, others], b.M[:, k]), abs=1e-4)


def test_which_condition_fails_where():
    fails = C.diagnose(C.from_dict(_raw("liu_spanning_fails")))
    f = fails.failures()
    # agent 1's block is 2x3: rank 2 < 3 and the middle column lies on the segment of the others
    assert {x["agent"] for x in f["spanning"]} == {"agent 1"}
    assert {x["agent"] for x in f["convex_independence"]} == {"agent 1"}
    df = fails.frame()
    a1 = df[df.agent == "agent 1"]
    assert (a1["rank"] == 2).all() and (a1["rows"] == 2).all() and (a1["cols"] == 3).all()
    assert not a1.spanning.any() and not a1.convex_independent.any()
    assert df[df.agent == "agent 2"].spanning.all()
    ci = C.diagnose(C.from_dict(_raw("liu_convex_independence")))
    assert not ci.spanning() and ci.convex_independence()
    assert ci.min_ci_margin > 0.1
    d = ci.to_dict()
    assert d["spanning"] is False and d["convex_independence"] is True and d["failures"]["spanning"]


def test_active_set_projection_random_against_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(200):
        m, n = rng.integers(2, 6), rng.integers(1, 6)
        A = rng.dirichlet(np.ones(m), size=n).T
        b = rng.dirichlet(np.ones(m)) if rng.random() < 0.7 else A @ rng.dirichlet(np.ones(n))
        d, lam, ok = C.diagnostics.project_to_hull(A, b)
        assert ok and lam.min() >= 0 and lam.sum() == pytest.approx(1)
        assert d == pytest.approx(_hull_brute(A, b), abs=1e-10)


def test_hull_qp_second_backend():
    env = C.from_dict(_raw("liu_convex_independence"))
    blocks = C.diagnostics.block_matrices(env)
    prog, index = C.diagnostics.hull_distance_program(blocks)
    from dmd_opt.solvers import solve
    s1, s2 = solve(prog, backend="highs"), solve(prog, backend="cvxpy", solver="CLARABEL")
    assert s1.status == s2.status == "optimal"
    assert s1.objective == pytest.approx(s2.objective, abs=1e-6)


# ------------------------------------------------------------------ VCG-type transfers
def test_vcg_transfers_solve_their_equations(spanning):
    env, pol, last = spanning
    vt = C.vcg_transfers(env, pol, last)
    assert vt.ok and not vt.failures and vt.max_residual <= 1e-9
    df = vt.frame()
    assert len(df) == env.steps * env.N * env.n_decisions(0) * 9 and df.residual.max() <= 1e-9
    tg = C.targets(env, pol, last)
    for t in range(env.steps):
        for i in range(env.N):
            for a in range(env.n_decisions(0)):
                for o in range(env.n_others(i)):
                    M = _M_loops(env, t, i, a, o)
                    p = vt.p[t][i][a, o]
                    # δ Mᵀ p = −ũ^{-i}; in the interior ũ^{-i} is the others' flow utility
                    np.testing.assert_allclose(env.discount * M.T @ p, -tg[t][i][a, o], atol=1e-9)
                    if t < env.steps - 1:
                        prof = env.profile_of(i)[o]
                        np.testing.assert_allclose(tg[t][i][a, o], env.others_utility(i)[a, prof], atol=1e-14)
                    # minimum norm: p is in the row space of Mᵀ (= range of M)
                    np.testing.assert_allclose(M @ np.linalg.lstsq(M, p, rcond=None)[0], p, atol=1e-9)


def test_vcg_transfer_norm_within_pinv_bound(spanning):
    """‖p‖₂ ≤ ‖(Mᵀ)⁺‖₂ ‖ũ‖₂ / δ with ‖(Mᵀ)⁺‖ = ‖M⁺‖ from the diagnostics (Assumption 3's D̄)."""
    env, pol, last = spanning
    vt = C.vcg_transfers(env, pol, last)
    diag = C.diagnose(env, pol)
    tg = C.targets(env, pol, last)
    for b in diag.blocks:
        p = vt.p[b.step][b.agent][b.decision, b.others]
        bound = b.pinv_norm * np.linalg.norm(tg[b.step][b.agent][b.decision, b.others]) / env.discount
        assert np.linalg.norm(p) <= bound * (1 + 1e-12)


def test_vcg_mechanism_is_periodic_expost_ic_and_naive_team_is_not(spanning):
    env, pol, last = spanning
    mech = C.vcg_mechanism(env, pol, C.vcg_transfers(env, pol, last), last)
    rep = C.periodic_expost(mech)
    assert rep.max_regret <= 1e-9
    # VCG property: before the last period each agent's truthful value (net of the transfer
    # announced for this period) is the social surplus W_t
    for i in range(env.N):
        for t in range(env.horizon - 1):
            np.testing.assert_allclose(rep.truthful_values[i][t], pol.value(t), atol=1e-9)
    assert mech.welfare() == pytest.approx(pol.expected_welfare(), rel=1e-12)
    naive = C.periodic_expost(C.naive_team_mechanism(env, pol))
    assert naive.max_regret > 0.1


def test_verifier_catches_a_perturbed_transfer(spanning):
    env, pol, last = spanning
    vt = C.vcg_transfers(env, pol, last)
    # a block where agent i's report moves a*: (t, i, o) with two used decisions
    t, i, o = next((t, i, o) for t in range(env.steps) for i in range(env.N)
                   for o in range(env.n_others(i))
                   if C.transfers.used_blocks(env, pol, t, i)[:, o].sum() > 1)
    a = int(np.flatnonzero(C.transfers.used_blocks(env, pol, t, i)[:, o])[0])
    vt.p[t][i] = vt.p[t][i].copy()
    vt.p[t][i][a, o] += 10.0                             # decision a now costs i 10 more next period
    rep = C.periodic_expost(C.vcg_mechanism(env, pol, vt, last))
    assert rep.max_regret > 1.0 and rep.worst["period"] == t and rep.worst["agent"] == env.agent_names[i]


def _brute_regret(mech):
    """Pure-Python one-shot deviation regret by explicit recursion (finite horizon)."""
    env, d = mech.env, mech.env.discount
    T = env.horizon

    def value(t, prev, theta, i):          # truthful from t on, previous reports prev
        a = mech.dec(t)[theta]
        v = env.utility[i][a, theta] - mech.pay(t)[prev if t else 0, theta, i]
        if t + 1 < T:
            K = env.kernel(t)[a, theta]
            v += d * sum(K[q] * value(t + 1, theta, q, i) for q in range(env.R) if K[q] > 0)
        return v
    worst = 0.0
    for i in range(env.N):
        for t in range(T):
            for prev in range(env.R if t else 1):
                for theta in range(env.R):
                    truth = value(t, prev, theta, i)
                    for r in range(env.shape[i]):
                        rhat = int(env.replace_own(i, r)[theta])
                        a = mech.dec(t)[rhat]
                        v = env.utility[i][a, theta] - mech.pay(t)[prev if t else 0, rhat, i]
                        if t + 1 < T:
                            K = env.kernel(t)[a, theta]
                            v += d * sum(K[q] * value(t + 1, rhat, q, i) for q in range(env.R) if K[q] > 0)
                        worst = max(worst, v - truth)
    return worst


def test_verifier_agrees_with_pure_python_recursion():
    env = C.from_dict(_raw("liu_spanning_fails"))           # R = 6, T = 3: small enough to recurse
    pol = C.efficient_policy(env)
    naive = C.naive_team_mechanism(env, pol)
    brute = _brute_regret(naive)
    assert brute > 0.1
    assert C.periodic_expost(naive).max_regret == pytest.approx(brute, abs=1e-12)


# ------------------------------------------------------------------ failures are reported
def test_rank_deficient_blocks_are_reported_not_returned():
    env = C.from_dict(_raw("liu_spanning_fails"))
    pol = C.efficient_policy(env)
    last = C.last_period_transfers(env, pol.at(env.horizon - 1))
    vt = C.vcg_transfers(env, pol, last)
    assert not vt.ok and vt.status == "spanning_fails"
    used = [f for f in vt.failures if f["used_by_policy"]]
    assert used and all(f["rank"] == 2 and f["residual"] > 1e-3 and f["agent"] == "agent 1" for f in used)
    with pytest.raises(ValueError, match="do not exist"):
        C.vcg_mechanism(env, pol, vt, last)
    res = solve_model(load(MODELS / "liu_spanning_fails.toml"), method="vcg")
    assert res.status == "spanning_fails" and res.mechanism is None


# ------------------------------------------------------------------ report-dependent LP
def test_report_lp_under_convex_independence_only(ci_model):
    env, pol, last = ci_model
    assert not C.vcg_transfers(env, pol, last).ok                 # spanning fails here
    rt = C.solve_report(env, pol, last)
    assert rt.status == "optimal"
    r = rt.residuals(pol, last)
    assert r["truthful_equation"] <= 1e-9 and r["ic_violation"] <= 1e-9
    # the objective is Σ_b max|p| of its block
    zsum = 0.0
    for t in range(env.steps):
        for i in range(env.N):
            used = C.transfers.used_blocks(env, pol, t, i)
            zsum += np.abs(rt.p[t][i]).max(axis=(2, 3))[used].sum()
    assert rt.solution.objective == pytest.approx(zsum, rel=1e-7)
    mech = C.report_mechanism(env, pol, rt, last)
    assert C.periodic_expost(mech).max_regret <= 1e-9
    assert C.periodic_expost(C.naive_team_mechanism(env, pol)).max_regret > 0.1
    rt2 = C.solve_report(env, pol, last, backend="cvxpy", solver="HIGHS")
    assert rt2.status == "optimal"
    assert rt2.solution.objective == pytest.approx(rt.solution.objective, rel=1e-6)


def test_report_lp_infeasible_has_farkas_certificate(tmp_path):
    model = load(MODELS / "liu_spanning_fails.toml")
    res = solve_model(model)                                      # method auto → LP
    assert res.method == "report" and res.status == "infeasible"
    assert res.solution.dual_ray is not None
    from dmd_opt.certificates import check_certificate
    res.certificate(tmp_path / "cert.json", model=model)
    chk = check_certificate(tmp_path / "cert.json", model=model)
    assert chk.ok, chk.verdict


def test_report_lp_certificate_checks(tmp_path):
    model = load(MODELS / "liu_convex_independence.toml")
    res = solve_model(model)
    assert res.status == "optimal" and res.method == "report"
    from dmd_opt.certificates import check_certificate
    res.certificate(tmp_path / "cert.json", model=model)
    chk = check_certificate(tmp_path / "cert.json", model=model)
    assert chk.ok, chk.verdict
    labels = res.program.labels_frame()
    assert set(labels.family) == {"truthful", "IC", "bound_upper", "bound_lower"}


# ------------------------------------------------------------------ last period rules
def test_constant_last_decision(spanning):
    raw = copy.deepcopy(_raw("liu_spanning"))
    raw.update(last_period="constant", last_decision="A")
    env = C.from_dict(raw)
    pol = C.efficient_policy(env)
    assert (pol.at(env.horizon - 1) == 0).all()
    last = C.last_period_transfers(env, pol.at(env.horizon - 1))
    assert last.ok and not last.q.any()
    mech = C.vcg_mechanism(env, pol, C.vcg_transfers(env, pol, last), last)
    assert C.periodic_expost(mech).max_regret <= 1e-9
    # the constant last decision costs welfare relative to the fully efficient policy
    assert pol.expected_welfare() < spanning[1].expected_welfare() - 1e-6


def test_last_period_static_transfers_are_ex_post_ic(spanning):
    env, pol, last = spanning
    d = pol.at(env.horizon - 1)
    for i in range(env.N):
        for theta in range(env.R):
            truth = env.utility[i][d[theta], theta] - last.q[theta, i]
            for r in range(env.shape[i]):
                rh = env.replace_own(i, r)[theta]
                assert env.utility[i][d[rh], theta] - last.q[rh, i] <= truth + 1e-12


def test_assumption_4_failure_is_detected():
    raw = _raw("liu_winner_pay_auction")
    raw["horizon"] = 3                                            # γ = 2: last-period efficient rule
    env = C.from_dict(raw)                                        # (lowest signal wins) is not ex-post IC
    res = solve_model({"kind": "contingent", **raw})
    assert res.status == "last_period_not_ex_post"
    assert res.last.cycles and res.last.cycles[0]["gain"] > 0
    raw2 = dict(raw, last_period="constant", last_decision="to bidder 1")
    res2 = solve_model({"kind": "contingent", **raw2})
    assert res2.status == "optimal" and res2.verification.max_regret <= 1e-9
    assert env.horizon == 3


# ------------------------------------------------------------------ model kind
def test_model_kind_end_to_end():
    for name, method, status in [("liu_spanning", "vcg", "optimal"),
                                 ("liu_convex_independence", "report", "optimal"),
                                 ("liu_winner_pay_auction", "vcg", "optimal")]:
        res = solve_model(load(MODELS / f"{name}.toml"), auction=False)
        assert res.status == status and res.method == method, name
        assert res.verification.max_regret <= 1e-9
        assert res.naive_verification.max_regret > 0.1
        d = res.to_dict()
        from dmd_opt.core.serialise import dumps
        assert dumps(d)
        assert any("periodic ex-post" in s for s in res.summary())


def test_report_lp_all_blocks_and_stationary(ci_model):
    env, pol, last = ci_model
    used = C.solve_report(env, pol, last, blocks="used")
    every = C.solve_report(env, pol, last, blocks="all")     # Lemma A.3 for every (a, θ^{-i})
    assert every.status == "optimal" and every.program.n_rows > used.program.n_rows
    assert every.solution.objective >= used.solution.objective - 1e-9
    assert C.periodic_expost(C.report_mechanism(env, pol, every, last)).max_regret <= 1e-9
    raw = _raw("liu_winner_pay_auction")                        # stationary, infinite horizon
    res = solve_model({"kind": "contingent", **raw}, method="report")
    assert res.status == "optimal" and res.verification.max_regret <= 1e-9


def test_cli_solve_verify_json(tmp_path):
    import json
    from typer.testing import CliRunner
    from dmd_opt.interfaces.cli import app
    runner = CliRunner()
    out = runner.invoke(app, ["solve", str(MODELS / "liu_spanning.toml"), "--json"])
    assert out.exit_code == 0, out.output
    d = json.loads(out.output)
    assert d["status"] == "optimal" and d["diagnostics"]["spanning"] is True
    assert d["verification"]["periodic_expost_max_regret"] <= 1e-9
    out = runner.invoke(app, ["verify", str(MODELS / "liu_convex_independence.toml")])
    assert out.exit_code == 0 and "PASSED" in out.output
    out = runner.invoke(app, ["solve", str(MODELS / "liu_spanning_fails.toml")])
    assert out.exit_code != 0 and "infeasible" in out.output
