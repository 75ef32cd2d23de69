r"""Spanning and convex-independence diagnostics of the contingent-transfer blocks (Liu §3).

For every transition ``t → t+1`` (one when stationary), agent :math:`i`, decision :math:`a`
and others' signals :math:`\theta^{-i}`, Liu's matrix

.. math::

    M^{-i}_{t+1}(a, \theta^{-i}) = \big[\mu^{-i}_{t+1}(\theta^{-i}_{t+1}\mid a, \theta^i, \theta^{-i})\big]
    \in \mathbb R^{|\Theta^{-i}_{t+1}| \times |\Theta^i_t|}

(columns indexed by agent i's current signal) decides which transfers exist:

* **Spanning** (Assumption 3): full column rank — then the VCG-type transfer of Lemma A.4 /
  Theorem 3.2 exists; reported with the singular values, condition number and
  :math:`\|(M^{-i})^+\|_2 = 1/\sigma_{\min}` (Assumption 3 asks for a uniform bound
  :math:`\bar D` on it when :math:`T = \infty`; the sup over blocks is reported).
* **Convex independence** (Assumption 2): no column in the convex hull of the others — then
  report-dependent transfers exist (Theorem 3.1 / Lemma A.3).  The margin
  :math:`\min_k \operatorname{dist}_2(M_{\cdot k}, \operatorname{conv}\{M_{\cdot j}\}_{j\ne k})`
  is the value of a small QP per column, :math:`\min\|M_{\cdot k}-\sum_{j\ne k}\lambda_j M_{\cdot j}\|`
  over :math:`\lambda\in\Delta`, solved exactly by a primal active-set method with a KKT
  certificate (default), or — ``method="qp"`` — all of them as one stacked diagonal-Hessian
  :class:`~dmd_opt.optim.program.Program` (``min ½‖z‖²`` s.t. :math:`z = M_{\cdot k} - \sum_j \lambda_j M_{\cdot j}`)
  on any QP backend, polished by an exact KKT solve on the optimal face.

Blocks whose decision is never chosen by :math:`a^*_t(\cdot, \theta^{-i})` are reported but
flagged ``used_by_policy = False``: the mechanism needs only the used ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dmd_opt.optim.program import Program
from dmd_opt.solvers import solve
from dmd_opt.families.contingent.environment import ContingentEnvironment

RANK_RTOL = 1e-10   # singular values below RANK_RTOL·σ_max count as zero
CI_TOL = 1e-7       # a column closer than this to the hull of the others fails convex independence


@dataclass
class Block:
    """One (step, agent, decision, others' signals) matrix :math:`M^{-i}` and its diagnostics."""

    step: int
    agent: int
    decision: int
    others: int
    M: np.ndarray
    singular_values: np.ndarray
    rank: int
    ci_distances: np.ndarray = field(default_factory=lambda: np.zeros(0))
    used_by_policy: bool = True

    @property
    def spanning(self) -> bool:
        return self.rank == self.M.shape[1]

    @property
    def sigma_min(self) -> float:
        n = self.M.shape[1]
        return float(self.singular_values[n - 1]) if len(self.singular_values) >= n else 0.0

    @property
    def condition(self) -> float:
        s = self.sigma_min
        return float(self.singular_values[0] / s) if s > 0 else np.inf

    @property
    def pinv_norm(self) -> float:
        """:math:`\\|M^+\\|_2` = 1 / smallest non-zero singular value."""
        s = self.singular_values[self.singular_values > RANK_RTOL * max(self.singular_values[0], 1e-300)]
        return float(1.0 / s[-1]) if s.size else np.inf

    @property
    def ci_margin(self) -> float:
        return float(np.min(self.ci_distances)) if self.ci_distances.size else np.inf

    @property
    def convex_independent(self) -> bool:
        return self.ci_margin > CI_TOL


def hull_distance_program(blocks: list[Block]) -> tuple[Program, list[tuple[int, int, np.ndarray, np.ndarray]]]:
    """Stacked QP: for every block and column k, the squared distance of column k to the
    convex hull of the other columns.  Returns the Program and, per (block, column), the
    column indices of its λ and z variables."""
    prog = Program(name="convex independence margins", sense="min")
    index = []
    qd, rows_r, rows_c, rows_v, lo = [], [], [], [], []
    groups: dict[tuple[int, int], list[int]] = {}
    for b_id, b in enumerate(blocks):
        if b.M.shape[1] > 1:
            groups.setdefault(b.M.shape, []).append(b_id)
    for (m, n), ids in groups.items():
        P = len(ids) * n
        lam = prog.add_variables(f"lambda_{m}x{n}", (P, n - 1), lb=0.0)
        z = prog.add_variables(f"z_{m}x{n}", (P, m))
        pair = 0
        r_loc, c_loc, v_loc, rhs = [], [], [], []
        s_rows, s_cols = [], []
        agent_l, step_l, hist_l, col_l = [], [], [], []
        for b_id in ids:
            M = blocks[b_id].M
            for k in range(n):
                others = [j for j in range(n) if j != k]
                base = pair * m
                rr = base + np.repeat(np.arange(m), n - 1)
                r_loc += [base + np.arange(m), rr]
                c_loc += [z[pair], np.tile(lam[pair], m)]
                v_loc += [np.ones(m), M[:, others].ravel()]
                rhs.append(M[:, k])
                s_rows.append(pair)
                s_cols.append(lam[pair])
                agent_l.append(np.full(m, blocks[b_id].agent))
                step_l.append(np.full(m, blocks[b_id].step))
                hist_l.append(np.full(m, b_id))
                col_l.append(np.full(m, k))
                index.append((b_id, k, lam[pair], z[pair]))
                pair += 1
        rhs = np.concatenate(rhs)
        prog.add_constraints("hull", P * m, np.concatenate(r_loc), np.concatenate(c_loc),
                             np.concatenate(v_loc), rhs, rhs, agent=np.concatenate(agent_l),
                             period=np.concatenate(step_l), history=np.concatenate(hist_l),
                             true_type=np.concatenate(col_l),
                             description="z = M_k - Σ_j λ_j M_j (distance of column k to the hull)")
        prog.add_constraints("simplex", P, np.repeat(np.arange(P), n - 1), np.concatenate(s_cols),
                             np.ones(P * (n - 1)), 1.0, 1.0, history=np.repeat(ids, n),
                             true_type=np.tile(np.arange(n), len(ids)), description="Σ λ = 1")
    q = np.zeros(prog.n_vars)
    for _, _, _, z in index:
        q[z] = 1.0
    prog.set_objective(np.zeros(prog.n_vars), sense="min", q_diag=q)
    return prog, index


def _polish(A: np.ndarray, b: np.ndarray, lam: np.ndarray) -> float:
    """Exact distance of ``b`` to conv(columns of A) on the face where ``lam`` is positive."""
    best = float(np.linalg.norm(b - A @ lam))
    S = np.flatnonzero(lam > 1e-9)
    if S.size == 0:
        return best
    As = A[:, S]
    k = S.size
    K = np.zeros((k + 1, k + 1))
    K[:k, :k] = 2 * As.T @ As
    K[:k, k] = K[k, :k] = 1.0
    rhs = np.concatenate([2 * As.T @ b, [1.0]])
    sol = np.linalg.lstsq(K, rhs, rcond=None)[0][:k]
    if np.all(sol >= -1e-12):
        d = float(np.linalg.norm(b - As @ np.clip(sol, 0, None) / max(np.clip(sol, 0, None).sum(), 1e-300)))
        best = min(best, d)
    return best


def project_to_hull(A: np.ndarray, b: np.ndarray, tol: float = 1e-13, max_iter: int = 200):
    r"""Exact Euclidean projection of ``b`` on conv(columns of ``A``) by a primal active-set method.

    Solves :math:`\min \tfrac12\|A\lambda - b\|^2` s.t. :math:`\lambda\ge 0, \mathbf 1^\top\lambda = 1`:
    on a working face S the KKT system :math:`A_S^\top A_S\lambda + \nu\mathbf 1 = A_S^\top b`,
    :math:`\mathbf 1^\top\lambda = 1`; drop negative weights, add the column with the most
    negative multiplier :math:`g_j + \nu` (:math:`g = A^\top(A\lambda-b)`), stop when the KKT
    conditions hold (then the optimum is certified).  Returns (distance, λ, kkt_ok).
    """
    n = A.shape[1]
    G, c = A.T @ A, A.T @ b
    S = [int(np.argmin(np.linalg.norm(A - b[:, None], axis=0)))]   # start at the nearest vertex
    lam = np.zeros(n)
    lam[S] = 1.0
    scale = max(1.0, float(np.max(np.abs(G))))
    for _ in range(max_iter):
        k = len(S)
        K = np.zeros((k + 1, k + 1))
        K[:k, :k] = G[np.ix_(S, S)]
        K[:k, k] = K[k, :k] = 1.0
        sol = np.linalg.lstsq(K, np.concatenate([c[S], [1.0]]), rcond=None)[0]
        y = sol[:k]
        if np.any(y < -tol):
            # move from lam towards y until the first weight hits zero, then drop it
            cur = lam[S]
            step = np.where(y < cur, cur / np.maximum(cur - y, 1e-300), np.inf)
            step = np.where(y < -tol, step, np.inf)
            alpha = min(1.0, float(np.min(step)))
            new = cur + alpha * (y - cur)
            lam[:] = 0.0
            lam[S] = np.clip(new, 0, None)
            S = [j for j in S if lam[j] > tol]
            lam /= lam.sum()
            continue
        lam[:] = 0.0
        lam[S] = np.clip(y, 0, None)
        lam /= lam.sum()
        g = G @ lam - c
        nu = -float(np.mean(g[S]))
        mult = g + nu
        out = [j for j in range(n) if j not in S]
        if not out or np.min(mult[out]) >= -1e-12 * scale:
            return float(np.linalg.norm(A @ lam - b)), lam, True
        S.append(out[int(np.argmin(mult[out]))])
    return float(np.linalg.norm(A @ lam - b)), lam, False


def hull_distances(blocks: list[Block], method: str = "active_set", backend: str = "highs",
                   solver: str | None = None) -> None:
    """Fill ``ci_distances`` of every block.

    ``method="active_set"`` (default): :func:`project_to_hull` per column, exact and KKT-certified;
    a column whose KKT check fails is re-solved as a QP.  ``method="qp"``: one stacked QP
    (:func:`hull_distance_program`) on ``backend`` (HiGHS' QP solver fails on some larger stacked
    instances; ``backend="cvxpy", solver="CLARABEL"`` is robust), polished on the optimal face.
    """
    for b in blocks:
        b.ci_distances = np.full(b.M.shape[1], np.inf)
    if method == "active_set":
        retry = []
        for b_id, b in enumerate(blocks):
            n = b.M.shape[1]
            for k in range(n if n > 1 else 0):
                others = [j for j in range(n) if j != k]
                d, _, ok = project_to_hull(b.M[:, others], b.M[:, k])
                b.ci_distances[k] = d
                if not ok:
                    retry.append(b_id)
        if not retry:
            return
        blocks = [blocks[i] for i in sorted(set(retry))]
        backend, solver = ("cvxpy", "CLARABEL") if backend == "highs" else (backend, solver)
    elif method != "qp":
        raise ValueError(f"unknown hull method {method!r}; use 'active_set' or 'qp'")
    prog, index = hull_distance_program(blocks)
    if not index:
        return
    sol = solve(prog, backend=backend, solver=solver)
    if sol.x is None:
        raise RuntimeError(f"convex-independence QP failed on backend {backend}: {sol.status} "
                           f"({sol.solver_status}); try method='active_set' or backend='cvxpy'")
    for b_id, k, lam_idx, _ in index:
        M = blocks[b_id].M
        others = [j for j in range(M.shape[1]) if j != k]
        lam = np.clip(sol.x[lam_idx], 0.0, None)
        lam = lam / lam.sum() if lam.sum() > 0 else np.full(len(others), 1 / len(others))
        blocks[b_id].ci_distances[k] = _polish(M[:, others], M[:, k], lam)


@dataclass
class DiagnosticsReport:
    env: ContingentEnvironment
    blocks: list[Block]

    def _sel(self, used_only: bool) -> list[Block]:
        return [b for b in self.blocks if b.used_by_policy or not used_only]

    def spanning(self, used_only: bool = False) -> bool:
        return all(b.spanning for b in self._sel(used_only))

    def convex_independence(self, used_only: bool = False) -> bool:
        return all(b.convex_independent for b in self._sel(used_only))

    @property
    def sup_pinv_norm(self) -> float:
        """:math:`\\sup \\|(M^{-i})^+\\|_2` over all blocks (Assumption 3's :math:`\\bar D`)."""
        return max(b.pinv_norm for b in self.blocks)

    @property
    def min_ci_margin(self) -> float:
        return min(b.ci_margin for b in self.blocks)

    def failures(self) -> dict:
        lab = self._label
        return {"spanning": [lab(b) for b in self.blocks if not b.spanning],
                "convex_independence": [lab(b) for b in self.blocks if not b.convex_independent]}

    def _label(self, b: Block) -> dict:
        e = self.env
        return {"step": b.step, "agent": e.agent_names[b.agent], "decision": e.decisions(0)[b.decision],
                "others_signals": e.label_others(b.agent, b.others), "used_by_policy": b.used_by_policy}

    def frame(self):
        """One row per block (pandas DataFrame)."""
        import pandas as pd
        rows = []
        for b in self.blocks:
            k = int(np.argmin(b.ci_distances)) if b.ci_distances.size else -1
            rows.append({**self._label(b), "agent_index": b.agent, "rows": b.M.shape[0],
                         "cols": b.M.shape[1], "rank": b.rank, "spanning": b.spanning,
                         "sigma_min": b.sigma_min, "sigma_max": float(b.singular_values[0]),
                         "condition": b.condition, "pinv_norm": b.pinv_norm,
                         "ci_margin": b.ci_margin, "ci_closest_column":
                         self.env.signal_labels[b.agent][k] if k >= 0 else "",
                         "convex_independent": b.convex_independent})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        return {"spanning": self.spanning(), "spanning_used_blocks": self.spanning(True),
                "convex_independence": self.convex_independence(),
                "convex_independence_used_blocks": self.convex_independence(True),
                "sup_pinv_norm": self.sup_pinv_norm, "min_ci_margin": self.min_ci_margin,
                "failures": self.failures(),
                "blocks": [{**self._label(b), "shape": list(b.M.shape), "rank": b.rank,
                            "singular_values": b.singular_values.tolist(), "condition": b.condition,
                            "pinv_norm": b.pinv_norm, "ci_distances": b.ci_distances.tolist(),
                            "ci_margin": b.ci_margin, "spanning": b.spanning,
                            "convex_independent": b.convex_independent} for b in self.blocks]}

    def summary(self) -> list[str]:
        f = self.failures()
        return [f"blocks: {len(self.blocks)} (used by a*: {len(self._sel(True))})",
                f"spanning (Assumption 3): {'holds' if self.spanning() else 'FAILS'} "
                f"(used blocks: {'holds' if self.spanning(True) else 'FAILS'}); "
                f"sup ||M^+|| = {self.sup_pinv_norm:.6g}; failing blocks: {len(f['spanning'])}",
                f"convex independence (Assumption 2): {'holds' if self.convex_independence() else 'FAILS'} "
                f"(used blocks: {'holds' if self.convex_independence(True) else 'FAILS'}); "
                f"min margin = {self.min_ci_margin:.6g}; failing blocks: {len(f['convex_independence'])}"]


def block_matrices(env: ContingentEnvironment, policy=None) -> list[Block]:
    """All blocks with SVD data (no hull distances yet)."""
    out = []
    for t in range(env.steps):
        for i in range(env.N):
            marg = env.others_marginal(t, i)                       # (A, R^-i, n_i, R'^-i)
            used = None
            if policy is not None:
                dec = policy.at(t)[env.profile_of(i)]              # (R^-i, n_i)
                used = np.zeros((env.n_decisions(0), env.n_others(i)), bool)
                for o in range(env.n_others(i)):
                    used[dec[o], o] = True
            for a in range(env.n_decisions(0)):
                for o in range(env.n_others(i)):
                    M = marg[a, o].T.copy()
                    s = np.linalg.svd(M, compute_uv=False)
                    rank = int(np.sum(s > RANK_RTOL * max(s[0], 1e-300))) if s.size and s[0] > 0 else 0
                    out.append(Block(t, i, a, o, M, s, rank,
                                     used_by_policy=True if used is None else bool(used[a, o])))
    return out


def diagnose(env: ContingentEnvironment, policy=None, method: str = "active_set", backend: str = "highs",
             solver: str | None = None) -> DiagnosticsReport:
    """Spanning and convex-independence diagnostics of every block (see module docstring)."""
    blocks = block_matrices(env, policy)
    hull_distances(blocks, method=method, backend=backend, solver=solver)
    return DiagnosticsReport(env, blocks)
