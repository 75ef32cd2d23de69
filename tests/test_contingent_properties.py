"""Property tests on random joint-signal environments (docs/theory.md#contingent-transfers-with-interdependent-values).

* Random full-rank transitions: the pseudo-inverse (VCG-type) transfers always exist, solve
  their equations and give a periodic ex-post IC mechanism; the report-dependent LP is
  feasible too (convex independence holds) and its mechanism is IC as well.
* Random rank-deficient transitions (agent 1's signal carries no information about agent 2's
  next signal): the failure is reported block by block and no mechanism is returned.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from dmd_opt.families import contingent as C


def _env(seed: int, n: int, horizon, deficient: bool = False) -> C.ContingentEnvironment:
    rng = np.random.default_rng(seed)
    R, A = n * n, 2
    kernels = []
    for _ in range(1 if horizon is None else max(horizon - 1, 1)):
        K = np.zeros((A, R, R))
        for a in range(A):
            if deficient:
                # θ'^1 | θ (anything), θ'^2 | θ^2 only: M^{-1} has identical columns (rank 1)
                P1 = rng.dirichlet(np.ones(n), size=R)                 # (R, n)
                P2 = rng.dirichlet(np.ones(n), size=n)                 # (n, n) indexed by θ^2
                for k in range(R):
                    K[a, k] = np.outer(P1[k], P2[k % n]).ravel()
            else:
                K[a] = rng.dirichlet(np.ones(R), size=R)
        kernels.append(K)
    util = rng.uniform(-1, 1, size=(2, A, R))
    return C.ContingentEnvironment([np.arange(n, dtype=float)] * 2, ("a", "b"), util,
                                   rng.dirichlet(np.ones(R)), kernels, 0.85, horizon,
                                   "ex_post" if horizon is None else "constant",
                                   None if horizon is None else 0)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.sampled_from([2, 3]), horizon=st.sampled_from([None, 2, 3]))
def test_full_rank_transfers_always_work(seed, n, horizon):
    env = _env(seed, n, horizon)
    pol = C.efficient_policy(env)
    diag = C.diagnose(env, pol)
    assume(min(b.sigma_min for b in diag.blocks) > 1e-3)           # generic: full rank, not too ill-posed
    assert diag.spanning()
    last = None if env.stationary else C.last_period_transfers(env, pol.at(env.horizon - 1))
    vt = C.vcg_transfers(env, pol, last)
    assert vt.ok and not vt.failures
    tg = C.targets(env, pol, last)
    for t in range(env.steps):
        for i in range(env.N):
            MT = env.others_marginal(t, i)
            lhs = env.discount * np.einsum("aosn,aon->aos", MT, vt.p[t][i])
            np.testing.assert_allclose(lhs, -tg[t][i], atol=1e-9)
    mech = C.vcg_mechanism(env, pol, vt, last)
    scale = 1 + vt.max_abs
    assert C.periodic_expost(mech).max_regret <= 1e-9 * scale
    if diag.convex_independence(True):
        rt = C.solve_report(env, pol, last)
        assert rt.status == "optimal"
        assert C.periodic_expost(C.report_mechanism(env, pol, rt, last)).max_regret <= 1e-8 * (1 + rt.max_abs)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.sampled_from([2, 3]), horizon=st.sampled_from([None, 3]))
def test_rank_deficient_failure_is_reported(seed, n, horizon):
    env = _env(seed, n, horizon, deficient=True)
    pol = C.efficient_policy(env)
    diag = C.diagnose(env, pol)
    a1 = [b for b in diag.blocks if b.agent == 0]
    assert all(b.rank == 1 and not b.spanning and not b.convex_independent for b in a1)
    last = None if env.stationary else C.last_period_transfers(env, pol.at(env.horizon - 1))
    vt = C.vcg_transfers(env, pol, last)
    # agent 2's utility varies with agent 1's signal (random), so the target is outside the range
    assert not vt.ok and vt.status == "spanning_fails"
    bad = [f for f in vt.failures if f["used_by_policy"]]
    assert bad and all(f["agent_index"] == 0 and f["rank"] == 1 and f["residual"] > 1e-9 for f in bad)
    # every reported failure really is unsolvable: the least-squares residual is what was reported
    for f in vt.failures:
        t, i = f["step"], f["agent_index"]
        a = env.decisions(0).index(f["decision"])
        o = next(o for o in range(env.n_others(i)) if env.label_others(i, o) == f["others_signals"])
        MT = env.others_marginal(t, i)[a, o]
        b = -C.targets(env, pol, last)[t][i][a, o] / env.discount
        x = np.linalg.lstsq(MT, b, rcond=None)[0]
        assert np.max(np.abs(MT @ x - b)) * env.discount == pytest.approx(f["residual"], rel=1e-6, abs=1e-12)
    with pytest.raises(ValueError):
        C.vcg_mechanism(env, pol, vt, last)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.sampled_from([2, 3]), horizon=st.sampled_from([1, 2, 3]))
def test_ex_post_last_period_either_works_or_is_refused(seed, n, horizon):
    """Decision-dependent random kernels with last_period = "ex_post": when the static last-period
    rule is ex-post implementable the mechanism is periodic ex-post IC; otherwise the reported
    cycle really is a profitable chain of misreports (checked by brute force)."""
    env = _env(seed, n, horizon)
    env.last_period, env.last_decision = "ex_post", None
    pol = C.efficient_policy(env)
    d = pol.at(env.horizon - 1)
    last = C.last_period_transfers(env, d)
    # brute force: is there a cycle of misreports with positive total gain for some (i, θ^{-i})?
    profitable = False
    for i in range(env.N):
        for o in range(env.n_others(i)):
            ks = env.profile_of(i)[o]
            gain = np.array([[env.utility[i][d[ks[r]], ks[s]] - env.utility[i][d[ks[s]], ks[s]]
                              for r in range(n)] for s in range(n)])
            for L in range(2, n + 1):
                for cyc in itertools.permutations(range(n), L):
                    if cyc[0] == min(cyc) and sum(gain[cyc[k], cyc[(k + 1) % L]] for k in range(L)) > 1e-9:
                        profitable = True
    assert last.ok == (not profitable)
    if not last.ok:
        assert all(c["gain"] > 0 for c in last.cycles)
        return
    vt = C.vcg_transfers(env, pol, last)
    assume(vt.ok)
    mech = C.vcg_mechanism(env, pol, vt, last)
    assert C.periodic_expost(mech).max_regret <= 1e-9 * (1 + vt.max_abs)
