r"""Report-dependent contingent transfers as an LP (Liu, Theorem 3.1 / Lemma A.3).

Under convex independence only, the transfer may also depend on agent i's own report
:math:`r^i_t`: :math:`p^i_{t+1}(\theta^{-i}_{t+1}, r^i_t; a_t, \theta^{-i}_t)`.  For every block
:math:`(t, i, a, \theta^{-i})` used by the efficient policy, with :math:`M = M^{-i}_{t+1}(a,\theta^{-i})`,
:math:`E_s[p(\cdot, r)] = \sum_{\theta'} M_{\theta' s}\, p(\theta', r)` and target
:math:`\tilde u^{-i}` (see :mod:`dmd_opt.families.contingent.transfers`):

* ``truthful`` (Lemma A.3 (i)): :math:`\delta E_s[p(\cdot, s)] = -\tilde u^{-i}(a, s, \theta^{-i})` for every own signal s;
* ``IC`` (Lemma A.3 (ii)): :math:`E_s[p(\cdot, r)] - E_s[p(\cdot, s)] \ge 0` for every s and r ≠ s
  (truthful reporting minimises the expected payment);
* ``bound_upper`` / ``bound_lower``: :math:`-z_b \le p \le z_b`, and the objective
  :math:`\min \sum_b z_b` — blocks are independent, so each :math:`z_b` is that block's
  smallest possible :math:`\max|p|` (the quantity bounded in Lemma A.3 (iii)).

Labels: ``agent`` i, ``period`` t (the transition t → t+1, 0-based), ``history`` =
:math:`a\cdot|\Theta^{-i}| + \theta^{-i}` (the block), ``true_type`` s, ``report`` r.
Convex independence makes every block feasible (Lemma A.3); otherwise the LP can be
infeasible and the Solution carries the Farkas ray.  Transfers of blocks not used by the
policy are fixed to 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dmd_opt.optim.program import Program
from dmd_opt.optim.solution import Solution
from dmd_opt.solvers import solve
from dmd_opt.families.contingent.environment import ContingentEnvironment
from dmd_opt.families.contingent.transfers import targets, used_blocks


def report_program(env: ContingentEnvironment, policy, last=None, blocks: str = "used") -> Program:
    """Build the report-dependent transfer LP (see module docstring)."""
    prog = Program(name=f"contingent report-dependent transfers: {env.name}", sense="min")
    d = env.discount
    tg = targets(env, policy, last)
    zcols = []
    meta_blocks = []
    for t in range(env.steps):
        for i in range(env.N):
            n, Ro, A = env.shape[i], env.n_others(i), env.n_decisions(0)
            m = env.n_others(i)                               # next-period others (same sets)
            used = used_blocks(env, policy, t, i) if blocks == "used" else np.ones((A, Ro), bool)
            ub = np.where(used[:, :, None, None], np.inf, 0.0) * np.ones((A, Ro, n, m))
            P = prog.add_variables(f"p_{t}_{i}", (A, Ro, n, m), lb=-ub, ub=ub,
                                   description="transfer by decision, others now, own report, others next")
            a_sel, o_sel = np.nonzero(used)
            B = a_sel.size
            if B == 0:
                continue
            z = prog.add_variables(f"z_{t}_{i}", (B,), lb=0.0)
            zcols.append(z)
            Mb = env.others_marginal(t, i)[a_sel, o_sel]          # (B, n[s], m[o'])
            Pb = P[a_sel, o_sel]                                  # (B, n[r], m[o'])
            hist = a_sel * Ro + o_sel
            # truthful: Σ_o' M[s,o'] p[s,o'] = -ũ(s)/δ
            rows = np.repeat(np.arange(B * n), m)
            prog.add_constraints("truthful", B * n, rows, Pb.reshape(-1), Mb.reshape(-1),
                                 (-tg[t][i][a_sel, o_sel] / d).ravel(), (-tg[t][i][a_sel, o_sel] / d).ravel(),
                                 agent=i, period=t, history=np.repeat(hist, n),
                                 true_type=np.tile(np.arange(n), B), report=np.tile(np.arange(n), B))
            # IC: Σ_o' M[s,o'] (p[r,o'] - p[s,o']) >= 0
            S, Rr = np.nonzero(~np.eye(n, dtype=bool))
            k = S.size
            if k:
                rows = np.repeat(np.arange(B * k), m)
                rows = np.concatenate([rows, rows])
                cols = np.concatenate([Pb[:, Rr, :].reshape(-1), Pb[:, S, :].reshape(-1)])
                vals = np.concatenate([Mb[:, S, :].reshape(-1), -Mb[:, S, :].reshape(-1)])
                prog.add_constraints("IC", B * k, rows, cols, vals, 0.0, np.inf, agent=i, period=t,
                                     history=np.repeat(hist, k), true_type=np.tile(S, B),
                                     report=np.tile(Rr, B))
            # |p| <= z_b
            nv = n * m
            rows = np.arange(B * nv)
            zc = np.repeat(z, nv)
            for fam, sgn, lo, hi in (("bound_upper", -1.0, -np.inf, 0.0), ("bound_lower", 1.0, 0.0, np.inf)):
                prog.add_constraints(fam, B * nv, np.concatenate([rows, rows]),
                                     np.concatenate([Pb.reshape(-1), zc]),
                                     np.concatenate([np.ones(B * nv), np.full(B * nv, sgn)]), lo, hi,
                                     agent=i, period=t, history=np.repeat(hist, nv),
                                     report=np.tile(np.repeat(np.arange(n), m), B))
            meta_blocks.append({"step": t, "agent": i, "decisions": a_sel.tolist(), "others": o_sel.tolist()})
    c = np.zeros(prog.n_vars)
    for z in zcols:
        c[z] = 1.0
    prog.set_objective(c, sense="min")
    prog.meta.update({"kind": "contingent_report", "blocks": meta_blocks, "discount": d,
                      "label_history": "decision * |others' profiles| + others' profile"})
    return prog


@dataclass
class ReportTransfers:
    """Decoded LP: ``p[t][i]`` (|A|, R^{-i}, n_i (own report), R'^{-i}); ``solution``; ``program``."""

    env: ContingentEnvironment
    program: Program
    solution: object
    p: list[list[np.ndarray]] | None

    @property
    def status(self) -> str:
        return self.solution.status

    @property
    def ok(self) -> bool:
        return self.p is not None

    @property
    def max_abs(self) -> float:
        return max((float(np.max(np.abs(p))) for row in self.p for p in row), default=0.0) if self.p is not None else float("nan")

    def residuals(self, policy, last=None) -> dict:
        """Independent check of the defining (in)equalities from the decoded transfers."""
        env, d = self.env, self.env.discount
        tg = targets(env, policy, last)
        eq, ic = 0.0, 0.0
        for t in range(env.steps):
            for i in range(env.N):
                used = used_blocks(env, policy, t, i)
                E = np.einsum("aosn,aorn->aosr", env.others_marginal(t, i), self.p[t][i])  # E_s[p(., r)]
                tru = np.einsum("aoss->aos", E)
                eq = max(eq, float(np.max(np.abs(d * tru + tg[t][i])[used])))
                ic = max(ic, float(np.max((tru[..., :, None] - E)[used])))
        return {"truthful_equation": eq, "ic_violation": max(ic, 0.0)}


def solve_report(env: ContingentEnvironment, policy, last=None, backend: str = "highs",
                 solver: str | None = None, blocks: str = "used", options: dict | None = None) -> ReportTransfers:
    prog = report_program(env, policy, last, blocks)
    if prog.n_vars == 0:            # one period: no transfer follows any report
        sol = Solution("optimal", "empty program (no transition, no contingent transfer)", "none", 0.0,
                       np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
    else:
        sol = solve(prog, backend=backend, solver=solver, options=options)
    p = None
    if sol.x is not None and sol.status == "optimal":
        p = [[prog.values(sol.x, f"p_{t}_{i}") for i in range(env.N)] for t in range(env.steps)]
    return ReportTransfers(env, prog, sol, p)
