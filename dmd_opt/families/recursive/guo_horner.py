r"""Guo & Hörner (2018/2020), *Dynamic allocation without money*.

Each period the agent's value is :math:`v_t \in \{L, H\}`, :math:`H > c > L > 0`;
the principal chooses an allocation probability :math:`a_t \in [0,1]`, earning
:math:`a_t(v_t - c)` while the agent gets :math:`a_t v_t`; no transfers.  Types
are i.i.d. with :math:`P(H) = q`, or Markov with persistence
:math:`P(v_{t+1} = v_t) = p` (docs/theory.md#guohörner-allocation-without-money).  Payoffs are normalised by
:math:`(1-\beta)` as in the paper:
:math:`U_t = (1-\beta)E\sum_{s\ge t}\beta^{s-t}a_s v_s \in [0, \bar U]`.

**i.i.d.** (state: ex-ante promised utility :math:`U`):

.. math::

    V(U) = \max_{a_\theta\in[0,1],\,W_\theta}\; \sum_\theta q_\theta\,[(1-\beta) a_\theta(\theta-c) + \beta V(W_\theta)]

subject to promise keeping :math:`\sum_\theta q_\theta[(1-\beta)a_\theta\theta+\beta W_\theta] = U` and
IC :math:`(1-\beta)\theta a_\theta + \beta W_\theta \ge (1-\beta)\theta a_{\theta'} + \beta W_{\theta'}`.

**Markov** (state: the vector :math:`(U_L, U_H)` of utilities promised to the
agent *conditional on his current type*, and the regime = the last report,
which fixes the principal's belief :math:`\mu_r(H) = P(H\mid r)`):

.. math::

    V_r(U_L,U_H) = \max \sum_\theta \mu_r(\theta)\,[(1-\beta)a_\theta(\theta-c) + \beta V_\theta(W_\theta)]

s.t. :math:`(1-\beta)\theta a_\theta + \beta\, P(\cdot\mid\theta)\cdot W_\theta = U_\theta` (promise
keeping for each current type — "threat keeping") and
:math:`U_\theta \ge (1-\beta)\theta a_{\theta'} + \beta\, P(\cdot\mid\theta)\cdot W_{\theta'}`
(IC; by the one-shot deviation principle, the continuation of a liar is what
the continuation contract promises to his *next* type).  The vector state lives
on a grid adapted to the feasible set (:meth:`GuoHorner.lens_grid`: the set is
a thin lens around the diagonal from 0 to :math:`(\bar U_L, \bar U_H)`)
restricted to its largest self-generating subset (Abreu–Pearce–Stacchetti on
the grid: drop grid points whose promise-keeping rows cannot be met with
continuations in the current set, until none drops).

Continuations are lotteries over grid points, so :math:`V` is the concave
piecewise-linear interpolant (hypograph of the concave envelope — off-grid
continuations).  Finite horizons are solved by backward induction with the
horizon-:math:`h` grid on :math:`[0, \bar U_h]`.  Polarisation (Guo &
Hörner): :math:`U_t \to \{0, \bar U\}`; simulated paths draw the next grid
point from the optimal continuation lottery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dmd_opt.core.display import clean, fmt_list, result_html, result_repr
from dmd_opt.core.errors import ModelError
from dmd_opt.core.record import result_record
from dmd_opt.core.limits import check_grid, check_periods
from dmd_opt.core.validation import integer, mapping, real
from dmd_opt.families.recursive.mechanism import AsMechanism, guo_horner_mechanism
from dmd_opt.mechanisms.recursive import PromiseMechanism
from dmd_opt.dp.bellman import bellman_certificate, Template, TemplateBuilder, VIResult, bellman_step, binding_by_state, cross_section, value_iteration

TYPES = ("L", "H")


@dataclass(frozen=True)
class GuoHorner:
    L: float
    H: float
    c: float
    beta: float
    q: float = 0.5                  # i.i.d.: P(H)
    p: float | None = None          # Markov persistence P(v' = v); None = i.i.d.
    n_grid: int = 41                # promise grid points (per dimension when Markov)
    horizon: int | None = None      # None = infinite
    name: str = "guo_horner"

    # ---- construction ------------------------------------------------------------
    @classmethod
    def create(cls, L, H, c, beta, q=0.5, p=None, n_grid=41, horizon=None, name="guo_horner") -> "GuoHorner":
        L = real(L, "L", lo=0, lo_open=True)
        H = real(H, "H")
        c = real(c, "c")
        if not (H > c > L):
            raise ModelError("c", f"need H > c > L > 0, got L={L:g}, c={c:g}, H={H:g}")
        beta = real(beta, "beta", lo=0, hi=1, lo_open=True, hi_open=True)
        q = real(q, "q", lo=0, hi=1, lo_open=True, hi_open=True)
        if p is not None:
            p = real(p, "persistence", lo=0, hi=1, hi_open=True)
        n_grid = integer(n_grid, "grid.n", lo=2)
        if horizon is not None:
            horizon = integer(horizon, "horizon", lo=1)
            check_periods("horizon", horizon, alternative="omit horizon (the infinite-horizon model)")
        # states: n (i.i.d.) or about n² (Markov, two promises); each state's LP has 2 + 2·G
        # columns (G = states of the continuation grid) in ~6 rows per belief regime
        S = n_grid if p is None else n_grid * (n_grid + 1)
        check_grid("grid.n", S, rows_per_point=6 * (1 if p is None else 2),
                   nonzeros_per_point=6 * (2 + 2 * S) * (1 if p is None else 2))
        return cls(L, H, c, beta, q, p, n_grid, horizon, name)

    @classmethod
    def from_dict(cls, raw: dict) -> "GuoHorner":
        raw = mapping(raw, "", required=("L", "H", "c", "beta"),
                      optional=("q", "persistence", "grid", "horizon", "name", "description"))
        g = mapping(raw.get("grid", {}), "grid", optional=("n",))
        name = raw.get("name", "guo_horner")
        if not isinstance(name, str):
            raise ModelError("name", "expected a string")
        return cls.create(raw["L"], raw["H"], raw["c"], raw["beta"], raw.get("q", 0.5), raw.get("persistence"),
                          g.get("n", 41), raw.get("horizon"), name)

    @property
    def markov(self) -> bool:
        return self.p is not None

    @property
    def theta(self) -> np.ndarray:
        return np.array([self.L, self.H])

    @property
    def P(self) -> np.ndarray:
        """Type transition (rows: current L, H)."""
        if not self.markov:
            return np.array([[1 - self.q, self.q]] * 2)
        p = self.p
        return np.array([[p, 1 - p], [1 - p, p]])

    @property
    def prior(self) -> np.ndarray:
        """Initial type distribution: q (i.i.d.) or the stationary one (1/2, 1/2) (Markov)."""
        return np.array([1 - self.q, self.q]) if not self.markov else np.array([0.5, 0.5])

    def upper(self, h: int | None = None) -> np.ndarray:
        """Utility of always allocating, conditional on the current type (L, H), h periods left."""
        b, P, th = self.beta, self.P, self.theta
        if h is None:
            return (1 - b) * np.linalg.solve(np.eye(2) - b * P, th)
        out, Pk = np.zeros(2), np.eye(2)
        for t in range(h):
            out += (1 - b) * b ** t * Pk @ th
            Pk = Pk @ P
        return out

    def ubar(self, h: int | None = None) -> float:
        """Upper end of the (ex-ante) promise range."""
        return float(self.prior @ self.upper(h))

    # ---- Bellman templates -----------------------------------------------------------
    def _template(self, states: np.ndarray, cont: np.ndarray | None, beliefs: np.ndarray,
                  elastic: bool = False) -> Template:
        """One Bellman block per (belief regime, state).  ``states``: (S,) ex-ante promises
        (i.i.d.) or (S, 2) type-contingent promises (Markov); ``cont``: continuation grid
        (G,) / (G, 2) or None (last period)."""
        b, th, c = self.beta, self.theta, self.c
        P = self.P
        d = 1 if not self.markov else 2
        G = 0 if cont is None else len(cont)
        groups = [("allocation", (2,))]
        if G:
            groups.append(("continuation_lottery", (2, G)))
        if elastic:
            groups.append(("elastic", (d, 2)))
        tb = TemplateBuilder(groups)
        A = tb.col("allocation")
        tb.bounds("allocation", 0.0, 1.0)
        Lam = tb.col("continuation_lottery") if G else None
        if G:
            tb.bounds("continuation_lottery", ub=1.0)   # implied by the lottery rows; keeps columns boxed
        # expected continuation of a type-θ agent at each continuation grid point
        if G:
            EW = np.tile(cont, (2, 1)) if d == 1 else cont @ P.T          # EW[θ, g]
            EW = EW.reshape(2, G) if d == 1 else EW.T
            for k in range(2):
                tb.row("lottery", Lam[k], 1.0, 1.0, 1.0, report=k)
        pk_rows = []
        if d == 1:
            q = self.prior
            cols, vals = [A], [(1 - b) * q * th]
            if G:
                cols.append(Lam.ravel())
                vals.append((b * q[:, None] * EW).ravel())
            if elastic:
                E = tb.col("elastic")
                cols.append(E[0])
                vals.append(np.array([1.0, -1.0]))
            pk_rows.append(tb.row("promise_keeping", np.concatenate(cols), np.concatenate(vals), 0.0, 0.0))
        else:
            for k in range(2):
                cols, vals = [A[k:k + 1]], [np.array([(1 - b) * th[k]])]
                if G:
                    cols.append(Lam[k])
                    vals.append(b * EW[k])
                if elastic:
                    E = tb.col("elastic")
                    cols.append(E[k])
                    vals.append(np.array([1.0, -1.0]))
                pk_rows.append(tb.row("promise_keeping", np.concatenate(cols), np.concatenate(vals), 0.0, 0.0,
                                      true_type=k))
        for k in range(2):
            j = 1 - k
            cols, vals = [A[k:k + 1], A[j:j + 1]], [np.array([(1 - b) * th[k]]), np.array([-(1 - b) * th[k]])]
            if G:
                cols += [Lam[k], Lam[j]]
                vals += [b * EW[k], -b * EW[k]]
            tb.row("IC", np.concatenate(cols), np.concatenate(vals), 0.0, np.inf, true_type=k, report=j)
        R = len(beliefs)
        c0 = np.zeros((R, tb.n))
        cont_cols = Lam.ravel() if G else np.zeros(0, np.int64)
        cont_next = np.repeat(np.arange(2), G) if d == 2 else np.zeros(2 * G, np.int64)
        cont_grid = np.tile(np.arange(G), 2)
        cont_w = np.zeros((R, 2 * G))
        for r, mu in enumerate(beliefs):
            c0[r, A] = (1 - b) * mu * (th - c)
            cont_w[r] = np.repeat(b * mu, G)
        sense = "max"
        if elastic:
            c0[:] = 0.0
            c0[:, np.ravel(tb.col("elastic"))] = 1.0
            cont_w[:] = 0.0
            sense = "min"
        rhs = np.asarray(states, float).reshape(len(states), d)
        return tb.finish(pk_rows, rhs, c0, cont_cols, cont_next, cont_grid, cont_w, sense, R)

    def _beliefs(self) -> np.ndarray:
        """Belief regimes of the recursion: one (i.i.d.) or the last report L, H (Markov)."""
        return self.prior[None, :] if not self.markov else self.P.copy()

    def grid(self, h: int | None = None) -> np.ndarray:
        """Promise grid: (n,) on [0, Ū_h] (i.i.d.) or (n², 2) on [0,Ū_L]×[0,Ū_H] (Markov)."""
        n = self.n_grid
        if not self.markov:
            return np.linspace(0.0, self.ubar(h), n)
        uL, uH = self.upper(h)
        gl, gh = np.meshgrid(np.linspace(0, uL, n), np.linspace(0, uH, n), indexing="ij")
        return np.column_stack([gl.ravel(), gh.ravel()])

    def lens_grid(self, h: int | None = None, cont: np.ndarray | None = None) -> np.ndarray:
        """Markov promise grid adapted to the feasible set, a thin lens around the diagonal from
        (0, 0) to (Ū_L, Ū_H): points (s, κ s + d), κ = Ū_H/Ū_L, with s on n points of [0, Ū_L] and
        d on n points (and 0) spanning the feasible d-range of a coarse rectangular grid widened by
        one coarse cell.  (A rectangular n×n grid puts only O(n) points inside the lens.)"""
        n = self.n_grid
        uL, uH = self.upper(h)
        kappa = uH / uL
        nc = max(11, n // 2)
        gl, gh = np.meshgrid(np.linspace(0, uL, nc), np.linspace(0, uH, nc), indexing="ij")
        coarse = np.column_stack([gl.ravel(), gh.ravel()])
        if h is None:
            ok = np.zeros(len(coarse), bool)
            ok[self.self_generating(coarse)] = True
        else:
            ok = self.feasible(coarse, cont)
        d = coarse[ok, 1] - kappa * coarse[ok, 0]
        cell = max(uH, kappa * uL) / (nc - 1)
        dd = np.unique(np.append(np.linspace(d.min() - cell, d.max() + cell, n), 0.0))
        ss = np.linspace(0, uL, n)
        S, D = np.meshgrid(ss, dd, indexing="ij")
        pts = np.column_stack([S.ravel(), (kappa * S + D).ravel()])
        tol = 1e-12 * max(1.0, uH)
        inside = (pts[:, 1] >= -tol) & (pts[:, 1] <= uH + tol)
        pts = pts[inside]
        pts[:, 1] = np.clip(pts[:, 1], 0.0, uH)
        return pts

    def feasible(self, states: np.ndarray, cont: np.ndarray | None, tol: float = 1e-9) -> np.ndarray:
        """Which states can keep their promises with continuations in ``cont`` (elastic LP)."""
        t = self._template(states, cont, self._beliefs()[:1], elastic=True)
        vals, _, _, sol = bellman_step(t, np.zeros((2, 1 if cont is None else len(cont))),
                                       name="promise feasibility")
        if sol.x is None:
            raise RuntimeError(f"feasibility LP failed: {sol.solver_status}")
        return vals[0] <= tol * max(1.0, self.H)

    def self_generating(self, grid: np.ndarray) -> np.ndarray:
        """Largest self-generating subset of the grid (indices), Markov case."""
        keep = np.arange(len(grid))
        while True:
            ok = self.feasible(grid[keep], grid[keep])
            if ok.all():
                return keep
            keep = keep[ok]

    # ---- solving -------------------------------------------------------------------------
    def solve(self, tol: float = 1e-8, max_iter: int = 5000, progress: bool = False) -> "GHResult":
        return self.solve_finite(self.horizon) if self.horizon is not None else self.solve_infinite(tol, max_iter, progress)

    def solve_infinite(self, tol: float = 1e-8, max_iter: int = 5000, progress: bool = False) -> "GHResult":
        grid = self.grid() if not self.markov else self.lens_grid()
        keep = np.arange(len(grid)) if not self.markov else self.self_generating(grid)
        states = grid[keep]
        t = self._template(states, states, self._beliefs())
        meta = {"model": "guo_horner", "payoff_scale": self.H, "type_values": [[list(self.theta)]]}
        window = 15 if (not self.markov and len(states) > 40) else None   # column generation (exact)
        vi = value_iteration(t, None, tol=tol, max_iter=max_iter, progress=progress,
                             name=f"{self.name} Bellman LP", meta=meta, window=window)
        return GHResult(self, states, vi.V, vi.y, vi.status, vi.message, vi=vi)

    def solve_finite(self, T: int) -> "GHResult":
        """Backward induction over T periods; values[h-1] = V with h periods left."""
        values, grids, choices, steps = [], [], [], []
        cont, Vn = None, None
        status, message = "optimal", f"backward induction over {T} periods"
        for h in range(1, T + 1):
            g = self.grid(h) if not self.markov else self.lens_grid(h, cont)
            if self.markov:
                g = g[self.feasible(g, cont)]
            t = self._template(g, cont, self._beliefs())
            V, y, st, sol = bellman_step(t, Vn, name=f"{self.name} Bellman LP, {h} periods left", period=T - h,
                                         meta={"model": "guo_horner", "payoff_scale": self.H})
            if sol.status != "optimal":
                status, message = sol.status, f"Bellman LP with {h} periods left: {sol.solver_status}"
                break
            values.append(V)
            grids.append(g)
            choices.append(y)
            steps.append((st, sol))
            cont, Vn = g, V
        res = GHResult(self, grids[-1] if grids else None, values[-1] if values else None,
                       choices[-1] if choices else None, status, message)
        res.finite = {"values": values, "grids": grids, "choices": choices, "steps": steps}
        return res


# ---------------------------------------------------------------------------------------
@dataclass
class GHResult(AsMechanism):

    __repr__ = result_repr
    _repr_html_ = result_html
    model: GuoHorner
    states: np.ndarray              # (S,) or (S, 2)
    values: np.ndarray              # (n_regimes, S)
    y: np.ndarray                   # (n_regimes, S, n_cols)
    status: str
    message: str
    vi: VIResult | None = None
    finite: dict | None = None
    paths: np.ndarray | None = None
    absorbed: dict | None = None
    _first: tuple | None = field(default=None, repr=False)

    # ---- value at the start -------------------------------------------------------------
    @property
    def cont_states(self) -> np.ndarray | None:
        """Continuation grid of the returned Bellman step."""
        if self.finite is None:
            return self.states
        return self.finite["grids"][-2] if len(self.finite["grids"]) > 1 else None

    def _first_period(self):
        """The principal's first-period problem: the Bellman LP under the prior belief with
        the promise-keeping rows free (he chooses the initial promise).  Returns
        (value, local choices, promised utility: ex ante or by current type)."""
        if self._first is None:
            m = self.model
            d = 1 if not m.markov else 2
            Vn = self.values if self.finite is None else (self.finite["values"][-2] if len(self.finite["values"]) > 1 else None)
            t = m._template(np.full((1, d), np.nan), self.cont_states, m.prior[None, :])
            V, y, st, sol = bellman_step(t, Vn, name="first period")
            if sol.x is None:
                raise RuntimeError(f"first-period LP failed: {sol.solver_status}")
            pk = st.rowmap[0, np.nonzero(t.family == "promise_keeping")[0]]
            self._first = (float(V[0, 0]), y[0, 0], np.asarray(sol.row_activity)[pk])
        return self._first

    def initial_values(self) -> np.ndarray:
        """Principal's value at each grid state under the prior belief (first period)."""
        m = self.model
        if not m.markov:
            return self.values[0]
        Vn = self.values if self.finite is None else (self.finite["values"][-2] if len(self.finite["values"]) > 1 else None)
        V, _, _, _ = bellman_step(m._template(self.states, self.cont_states, m.prior[None, :]), Vn,
                                  name="first period on the grid")
        return V[0]

    @property
    def initial_promise(self) -> np.ndarray:
        """The optimal initial promise: ex ante (i.i.d.) or by current type (Markov)."""
        return self._first_period()[2]

    @property
    def objective(self) -> float:
        """The principal's optimal value (the initial promise chosen freely)."""
        return self._first_period()[0]

    @property
    def ex_ante_states(self) -> np.ndarray:
        return self.states if not self.model.markov else self.states @ self.model.prior

    def allocation(self, regime: int = 0) -> np.ndarray:
        """a_θ at each state (S, 2) (solver round-off clipped to [0, 1])."""
        return np.clip(self.y[regime][:, :2], 0.0, 1.0) + 0.0

    def continuation_lotteries(self, regime: int = 0, y: np.ndarray | None = None) -> np.ndarray:
        """λ_θ(g' | g): (S, 2, G) over the continuation grid ``cont_states``."""
        y = self.y[regime] if y is None else y
        G = 0 if self.cont_states is None else len(self.cont_states)
        return y[:, 2:2 + 2 * G].reshape(len(y), 2, G)

    def continuations(self, regime: int = 0) -> np.ndarray:
        """Expected continuation promise after each report: (S, 2) or (S, 2, 2)."""
        if self.cont_states is None:
            return np.zeros((len(self.states), 2) + self.states.shape[1:])
        lam = self.continuation_lotteries(regime)
        return np.einsum("skg,g...->sk...", lam, self.cont_states)

    def allocation_policy(self, k: int, regime: int = 0):
        """a_k(U) as a function of the promise (i.i.d.: piecewise-linear interpolation)."""
        if self.model.markov:
            from scipy.interpolate import LinearNDInterpolator
            return LinearNDInterpolator(self.states, self.allocation(regime)[:, k])
        return lambda u: np.interp(u, self.states, self.allocation(regime)[:, k])

    def continuation_policy(self, k: int, regime: int = 0):
        """Expected continuation promise after report k as a function of the promise."""
        W = self.continuations(regime)[:, k]
        if self.model.markov:
            from scipy.interpolate import LinearNDInterpolator
            return LinearNDInterpolator(self.states, W)
        return lambda u: np.interp(u, self.states, W)

    def value_function(self, regime: int = 0):
        """V as an interpolable function (i.i.d.: of U; Markov: linear on a triangulation)."""
        if not self.model.markov:
            return lambda u: np.interp(u, self.states, self.values[regime])
        from scipy.interpolate import LinearNDInterpolator
        return LinearNDInterpolator(self.states, self.values[regime])

    # ---- simulation -----------------------------------------------------------------------
    def simulate(self, T: int = 300, n_paths: int = 2000, seed: int = 0) -> np.ndarray:
        """Paths of the promised utility U_t (n_paths, T+1) — ex ante (i.i.d.) or of the current
        type (Markov) — from the optimal initial promise, drawing the next grid point from the
        optimal continuation lottery.  Sets ``absorbed`` (shares at 0 and at Ū at the end)."""
        if self.vi is None:
            raise ValueError("simulation needs the infinite-horizon solution")
        m = self.model
        rng = np.random.default_rng(seed)
        S = len(self.states)
        typ = rng.choice(2, size=n_paths, p=m.prior)
        lam = [self.continuation_lotteries(r) for r in range(self.y.shape[0])]
        cum = np.stack([np.cumsum(lm, axis=2) for lm in lam])          # (regimes, S, 2, S)
        first = np.cumsum(self.continuation_lotteries(y=self._first_period()[1][None, :])[0], axis=1)  # (2, S)
        out = np.empty((n_paths, T + 1))
        U = self.states if not m.markov else None
        U0 = self.initial_promise

        def util(gi, ty):
            return U[gi] if U is not None else self.states[gi, ty]
        out[:, 0] = U0[0] if not m.markov else U0[typ]
        g = np.zeros(n_paths, np.int64)
        reg = np.zeros(n_paths, np.int64)
        for t in range(T):
            if t == 0:
                cu = first[typ]
            else:
                cu = cum[reg, g, typ]
            u = rng.random(n_paths)[:, None]
            gn = np.minimum((cu < u * cu[:, -1:]).sum(axis=1), S - 1)
            if m.markov:
                reg = typ.copy()
                typ = np.where(rng.random(n_paths) < m.P[typ, 1], 1, 0)
            else:
                typ = rng.choice(2, size=n_paths, p=m.prior)
            g = gn
            out[:, t + 1] = util(g, typ)
        self.paths = out
        ex = self.ex_ante_states
        lo, hi = ex[np.argmin(ex)], ex[np.argmax(ex)]
        eg = ex[g]
        tol = 1e-9 * max(1.0, m.H)
        self.absorbed = {"at_zero": float(np.mean(eg <= lo + tol)), "at_upper": float(np.mean(eg >= hi - tol)),
                         "upper": float(hi), "periods": T}
        self.absorbed["interior"] = 1.0 - self.absorbed["at_zero"] - self.absorbed["at_upper"]
        return out

    # ---- the contract as a mechanism (AsMechanism: mechanism, verification) -------------
    def _contract(self) -> PromiseMechanism:
        return guo_horner_mechanism(self)

    def _solved(self) -> bool:
        return self.values is not None

    # ---- binding --------------------------------------------------------------------------
    def binding(self) -> dict:
        if self.vi is not None:
            return binding_by_state(self.vi.stacked, self.vi.solution)
        st, sol = self.finite["steps"][-1]
        return binding_by_state(st, sol)

    def cross_section(self, dates=None, quantiles=(0.1, 0.5, 0.9)) -> list[dict]:
        if self.paths is None:
            self.simulate()
        return cross_section(self.paths, dates, quantiles)

    def certificate(self, path=None, model=None):
        """Certificate of the final Bellman LP (see :func:`.engine.bellman_certificate`)."""
        if self.vi is None:
            raise ModelError("horizon", "certificates are written for the infinite-horizon Bellman LP only; "
                                        "a finite-horizon model is solved by backward induction over many LPs")
        return bellman_certificate(self.vi, path, model)

    def audit(self):
        """Constraint audit of the last Bellman LP (every state and regime, labelled rows)."""
        return self.binding()["audit"]

    # ---- reporting --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The result record (``docs/result.schema.json``) of kind ``guo_horner``; ``mechanism`` is
        the contract: allocation a_θ(U) and expected continuation promises on the state grid."""
        m = self.model
        d: dict[str, Any] = {"L": m.L, "H": m.H, "c": m.c, "beta": m.beta, "q": m.q, "persistence": m.p,
                             "horizon": m.horizon}
        objective = mech = None
        if self.values is not None:
            objective = self.objective
            d.update({"initial_promise": self.initial_promise, "states": self.states, "values": self.values})
            mech = {"name": f"{m.name}: optimal allocation without money", "state": "promised utility U",
                    "states": self.states, "allocation": self.allocation(), "continuations": self.continuations()}
        if self.vi is not None:
            d.update({"iterations": self.vi.iterations, "sup_norm": self.vi.sup_norm, "rate": self.vi.rate(),
                      "convergence": [r.sup_change for r in self.vi.record]})
        if self.absorbed is not None:
            d["polarisation"] = self.absorbed
            d["cross_section"] = cross_section(self.paths)
        opts = {"tol": self.vi.tol} if self.vi is not None else {}
        return result_record("guo_horner", self.status, objective, verification=self.verification_dict(), mechanism=mech,
                             options=opts, model={"name": m.name}, message=self.message, **d)

    def summary(self) -> list[str]:
        m = self.model
        kind = "i.i.d." if not m.markov else f"Markov, persistence {m.p:g}"
        hz = "infinite horizon" if m.horizon is None else f"{m.horizon} periods"
        lines = [f"Guo–Hörner allocation without money '{m.name}' ({kind}, {hz}): {self.status} ({self.message})",
                 f"  L={m.L:g}, H={m.H:g}, c={m.c:g}, beta={m.beta:g}" + (f", q={m.q:g}" if not m.markov else "")]
        if self.values is None:
            return lines
        if self.vi is not None:
            lines.append(f"  value iteration: {self.vi.iterations} iterations, last sup-norm change "
                         f"{self.vi.sup_norm:.3g}, contraction rate {self.vi.rate():.4f} (beta {m.beta:g}), "
                         f"{self.vi.seconds:.2f} s")
        lines.append(f"  principal's optimal value {self.objective:.6g} at initial promise "
                     f"{fmt_list(self.initial_promise, 5)}"
                     + (" (ex ante)" if not m.markov else " (U_L, U_H)"))
        S = len(self.states)
        idx = np.unique(np.linspace(0, S - 1, min(S, 6)).round().astype(int))
        lines.append("  state: V, allocation a_L, a_H; continuation after report L, H:")
        W = self.continuations()
        for i in idx:
            st = f"{self.states[i]:.4f}" if not m.markov else f"({self.states[i][0]:.3f}, {self.states[i][1]:.3f})"
            wl = fmt_list(np.atleast_1d(W[i, 0]), 4)
            wh = fmt_list(np.atleast_1d(W[i, 1]), 4)
            lines.append(f"    U = {st}: V = {self.values[0, i]:.5g}, a = {abs(self.allocation()[i, 0]):.3f}, "
                         f"{abs(self.allocation()[i, 1]):.3f}; W = {wl}, {wh}")
        try:
            b = self.binding()
            share = {f"{TYPES[k]} claims {TYPES[j]}": float(np.mean(b['IC'][:, i])) for i, (k, j) in enumerate(b["IC_rows"])}
            lines.append("  IC binding at share of states: " + ", ".join(f"{k}: {v:.2f}" for k, v in share.items()))
        except Exception as exc:  # audit is informative only
            lines.append(f"  (binding information unavailable: {exc})")
        if self.absorbed is not None:
            a = self.absorbed
            lines.append(f"  polarisation after {a['periods']} periods: {a['at_zero']:.1%} absorbed at 0, "
                         f"{a['at_upper']:.1%} at the upper bound {a['upper']:.4g}, {clean(a['interior']) + 0.0:.1%} interior")
        return lines
