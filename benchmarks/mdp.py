"""Policy iteration: dmd_opt.dp.mdp vs quantecon.markov.DiscreteDP on the same sparse MDPs.

Two MDPs in the state-action-pair layout (row s*A + a of a CSR transition matrix):

* ``inventory`` — the headline case: S inventory levels, A order sizes, demand in {0..4};
  reward = sales − ordering (fixed + linear) and holding costs; banded transitions (a structured, realistic
  sparse MDP).  Its ratio is the RESULT line.
* ``random-sparse`` — each pair moves to 5 random states.  Sparse LU (what DiscreteDP uses
  for sparse Q) fills in badly here; dmd_opt evaluates policies by warm-started BiCGSTAB.
* ``dense`` — a dense (S, A, S) array (default 400 states × 250 actions, every transition
  probability positive), passed as it is to both solvers: dense in, dense linear algebra
  (no conversion to sparse).  Its ratio is ``dense_ratio``.

Both solvers start from the same policy (DiscreteDP's default: greedy for v0 = max_a R) and
must return the same policy and values (checked).  Timings are the best of
``--repeat`` runs on a machine shared with other jobs — noisy.

Usage: python benchmarks/mdp.py [--states 25000] [--actions 5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp


def inventory_mdp(S: int, A: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    price, order_cost, fixed_cost, hold = 3.0, 1.0, 2.5, 0.2
    demand = np.arange(5)
    pd = np.array([0.1, 0.2, 0.4, 0.2, 0.1])
    s = np.repeat(np.arange(S), A)
    a = np.tile(np.arange(A), S)
    stock = np.minimum(s + a, S - 1)
    rows, cols, vals = [], [], []
    sales = np.zeros(S * A)
    for d, p in zip(demand, pd):
        nxt = np.maximum(stock - d, 0)
        sales += p * np.minimum(stock, d)
        rows.append(np.arange(S * A))
        cols.append(nxt)
        vals.append(np.full(S * A, p))
    P = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(S * A, S))
    R = price * sales - order_cost * a - fixed_cost * (a > 0) - hold * stock - 0.01 * rng.random(S * A)
    return R.reshape(S, A), P


def random_sparse_mdp(S: int, A: int, k: int = 5, seed: int = 1):
    rng = np.random.default_rng(seed)
    R = rng.normal(size=(S, A))
    rows = np.repeat(np.arange(S * A), k)
    cols = rng.integers(0, S, size=S * A * k)
    P = sp.csr_matrix((rng.random(S * A * k), (rows, cols)), shape=(S * A, S))
    P = sp.diags(1 / np.asarray(P.sum(axis=1)).ravel()) @ P
    return R, P.tocsr()


def dense_mdp(S: int, A: int, seed: int = 2):
    rng = np.random.default_rng(seed)
    R = rng.normal(size=(S, A))
    P = rng.random((S, A, S))
    P /= P.sum(axis=2, keepdims=True)
    return R, P


def bench(R, P, delta, repeat):
    import quantecon as qe
    from dmd_opt.dp import mdp
    S, A = R.shape
    s_ind = np.repeat(np.arange(S), A)
    a_ind = np.tile(np.arange(A), S)
    t_ours, t_qe = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        ours = mdp.policy_iteration(R, P, delta)
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ddp = qe.markov.DiscreteDP(R, P, delta) if not sp.issparse(P) else \
            qe.markov.DiscreteDP(R.ravel(), P, delta, s_ind, a_ind)
        ref = ddp.solve(method="policy_iteration")
        t_qe.append(time.perf_counter() - t0)
    gap = float(np.max(np.abs(ours.values - ref.v)))
    same = bool(np.array_equal(ours.policy, ref.sigma))
    return min(t_ours), min(t_qe), ours.iterations, ref.num_iter, gap, same


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--states", type=int, default=20_000)
    ap.add_argument("--actions", type=int, default=8)
    ap.add_argument("--random-states", type=int, default=2_000)
    ap.add_argument("--delta", type=float, default=0.95)
    ap.add_argument("--dense-states", type=int, default=400)
    ap.add_argument("--dense-actions", type=int, default=250)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cases = [("inventory", inventory_mdp(args.states, args.actions)),
             ("random-sparse", random_sparse_mdp(args.random_states, args.actions)),
             ("dense", dense_mdp(args.dense_states, args.dense_actions))]
    print(f"{'mdp':14s} {'pairs':>8s} {'nnz':>8s} {'ours_s':>8s} {'qe_s':>8s} {'ratio':>6s} "
          f"{'it_ours':>7s} {'it_qe':>5s} {'max|dv|':>9s} same_policy")
    ratio = {}
    for name, (R, P) in cases:
        to, tq, io_, iq, gap, same = bench(R, P, args.delta, args.repeat)
        pairs = R.size
        nnz = P.nnz if sp.issparse(P) else int(np.count_nonzero(P))
        print(f"{name:14s} {pairs:8d} {nnz:8d} {to:8.3f} {tq:8.3f} {to / tq:6.3f} {io_:7d} {iq:5d} {gap:9.2e} {same}")
        ratio[name] = to / tq
    print(f"RESULT ratio_vs_quantecon={ratio['inventory']:.3f} dense_ratio={ratio['dense']:.3f}")


if __name__ == "__main__":
    main()
