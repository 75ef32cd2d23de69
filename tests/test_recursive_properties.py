"""Property-based checks (hypothesis) of the recursive-contract engine on random small
instances: Thomas–Worrall cost functions lie above the first best, are increasing and
convex, and the local downward ICs bind; Guo–Hörner finite-horizon values are bracketed by
brute force over deterministic mechanisms and the exact history-tree LP."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st
from dmd_opt.families.recursive import GuoHorner, ThomasWorrall

from test_recursive_gh import Par, brute_force, tree_lp


@settings(max_examples=15, deadline=None)
@given(K=st.integers(2, 3), beta=st.floats(0.5, 0.9), gamma=st.floats(0.5, 2.0),
       spread=st.floats(0.5, 2.0), w=st.lists(st.floats(0.2, 1.0), min_size=3, max_size=3),
       util=st.sampled_from(["cara", "log"]))
def test_thomas_worrall_properties(K, beta, gamma, spread, w, util):
    income = 1.0 + spread * np.arange(K) / (K - 1)
    prob = np.array(w[:K]) / sum(w[:K])
    u = {"kind": "cara", "gamma": gamma} if util == "cara" else {"kind": "log"}
    m = ThomasWorrall.create(income, prob, beta, u, n_promise=15, n_transfer=13)
    r = m.solve(tol=1e-7, method="value_iteration")
    assert r.status == "optimal"
    v, C = r.grid, r.cost
    assert np.all(C >= m.first_best_cost(v) - 1e-7)
    assert np.all(np.diff(C) > -1e-9)
    s = np.diff(C) / np.diff(v)
    assert np.all(np.diff(s) >= -1e-6 * max(1.0, np.abs(s).max()))
    share = r.ic_binding_share()
    for k in range(1, K):       # local downward IC binds at most grid points
        assert share[f"{k}->{k - 1}"] >= 0.8
    # continuation promises increase with income at interior points
    W = r.continuations[:, 2:-2]
    assert np.all(np.diff(W, axis=0) >= -1e-7)


@settings(max_examples=15, deadline=None)
@given(L=st.floats(0.1, 0.9), gap=st.floats(0.2, 2.0), cpos=st.floats(0.1, 0.9), beta=st.floats(0.5, 0.95),
       q=st.floats(0.2, 0.8))
def test_guo_horner_two_periods_bracketed(L, gap, cpos, beta, q):
    H = 1.0 + gap
    c = L + cpos * (H - L)
    m = GuoHorner.create(L, H, c, beta, q=q, n_grid=41, horizon=2)
    rec = m.solve().objective
    par = Par(L, H, c, beta, q)
    exact = tree_lp(2, par=par)
    det = brute_force(2, (0.0, 1.0), par=par)
    assert det - 1e-9 <= rec <= exact + 1e-9
    assert rec >= exact - 0.02 * max(abs(exact), 1e-3)
