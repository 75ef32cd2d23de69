"""Finite MDP solvers (dmd_opt.dp.mdp) against brute force, each other, QuantEcon and closed forms."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, strategies as st

from dmd_opt.dp import mdp


def random_mdp(rng, S, A, sparse_k=None, infeasible=0.0):
    R = rng.normal(size=(S, A))
    if infeasible:
        mask = rng.random((S, A)) < infeasible
        mask[:, 0] = False
        R[mask] = -np.inf
    if sparse_k is None:
        P = rng.dirichlet(np.ones(S) * 0.5, size=S * A)
    else:
        rows = np.repeat(np.arange(S * A), sparse_k)
        cols = rng.integers(0, S, size=S * A * sparse_k)
        vals = rng.random(S * A * sparse_k)
        P = sp.csr_matrix((vals, (rows, cols)), shape=(S * A, S))
        P = sp.diags(1 / np.asarray(P.sum(axis=1)).ravel()) @ P
    return R, P


def brute_force_stationary(R, P, delta):
    """Max over all deterministic stationary policies of their exact values (state by state)."""
    S, A = R.shape
    best = np.full(S, -np.inf)
    for sigma in itertools.product(*[np.flatnonzero(np.isfinite(R[s])) for s in range(S)]):
        sigma = np.array(sigma)
        Ps = (P.toarray() if sp.issparse(P) else P)[np.arange(S) * A + sigma]
        v = np.linalg.solve(np.eye(S) - delta * Ps, R[np.arange(S), sigma])
        best = np.maximum(best, v)
    return best


@given(st.integers(0, 10_000), st.integers(2, 4), st.integers(2, 3), st.floats(0.1, 0.97))
def test_stationary_solvers_match_brute_force(seed, S, A, delta):
    rng = np.random.default_rng(seed)
    R, P = random_mdp(rng, S, A, infeasible=0.2)
    ref = brute_force_stationary(R, P, delta)
    scale = np.max(np.abs(R[np.isfinite(R)])) / (1 - delta)
    for res in (mdp.policy_iteration(R, P, delta), mdp.value_iteration(R, P, delta, tol=1e-11),
                mdp.modified_policy_iteration(R, P, delta, k=5, tol=1e-11), mdp.lp_solve(R, P, delta)):
        assert res.converged, res.method
        assert np.max(np.abs(res.values - ref)) <= 1e-7 * scale, res.method
        # the returned policy attains the optimum
        assert np.max(np.abs(mdp.policy_value(R, P, delta, res.policy) - ref)) <= 1e-7 * scale, res.method


def test_backward_induction_matches_brute_force():
    rng = np.random.default_rng(3)
    T, sizes, A = 3, [2, 3, 2], 2
    R = [rng.normal(size=(sizes[t], A)) for t in range(T)]
    P = [rng.dirichlet(np.ones(sizes[t + 1]), size=sizes[t] * A) for t in range(T - 1)]
    terminal = rng.normal(size=4)
    P.append(rng.dirichlet(np.ones(4), size=sizes[-1] * A))
    delta = 0.8
    res = mdp.backward_induction(R, P, delta, terminal=terminal)
    assert isinstance(res.policy, list) and len(res.values) == T + 1
    best = np.full(sizes[0], -np.inf)
    for pol in itertools.product(*[itertools.product(range(A), repeat=sizes[t]) for t in range(T)]):
        v = terminal
        for t in range(T - 1, -1, -1):
            a = np.array(pol[t])
            v = R[t][np.arange(sizes[t]), a] + delta * P[t][np.arange(sizes[t]) * A + a] @ v
        best = np.maximum(best, v)
    np.testing.assert_allclose(res.values[0], best, atol=1e-12)


def test_value_and_policy_iteration_agree_on_large_sparse_mdp():
    rng = np.random.default_rng(0)
    R, P = random_mdp(rng, 3000, 4, sparse_k=5)
    pi = mdp.policy_iteration(R, P, 0.95)
    vi = mdp.value_iteration(R, P, 0.95, tol=1e-9)
    mpi = mdp.modified_policy_iteration(R, P, 0.95, k=30, tol=1e-9)
    assert np.max(np.abs(pi.values - vi.values)) < 1e-8
    assert np.max(np.abs(pi.values - mpi.values)) < 1e-8
    assert np.array_equal(pi.policy, vi.policy)


def test_policy_iteration_matches_quantecon():
    quantecon = pytest.importorskip("quantecon")
    rng = np.random.default_rng(1)
    R, P = random_mdp(rng, 400, 3, sparse_k=4)
    s_ind = np.repeat(np.arange(400), 3)
    a_ind = np.tile(np.arange(3), 400)
    ddp = quantecon.markov.DiscreteDP(R.ravel(), P, 0.9, s_ind, a_ind)
    ref = ddp.solve(method="policy_iteration")
    ours = mdp.policy_iteration(R, P, 0.9)
    np.testing.assert_allclose(ours.values, ref.v, atol=1e-9)
    assert np.array_equal(ours.policy, ref.sigma)


def _switching_mdp():
    """State 0: take 1 now and stop (absorbing 0), or 0 now and 0.3 forever (state 2)."""
    R = np.array([[1.0, 0.0], [0.0, -np.inf], [0.3, -np.inf]])
    P = np.zeros((6, 3))
    P[0, 1] = P[1, 2] = P[2, 1] = P[3, 1] = P[4, 2] = P[5, 2] = 1
    return R, P


def test_blackwell_is_the_limit_of_discount_optimal_policies():
    R, P = _switching_mdp()
    # δ-optimal action in state 0 changes at δ = 1/1.3: stop below, wait above
    assert mdp.policy_iteration(R, P, 0.5).policy[0] == 0
    assert mdp.policy_iteration(R, P, 0.76).policy[0] == 0
    assert mdp.policy_iteration(R, P, 0.78).policy[0] == 1
    bw = mdp.blackwell_optimal(R, P, sigma0=[0, 0, 0])   # start from the myopic policy
    assert bw.policy.tolist() == [1, 0, 0]
    assert bw.info["delta_threshold"] == pytest.approx(1 / 1.3, abs=1e-12)
    # gain (average reward) and bias (Laurent coefficients at δ = 1)
    np.testing.assert_allclose(bw.values, [0.3, 0.0, 0.3], atol=1e-15)
    np.testing.assert_allclose(bw.info["bias"], [-0.3, 0.0, 0.0], atol=1e-15)


def test_blackwell_separates_equal_gain_policies_by_bias():
    """Both actions have gain 0; '2 later' beats '1 now' only for δ > 1/2 (bias decides)."""
    R = np.array([[1.0, 0.0], [2.0, -np.inf], [0.0, -np.inf]])
    P = np.zeros((6, 3))
    P[0, 2] = 1   # state 0, a=0: reward 1, absorb at 2
    P[1, 1] = 1   # state 0, a=1: reward 0, go to 1
    P[2, 2] = P[3, 2] = P[4, 2] = P[5, 2] = 1
    bw = mdp.blackwell_optimal(R, P, sigma0=[0, 0, 0])
    assert bw.policy[0] == 1
    np.testing.assert_allclose(bw.values, 0.0, atol=1e-15)
    assert bw.info["delta_threshold"] == pytest.approx(0.5)
    assert mdp.policy_iteration(R, P, 0.4).policy[0] == 0


@given(st.integers(0, 10_000))
def test_blackwell_policy_is_optimal_above_its_threshold(seed):
    rng = np.random.default_rng(seed)
    R, P = random_mdp(rng, 4, 3)
    R = np.round(R, 2)
    bw = mdp.blackwell_optimal(R, P, sigma0=np.zeros(4, int))
    thr = bw.info["delta_threshold"]
    for delta in (thr + (1 - thr) * 0.3, thr + (1 - thr) * 0.9):
        ref = brute_force_stationary(R, P, delta)
        v = mdp.policy_value(R, P, delta, bw.policy)
        assert np.max(ref - v) <= 1e-8 * (1 + np.max(np.abs(ref)))


def test_lp_program_is_labelled():
    rng = np.random.default_rng(2)
    R, P = random_mdp(rng, 5, 2, infeasible=0.3)
    res = mdp.lp_solve(R, P, 0.9)
    prog = res.info["program"]
    assert prog.family_rows("bellman").size == int(np.isfinite(R).sum())
    lab = prog.row_labels()
    assert np.all(np.isfinite(R[lab["history"], lab["report"]]))
    # dual values are the discounted occupation measure: Σ = Σ_s α_s / (1 − δ)
    assert res.info["occupation"].sum() == pytest.approx(1 / (1 - 0.9), rel=1e-8)


def test_bad_inputs():
    R, P = _switching_mdp()
    with pytest.raises(ValueError, match="delta"):
        mdp.policy_iteration(R, P, 1.0)
    with pytest.raises(ValueError, match="shape"):
        mdp.value_iteration(R, P[:4], 0.9)
    bad = R.copy()
    bad[1, 0] = -np.inf
    with pytest.raises(ValueError, match="feasible"):
        mdp.policy_iteration(bad, P, 0.9)


@pytest.mark.parametrize("kind", ["banded", "permuted-banded", "random"])
def test_sparse_policy_evaluation_paths_match_dense(kind):
    """The banded (natural or RCM order) and Krylov evaluation paths against a dense solve."""
    rng = np.random.default_rng(7)
    S, A = 900, 2
    if kind == "random":
        R, P = random_mdp(rng, S, A, sparse_k=4)
    else:
        R = rng.normal(size=(S, A))
        s = np.repeat(np.arange(S), A)
        step = np.where(np.tile(np.arange(A), S) == 0, -1, 1)
        rows = np.r_[np.arange(S * A), np.arange(S * A)]
        cols = np.r_[np.clip(s + step, 0, S - 1), np.clip(s + 2 * step, 0, S - 1)]
        P = sp.csr_matrix((np.r_[np.full(S * A, 0.7), np.full(S * A, 0.3)], (rows, cols)), shape=(S * A, S))
        if kind == "permuted-banded":
            perm = rng.permutation(S)          # relabel states: band hidden, RCM recovers it
            R = R[np.argsort(perm)]
            P = P[np.argsort(np.repeat(perm, A) * A + np.tile(np.arange(A), S))][:, np.argsort(perm)]
            P = sp.csr_matrix(P)
    sigma = rng.integers(0, A, size=S)
    v = mdp.policy_value(R, P, 0.97, sigma)
    Ps = P.toarray()[np.arange(S) * A + sigma]
    ref = np.linalg.solve(np.eye(S) - 0.97 * Ps, R[np.arange(S), sigma])
    assert np.max(np.abs(v - ref)) <= 1e-10 * np.max(np.abs(ref))


@given(st.integers(0, 10_000), st.integers(2, 70), st.integers(1, 4), st.floats(0.1, 0.97))
def test_dense_input_stays_dense_and_matches_sparse(seed, S, A, delta):
    """A dense (S, A, S) array is viewed, not converted, and every algorithm returns on it
    what it returns on the same MDP in CSR (and policy values match a direct dense solve)."""
    rng = np.random.default_rng(seed)
    R = rng.normal(size=(S, A))
    P3 = rng.dirichlet(np.ones(S) * 0.7, size=(S, A))           # (S, A, S) dense
    view = mdp.as_transition(P3, S, A)
    assert isinstance(view, np.ndarray) and np.shares_memory(view, P3) and view.shape == (S * A, S)
    Psp = sp.csr_matrix(P3.reshape(S * A, S))
    for fn in (mdp.policy_iteration, lambda R, P, d: mdp.value_iteration(R, P, d, tol=1e-11),
               lambda R, P, d: mdp.modified_policy_iteration(R, P, d, k=5, tol=1e-11)):
        dense, sparse = fn(R, P3, delta), fn(R, Psp, delta)
        assert np.max(np.abs(dense.values - sparse.values)) <= 1e-8 * (1 + np.max(np.abs(sparse.values)))
    sigma = mdp.policy_iteration(R, P3, delta).policy
    Ps = P3[np.arange(S), sigma]
    direct = np.linalg.solve(np.eye(S) - delta * Ps, R[np.arange(S), sigma])
    assert np.allclose(mdp.policy_value(R, P3, delta, sigma), direct, rtol=1e-10, atol=1e-10)
