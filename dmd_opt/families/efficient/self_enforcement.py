r"""Self-enforcement of the balanced team mechanism (Athey–Segal 2007 §6, Proposition 3, Lemma 1).

In a stationary Markov environment with a Blackwell-optimal efficient policy χ*
whose induced chain has a single ergodic set, agents can run the balanced mechanism
themselves: each pays the others :math:`z_{i,j} = \gamma_j^B/(N-1) + A_i` and any visible
(off-schedule) deviation is punished by permanent non-participation (payoff 0,
assumption (v)).  The report computes the objects of the proof:

* λ — the invariant distribution of the profile chain under χ*;
* :math:`\bar u_i = E_\lambda[u_i(\chi^*(\theta),\theta_i)]` (a principal's cost, if any, is
  shared equally: :math:`u_i - c/N`);
* C — the uniform-in-δ bound of (6.2),
  :math:`C = \sup_{\delta,\theta_0,j} |E[\sum_t\delta^t(u_j-\bar u_j)\mid\theta_0]|`, computed
  exactly (:func:`exact_uniform_bound`: rational functions of δ, supremum at δ = 0, δ → 1 or a
  critical point) up to 30 states; otherwise (and as a cross-check, ``C_grid``) the maximum over
  a grid of δ in (0, 1) dense near 1 and the δ → 1 limit :math:`(I - P + \Pi)^{-1}(u_j - \bar u_j)`
  (deviation matrix; Puterman App. A), a numerical evaluation rather than a bound;
* :math:`M = \max|u_i|`, :math:`K = 2C/(N-1) + M/N`, :math:`A_i = \bar u_i/N + K`;
* the sufficient threshold: :math:`\delta/(1-\delta) > N(C + 2NK + 2M)/\sum_i\bar u_i`;
* a **direct check** at a given δ: for every reachable (previous, current) profile and
  agent, the on-schedule continuation value (balanced transfers plus the side payments
  :math:`A`) against the best one-period off-schedule deviation (take the best decision for
  oneself, keep the incoming payments, pay nothing, then get 0 forever).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import scipy.sparse as sp

from dmd_opt.core.display import fmt_list
from dmd_opt.core.errors import ModelError
from dmd_opt.dp.mdp import _exact_data, _exact_policy_polys, _to_q
from dmd_opt.families.efficient.balanced import markov_incentive_payments
from dmd_opt.core.joint import JointModel
from dmd_opt.families.efficient.policy import EfficientPolicy, _as_model, efficient_policy
from dmd_opt.families.efficient.team import team_mechanism


@dataclass
class SelfEnforcementReport:
    policy: np.ndarray
    policy_method: str
    blackwell_threshold: float | None
    ergodic_sets: int
    invariant: np.ndarray
    u_bar: np.ndarray
    C: float
    M: float
    K: float
    A: np.ndarray
    delta_threshold: float | None
    delta: float
    deterred: bool
    margin: float
    side_payments_nonnegative: bool
    min_side_payment: float
    worst: dict = field(default_factory=dict)
    C_method: str = "exact"
    C_grid: float = float("nan")

    def to_dict(self) -> dict:
        return {"policy": self.policy.tolist(), "policy_method": self.policy_method,
                "blackwell_threshold": self.blackwell_threshold, "ergodic_sets": self.ergodic_sets,
                "invariant_distribution": self.invariant.tolist(), "u_bar": self.u_bar.tolist(),
                "C": self.C, "C_method": self.C_method, "C_grid": self.C_grid, "M": self.M, "K": self.K, "A": self.A.tolist(),
                "sufficient_delta_threshold": self.delta_threshold, "delta": self.delta,
                "off_schedule_deviations_deterred": self.deterred, "margin": self.margin,
                "side_payments_nonnegative": self.side_payments_nonnegative,
                "min_side_payment": self.min_side_payment, "worst": self.worst}

    def summary_lines(self) -> list[str]:
        thr = "n/a (invariant surplus ≤ 0)" if self.delta_threshold is None else f"{self.delta_threshold:.6g}"
        return [f"χ* by {self.policy_method}; ergodic sets {self.ergodic_sets}; "
                f"ū = {fmt_list(self.u_bar, 4)}",
                f"C = {self.C:.6g} ({self.C_method}), M = {self.M:.6g}, K = {self.K:.6g}, A = {fmt_list(self.A, 4)}",
                f"sufficient δ threshold (Prop. 3 proof): {thr}",
                f"direct check at δ = {self.delta:g}: off-schedule deviations "
                f"{'deterred' if self.deterred else 'NOT deterred'} (margin {self.margin:.4g}); "
                f"side payments z ≥ 0: {self.side_payments_nonnegative}"]


def _ergodic_sets(P: np.ndarray) -> int:
    from scipy.sparse.csgraph import connected_components   # ~0.1 s to import (it pulls sparse.linalg): on use
    n, lab = connected_components(P > 0, directed=True, connection="strong")
    closed = 0
    for c in range(n):
        members = lab == c
        if not np.any(P[np.ix_(members, ~members)] > 0):
            closed += 1
    return closed


def invariant_distribution(P: np.ndarray) -> np.ndarray:
    """λ with λP = λ, Σλ = 1 (unique when there is one ergodic set)."""
    S = P.shape[0]
    A = np.vstack([(P.T - np.eye(S)), np.ones((1, S))])
    b = np.r_[np.zeros(S), 1.0]
    lam = np.linalg.lstsq(A, b, rcond=None)[0]
    lam = np.clip(lam, 0, None)
    return lam / lam.sum()


def uniform_bound(P: np.ndarray, g: np.ndarray, lam: np.ndarray, grid: int = 400) -> float:
    """max over a δ grid and δ→1 of |(I − δP)^{-1} g| with g (S, N) centred under λ."""
    S = P.shape[0]
    I = np.eye(S)
    deltas = np.r_[np.linspace(0.0, 0.99, grid), 1 - np.logspace(-2.5, -9, 40)]
    best = float(np.max(np.abs(g)))
    for d in deltas:
        best = max(best, float(np.max(np.abs(np.linalg.solve(I - d * P, g)))))
    Pi = np.outer(np.ones(S), lam)
    best = max(best, float(np.max(np.abs(np.linalg.solve(I - P + Pi, g)))))
    return best


def exact_uniform_bound(P: np.ndarray, u: np.ndarray, max_states: int = 30) -> tuple[float, np.ndarray]:
    """C = sup over δ ∈ [0, 1), θ₀, j of |[(I − δP)^{-1}(u_j − ū_j)](θ₀)|, computed exactly.

    P and u are rationalised (rows renormalised); λ and ū are then exact, so each
    f_θ(δ) = N_θ(δ)/D(δ) is a rational function bounded on [0, 1] (single ergodic set).
    After cancelling gcd(N_θ, D) its supremum is attained at δ = 0, at the limit δ → 1, or at a
    real root in (0, 1) of N'D − ND' (isolated with arb balls; values at the ball midpoints).
    Returns (C, λ).  Raises ValueError when the chain has no unique invariant law or the
    state space is too large for exact arithmetic."""
    import flint  # optional exact-arithmetic library, loaded only here
    S, N = u.shape
    if S > max_states:
        raise ValueError(f"{S} states > {max_states} for exact arithmetic")
    Rq, Pq = _exact_data(u[:, :1], sp.csr_matrix(P))   # rationalised, rows summing to 1 exactly
    M = flint.fmpq_mat(S, S)
    for s in range(S):
        for c, pv in Pq[s]:
            M[c, s] = M[c, s] + pv                     # Pᵀ
        M[s, s] = M[s, s] - 1
    for s in range(S):
        M[S - 1, s] = 1                                # replace one equation by Σλ = 1
    rhs = flint.fmpq_mat(S, 1, [0] * (S - 1) + [1])
    lam = M.solve(rhs)                                 # raises ZeroDivisionError if singular
    best = 0.0
    for j in range(N):
        uq = [_to_q(u[s, j]) for s in range(S)]
        ubar = sum((lam[s, 0] * uq[s] for s in range(S)), flint.fmpq(0))
        g = [[uq[s] - ubar] for s in range(S)]
        Ns, D = _exact_policy_polys(g, Pq, S, 1, [0] * S)
        for n in Ns:
            if n.is_zero():
                continue
            h = n.gcd(D)
            nn, dd = n // h, D // h
            if dd(1) == 0:
                raise ValueError("the centred discounted sum is unbounded as δ → 1 (no unique invariant law)")
            crit = nn.derivative() * dd - nn * dd.derivative()
            pts = [flint.fmpq(0), flint.fmpq(1)]
            if crit.degree() >= 1:
                for z, _m in crit.complex_roots():
                    if z.imag.contains(0):
                        x = float(z.real.mid())
                        if 0 < x < 1:
                            q = Fraction(x).limit_denominator(10**15)
                            pts.append(flint.fmpq(q.numerator, q.denominator))
            best = max(best, max(abs(float(nn(x) / dd(x))) for x in pts))
    return best, np.array([float(lam[s, 0]) for s in range(S)])


def self_enforcement_report(model, delta: float | None = None, policy: EfficientPolicy | None = None,
                            method: str = "blackwell") -> SelfEnforcementReport:
    """Athey–Segal Proposition 3 quantities and a direct check at ``delta`` (default: the model's)."""
    m: JointModel = _as_model(model)
    if not m.stationary:
        raise ModelError("horizon", "self-enforcement (Athey-Segal Prop. 3) needs a stationary infinite horizon")
    if not m.independent:
        raise ModelError("joint_initial", "self-enforcement needs independent types (assumption (iv))")
    delta = m.discount if delta is None else float(delta)
    md = m.with_discount(delta)
    if policy is None:
        try:
            policy = efficient_policy(md, method=method)
        except ValueError:  # too large for exact Blackwell arithmetic
            policy = efficient_policy(md, method="policy_iteration")
    sigma = policy.at(0)
    S, N = m.n_profiles(0), m.N
    P = m.kernel(0)[sigma, np.arange(S), :]
    ergodic = _ergodic_sets(P)
    lam = invariant_distribution(P)
    # a principal's cost is borne by the agents in equal shares: ũ_i = u_i − c/N (no outside
    # budget in a self-enforcing arrangement; with c ≡ 0 these are the paper's u_i)
    cost = m.costs[0]
    ut = [m.utilities[0][i] - cost[:, None] / N for i in range(N)]                       # (A, n_i)
    dig = m.profile_digits(0)
    u = np.stack([ut[i][sigma, dig[:, i]] for i in range(N)], axis=1)                   # (S, N)
    ubar = lam @ u
    C_grid = uniform_bound(P, u - ubar[None, :], lam)
    try:
        C, _ = exact_uniform_bound(P, u)
        c_method = "exact"
    except (ValueError, ZeroDivisionError):
        C, c_method = C_grid, "grid"
    M = max(float(np.max(np.abs(ut[i]))) for i in range(N))
    K = 2 * C / (N - 1) + M / N
    A = ubar / N + K
    tot = float(ubar.sum())
    if tot > 0:
        X = N * (C + 2 * N * K + 2 * M) / tot
        thr = X / (1 + X)
    else:
        thr = None
    # direct check at δ with the balanced team mechanism of the same policy
    team = team_mechanism(md, policy=EfficientPolicy(md, [sigma], [policy.value(0)], policy.method, 0))
    gam, _ = markov_incentive_payments(team)   # the γ_j^B of (6.1): [(1, S, N), (S, S, N)]
    out = {}
    margin = np.inf
    zmin = np.inf
    worst = {}
    for t in (0, 1):
        g = gam[t]                                                      # (P_t, S, N)
        z = g[..., None, :] / (N - 1) + A[None, None, :, None]          # z[.., i, j] paid by i to j
        idx = np.arange(N)
        z[..., idx, idx] = 0.0
        zmin = min(zmin, float(np.min(np.where(np.eye(N, dtype=bool), np.inf, z))))
        out[t] = z
    reach_prof = m.initial > 0
    while True:
        nxt = reach_prof | ((reach_prof.astype(float) @ P) > 0)
        if np.array_equal(nxt, reach_prof):
            break
        reach_prof = nxt
    # net transfer to i: Σ_j z_{j,i} − Σ_j z_{i,j}; continuation values of on-schedule play
    net = [out[t].sum(axis=-2) - out[t].sum(axis=-1) for t in (0, 1)]  # (P_t, S, N)
    util = u                                                            # (S, N) on schedule
    Dv = np.linalg.solve(np.eye(S) - delta * P, np.einsum("sq,sqn->sn", P, net[1] + util[None]))
    best_a = np.stack([np.max(ut[i][:, dig[:, i]], axis=0) for i in range(N)], axis=1)   # (S, N)
    for t in (0, 1):
        V = net[t] + util[None] + delta * Dv[None]                     # (P_t, S, N)
        incoming = out[t].sum(axis=-2)                                  # Σ_j z_{j,i}
        off = best_a[None] + incoming
        reach = (m.initial > 0)[None, :] if t == 0 else (P > 0) & reach_prof[:, None]
        gap = np.where(reach[..., None], V - off, np.inf)
        mg = float(gap.min())
        if mg < margin:
            k = np.unravel_index(int(np.argmin(gap)), gap.shape)
            margin = mg
            worst = {"period": "first" if t == 0 else "later", "previous_profile": None if t == 0 else int(k[0]),
                     "profile": int(k[1]), "agent": int(k[2]), "on_schedule_value": float(V[k]),
                     "deviation_value": float(off[k])}
    return SelfEnforcementReport(sigma, policy.method, policy.info.get("delta_threshold"), ergodic, lam, ubar,
                                 C, M, K, A, thr, delta, bool(margin >= -1e-9), float(margin),
                                 bool(zmin >= -1e-9), float(zmin), worst, c_method, C_grid)
