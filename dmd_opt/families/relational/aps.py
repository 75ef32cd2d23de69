r"""Self-generation: the perfect-public-equilibrium payoff set on a promise grid.

Abreu, Pearce & Stacchetti (1990) characterise the set :math:`\mathcal E` of
perfect public equilibrium (PPE) payoffs :math:`(U, V)` — agent, principal —
normalised by :math:`1-\delta`, as the largest fixed point of the operator
:math:`B`: a pair is in :math:`B(W)` when some one-period plan, with continuation
payoffs in :math:`W` after every public outcome, delivers it and no player gains
by a deviation (the agent's private ones: another message, another action; the
principal's public ones, followed by her worst continuation).  A public
randomisation device at the start of each period makes :math:`B(W)` convex
(Fudenberg, Levine & Maskin 1994 for the private-information version).
Iterating :math:`B` from the convex hull of feasible payoffs decreases to
:math:`\mathcal E`.

**Representation.**  A convex set :math:`W` is its range of agent payoffs
:math:`[U_{lo}, U_{hi}]` with the upper and lower boundaries :math:`\bar V`
(concave) and :math:`\underline V` (convex) on a uniform grid of ``K`` promises
(:class:`PayoffSet`), linear in between — an inner approximation of the true set.
:math:`\bar V(U)` is the Pareto frontier: the principal's best equilibrium
payoff when the agent is promised :math:`U`.

**One step of B** is a family of linear programs, stacked block-diagonally into one
labelled :class:`~dmd_opt.optim.program.Program` per phase (built with
:class:`dmd_opt.dp.bellman.TemplateBuilder` / :func:`~dmd_opt.dp.bellman.stack`):

* range (two blocks): the lowest and highest agent payoff in :math:`B(W)`
  (promise-keeping row free); the new grid spans them;
* frontier (one block per grid promise): :math:`\max V` and, for relational
  contracts, :math:`\min V` at each new grid promise.

Variables of a block: weights :math:`\rho_q` on the pure plans :math:`q` (the
public lottery over plans), and per outcome :math:`o` of plan :math:`q` the
mass-scaled continuation :math:`x_o = \rho_q w_A(o)`, :math:`y_o = \rho_q w_P(o)`.
Rows (families):

* ``plan_lottery``: :math:`\sum_q \rho_q = 1`;
* ``promise_keeping``: :math:`\sum_q\sum_\theta \pi_\theta(1-\delta)u_A\rho_q + \delta\sum_o \pi_o x_o = U`;
* ``IC`` (agent, per plan, state and deviation to a message cell :math:`c'` and action
  :math:`e'`): truthful value :math:`\ge` deviation value, a deviation that no type
  takes on path being followed by the agent's lowest payoff :math:`U_{lo}(W)`;
  with ``randomization = "message"`` (device after the message, as a mechanism with
  commitment randomises after reports) the agent's constraints hold in expectation
  over the device and his best action after every draw (rows ``IC_option``);
* ``obedience`` (principal, relational only; per plan, message cell and alternative
  action :math:`a'`): her value from the plan :math:`\ge` :math:`D(c, a')`, the lowest
  payoff she can be held to after taking :math:`a'` — computed from :math:`W`
  (:func:`punishments`: the agent's response in that period and the continuation in
  :math:`W` minimise her payoff subject to the agent's own incentives), never assumed;
* ``domain``: :math:`U_{lo}\rho_q \le x_o \le U_{hi}\rho_q`;
* ``continuation_set``: :math:`y_o \le \rho_q \bar V(x_o/\rho_q)` as the cuts
  :math:`y_o - s_k x_o - (\bar V_k - s_k U_k)\rho_q \le 0` of the grid pieces, and for the
  minimising blocks :math:`y_o \ge \rho_q\underline V(x_o/\rho_q)`.  The pieces are
  added lazily (Kelley's cutting planes): after each solve the most violated piece
  of every outcome is added and the LP re-solved warm, until none is violated; the
  optimum is that of the LP with every piece.

Commitment (the principal's actions are part of the contract) drops ``obedience``
and the minimising blocks: :math:`\bar V` is then the Spear–Srivastava value
function of promised utility and :math:`[U_{lo},U_{hi}]` the self-generating
promise range (the agent's constraints only).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from dmd_opt.core.errors import ModelError
from dmd_opt.dp.bellman import Stacked, TemplateBuilder, stack
from dmd_opt.families.relational.game import Plans, StageGame
from dmd_opt.optim.program import Program
from dmd_opt.optim.solution import Solution

ENFORCEMENTS = ("relational", "commitment")
RANDOMIZATIONS = ("period", "message")
HIGHS = {"primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9}


# ---------------------------------------------------------------------------------------
# convex payoff sets on a promise grid
# ---------------------------------------------------------------------------------------
@dataclass
class PayoffSet:
    """A convex set of (agent U, principal V) pairs: grid on [U_lo, U_hi], upper and lower boundary."""

    grid: np.ndarray
    upper: np.ndarray
    lower: np.ndarray

    @property
    def K(self) -> int:
        return int(self.grid.size)

    @property
    def U_lo(self) -> float:
        return float(self.grid[0])

    @property
    def U_hi(self) -> float:
        return float(self.grid[-1])

    @property
    def degenerate(self) -> bool:
        return self.U_hi - self.U_lo <= 1e-13 * max(1.0, abs(self.U_hi))

    def upper_at(self, u) -> np.ndarray:
        """Frontier :math:`\\bar V(u)` (min of the pieces: the concave function the cuts describe)."""
        return self._env(np.asarray(u, float), self.upper, +1)

    def lower_at(self, u) -> np.ndarray:
        return self._env(np.asarray(u, float), self.lower, -1)

    def _env(self, u, vals, sign):
        if self.degenerate:
            return np.full(u.shape, float(vals.max() if sign > 0 else vals.min()))
        s, icpt = self.pieces(vals)
        lines = icpt[None, :] + s[None, :] * np.ravel(u)[:, None]
        out = lines.min(axis=1) if sign > 0 else lines.max(axis=1)
        return out.reshape(u.shape)

    def pieces(self, vals) -> tuple[np.ndarray, np.ndarray]:
        """Slopes and intercepts of the K−1 linear pieces through consecutive grid points."""
        g = self.grid
        s = np.diff(vals) / np.diff(g)
        return s, vals[:-1] - s * g[:-1]

    def contains(self, u, v, tol: float = 1e-9) -> bool:
        if u < self.U_lo - tol or u > self.U_hi + tol:
            return False
        uu = min(max(u, self.U_lo), self.U_hi)
        return bool(self.lower_at(uu) - tol <= v <= self.upper_at(uu) + tol)

    def distance(self, other: "PayoffSet") -> float:
        """Sup distance between boundaries on ``other``'s grid and between the ranges."""
        d = max(abs(self.U_lo - other.U_lo), abs(self.U_hi - other.U_hi))
        if other.degenerate or self.degenerate:
            return max(d, float(np.max(np.abs(self.upper.max() - other.upper))),
                       float(np.max(np.abs(self.lower.min() - other.lower))))
        g = np.clip(other.grid, self.U_lo, self.U_hi)
        return max(d, float(np.max(np.abs(np.interp(g, self.grid, self.upper) - other.upper))),
                   float(np.max(np.abs(np.interp(g, self.grid, self.lower) - other.lower))))

    def to_dict(self) -> dict:
        return {"grid": self.grid.tolist(), "upper": self.upper.tolist(), "lower": self.lower.tolist()}

    @classmethod
    def point(cls, K: int, u: float = 0.0, v: float = 0.0) -> "PayoffSet":
        return cls(np.full(K, float(u)), np.full(K, float(v)), np.full(K, float(v)))


def concave_envelope(grid: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Least concave majorant of the points (grid, v), evaluated on the grid (solver noise
    can make an LP value function's samples very slightly non-concave)."""
    if grid.size < 3 or grid[-1] - grid[0] <= 0:
        return v.copy()
    keep = [0]
    for i in range(1, grid.size):
        while len(keep) >= 2:
            a, b = keep[-2], keep[-1]
            if (v[b] - v[a]) * (grid[i] - grid[a]) <= (v[i] - v[a]) * (grid[b] - grid[a]):
                keep.pop()
            else:
                break
        keep.append(i)
    return np.maximum(np.interp(grid, grid[keep], v[keep]), v)


def hull2d(points: np.ndarray) -> np.ndarray:
    """Vertices of the convex hull of 2-D points, counter-clockwise (Andrew's monotone chain)."""
    pts = np.unique(np.round(np.asarray(points, float), 14), axis=0)
    if len(pts) <= 2:
        return pts

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(tuple(p))
    for p in pts[::-1]:
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(tuple(p))
    return np.array(lower[:-1] + upper[:-1])


def set_from_points(points: np.ndarray, K: int) -> PayoffSet:
    """The convex hull of (U, V) points as a :class:`PayoffSet` on a K-point grid."""
    h = hull2d(points)
    lo, hi = float(h[:, 0].min()), float(h[:, 0].max())
    if hi - lo <= 1e-13 * max(1.0, abs(hi)):
        return PayoffSet(np.full(K, lo), np.full(K, float(h[:, 1].max())), np.full(K, float(h[:, 1].min())))
    grid = np.linspace(lo, hi, K)
    up = np.full(K, -np.inf)
    dn = np.full(K, np.inf)
    n = len(h)
    for i in range(n):                       # every hull edge bounds the set from above or below
        (u0, v0), (u1, v1) = h[i], h[(i + 1) % n]
        if abs(u1 - u0) < 1e-15:
            m = np.abs(grid - u0) < 1e-12
            up[m] = np.maximum(up[m], max(v0, v1))
            dn[m] = np.minimum(dn[m], min(v0, v1))
            continue
        a, b = min(u0, u1), max(u0, u1)
        m = (grid >= a - 1e-12) & (grid <= b + 1e-12)
        v = v0 + (v1 - v0) * (grid[m] - u0) / (u1 - u0)
        up[m] = np.maximum(up[m], v)
        dn[m] = np.minimum(dn[m], v)
    return PayoffSet(grid, up, dn)


def feasible_set(game: StageGame, K: int) -> PayoffSet:
    r"""Convex hull of feasible expected stage payoffs, :math:`\sum_\theta \pi_\theta\,\mathrm{conv}\,F_\theta`
    (Minkowski sum of the per-state hulls): the start of the APS iteration."""
    acc = np.zeros((1, 2))
    for s in range(game.n_states):
        f = game.feasible[s]
        pts = np.column_stack([game.u_agent[s][f], game.u_principal[s][f]]) * game.prob[s]
        pts = hull2d(pts)
        acc = hull2d((acc[:, None, :] + pts[None, :, :]).reshape(-1, 2))
    return set_from_points(acc, K)


# ---------------------------------------------------------------------------------------
# the principal's punishments
# ---------------------------------------------------------------------------------------
def _difference_feasible(n: int, cons: list[tuple[int, int, float]], lo: float, hi: float) -> bool:
    """Is there x in [lo, hi]^n with x_i − x_j ≥ g for (i, j, g) (j = −1: x_i ≥ g)?  Longest paths."""
    tol = 1e-12 * max(1.0, abs(lo), abs(hi))
    x = np.full(n, lo)
    for _ in range(n + 2):
        changed = False
        for i, j, g in cons:
            need = (g if j < 0 else x[j] + g)
            if x[i] < need - tol:
                x[i] = need
                changed = True
        if np.any(x > hi + tol):
            return False
        if not changed:
            return True
    return False


def punishments(plans: Plans, delta: float, W: PayoffSet) -> dict[tuple, float]:
    r"""The principal's lowest payoff after she takes :math:`a'` in message cell :math:`c`:

    .. math::

        D(c, a') = \min \sum_{\theta\in c}\pi_\theta\,[(1-\delta)u_P(\theta,a',e(\theta)) + \delta w_P(e(\theta))]

    over the agent's pure response :math:`e(\cdot)` that period and continuations
    :math:`w(e)\in W`, subject to the agent's incentives (an action no type takes is
    followed by :math:`U_{lo}(W)`).  Returned π-weighted (not divided by π(c)), keyed
    by (cell states, a').  One LP stacks every response that satisfies the
    agent's difference constraints (checked first by longest paths).
    """
    import itertools
    g = plans.game
    A = len(g.principal_actions)
    cells = sorted({tuple(c) for cs in plans.cell_states for c in cs})
    out: dict[tuple, float] = {}
    vmin = float(W.lower.min())
    profiles = []          # (key, cell, a', response tuple)
    for c in cells:
        for a in range(A):
            choices = [np.nonzero(g.feasible[s, a])[0].tolist() for s in c]
            if all(len(ch) == 1 for ch in choices):
                stage = sum(g.prob[s] * g.u_principal[s, a, ch[0]] for s, ch in zip(c, choices))
                out[(c, a)] = float((1 - delta) * stage + delta * g.prob[list(c)].sum() * vmin)
                continue
            for resp in itertools.product(*choices):
                acts = sorted(set(resp))
                pos = {e: i for i, e in enumerate(acts)}
                cons = []
                for s, e in zip(c, resp):
                    for e2 in np.nonzero(g.feasible[s, a])[0]:
                        if e2 == e:
                            continue
                        gap = (1 - delta) * (g.u_agent[s, a, e2] - g.u_agent[s, a, e]) / delta
                        if e2 in pos:
                            cons.append((pos[e], pos[e2], gap))
                        else:
                            cons.append((pos[e], -1, W.U_lo + gap))
                if _difference_feasible(len(acts), cons, W.U_lo, W.U_hi):
                    profiles.append(((c, a), c, a, resp, acts, cons))
    if not profiles:
        return out
    # one LP: per profile and outcome, (x, y) with x in [U_lo, U_hi], y above the lower boundary
    prog = Program(name="principal's punishments", sense="min")
    n_out = sum(len(p[4]) for p in profiles)
    X = prog.add_variables("x", (n_out,), W.U_lo, W.U_hi)
    Y = prog.add_variables("y", (n_out,), -np.inf, np.inf)
    cost = np.zeros(prog.n_vars)
    rows, cols, vals, lo = [], [], [], []
    r = 0
    off = 0
    const = []
    if W.degenerate:
        sl, ic = np.zeros(1), np.array([vmin])
    else:
        sl, ic = W.pieces(W.lower)
    cut_r, cut_c, cut_v, cut_lo = [], [], [], []
    cr = 0
    for key, c, a, resp, acts, cons in profiles:
        base = 0.0
        for s, e in zip(c, resp):
            base += g.prob[s] * (1 - delta) * g.u_principal[s, a, e]
            cost[Y[off + acts.index(e)]] += delta * g.prob[s]
        const.append(base)
        for i, j, gap in cons:          # x_i − x_j ≥ gap, or x_i ≥ gap
            rows += [r, r] if j >= 0 else [r]
            cols += [X[off + i], X[off + j]] if j >= 0 else [X[off + i]]
            vals += [1.0, -1.0] if j >= 0 else [1.0]
            lo.append(gap)
            r += 1
        for i in range(len(acts)):      # y ≥ every piece of the lower boundary
            k = sl.size
            cut_r += list(np.repeat(np.arange(cr, cr + k), 2))
            cut_c += [Y[off + i], X[off + i]] * k
            cut_v += list(np.column_stack([np.ones(k), -sl]).ravel())
            cut_lo += list(ic)
            cr += k
        off += len(acts)
    if r:
        prog.add_constraints("IC", r, rows, cols, vals, lo, np.inf)
    prog.add_constraints("continuation_set", cr, cut_r, cut_c, cut_v, cut_lo, np.inf)
    prog.set_objective(cost, sense="min")
    from dmd_opt.solvers import solve
    sol = solve(prog, options=dict(HIGHS))
    if sol.status != "optimal":
        raise RuntimeError(f"punishment LP: {sol.solver_status}")
    off = 0
    for (key, c, a, resp, acts, cons), base in zip(profiles, const):
        idx = Y[off:off + len(acts)]
        val = base + float(cost[idx] @ sol.x[idx])
        out[key] = min(out.get(key, np.inf), val)
        off += len(acts)
    return out


# ---------------------------------------------------------------------------------------
# one step of the operator
# ---------------------------------------------------------------------------------------
@dataclass
class StepLayout:
    """Local column indices of a block: plan weights, continuations, IC epigraph variables."""

    rho: np.ndarray
    x: np.ndarray
    y: np.ndarray
    t: np.ndarray | None
    n: int


def _template(plans: Plans, delta: float, W: PayoffSet, D: dict | None, rhs: np.ndarray,
              objectives: list[str], randomization: str):
    """The Bellman/APS block for promises ``rhs`` (NaN = free) and one regime per objective
    (``"principal"``, ``"-principal"``, ``"agent"``, ``"-agent"``)."""
    g = plans.game
    S, Q, O = g.n_states, plans.Q, plans.O
    pi = g.prob
    srange = np.arange(S)
    uA = g.u_agent[srange[None, :], plans.action, plans.agent]          # (Q, S)
    uP = g.u_principal[srange[None, :], plans.action, plans.agent]
    mass = np.zeros(O)
    np.add.at(mass, plans.outcome.ravel(), np.broadcast_to(pi, (Q, S)).ravel())
    # deviations: (plan, state, message cell, action) → on-path outcome or −1
    out_key = {(int(plans.out_plan[o]), int(plans.out_cell[o]), int(plans.out_agent[o])): o for o in range(O)}
    dev = []
    for q in range(Q):
        ncell = len(plans.cell_states[q])
        for s in range(S):
            for c2 in range(ncell):
                a2 = plans.cell_action[q][c2]
                for e2 in np.nonzero(g.feasible[s, a2])[0]:
                    if c2 == plans.cell[q, s] and e2 == plans.agent[q, s]:
                        continue
                    dev.append((q, s, c2, int(e2), out_key.get((q, c2, int(e2)), -1)))
    groups = [("plan", (Q,)), ("x", (O,)), ("y", (O,))]
    if randomization == "message":
        tkeys = sorted({(q, s, c2) for q, s, c2, _, _ in dev} |
                       {(q, s, int(plans.cell[q, s])) for q in range(Q) for s in range(S)})
        tpos = {k: i for i, k in enumerate(tkeys)}
        groups.append(("t", (len(tkeys),)))
    tb = TemplateBuilder(groups)
    R = tb.col("plan")
    X = tb.col("x")
    Y = tb.col("y")
    T = tb.col("t") if randomization == "message" else None
    tb.bounds("plan", 0.0, 1.0)
    # x = ρ w_A, y = ρ w_P with ρ in [0, 1] and (w_A, w_P) in W: implied bounds (keep the LP boxed)
    tb.bounds("x", min(0.0, W.U_lo), max(0.0, W.U_hi))
    tb.bounds("y", min(0.0, float(W.lower.min())), max(0.0, float(W.upper.max())))
    if T is not None:
        tb.bounds("t", -np.inf, np.inf)
    E = len(g.agent_actions)
    tb.row("plan_lottery", R, 1.0, 1.0, 1.0)
    pk = tb.row("promise_keeping", np.concatenate([R, X]),
                np.concatenate([(1 - delta) * (uA * pi).sum(axis=1), delta * mass]), 0.0, 0.0)
    qo = plans.out_plan
    for o in range(O):
        tb.row("domain", [X[o], R[qo[o]]], [1.0, -W.U_lo], 0.0, np.inf, report=o)
        tb.row("domain", [X[o], R[qo[o]]], [1.0, -W.U_hi], -np.inf, 0.0, report=o)
    U_off = W.U_lo
    if randomization == "period":
        for q, s, c2, e2, o2 in dev:
            a2 = plans.cell_action[q][c2]
            own = plans.outcome[q, s]
            coef = (1 - delta) * (uA[q, s] - g.u_agent[s, a2, e2])
            cols, vals = [R[q], X[own]], [coef, delta]
            if o2 >= 0:
                cols.append(X[o2])
                vals.append(-delta)
            else:
                vals[0] -= delta * U_off
            tb.row("IC", cols, vals, 0.0, np.inf, true_type=s, report=c2 * E + e2)
    else:
        # epigraph of the agent's best action after each device draw
        opts: dict[tuple, list] = {}
        for q, s, c2, e2, o2 in dev:
            opts.setdefault((q, s, c2), []).append((e2, o2))
        for q in range(Q):
            for s in range(S):
                opts.setdefault((q, s, int(plans.cell[q, s])), []).append((int(plans.agent[q, s]), int(plans.outcome[q, s])))
        for (q, s, c2), lst in opts.items():
            a2 = plans.cell_action[q][c2]
            for e2, o2 in lst:
                cols, vals = [T[tpos[(q, s, c2)]], R[q]], [1.0, -(1 - delta) * g.u_agent[s, a2, e2]]
                if o2 >= 0:
                    cols.append(X[o2])
                    vals.append(-delta)
                else:
                    vals[1] -= delta * U_off
                tb.row("IC_option", cols, vals, 0.0, np.inf, true_type=s, report=c2 * E + e2)
        for part in np.unique(plans.partition):
            qs = np.nonzero(plans.partition == part)[0]
            for s in range(S):
                for c2 in range(len(plans.partitions[part])):
                    cols = list(R[qs]) + list(X[plans.outcome[qs, s]]) + [T[tpos[(q, s, c2)]] for q in qs]
                    vals = list((1 - delta) * uA[qs, s]) + [delta] * len(qs) + [-1.0] * len(qs)
                    tb.row("IC", cols, vals, 0.0, np.inf, true_type=s, report=c2 * E)
    if D is not None:
        A = len(g.principal_actions)
        for q in range(Q):
            for c, cs in enumerate(plans.cell_states[q]):
                a = plans.cell_action[q][c]
                stage = float(sum(pi[s] * (1 - delta) * uP[q, s] for s in cs))
                outs = sorted({int(plans.outcome[q, s]) for s in cs})
                for a2 in range(A):
                    if a2 == a:
                        continue
                    cols = [R[q]] + [Y[o] for o in outs]
                    vals = [stage - D[(tuple(cs), a2)]] + [delta * mass[o] for o in outs]
                    tb.row("obedience", cols, vals, 0.0, np.inf, true_type=c, report=a2)
    nreg = len(objectives)
    c0 = np.zeros((nreg, tb.n))
    for r, obj in enumerate(objectives):
        sign = -1.0 if obj.startswith("-") else 1.0
        if obj.lstrip("-") == "principal":
            c0[r, R] = sign * (1 - delta) * (uP * pi).sum(axis=1)
            c0[r, Y] = sign * delta * mass
        else:
            c0[r, R] = sign * (1 - delta) * (uA * pi).sum(axis=1)
            c0[r, X] = sign * delta * mass
    t = tb.finish([pk], np.asarray(rhs, float).reshape(-1, 1), c0, np.zeros(0, np.int64), np.zeros(0, np.int64),
                  np.zeros(0, np.int64), np.zeros((nreg, 0)), "max", nreg)
    return t, StepLayout(R, X, Y, T, tb.n)


def _costs(st: Stacked) -> np.ndarray:
    t = st.template
    c = np.repeat(t.c0, t.n_states, axis=0)               # (blocks, n_cols), regime-major
    out = np.zeros(st.program.n_vars)
    out[st.colmap.ravel()] = c.ravel()
    return out


@dataclass
class Cuts:
    """Active continuation-set cuts, in the order their rows were added: block, outcome,
    piece (−1 = the cap) and side (+1 upper, −1 lower).  ``seen`` marks what is active."""

    block: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    out: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    piece: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    side: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    seen: np.ndarray | None = None

    def copy(self) -> "Cuts":
        return Cuts(self.block, self.out, self.piece, self.side, None if self.seen is None else self.seen.copy())

    def add(self, b, o, k, sd, shape: tuple[int, int, int]) -> int:
        """Add the cuts not active yet; ``shape`` = (blocks, outcomes, pieces)."""
        if self.seen is None or self.seen.shape[:3] != (shape[0], shape[1], shape[2] + 1):
            self.seen = np.zeros((shape[0], shape[1], shape[2] + 1, 2), bool)
            self.seen[self.block, self.out, self.piece + 1, (self.side < 0).astype(int)] = True
        b, o, k, sd = (np.asarray(a, np.int64).ravel() for a in (b, o, k, sd))
        si = (sd < 0).astype(np.int64)
        key = ((b * shape[1] + o) * (shape[2] + 1) + k + 1) * 2 + si
        key, first = np.unique(key, return_index=True)
        b, o, k, sd, si = b[first], o[first], k[first], sd[first], si[first]
        new = ~self.seen[b, o, k + 1, si]
        if not new.any():
            return 0
        b, o, k, sd, si = b[new], o[new], k[new], sd[new], si[new]
        self.seen[b, o, k + 1, si] = True
        self.block = np.concatenate([self.block, b])
        self.out = np.concatenate([self.out, o])
        self.piece = np.concatenate([self.piece, k])
        self.side = np.concatenate([self.side, sd])
        return int(b.size)

    def __len__(self) -> int:
        return int(self.block.size)


def _cut_rows(st: Stacked, lay: StepLayout, plans: Plans, W: PayoffSet, cuts: Cuts, start: int = 0):
    """COO rows of cuts[start:]: y − s x − (V_k − s U_k) ρ ≤ 0 (upper) / ≥ 0 (lower); piece −1 = the cap
    y ≤ max V̄ ρ (upper) / y ≥ min V̲ ρ (lower).  Returns (n, rows, cols, vals, lo, hi, labels)."""
    b, o, k, sd = cuts.block[start:], cuts.out[start:], cuts.piece[start:], cuts.side[start:]
    n = b.size
    if W.degenerate:
        su, iu = np.zeros(1), np.array([W.upper.max()])
        sl, il = np.zeros(1), np.array([W.lower.min()])
    else:
        su, iu = W.pieces(W.upper)
        sl, il = W.pieces(W.lower)
    kk = np.clip(k, 0, su.size - 1)
    cap = k < 0
    slope = np.where(cap, 0.0, np.where(sd > 0, su[kk], sl[kk]))
    icpt = np.where(cap, np.where(sd > 0, W.upper.max(), W.lower.min()), np.where(sd > 0, iu[kk], il[kk]))
    cx = st.colmap[b, lay.x[o]]
    cy = st.colmap[b, lay.y[o]]
    cr = st.colmap[b, lay.rho[plans.out_plan[o]]]
    rows = np.repeat(np.arange(n), 3)
    cols = np.column_stack([cy, cx, cr]).ravel()
    vals = np.column_stack([np.ones(n), -slope, -icpt]).ravel()
    lo = np.where(sd > 0, -np.inf, 0.0)
    hi = np.where(sd > 0, 0.0, np.inf)
    labels = {"history": b, "report": o, "true_type": np.where(sd > 0, k, -2 - k)}
    return n, rows, cols, vals, lo, hi, labels


def _separate(x: np.ndarray, st: Stacked, lay: StepLayout, plans: Plans, W: PayoffSet, lower_blocks: np.ndarray,
              tol: float) -> list:
    """Violated pieces per (block, outcome): the piece of the (concave) upper boundary at
    w = x/ρ and its neighbours, and likewise for the (convex) lower boundary on ``lower_blocks``."""
    if W.degenerate:
        return []
    rho = x[st.colmap[:, lay.rho]][:, plans.out_plan]         # (B, O)
    xs = x[st.colmap[:, lay.x]]
    ys = x[st.colmap[:, lay.y]]
    w = np.where(rho > 1e-14, xs / np.maximum(rho, 1e-300), W.U_lo)
    k = np.clip(np.searchsorted(W.grid, w, side="right") - 1, 0, W.K - 2)
    found = []
    for side, vals in ((1, W.upper), (-1, W.lower)):
        s, ic = W.pieces(vals)
        best = ic[k] * rho + s[k] * xs
        viol = (ys - best) if side > 0 else (best - ys)
        mask = viol > tol
        if side < 0:
            mask &= lower_blocks[:, None]
        bb, oo = np.nonzero(mask)
        kk = k[bb, oo]
        found.append((bb, oo, kk, np.full(bb.size, side)))
    return found


@dataclass
class StepResult:
    values: np.ndarray            # (n_regimes, n_states) block objectives
    x: np.ndarray                 # primal of the stacked program
    program: Program
    solution: Solution
    stacked: Stacked
    layout: StepLayout
    cuts: Cuts
    rounds: int
    basis: dict | None


def solve_step(plans: Plans, delta: float, W: PayoffSet, D: dict | None, rhs: np.ndarray, objectives: list[str],
               randomization: str, cuts: Cuts | None = None, warm: dict | None = None,
               name: str = "relational step", max_rounds: int = 500,
               value_floor: np.ndarray | None = None, drop: np.ndarray | None = None) -> StepResult:
    r"""Solve the stacked LP of one phase with lazily added continuation-set cuts (module docstring).

    A :class:`~dmd_opt.solvers.session.Session` holds the LP; violated pieces enter with
    ``add_rows`` and the dual simplex re-optimises warm.  ``cuts`` / ``warm`` (the previous
    iteration's cut set and basis; same row structure) start the next iteration warm.
    The returned Program holds every row the final solve had.

    ``value_floor`` (one objective only): keep every block's objective at least this high
    (rows ``value``) and maximise instead the expected continuation surplus
    :math:`\sum_o \pi_o (w_A + w_P)` — the tie-break among optimal policies
    (:func:`efficient_policy`).
    """
    import scipy.sparse as sp
    from dmd_opt.solvers.session import Session
    t, lay = _template(plans, delta, W, D, rhs, objectives, randomization)
    st = stack(t, name=name)
    prog = st.program
    c = _costs(st)
    if value_floor is not None:
        B0 = t.n_blocks
        rows = np.repeat(np.arange(B0), t.n_cols)
        cols = st.colmap.ravel()
        vals = c[cols]
        nz = vals != 0
        prog.add_constraints("value", B0, rows[nz], cols[nz], vals[nz], np.asarray(value_floor, float), np.inf,
                             history=np.arange(B0))
        g = plans.game
        srange = np.arange(g.n_states)[None, :]
        surplus = ((g.u_agent + g.u_principal)[srange, plans.action, plans.agent] * g.prob).sum(axis=1)
        c = np.zeros(prog.n_vars)
        c[st.colmap[:, lay.rho].ravel()] = np.tile(surplus, B0)
    prog.set_objective(c, sense="max")
    n_states = t.n_states
    lower_blocks = np.zeros(t.n_blocks, bool)
    for r, obj in enumerate(objectives):
        if obj == "-principal":
            lower_blocks[r * n_states:(r + 1) * n_states] = True
    if value_floor is not None:          # nothing pushes y up any more: keep it above V̲ too
        lower_blocks[:] = True
    if drop is not None:                 # (blocks, plans) held at 0 with their outcomes
        bb, qq = np.nonzero(drop)
        cols = [st.colmap[bb, lay.rho[qq]]]
        sel = drop[:, plans.out_plan]
        ob, oo = np.nonzero(sel)
        cols += [st.colmap[ob, lay.x[oo]], st.colmap[ob, lay.y[oo]]]
        cols = np.concatenate(cols)
        for vb in prog.var_blocks.values():
            m = (cols >= vb.offset) & (cols < vb.offset + vb.size)
            vb.lb[cols[m] - vb.offset] = 0.0
            vb.ub[cols[m] - vb.offset] = 0.0
    cuts = Cuts() if cuts is None else cuts.copy()
    B = t.n_blocks
    shape = (B, plans.O, max(W.K - 1, 1))
    n_prev = len(cuts)
    bb, oo = np.meshgrid(np.arange(B), np.arange(plans.O), indexing="ij")
    cuts.add(bb.ravel(), oo.ravel(), np.full(bb.size, -1), np.ones(bb.size, np.int64), shape)
    lb_, lo_ = np.nonzero(lower_blocks[:, None] & np.ones((1, plans.O), bool))
    cuts.add(lb_, lo_, np.full(lb_.size, -1), -np.ones(lb_.size, np.int64), shape)
    if len(cuts) != n_prev:
        warm = None                     # a different row structure: start cold
    n, rows, cols, vals, lo, hi, lab = _cut_rows(st, lay, plans, W, cuts)
    prog.add_constraints("continuation_set", n, rows, cols, vals, lo, hi, **lab)
    tol = 1e-9 * plans.game.scale        # above the solver's feasibility tolerance
    sess = Session(prog, options=dict(HIGHS))
    if warm is not None and warm["col_status"].size == prog.n_vars and warm["row_status"].size <= prog.n_rows:
        sess.set_basis(warm["col_status"], warm["row_status"])
    rounds = 0
    while True:
        rounds += 1
        sol = sess.solve()
        for retry in ({}, {"presolve": "off"}, {"solver": "ipm"}):   # never let a warm start, a tight tolerance or
            if sol.status == "optimal":         # presolve decide the outcome
                break
            sess = Session(prog, options=retry)
            sol = sess.solve()
        if sol.status != "optimal":
            raise RuntimeError(f"{name}: LP {sol.status} ({sol.solver_status})")
        found = _separate(sol.x, st, lay, plans, W, lower_blocks, tol)
        n0 = len(cuts)
        added = 0
        for bb, oo, kk, sd in found:        # a new piece brings its neighbours (fewer rounds)
            new = ~cuts.seen[bb, oo, kk + 1, (sd < 0).astype(int)]
            added += cuts.add(bb, oo, kk, sd, shape)
            bb, oo, kk, sd = bb[new], oo[new], kk[new], sd[new]
            for dk in (-1, 1):
                added += cuts.add(bb, oo, np.clip(kk + dk, 0, shape[2] - 1), sd, shape)
        if added == 0 or rounds >= max_rounds:
            break
        n, rows, cols, vals, lo, hi, lab = _cut_rows(st, lay, plans, W, cuts, start=n0)
        prog.add_constraints("continuation_set", n, rows, cols, vals, lo, hi, **lab)
        sess.add_rows(sp.csr_matrix((vals, (rows, cols)), shape=(n, prog.n_vars)), lo, hi)
    vals = (c[st.colmap] * sol.x[st.colmap]).sum(axis=1).reshape(t.n_regimes, n_states)
    return StepResult(vals, sol.x, prog, sol, st, lay, cuts, rounds, sess.basis())


# ---------------------------------------------------------------------------------------
# the fixed point
# ---------------------------------------------------------------------------------------
@dataclass
class APSRecord:
    iteration: int
    change: float
    U_lo: float
    U_hi: float
    V_max: float
    seconds: float
    rounds: int


@dataclass
class APSResult:
    """The fixed point: the last set ``W`` = B(``W_in``), the frontier step that produced it."""

    status: str
    message: str
    W: PayoffSet
    W_in: PayoffSet
    D: dict | None
    frontier: StepResult | None
    record: list[APSRecord]
    seconds: float
    plans: Plans
    enforcement: str
    randomization: str
    delta: float
    history: list[PayoffSet] | None = None

    @property
    def iterations(self) -> int:
        return len(self.record)


def efficient_policy(res_aps: "APSResult", tol: float = 1e-10) -> StepResult:
    """Among the policies that give the principal her frontier value at every grid promise,
    the one with the largest joint surplus this period (optimal policies are not unique
    where the frontier has linear pieces; the tie-break never burns surplus today — e.g.
    it lets the agent take his own project rather than the default when the principal is
    indifferent).  Same LP as the final frontier step, upper blocks only."""
    fr = res_aps.frontier
    K = res_aps.W.K
    plans = res_aps.plans
    floor = fr.values[0] - tol * plans.game.scale
    keep = (fr.cuts.block < K) & (fr.cuts.side > 0)
    cuts = Cuts(fr.cuts.block[keep], fr.cuts.out[keep], fr.cuts.piece[keep], fr.cuts.side[keep])
    args = (plans, res_aps.delta, res_aps.W_in, res_aps.D, res_aps.W.grid, ["principal"], res_aps.randomization)
    try:
        out = solve_step(*args, cuts=cuts, name="efficient tie-break", value_floor=floor)
    except RuntimeError:                # the solver failed on the tie-break: keep the frontier LP's policy
        return fr
    # plans with solver-noise weight (≤ 1e-6) are held at zero and the LP re-solved, so that
    # every continuation x/ρ read off the policy is well defined
    rho = out.x[out.stacked.colmap[:, out.layout.rho]]
    tiny = (rho > 0) & (rho <= 1e-6)
    if tiny.any():
        try:
            out = solve_step(*args, cuts=out.cuts, name="efficient tie-break", value_floor=floor,
                             drop=rho <= 1e-6)
        except RuntimeError:
            pass
    return out


def make_grid(lo: float, hi: float, K: int, special: np.ndarray | None = None) -> np.ndarray:
    """K uniform promises on [lo, hi] merged with the ``special`` promises inside (the agent's
    payoffs of stationary plans, so that a stationary mode sits exactly on a node)."""
    grid = np.linspace(lo, hi, K)
    if special is None or hi - lo <= 1e-13 * max(1.0, abs(hi)):
        return grid
    h = (hi - lo) / max(K - 1, 1)
    sp_ = np.asarray(special, float)
    eps = 1e-6 * h                      # closer than this to a node: the node stands for it
    sp_ = sp_[(sp_ > lo + eps) & (sp_ < hi - eps)]
    if sp_.size == 0:
        return grid
    near = np.abs(grid[np.clip(np.searchsorted(grid, sp_), 0, K - 1)] - sp_) <= eps
    near |= np.abs(grid[np.clip(np.searchsorted(grid, sp_) - 1, 0, K - 1)] - sp_) <= eps
    merged = np.unique(np.concatenate([grid, sp_[~near]]))
    keep = np.concatenate([[True], np.diff(merged) > eps])
    return merged[keep]


def aps_step(plans: Plans, delta: float, W: PayoffSet, K: int, enforcement: str, randomization: str,
             state: dict, special: np.ndarray | None = None, peak_nodes: bool = True
             ) -> tuple[PayoffSet, dict | None, StepResult]:
    """B(W) on a fresh grid of K promises (plus ``special`` ones) spanning its agent-payoff
    range.  ``state`` carries the warm bases and cuts between iterations."""
    D = punishments(plans, delta, W) if enforcement == "relational" else None
    if state.get("K_in") != W.K:                 # cuts name pieces of W: a new size starts afresh
        state.clear()
        state["K_in"] = W.K
    # the agent's lowest and highest payoff in B(W), and the principal's best point of B(W)
    rng = solve_step(plans, delta, W, D, np.array([np.nan]), ["agent", "-agent", "principal"], randomization,
                     cuts=state.get("range_cuts"), warm=state.get("range_basis"), name="payoff range")
    state["range_cuts"], state["range_basis"] = rng.cuts, rng.basis
    lo, hi = float(-rng.values[1, 0]), float(rng.values[0, 0])
    if hi < lo:
        lo = hi = 0.5 * (lo + hi)
    # the peak's promise and its continuation promises become grid nodes, so that the optimal
    # start and its first moves need no interpolation
    st, lay = rng.stacked, rng.layout
    xb = rng.x[st.colmap[2]]
    c_agent = st.template.c0[0]
    peak = [float(c_agent @ xb)]
    rho_pk = xb[lay.rho][plans.out_plan]
    used = rho_pk > 1e-9
    peak += list(xb[lay.x][used] / rho_pk[used])
    state["peak"] = (peak[0], float(rng.values[2, 0]))
    if peak_nodes:
        special = np.asarray(peak) if special is None else np.concatenate([np.asarray(special, float), peak])
    grid = make_grid(lo, hi, K, special)
    if state.get("K_out") != grid.size:
        state.pop("cuts", None)
        state.pop("basis", None)
        state["K_out"] = grid.size
    objs = ["principal", "-principal"] if enforcement == "relational" else ["principal"]
    fr = solve_step(plans, delta, W, D, grid, objs, randomization, cuts=state.get("cuts"),
                    warm=state.get("basis"), name="frontier")
    state["cuts"], state["basis"] = fr.cuts, fr.basis
    up = concave_envelope(grid, fr.values[0])
    if enforcement == "relational":
        dn = -concave_envelope(grid, -np.minimum(-fr.values[1], up))
    else:
        dn = up.copy()
    return PayoffSet(grid, up, dn), D, fr


def fixed_point(plans: Plans, delta: float, K: int, *, enforcement: str = "relational",
                randomization: str = "period", tol: float = 1e-9, max_iter: int = 2000,
                W0: PayoffSet | None = None, horizon: int | None = None, keep_history: bool = False,
                progress=None, special: bool | np.ndarray = True) -> APSResult:
    """Iterate B from the feasible hull (or ``W0``) to a fixed point (sup change < ``tol``),
    or exactly ``horizon`` times from {(0, 0)} (the finite game with that many periods)."""
    if enforcement not in ENFORCEMENTS:
        raise ModelError("enforcement", f"must be one of {', '.join(ENFORCEMENTS)}")
    if randomization not in RANDOMIZATIONS:
        raise ModelError("solve.randomization", f"must be one of {', '.join(RANDOMIZATIONS)}")
    t0 = time.perf_counter()
    if horizon is not None:
        W = PayoffSet.point(K)
    else:
        W = feasible_set(plans.game, K) if W0 is None else W0
    state: dict = {}
    record: list[APSRecord] = []
    spec = None
    if special is not False:
        spec = np.unique(plans.stage_payoffs()[0])
        if not isinstance(special, bool):
            spec = np.unique(np.concatenate([spec, np.asarray(special, float).ravel()]))
    hist = [W] if keep_history else None
    status, message = "iteration_limit", f"no fixed point to {tol:g} in {max_iter} iterations"
    n_iter = horizon if horizon is not None else max_iter
    W_in, D, fr = W, None, None
    for it in range(1, n_iter + 1):
        ts = time.perf_counter()
        W_in = W
        W, D, fr = aps_step(plans, delta, W_in, K, enforcement, randomization, state, spec,
                            peak_nodes=special is not False)
        d = W_in.distance(W)
        record.append(APSRecord(it, d, W.U_lo, W.U_hi, float(W.upper.max()), time.perf_counter() - ts, fr.rounds))
        if hist is not None:
            hist.append(W)
        if progress is not None:
            progress(it, d)
        if horizon is None and d < tol:
            status, message = "optimal", f"fixed point: sup change {d:.3g} < {tol:g} after {it} iterations"
            break
    if horizon is not None:
        status, message = "optimal", f"{horizon} steps of the operator from {{(0, 0)}} (the {horizon}-period game)"
    return APSResult(status, message, W, W_in, D, fr, record, time.perf_counter() - t0, plans, enforcement,
                     randomization, delta, hist)
