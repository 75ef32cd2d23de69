r"""Finite Markov decision processes: the dynamic programs behind efficient policies.

A finite MDP has states :math:`s \in \{0..S-1\}`, actions :math:`a \in \{0..A-1\}`
(an action is *infeasible* in a state where its reward is :math:`-\infty`),
rewards :math:`R(s, a)` and transition probabilities :math:`P(s' \mid s, a)` stored
as one matrix with row :math:`s A + a` (the "state-action pair" layout of
QuantEcon's ``DiscreteDP``).  A sparse input stays sparse (CSR); a dense one —
an (S, A, S') or (S·A, S') array — stays dense and is only *viewed* in that layout
(no copy, no conversion), so every algorithm below runs on dense input with dense
linear algebra (BLAS matrix-vector products, LAPACK LU for policy evaluation).  With discount :math:`\delta \in (0, 1)` the
optimal value solves Bellman's equation

.. math::

    v(s) = \max_a \Big[ R(s,a) + \delta \sum_{s'} P(s' \mid s,a)\, v(s') \Big].

Algorithms (Puterman, *Markov Decision Processes*, 1994):

* :func:`backward_induction` — finite horizon, non-stationary state/action sets
  (Puterman §4.5): :math:`v_t = \max_a R_t + \delta P_t v_{t+1}`, :math:`v_T` = terminal.
* :func:`value_iteration` — successive approximation (Puterman §6.3), stopped when
  :math:`\|v_{k+1}-v_k\|_\infty < \varepsilon(1-\delta)/(2\delta)` so the greedy
  policy is ε-optimal (Puterman Thm 6.3.1).
* :func:`policy_iteration` — Howard's algorithm (Puterman §6.4): exact sparse
  policy evaluation :math:`(I - \delta P_\sigma) v = r_\sigma`, greedy improvement
  that keeps the incumbent action on ties (so it terminates).
* :func:`modified_policy_iteration` — Puterman §6.5: greedy step then ``k`` sweeps of
  :math:`T_\sigma`.
* :func:`lp_solve` — the primal LP :math:`\min \sum_s \alpha_s v_s` s.t.
  :math:`v_s - \delta \sum_{s'} P(s'|s,a) v_{s'} \ge R(s,a)` (Puterman §6.9), built as a
  labelled :class:`dmd_opt.optim.program.Program` and solved by any backend; the dual
  values of the rows are the discounted state-action occupation measure.
* :func:`blackwell_optimal` — a policy optimal for *every* δ close enough to 1
  (Blackwell 1962; Puterman ch. 10), computed exactly: policy values are rational
  functions :math:`v_\sigma(\delta) = N_\sigma(\delta)/\det(I-\delta P_\sigma)` with
  polynomial numerators found by exact rational interpolation (python-flint), and
  policy iteration compares actions by the sign of their rational advantage
  functions on :math:`(1-\varepsilon, 1)`, i.e. by the lowest-order coefficient of the
  numerator expanded in :math:`x = 1-\delta`.

Example
-------
>>> import numpy as np
>>> R = np.array([[1.0, 0.0], [0.0, -np.inf], [0.3, -np.inf]])
>>> P = np.zeros((6, 3)); P[0, 1] = 1; P[1, 2] = 1; P[2, 1] = 1; P[3, 1] = 1; P[4, 2] = 1; P[5, 2] = 1
>>> value_iteration(R, P, 0.5).policy.tolist(), policy_iteration(R, P, 0.9).policy.tolist()
([0, 0, 0], [1, 0, 0])
>>> blackwell_optimal(R, P).policy.tolist()
[1, 0, 0]
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

__all__ = [
    "MDPResult", "backward_induction", "value_iteration", "policy_iteration",
    "modified_policy_iteration", "lp_solve", "blackwell_optimal", "policy_value",
    "bellman_operator", "greedy", "as_transition",
]

_DENSE_SOLVE_MAX = 64  # sparse input: dense LU below this; above, threaded BLAS on a busy machine costs more
_SERIAL_LU_MAX = 2048  # dense LUs up to this size run on one BLAS thread (see _serial_blas)
_BLAS = None


@dataclass
class MDPResult:
    """Result of an MDP solve.

    ``policy``: optimal action per state — shape (S,) for stationary problems, (T, S)
    (or a list of arrays when state counts vary by period) for finite horizons.
    ``values``: (S,) for stationary problems; for finite horizons a list of T+1 arrays
    (``values[T]`` is the terminal value).  ``info`` holds method-specific extras
    (error bounds, LP solution, exact rational data, thresholds).
    """

    policy: Any
    values: Any
    iterations: int
    method: str
    converged: bool = True
    info: dict = field(default_factory=dict)


# ------------------------------------------------------------------ data handling
def as_transition(P, S: int, A: int, S_next: int | None = None,
                  field_name: str = "P") -> sp.csr_matrix | np.ndarray:
    """``P`` in the (S*A, S_next) layout, row ``s*A + a``: CSR if sparse, a dense array if dense.

    Accepts a scipy sparse matrix, a dense (S*A, S') array, or a dense (S, A, S') array.
    A dense float64 array is returned as a view (reshaped, never copied or converted),
    so calling this once per algorithm call costs nothing.
    """
    S_next = S if S_next is None else S_next
    if sp.issparse(P):
        M = P if (P.format == "csr" and P.dtype == np.float64) else sp.csr_matrix(P, dtype=float)
    else:
        M = np.asarray(P, dtype=float)
        if M.ndim == 3:
            M = M.reshape(-1, M.shape[-1])
    if M.shape != (S * A, S_next):
        raise ValueError(f"{field_name}: expected shape ({S * A}, {S_next}) (row s*A+a), got {M.shape}")
    return M


def _check_rewards(R) -> np.ndarray:
    R = np.asarray(R, dtype=float)
    if R.ndim != 2:
        raise ValueError(f"R must be (S, A), got shape {R.shape}")
    if np.any(np.isnan(R)) or np.any(R == np.inf):
        raise ValueError("R must be finite or -inf (infeasible action)")
    if np.any(np.all(R == -np.inf, axis=1)):
        raise ValueError("every state needs at least one feasible action (finite reward)")
    return R


def _check_delta(delta: float) -> float:
    delta = float(delta)
    if not 0.0 <= delta < 1.0:
        raise ValueError(f"delta must be in [0, 1) for a stationary infinite-horizon problem, got {delta}")
    return delta


def bellman_operator(R: np.ndarray, P, delta: float, v: np.ndarray) -> np.ndarray:
    """Q-values :math:`Q(s,a) = R(s,a) + \\delta (P v)(sA+a)` as an (S, A) array."""
    S, A = R.shape
    return R + delta * (P @ v).reshape(S, A)


def greedy(Q: np.ndarray, incumbent: np.ndarray | None = None, tol: float = 0.0) -> np.ndarray:
    """Argmax per row; keeps ``incumbent`` where it is within ``tol`` of the max (no cycling)."""
    sigma = np.argmax(Q, axis=1)
    if incumbent is not None:
        rows = np.arange(Q.shape[0])
        keep = Q[rows, incumbent] >= Q[rows, sigma] - tol
        sigma = np.where(keep, incumbent, sigma)
    return sigma


def _policy_matrix(R, P, sigma):
    S, A = R.shape
    idx = np.arange(S) * A + sigma
    return R[np.arange(S), sigma], P[idx]


def policy_value(R, P, delta: float, sigma) -> np.ndarray:
    """Exact value of stationary policy ``sigma``: solve :math:`(I-\\delta P_\\sigma) v = r_\\sigma`."""
    R = _check_rewards(R)
    S, A = R.shape
    P = as_transition(P, S, A)
    return _evaluate(R, P, float(delta), np.asarray(sigma, dtype=np.int64))


def _serial_blas(S: int):
    """A context running BLAS on one thread for an S × S dense LU (S ≤ ``_SERIAL_LU_MAX``).

    A multi-threaded LU of a few hundred unknowns synchronises its threads many times
    per panel; on a machine whose cores are busy with other work the threads wait for
    each other: a 400 × 400 solve measured 0.65 s with two OpenBLAS threads against
    1 ms with one, on the same loaded 2-core machine.  Up to a few thousand unknowns
    one thread is never much slower, so small LUs are run serially.
    """
    global _BLAS
    if S > _SERIAL_LU_MAX:
        return contextlib.nullcontext()
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController   # imported on the first dense solve only
        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


def _dense_solve(M: np.ndarray, r: np.ndarray) -> np.ndarray:
    with _serial_blas(M.shape[0]):
        return np.linalg.solve(M, r)


def _evaluate(R, P, delta, sigma, x0=None):
    """Solve (I − δP_σ) v = r_σ.

    Dense LU for dense input and for small S.  Otherwise, when the matrix is banded in its natural order or
    after a reverse Cuthill–McKee permutation, LAPACK's banded LU (``gbsv``; work
    ~ S·bw²) — structured chains (inventories, random walks, growth models).  Random
    sparsity makes LU fill in catastrophically while I − δP_σ is well conditioned
    (‖(I − δP_σ)^{-1}‖_∞ = 1/(1 − δ)), so there warm-started BiCGSTAB with a residual
    check is used, falling back to sparse LU if it misses the tolerance.
    """
    r, Ps = _policy_matrix(R, P, sigma)
    S = R.shape[0]
    if not sp.issparse(Ps):                       # dense input: LAPACK LU, as DiscreteDP does
        M = -delta * Ps
        M[np.diag_indices(S)] += 1.0
        return _dense_solve(M, r)
    if S <= _DENSE_SOLVE_MAX:
        return _dense_solve(np.eye(S) - delta * Ps.toarray(), r)
    M = (sp.identity(S, format="csr") - delta * Ps).tocsr()
    M.sum_duplicates()
    perm, bw = _banding(M)
    if bw <= 32:   # narrow band: LAPACK gbsv, work ~ S·bw² (wider bands hit threaded BLAS)
        return _solve_banded(M, r, perm, bw)
    import scipy.sparse.linalg as spla   # ~0.3 s to import: only for large sparse policies
    scale = float(np.max(np.abs(r))) or 1.0
    x, info = spla.bicgstab(M, r, x0=x0, rtol=1e-14, atol=1e-15 * scale, maxiter=500)
    if info == 0 and float(np.max(np.abs(M @ x - r))) <= 1e-12 * scale:
        return x
    return spla.spsolve(M, r)


def _banding(M: sp.csr_matrix):
    """(permutation or None, bandwidth): natural order if narrow, else reverse Cuthill–McKee."""
    from scipy.sparse.csgraph import reverse_cuthill_mckee
    rows = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
    natural = int(np.max(np.abs(rows - M.indices))) if M.nnz else 0
    if natural <= 32:
        return None, natural
    perm = reverse_cuthill_mckee(M, symmetric_mode=False)
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size)
    return inv, int(np.max(np.abs(inv[rows] - inv[M.indices])))


def _solve_banded(M: sp.csr_matrix, r: np.ndarray, inv, bw: int) -> np.ndarray:
    from scipy.linalg import solve_banded
    S = M.shape[0]
    rows = np.repeat(np.arange(S), np.diff(M.indptr))
    cols = M.indices
    if inv is not None:
        rows, cols = inv[rows], inv[cols]
        rhs = np.empty_like(r)
        rhs[inv] = r
    else:
        rhs = r
    ab = np.zeros((2 * bw + 1, S))
    ab[bw + rows - cols, cols] = M.data          # CSR entries are unique after the subtraction
    x = solve_banded((bw, bw), ab, rhs, overwrite_ab=True, check_finite=False)
    return x[inv] if inv is not None else x


# ------------------------------------------------------------------ finite horizon
def backward_induction(R: Sequence[np.ndarray], P: Sequence, delta: float, terminal=None) -> MDPResult:
    r"""Finite-horizon DP (Puterman §4.5) with period-dependent state and action sets.

    ``R[t]`` is (S_t, A_t) (−inf = infeasible), ``P[t]`` is (S_t*A_t, S_{t+1}) with
    ``S_T`` the size of ``terminal`` (zeros of length S_{T-1} if omitted, i.e. the
    process ends).  Returns ``values`` = [v_0, …, v_{T-1}, v_T=terminal] and
    ``policy`` (T, S) if all S_t agree, else a list.  Ties go to the lowest action.
    """
    T = len(R)
    if T == 0 or len(P) != T:
        raise ValueError("R and P must be non-empty lists of the same length T")
    delta = float(delta)
    Rs = [_check_rewards(r) for r in R]
    if terminal is None:
        terminal = np.zeros(P[-1].shape[1] if hasattr(P[-1], "shape") and np.ndim(P[-1]) == 2
                            else np.asarray(P[-1]).shape[-1])
    v = np.asarray(terminal, dtype=float)
    values: list[np.ndarray] = [v]
    policy: list[np.ndarray] = []
    for t in range(T - 1, -1, -1):
        S, A = Rs[t].shape
        Pt = as_transition(P[t], S, A, v.shape[0], field_name=f"P[{t}]")
        Q = bellman_operator(Rs[t], Pt, delta, v)
        sigma = np.argmax(Q, axis=1)
        v = Q[np.arange(S), sigma]
        values.insert(0, v)
        policy.insert(0, sigma)
    pol = np.array(policy) if len({p.shape for p in policy}) == 1 else policy
    return MDPResult(pol, values, T, "backward_induction")


# ------------------------------------------------------------------ infinite horizon
def value_iteration(R, P, delta: float, tol: float = 1e-10, max_iter: int = 100_000, v0=None) -> MDPResult:
    """Value iteration (Puterman §6.3); ``tol`` is the ε of ε-optimality of the policy."""
    R = _check_rewards(R)
    S, A = R.shape
    P = as_transition(P, S, A)
    delta = _check_delta(delta)
    v = np.zeros(S) if v0 is None else np.asarray(v0, float).copy()
    thresh = tol * (1 - delta) / (2 * delta) if delta > 0 else np.inf
    it, converged, err = 0, False, np.inf
    for it in range(1, max_iter + 1):
        Q = bellman_operator(R, P, delta, v)
        v_new = Q.max(axis=1)
        err = float(np.max(np.abs(v_new - v)))
        v = v_new
        if err < thresh or delta == 0:
            converged = True
            break
    sigma = greedy(bellman_operator(R, P, delta, v))
    return MDPResult(sigma, v, it, "value_iteration", converged,
                     {"sup_norm_step": err, "error_bound": 2 * delta * err / (1 - delta)})


def policy_iteration(R, P, delta: float, sigma0=None, max_iter: int = 10_000, tol: float = 1e-12) -> MDPResult:
    """Howard's policy iteration (Puterman §6.4) with exact (sparse LU) evaluation.

    An action replaces the incumbent only if it improves the Q-value by more than
    ``tol`` × (1 + |v|), so ties never cycle; terminates with an optimal policy.
    """
    R = _check_rewards(R)
    S, A = R.shape
    P = as_transition(P, S, A)
    delta = _check_delta(delta)
    rows = np.arange(S)
    if sigma0 is None:   # greedy for v0 = max_a R (one Bellman step from 0), as DiscreteDP does
        sigma = greedy(bellman_operator(R, P, delta, R.max(axis=1)))
    else:
        sigma = np.asarray(sigma0, np.int64).copy()
    v = _evaluate(R, P, delta, sigma)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        Q = bellman_operator(R, P, delta, v)
        best = np.argmax(Q, axis=1)
        improve = Q[rows, best] > Q[rows, sigma] + tol * (1.0 + np.abs(v))
        if not improve.any():
            converged = True
            break
        sigma = np.where(improve, best, sigma)
        v = _evaluate(R, P, delta, sigma, x0=v)
    return MDPResult(sigma, v, it, "policy_iteration", converged)


def modified_policy_iteration(R, P, delta: float, k: int = 20, tol: float = 1e-10,
                              max_iter: int = 100_000, v0=None) -> MDPResult:
    """Modified policy iteration (Puterman §6.5): greedy step, then ``k`` sweeps of T_σ."""
    R = _check_rewards(R)
    S, A = R.shape
    P = as_transition(P, S, A)
    delta = _check_delta(delta)
    rows = np.arange(S)
    # start below v* (Puterman's condition for monotone convergence): v0 = min R/(1-δ)
    v = (np.full(S, R[np.isfinite(R)].min() / (1 - delta)) if v0 is None else np.asarray(v0, float).copy())
    thresh = tol * (1 - delta) / (2 * delta) if delta > 0 else np.inf
    converged, it, err = False, 0, np.inf
    sigma = np.zeros(S, np.int64)
    for it in range(1, max_iter + 1):
        Q = bellman_operator(R, P, delta, v)
        sigma = np.argmax(Q, axis=1)
        u = Q[rows, sigma]
        err = float(np.max(np.abs(u - v)))
        if err < thresh or delta == 0:
            v = u
            converged = True
            break
        r, Ps = _policy_matrix(R, P, sigma)
        for _ in range(k):
            u = r + delta * (Ps @ u)
        v = u
    return MDPResult(sigma, v, it, "modified_policy_iteration", converged,
                     {"sup_norm_step": err, "k": k})


def lp_solve(R, P, delta: float, backend: str = "highs", solver: str | None = None,
             weights=None) -> MDPResult:
    r"""Primal LP (Puterman §6.9) as a labelled :class:`~dmd_opt.optim.program.Program`.

    .. math:: \min_v \sum_s \alpha_s v_s \;\text{s.t.}\; v_s - \delta \sum_{s'} P(s'|s,a) v_{s'} \ge R(s,a)

    for every feasible (s, a); rows are family ``"bellman"`` labelled
    ``history = s``, ``report = a``.  ``weights`` α > 0 default to uniform 1/S.  The
    policy is read from the duals: in each state the action whose row carries the
    largest occupation measure (dual), falling back to the greedy action at v.
    """
    from dmd_opt.optim.program import Program
    from dmd_opt.solvers import solve as _solve

    R = _check_rewards(R)
    S, A = R.shape
    P = as_transition(P, S, A)
    delta = _check_delta(delta)
    alpha = np.full(S, 1.0 / S) if weights is None else np.asarray(weights, float)
    feas = np.flatnonzero(np.isfinite(R.ravel()))
    Pf = sp.coo_matrix(P[feas])
    n = feas.size
    s_of = feas // A
    prog = Program(name="mdp_lp")
    cols = prog.add_variables("v", (S,), description="optimal value per state")
    rows = np.concatenate([np.arange(n), Pf.row])
    cc = np.concatenate([cols[s_of], cols[Pf.col]])
    vals = np.concatenate([np.ones(n), -delta * Pf.data])
    prog.add_constraints("bellman", n, rows, cc, vals, R.ravel()[feas], np.inf,
                         history=s_of, report=feas % A,
                         description="v_s - delta P v >= R(s,a)")
    prog.set_objective(alpha, sense="min")
    prog.meta.update({"kind": "mdp_lp", "delta": delta, "S": S, "A": A})
    t0 = time.perf_counter()
    sol = _solve(prog, backend=backend, solver=solver)
    info = {"program": prog, "solution": sol, "status": sol.status, "seconds": time.perf_counter() - t0}
    if not sol.ok or sol.x is None:
        return MDPResult(None, None, 0, "lp", False, info)
    v = np.asarray(sol.x[: S], float)
    sigma = greedy(bellman_operator(R, P, delta, v))
    if sol.row_dual is not None:
        occ = np.zeros(S * A)
        occ[feas] = np.abs(np.asarray(sol.row_dual, float))
        occ = occ.reshape(S, A)
        has = occ.max(axis=1) > 1e-12
        sigma = np.where(has, np.argmax(occ, axis=1), sigma)
        info["occupation"] = occ
    return MDPResult(sigma, v, int(sol.info.get("iterations", 0) or 0) if isinstance(sol.info, dict) else 0,
                     "lp", True, info)


# ------------------------------------------------------------------ Blackwell optimality
def _to_q(x: float, max_den: int = 10**12):
    import flint

    q = Fraction(float(x)).limit_denominator(max_den)
    return flint.fmpq(q.numerator, q.denominator)


def _exact_data(R, P):
    """Rationalise rewards and transitions; rows of P renormalised to sum exactly 1."""
    S, A = R.shape
    Rq = [[None if not np.isfinite(R[s, a]) else _to_q(R[s, a]) for a in range(A)] for s in range(S)]
    Pq = {}
    Pc = sp.csr_matrix(P)
    for row in range(S * A):
        lo, hi = Pc.indptr[row], Pc.indptr[row + 1]
        cols = Pc.indices[lo:hi]
        vals = [_to_q(x) for x in Pc.data[lo:hi]]
        tot = sum(vals)
        if vals and tot != 1:
            j = int(np.argmax(Pc.data[lo:hi]))
            vals[j] += 1 - tot
        Pq[row] = list(zip(cols.tolist(), vals))
    return Rq, Pq


def _exact_policy_polys(Rq, Pq, S, A, sigma):
    """Numerators N_s(δ) and denominator D(δ) = det(I − δP_σ): v_σ = N/D (exact).

    deg D ≤ S and deg N_s ≤ S − 1; both found by evaluating at S+1 rational points
    and interpolating (flint fmpq arithmetic throughout).
    """
    import flint

    pts = [Fraction(k + 1, S + 2) for k in range(S + 1)]
    Dvals, Nvals = [], [[] for _ in range(S)]
    r = flint.fmpq_mat(S, 1, [Rq[s][sigma[s]] for s in range(S)])
    for d in pts:
        M = flint.fmpq_mat(S, S)
        for s in range(S):
            M[s, s] = 1
            for c, p in Pq[s * A + sigma[s]]:
                M[s, c] = M[s, c] - flint.fmpq(d.numerator, d.denominator) * p
        det = M.det()
        x = M.solve(r)
        Dvals.append(det)
        for s in range(S):
            Nvals[s].append(x[s, 0] * det)
    fpts = [flint.fmpq(p.numerator, p.denominator) for p in pts]
    D = _interpolate(fpts, Dvals)
    N = [_interpolate(fpts, Nvals[s]) for s in range(S)]
    return N, D


def _interpolate(xs, ys):
    """Exact Lagrange interpolation over Q (Newton divided differences)."""
    import flint

    n = len(xs)
    coef = list(ys)
    for j in range(1, n):
        for i in range(n - 1, j - 1, -1):
            coef[i] = (coef[i] - coef[i - 1]) / (xs[i] - xs[i - j])
    poly = flint.fmpq_poly([coef[-1]])
    for i in range(n - 2, -1, -1):
        poly = poly * flint.fmpq_poly([-xs[i], 1]) + coef[i]
    return poly


_ONE_MINUS_X = None


def _near_one_sign(poly) -> int:
    """Sign of poly(δ) for δ ∈ (1−ε, 1), ε small: lowest nonzero coefficient of poly(1−x)."""
    import flint

    global _ONE_MINUS_X
    if _ONE_MINUS_X is None:
        _ONE_MINUS_X = flint.fmpq_poly([1, -1])
    if poly.is_zero():
        return 0
    for c in poly(_ONE_MINUS_X).coeffs():
        if c != 0:
            return 1 if c > 0 else -1
    return 0


def _laurent_at_one(N, D, upto: int = 0):
    """Laurent coefficients of N(1−x)/D(1−x) in x = 1−δ, from the pole order to x^upto.

    Returns (order, [c_order, c_order+1, ...]) with N/D = Σ c_k x^k, k ≥ order.
    """
    import flint

    om = flint.fmpq_poly([1, -1])
    n = N(om).coeffs() or [flint.fmpq(0)]
    d = D(om).coeffs()
    m = next(i for i, c in enumerate(d) if c != 0)
    d = d[m:]
    terms = m + upto + 1
    out = []
    rem = list(n) + [flint.fmpq(0)] * (terms + len(d))
    for k in range(terms):
        c = rem[k] / d[0]
        out.append(c)
        for j, dj in enumerate(d):
            if k + j < len(rem):
                rem[k + j] -= c * dj
    return -m, out


def blackwell_optimal(R, P, sigma0=None, max_iter: int = 1_000, max_states: int = 60) -> MDPResult:
    r"""Blackwell-optimal stationary policy, exactly (Blackwell 1962; Puterman §10.1–10.3).

    Policy iteration in the ordering "better for all δ close to 1": with
    :math:`v_\sigma(\delta) = N(\delta)/D(\delta)` exact rational functions, the
    advantage of action a in state s is :math:`g_{s,a}(\delta) = [R(s,a) D + \delta P_{sa} N - N_s]/D`
    and, since :math:`D(\delta) > 0` on (0, 1), its sign near 1 is that of the first
    nonzero Taylor coefficient of the numerator at δ = 1.  Switching to the
    lexicographically best improving action strictly increases the policy value for
    all δ near 1, so the iteration ends (finitely many policies) at a policy with no
    improving action near 1 — Blackwell optimal.

    ``values`` is the gain (long-run average reward, the x^{-1} Laurent coefficient of
    v in x = 1−δ); ``info`` has ``bias`` (x^0 coefficient), exact ``numerators``/
    ``denominator`` polynomials, and ``delta_threshold`` = largest root in (0, 1) of
    any nonzero advantage numerator — above it the policy is δ-optimal (roots isolated
    rigorously by arb ball arithmetic up to degree 24, reported at the ball midpoint; floating
    companion-matrix roots above).
    Exact arithmetic is O(S^4) per iteration; refused above ``max_states`` states.
    """
    import flint

    R = _check_rewards(R)
    S, A = R.shape
    if S > max_states:
        raise ValueError(f"blackwell_optimal is exact (rational arithmetic); {S} states > max_states={max_states}")
    P = as_transition(P, S, A)
    Rq, Pq = _exact_data(R, P)
    if sigma0 is None:  # warm start from a nearly-undiscounted optimum
        sigma0 = policy_iteration(R, P, 0.999).policy
    sigma = [int(a) for a in sigma0]
    x = flint.fmpq_poly([0, 1])
    it, converged = 0, False
    for it in range(1, max_iter + 1):
        N, D = _exact_policy_polys(Rq, Pq, S, A, sigma)
        changed = False
        adv = {}
        for s in range(S):
            best_a, best_g = sigma[s], None
            for a in range(A):
                if Rq[s][a] is None:
                    continue
                g = Rq[s][a] * D - N[s]
                for c, p in Pq[s * A + a]:
                    g += x * N[c] * p
                adv[(s, a)] = g
            # lexicographic best: start at incumbent (advantage identically 0)
            best_g = adv[(s, sigma[s])]
            for a in range(A):
                if (s, a) in adv and a != sigma[s] and _near_one_sign(adv[(s, a)] - best_g) > 0:
                    best_a, best_g = a, adv[(s, a)]
            if best_a != sigma[s]:
                sigma[s] = best_a
                changed = True
        if not changed:
            converged = True
            break
    # gain and bias from the Laurent expansion at δ = 1
    gain, bias = np.zeros(S), np.zeros(S)
    for s in range(S):
        order, cs = _laurent_at_one(N[s], D, upto=0)
        series = {order + k: float(c) for k, c in enumerate(cs)}
        gain[s] = series.get(-1, 0.0)
        bias[s] = series.get(0, 0.0)
    thr = 0.0
    for (s, a), g in adv.items():
        if a == sigma[s] or g.is_zero():
            continue
        while g(1) == 0:  # D vanishes at δ = 1; those roots are not switching points
            g = g // flint.fmpq_poly([-1, 1])
        if g.degree() < 1:
            continue
        if g.degree() <= 24:
            # rigorous root isolation (arb balls); a real root's imaginary part contains 0
            roots = [float(z.real.mid()) for z, _m in g.complex_roots() if z.imag.contains(0)]
        else:   # high degree: isolation gets slow; floating-point companion-matrix roots
            z = np.roots([float(c) for c in reversed(g.coeffs())])
            roots = [float(r.real) for r in z if abs(r.imag) < 1e-9]
        thr = max([thr] + [x for x in roots if 0 < x < 1])
    return MDPResult(np.array(sigma, dtype=np.int64), gain, it, "blackwell", converged,
                     {"bias": bias, "numerators": N, "denominator": D, "delta_threshold": thr})
