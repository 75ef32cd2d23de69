r"""Thomas & Worrall (1990), *Income fluctuation and asymmetric information*.

A risk-neutral lender insures a risk-averse borrower whose income
:math:`\theta_t \in \{\theta_1 < \dots < \theta_K\}` is i.i.d. with
probabilities :math:`\pi_k` and privately observed; both discount with
:math:`\beta`; commitment on both sides (no participation constraint).  With
promised lifetime utility :math:`v` as the state, the lender's cost function
(docs/theory.md#thomasworrall-dynamic-insurance)

.. math::

    C(v) = \min_{b_k, w_k} \sum_k \pi_k \,[\, b_k + \beta C(w_k) \,]
    \quad\text{s.t.}\quad
    \sum_k \pi_k [u(\theta_k + b_k) + \beta w_k] = v \quad\text{(promise keeping)},

.. math::

    u(\theta_k + b_k) + \beta w_k \ge u(\theta_k + b_j) + \beta w_j \quad \forall k \ne j
    \quad\text{(IC)}.

As an LP (Phelan & Townsend 1991): for each report :math:`k` a lottery
:math:`x_k(b)` over a transfer grid and a lottery :math:`\lambda_k(w)` over the
promise grid.  Utility and cost are additively separable in (transfer,
continuation), so these marginal lotteries are equivalent to joint lotteries
over (b, w) pairs; the continuation lottery makes :math:`\beta C(w_k)` the
convex piecewise-linear interpolant of :math:`C` (off-grid continuations).
The transfer grid is common to all reports; a truthful report may only receive
transfers leaving consumption at or above a *consumption floor* (default: 5% of
the way from the subsistence level to the lowest income).  A misreport whose
consumption falls to or below subsistence has true utility :math:`-\infty`; the
IC rows value it at the utility halfway between subsistence and the floor —
finite and higher than the truth, so the computed contract is truly IC.

Promise grid points are uniform in certainty-equivalent consumption
:math:`u^{-1}((1-\beta)v)` by default (``promise_spacing = "linear"`` for uniform in v):
CARA/CRRA promises span orders of magnitude.  Default promise range: :math:`[\underline v, \bar v] = [E\,u(\theta+\underline b),
E\,u(\theta+b_{\max})]/(1-\beta)` with :math:`\underline b` the lowest transfer
every income may take — the values of a constant transfer forever, so every
grid point is feasible (constant transfer, continuation = v).  The
lower end is absorbing, the discrete analogue of Thomas–Worrall's
immiseration :math:`v_t \to -\infty` (their Proposition 3).

Benchmarks: first best (full insurance, no IC) :math:`C^{FB}(v) = (u^{-1}((1-\beta)v)
- E\theta)/(1-\beta)`; autarky (b = 0) delivers :math:`v^{A} = E u(\theta)/(1-\beta)` at cost 0.

Second formulation (CARA, :math:`u(c) = -e^{-\gamma c}/\gamma`, no transfer bounds):
the cost function is known up to a constant, :math:`C(v) = A - \ln(v/v^*)/(\gamma(1-\beta))`,
and the policies at any promise are those at :math:`v^*` shifted
(:math:`b_k(v) = b_k^* - \ln(v/v^*)/\gamma`, :math:`w_k(v) = \omega_k v`).  The constant and
the normalised policies solve one smooth convex program whose multipliers are found by
Newton's method to rounding precision (:mod:`.cara`, which states the closed form).
``solve(method="closed_form")`` returns that exact solution on the promise grid
(:class:`CARAResult`); ``method="auto"`` (the default) uses it for CARA utility when no
transfer bounds (``transfer_range``, ``consumption_floor``) were given, and value
iteration otherwise.  Every result reports the residuals of promise keeping and IC at
each grid point (``residuals()``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dmd_opt.core.display import fmt, fmt_list, fmt_mapping, result_html, result_repr
from dmd_opt.core.errors import ModelError
from dmd_opt.core.record import result_record
from dmd_opt.core.limits import check_count, check_grid
from dmd_opt.core.validation import array, choice, distribution, integer, mapping, real
from dmd_opt.dp.bellman import bellman_certificate, Template, TemplateBuilder, VIResult, binding_by_state, cross_section, value_iteration
from dmd_opt.families.recursive.cara import CARAContract, solve_cara
from dmd_opt.families.recursive.mechanism import AsMechanism, thomas_worrall_mechanism
from dmd_opt.mechanisms.recursive import PromiseMechanism
from dmd_opt.families.recursive.utility import Utility

METHODS = ("auto", "value_iteration", "closed_form")


@dataclass(frozen=True)
class ThomasWorrall:
    """Model data (validated); promise grid and transfer grid included."""

    income: np.ndarray
    prob: np.ndarray
    beta: float
    utility: Utility
    transfer_grid: np.ndarray
    promise_grid: np.ndarray
    name: str = "thomas_worrall"
    promise_spacing: str = "consumption"
    consumption_floor: float = -np.inf
    n_transfer: int = 0                 # requested transfer-grid size (the lowest common transfer may add one)
    transfer_bounds_given: bool = False  # transfer_range or consumption_floor set by the user

    # ---- construction ---------------------------------------------------------
    @classmethod
    def create(cls, income, prob, beta: float, utility: Utility | dict, *, n_promise: int = 60,
               n_transfer: int = 41, transfer_range=None, promise_range=None,
               promise_spacing: str = "consumption", consumption_floor: float | None = None,
               name: str = "thomas_worrall") -> "ThomasWorrall":
        """Validate and build the grids (module docstring for the defaults)."""
        income = array(income, "income", ndim=1)
        if income.size < 2 or np.any(np.diff(income) <= 0):
            raise ModelError("income", "expected at least 2 strictly increasing income levels")
        prob = distribution(prob, "prob", size=income.size)
        if np.any(prob <= 0):
            raise ModelError("prob", "every income level needs positive probability")
        beta = real(beta, "beta", lo=0, hi=1, lo_open=True, hi_open=True)
        u = utility if isinstance(utility, Utility) else Utility.parse(utility)
        n_promise = integer(n_promise, "grid.n_promise", lo=3)
        n_transfer = integer(n_transfer, "grid.n_transfer", lo=2)
        K = income.size   # per promise: K(K+1)+1 rows, lotteries over K·(n_transfer + n_promise) cells
        check_count("grid.n_transfer", n_transfer, "grid_points", what="the transfer grid would have",
                    noun="points", alternative="use a coarser grid")
        check_grid("grid.n_promise" if n_promise >= n_transfer else "grid.n_transfer", n_promise,
                   rows_per_point=K * (K + 1) + 1, nonzeros_per_point=2 * K * K * (n_transfer + n_promise + 1))
        promise_spacing = choice(promise_spacing, "grid.promise_spacing", ("consumption", "linear"))
        spread = float(income[-1] - income[0])
        bounds_given = transfer_range is not None or consumption_floor is not None
        if consumption_floor is None:
            consumption_floor = u.lowest + 0.05 * (income[0] - u.lowest) if np.isfinite(u.lowest) else -np.inf
        floor = -np.inf if isinstance(consumption_floor, float) and consumption_floor == -np.inf else \
            real(consumption_floor, "grid.consumption_floor")
        if np.isfinite(u.lowest) and not (u.lowest < floor < income[0] + 10 * max(spread, 1.0)):
            raise ModelError("grid.consumption_floor",
                             f"must lie above the subsistence level {u.lowest:g}, got {floor:g}")
        if transfer_range is None:
            lo = floor - income[-1] if np.isfinite(floor) else -1.5 * spread
            transfer_range = (lo, 1.5 * spread)
        tr = array(transfer_range, "grid.transfer_range", shape=(2,))
        if tr[1] <= tr[0]:
            raise ModelError("grid.transfer_range", "expected [lowest, highest] with lowest < highest")
        if income[0] + tr[1] <= floor:
            raise ModelError("grid.transfer_range",
                             f"the lowest income's consumption cannot reach the consumption floor {floor:g}")
        b_common = max(float(tr[0]), floor - income[0])   # lowest transfer every income can take
        b = np.linspace(tr[0], tr[1], n_transfer)
        if not np.any(np.isclose(b, b_common, rtol=0, atol=1e-12)):   # keep it on the grid (feasibility)
            b = np.sort(np.append(b, b_common))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            v_lo = float(prob @ u(income + b_common)) / (1 - beta)
            v_hi = float(prob @ u(income + tr[1])) / (1 - beta)
        if not (np.isfinite(v_lo) and np.isfinite(v_hi)):
            raise ModelError("utility", f"u(c) overflows at the consumption levels of the grid ({income[0] + b_common:.6g} "
                             f"… {income[-1] + tr[1]:.6g}); rescale income or the utility's parameters")
        if promise_range is None:
            promise_range = (v_lo, v_hi)
        pr = array(promise_range, "grid.promise_range", shape=(2,))
        if not (v_lo - 1e-9 * abs(v_lo) <= pr[0] < pr[1] <= v_hi + 1e-9 * abs(v_hi)):
            raise ModelError("grid.promise_range",
                             f"must lie inside [{v_lo:.6g}, {v_hi:.6g}] (constant lowest common/highest transfer "
                             "forever) so that every grid point is feasible")
        if promise_spacing == "linear":
            v = np.linspace(pr[0], pr[1], n_promise)
        else:  # uniform in the certainty-equivalent consumption u^{-1}((1-beta) v)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                ce = np.linspace(*u.inverse((1 - beta) * pr), n_promise)
                v = u(ce) / (1 - beta)
            v[0], v[-1] = pr
        if not (np.all(np.isfinite(v)) and np.all(np.diff(v) > 0)):
            # e.g. CARA utility is flat (u = −0.0) at a transfer of 1e12: the promises coincide
            raise ModelError("grid.transfer_range", f"the promise grid degenerates over [{pr[0]:.6g}, {pr[1]:.6g}] "
                             "(u(c) is flat or not finite at the range's ends); narrow the transfer range or "
                             "give grid.promise_range")
        return cls(income, prob, beta, u, b, v, name, promise_spacing, floor, n_transfer, bounds_given)

    @classmethod
    def from_dict(cls, raw: dict) -> "ThomasWorrall":
        raw = mapping(raw, "", required=("income", "prob", "beta", "utility"),
                      optional=("name", "grid", "description"))
        g = mapping(raw.get("grid", {}), "grid",
                    optional=("n_promise", "n_transfer", "transfer_range", "promise_range", "promise_spacing",
                                                   "consumption_floor"))
        name = raw.get("name", "thomas_worrall")
        if not isinstance(name, str):
            raise ModelError("name", "expected a string")
        return cls.create(raw["income"], raw["prob"], raw["beta"], Utility.parse(raw["utility"]),
                          n_promise=g.get("n_promise", 60), n_transfer=g.get("n_transfer", 41),
                          transfer_range=g.get("transfer_range"), promise_range=g.get("promise_range"),
                          promise_spacing=g.get("promise_spacing", "consumption"),
                          consumption_floor=g.get("consumption_floor"), name=name)

    def refined(self, n_promise: int, n_transfer: int | None = None) -> "ThomasWorrall":
        """The same model on another grid (same ranges)."""
        from dataclasses import replace
        m = ThomasWorrall.create(self.income, self.prob, self.beta, self.utility, n_promise=n_promise,
                                 n_transfer=n_transfer or self.n_transfer,
                                 transfer_range=(self.transfer_grid[0], self.transfer_grid[-1]),
                                 promise_range=(self.promise_grid[0], self.promise_grid[-1]),
                                 promise_spacing=self.promise_spacing,
                                 consumption_floor=self.consumption_floor, name=self.name)
        return replace(m, transfer_bounds_given=self.transfer_bounds_given)

    # ---- benchmarks -----------------------------------------------------------
    @property
    def K(self) -> int:
        return self.income.size

    def first_best_cost(self, v) -> np.ndarray:
        """Full insurance without IC: constant consumption :math:`u^{-1}((1-\\beta)v)`."""
        v = np.asarray(v, float)
        return (self.utility.inverse((1 - self.beta) * v) - self.prob @ self.income) / (1 - self.beta)

    @property
    def autarky_value(self) -> float:
        return float(self.prob @ self.utility(self.income)) / (1 - self.beta)

    # ---- the Bellman LP -----------------------------------------------------------
    def template(self) -> Template:
        K, b, v, beta, pi = self.K, self.transfer_grid, self.promise_grid, self.beta, self.prob
        nb, nv = b.size, v.size
        tb = TemplateBuilder([("transfer_lottery", (K, nb)), ("continuation_lottery", (K, nv))])
        # lottery weights are probabilities: the upper bound 1 is implied, but stating it keeps every
        # column boxed (certificate checkers treat half-bounded columns as free)
        tb.bounds("transfer_lottery", ub=1.0)
        tb.bounds("continuation_lottery", ub=1.0)
        cons = self.income[:, None] + b[None, :]                  # consumption of income k with transfer b
        floor = self.consumption_floor
        if np.isfinite(floor):
            # truthful reports only get admissible consumption; a misreport leaving consumption at or
            # below subsistence (true utility -inf) is valued at u(midpoint of subsistence and floor):
            # a finite stand-in above the truth, so the IC rows are (weakly) conservative.
            tb.bounds("transfer_lottery", ub=np.where(cons >= floor - 1e-12, 1.0, 0.0).ravel())
        U = self.stage_utility()                                 # U[k, b]
        X, L = tb.col("transfer_lottery"), tb.col("continuation_lottery")
        for k in range(K):
            tb.row("lottery", X[k], 1.0, 1.0, 1.0, report=k)
            tb.row("lottery", L[k], 1.0, 1.0, 1.0, report=k)
        pk = tb.row("promise_keeping", np.concatenate([X.ravel(), L.ravel()]),
                    np.concatenate([(pi[:, None] * U).ravel(), (beta * pi[:, None] * v[None, :]).ravel()]),
                    0.0, 0.0)
        for k in range(K):
            for j in range(K):
                if j != k:
                    tb.row("IC", np.concatenate([X[k], X[j], L[k], L[j]]),
                           np.concatenate([U[k], -U[k], beta * v, -beta * v]), 0.0, np.inf,
                           true_type=k, report=j)
        c0 = np.zeros(tb.n)
        c0[X.ravel()] = (pi[:, None] * b[None, :]).ravel()
        cont_cols = L.ravel()
        cont_grid = np.tile(np.arange(nv), K)
        cont_w = (beta * pi[:, None] * np.ones((K, nv))).ravel()
        return tb.finish([pk], v[:, None], c0, cont_cols, np.zeros_like(cont_cols), cont_grid, cont_w, "min")

    def method_for(self, method: str = "auto") -> str:
        """The method ``"auto"`` resolves to: the CARA closed form when the utility is CARA and
        no transfer bounds were given, value iteration on the grids otherwise."""
        method = choice(method, "solve.method", METHODS)
        if method == "auto":
            return "closed_form" if self.utility.kind == "cara" and not self.transfer_bounds_given \
                else "value_iteration"
        if method == "closed_form" and self.utility.kind != "cara":
            raise ModelError("solve.method", "the closed form exists for CARA utility only "
                                             f"(utility.kind = {self.utility.kind!r}); use 'value_iteration'")
        return method

    def solve(self, tol: float = 1e-8, max_iter: int = 5000, progress: bool = False,
              C0: np.ndarray | None = None, options: dict | None = None,
              window: int | None | str = "auto", method: str = "auto",
              solver_tol: float | None = None) -> "TWResult | CARAResult":
        """Solve the model (``method``: ``"auto"`` | ``"value_iteration"`` | ``"closed_form"``,
        see :meth:`method_for`).

        Value iteration runs on the promise grid to sup-norm ``tol`` (warm start ``C0``);
        ``solver_tol`` sets HiGHS' primal and dual feasibility tolerances (default 1e-9;
        ``options`` passes any other HiGHS option).  ``window``: continuation columns loaded
        initially per grid point (± grid points; the rest are priced in by reduced cost,
        exact); ``"auto"`` = 15 on grids above 40 points, ``None`` = load every column.

        The closed form (CARA) solves the normalised program by Newton's method until every
        residual is below ``solver_tol`` × |v*| (default 1e-13) and evaluates the policies
        at the promise grid points."""
        method = self.method_for(method)
        if method == "closed_form":
            stol = 1e-13 if solver_tol is None else real(solver_tol, "solve.solver_tol", lo=0, lo_open=True)
            return CARAResult(self, solve_cara(self.income, self.prob, self.beta, self.utility.gamma, tol=stol))
        if window == "auto":
            window = 15 if self.promise_grid.size > 40 else None
        if C0 is None:
            C0 = np.zeros(self.promise_grid.size)
        options = dict(options or {})
        if solver_tol is not None:
            stol = real(solver_tol, "solve.solver_tol", lo=0, lo_open=True)
            options.setdefault("primal_feasibility_tolerance", stol)
            options.setdefault("dual_feasibility_tolerance", stol)
        vi = value_iteration(self.template(), np.asarray(C0, float)[None, :], tol=tol, max_iter=max_iter,
                             progress=progress, name=f"{self.name} Bellman LP",
                             meta={"model": "thomas_worrall", "payoff_scale": float(np.max(np.abs(self.transfer_grid))),
                                   "type_values": [[self.income.tolist()]]}, options=options, window=window)
        return TWResult(self, vi)

    def stage_utility(self) -> np.ndarray:
        """U[k, b]: utility of income k with transfer b as the Bellman LP values it (a misreport
        below subsistence gets the finite stand-in of :meth:`template`)."""
        cons = self.income[:, None] + self.transfer_grid[None, :]
        if np.isfinite(self.consumption_floor):
            cons = np.maximum(cons, 0.5 * (self.consumption_floor + self.utility.lowest))
        return self.utility(cons)


# ---------------------------------------------------------------------------------------
# result
# ---------------------------------------------------------------------------------------
class _PromiseReport:
    """Reporting shared by the grid and closed-form results: promise paths' cross sections and
    interior sample points of the promise grid (``self.grid``, ``self.paths``, ``simulate()``)."""

    def cross_section(self, dates=None, quantiles=(0.1, 0.5, 0.9)) -> list[dict]:
        """Quantiles of the simulated promise paths at the given dates (simulating if needed)."""
        if self.paths is None:
            self.simulate()
        return cross_section(self.paths, dates, quantiles)

    def sample_points(self, n: int = 5) -> np.ndarray:
        """``n`` promises spread over the inner 80 % of the grid (where reports are read off)."""
        g = self.grid
        return np.linspace(g[0] + 0.1 * (g[-1] - g[0]), g[-1] - 0.1 * (g[-1] - g[0]), n)


@dataclass
class TWResult(_PromiseReport, AsMechanism):
    """Cost function, policies, binding constraints, simulation and plots."""

    __repr__ = result_repr
    _repr_html_ = result_html

    model: ThomasWorrall
    vi: VIResult
    paths: np.ndarray | None = None
    _binding: dict | None = field(default=None, repr=False)
    _closed: CARAContract | None = field(default=None, repr=False)

    method = "value_iteration"

    @property
    def status(self) -> str:
        return self.vi.status

    @property
    def grid(self) -> np.ndarray:
        return self.model.promise_grid

    @property
    def cost(self) -> np.ndarray:
        return self.vi.V[0]

    @property
    def objective(self) -> float:
        """C at the middle of the promise grid."""
        return float(np.interp(self.reference_promise, self.grid, self.cost))

    @property
    def reference_promise(self) -> float:
        return float(0.5 * (self.grid[0] + self.grid[-1]))

    def _lotteries(self):
        m = self.model
        y = self.vi.y[0]
        K, nb, nv = m.K, m.transfer_grid.size, m.promise_grid.size
        return y[:, :K * nb].reshape(-1, K, nb), y[:, K * nb:].reshape(-1, K, nv)

    @property
    def transfers(self) -> np.ndarray:
        """b_k(v) on the grid, shape (K, n_promise): expected transfer given report k."""
        x, _ = self._lotteries()
        return (x @ self.model.transfer_grid).T

    @property
    def continuations(self) -> np.ndarray:
        """w_k(v) on the grid, shape (K, n_promise): expected continuation promise given report k."""
        _, lam = self._lotteries()
        return (lam @ self.model.promise_grid).T

    @property
    def consumption(self) -> np.ndarray:
        return self.model.income[:, None] + self.transfers

    def C(self, v) -> np.ndarray:
        """The cost function, piecewise-linear interpolant of the grid values."""
        return np.interp(v, self.grid, self.cost)

    def transfer_policy(self, k: int):
        return lambda v: np.interp(v, self.grid, self.transfers[k])

    def continuation_policy(self, k: int):
        return lambda v: np.interp(v, self.grid, self.continuations[k])

    # ---- residuals and the CARA cross-check ------------------------------------------
    # ---- the contract as a mechanism (AsMechanism: mechanism, verification) -------------
    def _contract(self) -> PromiseMechanism:
        return thomas_worrall_mechanism(self)

    def _solved(self) -> bool:
        return not (self.vi is not None and self.vi.solution.x is None) and bool(np.all(np.isfinite(self.cost)))

    def residuals(self) -> dict:
        r"""Residuals of the returned point at every grid point, recomputed from the lotteries.

        ``promise_keeping[g]`` = :math:`|\sum_k\pi_k(E u_k + \beta E w_k) - v_g|`;
        ``IC[g]`` = the largest violation :math:`\max(0,\text{deviation} - \text{truth})` over
        (income, report) pairs, with the utilities of the LP's IC rows
        (:meth:`ThomasWorrall.stage_utility`); ``lottery[g]`` = largest :math:`|\sum - 1|`.
        """
        m = self.model
        x, lam = self._lotteries()                                         # (G, K, nb), (G, K, nv)
        U = m.stage_utility()                                              # (K, nb)
        W = lam @ m.promise_grid                                           # (G, K)
        own = np.einsum("gkb,kb->gk", x, U) + m.beta * W                   # (G, K)
        dev = np.einsum("gjb,kb->gkj", x, U) + m.beta * W[:, None, :]      # (G, k true, j report)
        gap = dev - own[:, :, None]
        idx = np.arange(m.K)
        gap[:, idx, idx] = -np.inf
        lot = np.maximum(np.abs(x.sum(axis=2) - 1).max(axis=1), np.abs(lam.sum(axis=2) - 1).max(axis=1))
        return {"promise_keeping": np.abs(own @ m.prob - self.grid),
                "IC": np.maximum(0.0, gap.max(axis=(1, 2))), "lottery": lot}

    @property
    def closed_form(self) -> CARAContract | None:
        """For CARA utility: the exact solution of the model without transfer bounds."""
        if self.model.utility.kind != "cara":
            return None
        if self._closed is None:
            m = self.model
            self._closed = solve_cara(m.income, m.prob, m.beta, m.utility.gamma)
        return self._closed

    def closed_form_gap(self) -> dict | None:
        """CARA: largest |LP − closed form| of C, b_k and w_k on the central 80% of the grid
        (the grid LP's transfer bounds and grid spacing are what separates them)."""
        k = self.closed_form
        if k is None or self.vi.solution.x is None:
            return None
        g = self.grid
        inner = (g >= g[0] + 0.1 * (g[-1] - g[0])) & (g <= g[-1] - 0.1 * (g[-1] - g[0]))
        return {"cost": float(np.max(np.abs(self.cost - k.cost(g))[inner])),
                "transfers": float(np.max(np.abs(self.transfers - k.transfers(g))[:, inner])),
                "continuations": float(np.max(np.abs(self.continuations - k.continuations(g))[:, inner])),
                "A": k.A}

    # ---- binding constraints ------------------------------------------------------
    def binding(self) -> dict:
        if self._binding is None:
            self._binding = binding_by_state(self.vi.stacked, self.vi.solution)
        return self._binding

    def certificate(self, path=None, model=None):
        """Certificate of the final Bellman LP (see :func:`.engine.bellman_certificate`)."""
        return bellman_certificate(self.vi, path, model)

    def audit(self):
        """Constraint audit of the final Bellman LP (every grid point, labelled rows)."""
        return self.binding()["audit"]

    def ic_binding_share(self) -> dict[str, float]:
        """Share of grid points at which each IC row binds, keyed 'k->j'."""
        b = self.binding()
        return {f"{k}->{j}": float(np.mean(b["IC"][:, i])) for i, (k, j) in enumerate(b["IC_rows"])}

    # ---- simulation ------------------------------------------------------------------
    def simulate(self, v0: float | None = None, T: int = 200, n_paths: int = 1000, seed: int = 0) -> np.ndarray:
        """Promised-utility paths (n_paths, T+1) under the optimal policy (incomes i.i.d. π),
        the continuation being the expected continuation promise w_k(v) interpolated between
        grid points; ``cross_section()`` summarises them by date."""
        m = self.model
        rng = np.random.default_rng(seed)
        v = np.full(n_paths, self.reference_promise if v0 is None else float(v0))
        out = np.empty((n_paths, T + 1))
        out[:, 0] = v
        W = self.continuations
        for t in range(T):
            k = rng.choice(m.K, size=n_paths, p=m.prob)
            vn = np.empty(n_paths)
            for j in range(m.K):
                s = k == j
                vn[s] = np.interp(v[s], self.grid, W[j])
            v = vn
            out[:, t + 1] = v
        self.paths = out
        return out

    def refine(self, n_promise: int, n_transfer: int | None = None, tol: float | None = None) -> "TWResult":
        """Solve the model on a finer grid, warm-started from this cost function (interpolated)."""
        m = self.model.refined(n_promise, n_transfer)
        return m.solve(tol=self.vi.tol if tol is None else tol, C0=self.C(m.promise_grid))

    # ---- reporting -----------------------------------------------------------------------

    def to_dict(self) -> dict:
        """The result record (``docs/result.schema.json``) of kind ``thomas_worrall``; ``mechanism``
        is the contract: transfers b_k(v) and continuation promises w_k(v) on the promise grid."""
        m = self.model
        pts = self.sample_points()
        d: dict[str, Any] = {
            "reference_promise": self.reference_promise,
            "beta": m.beta, "income": m.income, "prob": m.prob, "utility": m.utility.to_dict(),
            "promise_grid": self.grid, "transfer_grid": m.transfer_grid, "cost": self.cost,
            "first_best_cost": m.first_best_cost(self.grid), "autarky_value": m.autarky_value,
            "cost_at_autarky_value": float(self.C(m.autarky_value)) if self.grid[0] <= m.autarky_value <= self.grid[-1] else None,
            "iterations": self.vi.iterations, "sup_norm": self.vi.sup_norm, "rate": self.vi.rate(),
            "seconds": self.vi.seconds,
            "convergence": [r.sup_change for r in self.vi.record],
            "samples": [{"v": float(v), "C": float(self.C(v)), "first_best": float(m.first_best_cost(v))}
                        for v in pts]}
        if self.vi.solution.x is not None:
            d["IC_binding_share"] = self.ic_binding_share()
            d["residuals"] = _residual_summary(self.residuals())
            gap = self.closed_form_gap()
            if gap is not None:
                d["cara_closed_form"] = {**self.closed_form.to_dict(), "lp_gap": gap}
        d["method"] = self.method
        if self.paths is not None:
            d["simulation"] = {"paths": int(self.paths.shape[0]), "periods": int(self.paths.shape[1] - 1),
                               "cross_section": cross_section(self.paths)}
        mech = None
        if self.vi.solution.x is not None:
            mech = {"name": f"{m.name}: optimal insurance contract", "state": "promised utility v",
                    "promise_grid": self.grid, "transfers": self.transfers, "continuations": self.continuations}
        return result_record("thomas_worrall", self.status, self.objective, verification=self.verification_dict(), mechanism=mech,
                             options={"tol": self.vi.tol, "method": self.method}, model={"name": m.name},
                             message=self.vi.message, **d)

    def summary(self) -> list[str]:
        m = self.model
        lines = [f"Thomas–Worrall dynamic insurance '{m.name}': {self.status} ({self.vi.message})",
                 f"  income {fmt_list(m.income, 4)} with probabilities {fmt_list(m.prob, 4)}, beta {m.beta:g}, "
                 f"utility {fmt_mapping(m.utility.to_dict())}",
                 f"  promise grid {self.grid.size} points on [{self.grid[0]:.6g}, {self.grid[-1]:.6g}], "
                 f"transfer grid {m.transfer_grid.size} points on [{m.transfer_grid[0]:.4g}, {m.transfer_grid[-1]:.4g}]",
                 f"  value iteration: {self.vi.iterations} iterations, last sup-norm change {self.vi.sup_norm:.3g}, "
                 f"contraction rate {self.vi.rate():.4f} (beta {m.beta:g}), {self.vi.seconds:.2f} s"]
        if self.vi.solution.x is None:
            return lines
        lines.append("  cost C(v) (first best C_FB(v); transfers b_k(v); continuations w_k(v)):")
        for v in self.sample_points():
            b = [float(np.interp(v, self.grid, self.transfers[k])) for k in range(m.K)]
            w = [float(np.interp(v, self.grid, self.continuations[k])) for k in range(m.K)]
            lines.append(f"    v = {v:10.5g}: C = {float(self.C(v)):10.5g}  (C_FB {float(m.first_best_cost(v)):10.5g})"
                         f"  b = {', '.join(f'{x:.4g}' for x in b)}  w = {', '.join(f'{x:.5g}' for x in w)}")
        va = m.autarky_value
        if self.grid[0] <= va <= self.grid[-1]:
            lines.append(f"  autarky value {va:.6g}: C = {float(self.C(va)):.6g} (< 0: insurance gains the lender)")
        res = _residual_summary(self.residuals())
        lines.append(f"  residuals of the returned point (max over the grid): promise keeping "
                     f"{res['promise_keeping']:.2g}, IC {res['IC']:.2g}")
        gap = self.closed_form_gap()
        if gap is not None:
            lines.append(f"  CARA closed form (no transfer bounds): max |LP - exact| on the central grid: "
                         f"C {gap['cost']:.3g}, b {gap['transfers']:.3g}, w {gap['continuations']:.3g}")
        share = self.ic_binding_share()
        lines.append("  IC binding at share of grid points: " + ", ".join(
            f"income {fmt(m.income[k])} claims {fmt(m.income[j])}: {s:.2f}" for k, (j, s) in
            ((int(key.split('->')[0]), (int(key.split('->')[1]), s)) for key, s in share.items())))
        if self.paths is not None:
            lines.append(f"  simulated promised utility ({self.paths.shape[0]} paths; lower end of grid {self.grid[0]:.5g}):")
            for row in cross_section(self.paths):
                lines.append(f"    t = {row['period']:4d}: mean {row['mean']:10.5g}, quantiles 10/50/90% "
                             f"{row['q10']:.5g} / {row['q50']:.5g} / {row['q90']:.5g}")
        return lines


def _residual_summary(res: dict) -> dict:
    """Largest residual of each kind over the grid (JSON-ready)."""
    return {k: float(np.max(v)) if np.size(v) else 0.0 for k, v in res.items()}


# ---------------------------------------------------------------------------------------
# second formulation: the exact CARA solution on the promise grid
# ---------------------------------------------------------------------------------------
@dataclass
class CARAResult(_PromiseReport, AsMechanism):
    r"""The exact CARA solution (:mod:`.cara`) evaluated at the promise grid points.

    Same reading interface as :class:`TWResult` (``grid``, ``cost``, ``transfers``,
    ``continuations``, ``C``, policies, ``simulate``, ``residuals``, ``summary``,
    ``to_dict``; figures by :func:`dmd_opt.analysis.plots.plot_result`); the contract has no transfer bounds, so the policies hold at
    every promise v < 0, on or off the grid, and simulation is exact
    (:math:`v_{t+1} = \omega_k v_t`).
    """

    __repr__ = result_repr
    _repr_html_ = result_html

    model: ThomasWorrall
    contract: CARAContract
    paths: np.ndarray | None = None

    method = "closed_form"
    vi = None

    @property
    def status(self) -> str:
        return self.contract.status

    @property
    def grid(self) -> np.ndarray:
        return self.model.promise_grid

    @property
    def cost(self) -> np.ndarray:
        return self.contract.cost(self.grid)

    @property
    def transfers(self) -> np.ndarray:
        """b_k(v) on the grid, shape (K, n_promise)."""
        return self.contract.transfers(self.grid)

    @property
    def continuations(self) -> np.ndarray:
        """w_k(v) on the grid, shape (K, n_promise)."""
        return self.contract.continuations(self.grid)

    @property
    def consumption(self) -> np.ndarray:
        return self.model.income[:, None] + self.transfers

    @property
    def reference_promise(self) -> float:
        return float(0.5 * (self.grid[0] + self.grid[-1]))

    @property
    def objective(self) -> float:
        """C at the middle of the promise grid."""
        return float(self.contract.cost(self.reference_promise))

    def C(self, v) -> np.ndarray:
        return self.contract.cost(v)

    def transfer_policy(self, k: int):
        return lambda v: self.contract.transfers(v)[k]

    def continuation_policy(self, k: int):
        return lambda v: self.contract.continuations(v)[k]

    # ---- the contract as a mechanism (AsMechanism: mechanism, verification) -------------
    def _contract(self) -> PromiseMechanism:
        return thomas_worrall_mechanism(self)

    def _solved(self) -> bool:
        return not (self.vi is not None and self.vi.solution.x is None) and bool(np.all(np.isfinite(self.cost)))

    def residuals(self) -> dict:
        """Promise-keeping, IC and martingale residuals at every grid point
        (:meth:`.cara.CARAContract.residuals_at`)."""
        return self.contract.residuals_at(self.grid)

    def ic_binding_share(self) -> dict[str, float]:
        """1 for the IC rows that bind (positive multiplier), 0 otherwise: by homogeneity the
        same rows bind at every promise."""
        K = self.model.K
        return {f"{k}->{j}": float((k, j) in self.contract.binding) for k in range(K) for j in range(K) if k != j}

    def simulate(self, v0: float | None = None, T: int = 200, n_paths: int = 1000, seed: int = 0) -> np.ndarray:
        r"""Exact promised-utility paths (n_paths, T+1): :math:`v_{t+1} = \omega_k v_t`, k ~ π i.i.d."""
        m = self.model
        rng = np.random.default_rng(seed)
        k = rng.choice(m.K, size=(n_paths, T), p=m.prob)
        v = self.reference_promise if v0 is None else float(v0)
        if v >= 0:
            raise ModelError("v0", "the CARA closed form covers promises v < 0 only")
        logs = np.concatenate([np.zeros((n_paths, 1)), np.cumsum(np.log(self.contract.omega)[k], axis=1)], axis=1)
        self.paths = v * np.exp(logs)
        return self.paths


    def to_dict(self) -> dict:
        """The result record of kind ``thomas_worrall`` (``method = "closed_form"``); ``mechanism``
        holds the policies on the grid and the closed form's constants, ``residuals`` the largest
        promise-keeping, IC and martingale residuals over the grid."""
        m, k = self.model, self.contract
        d: dict[str, Any] = {
            "method": self.method, "iterations": k.iterations, "reference_promise": self.reference_promise,
            "beta": m.beta, "income": m.income, "prob": m.prob, "utility": m.utility.to_dict(),
            "promise_grid": self.grid, "cost": self.cost, "transfers": self.transfers,
            "continuations": self.continuations, "first_best_cost": m.first_best_cost(self.grid),
            "autarky_value": m.autarky_value, "cost_at_autarky_value": float(self.C(m.autarky_value)),
            "closed_form": k.to_dict(), "residuals": _residual_summary(self.residuals()),
            "IC_binding_share": self.ic_binding_share(),
            "samples": [{"v": float(v), "C": float(self.C(v)), "first_best": float(m.first_best_cost(v))}
                        for v in self.sample_points()]}
        if self.paths is not None:
            d["simulation"] = {"paths": int(self.paths.shape[0]), "periods": int(self.paths.shape[1] - 1),
                               "cross_section": cross_section(self.paths)}
        mech = {"name": f"{m.name}: optimal insurance contract (CARA closed form)", "state": "promised utility v",
                "promise_grid": self.grid, "transfers": self.transfers, "continuations": self.continuations,
                "rule": "b_k(v) = b_k* - ln(v/v*)/gamma, w_k(v) = omega_k v", "v_star": k.v_star,
                "transfers_star": k.transfers_star, "omega": k.omega}
        msg = (f"CARA closed form: Newton on the dual, {k.iterations} iterations, residuals below "
               f"{k.tol:g} x |v*|") if k.status == "optimal" else "CARA closed form: KKT conditions not met"
        return result_record("thomas_worrall", self.status, self.objective, verification=self.verification_dict(), mechanism=mech,
                             options={"method": self.method, "solver_tol": k.tol}, model={"name": m.name},
                             message=msg, **d)

    def summary(self) -> list[str]:
        m, k = self.model, self.contract
        res = _residual_summary(self.residuals())
        lines = [f"Thomas–Worrall dynamic insurance '{m.name}': {self.status} (CARA closed form, no transfer bounds)",
                 f"  income {fmt_list(m.income, 4)} with probabilities {fmt_list(m.prob, 4)}, beta {m.beta:g}, "
                 f"utility {fmt_mapping(m.utility.to_dict())}",
                 f"  C(v) = A - ln(v/v*)/(gamma(1-beta)) with A = {k.A:.12g}, v* = {k.v_star:.6g}; "
                 f"b_k(v) = b_k* - ln(v/v*)/gamma, w_k(v) = omega_k v",
                 f"  b* = {', '.join(f'{x:.10g}' for x in k.transfers_star)}; "
                 f"omega = {', '.join(f'{x:.10g}' for x in k.omega)}; binding IC "
                 f"{', '.join(f'income {fmt(m.income[a])} claims {fmt(m.income[b])}' for a, b in k.binding)}",
                 f"  residuals on the {self.grid.size}-point promise grid: promise keeping {res['promise_keeping']:.2g}, "
                 f"IC {res['IC']:.2g}, martingale sum pi v/w - 1 {res['martingale']:.2g} "
                 f"(Newton, {k.iterations} iterations, tol {k.tol:g})"]
        for v in self.sample_points():
            b, w = k.transfers(v), k.continuations(v)
            lines.append(f"    v = {v:10.5g}: C = {float(self.C(v)):10.5g}  (C_FB {float(m.first_best_cost(v)):10.5g})"
                         f"  b = {', '.join(f'{x:.6g}' for x in b)}  w = {', '.join(f'{x:.6g}' for x in w)}")
        va = m.autarky_value
        lines.append(f"  autarky value {va:.6g}: C = {float(self.C(va)):.6g} (< 0: insurance gains the lender)")
        if self.paths is not None:
            lines.append(f"  simulated promised utility ({self.paths.shape[0]} paths, exact):")
            for row in cross_section(self.paths):
                lines.append(f"    t = {row['period']:4d}: mean {row['mean']:10.5g}, quantiles 10/50/90% "
                             f"{row['q10']:.5g} / {row['q50']:.5g} / {row['q90']:.5g}")
        return lines



def cara_constant(income, prob, beta: float, gamma: float, tol: float = 1e-13) -> dict:
    r"""The constant A of :math:`C(v) = A - \ln(v/v^*)/(\gamma(1-\beta))` with
    :math:`v^* = -1/(\gamma(1-\beta))`, the normalised policies (transfers at :math:`v^*`,
    ``omega`` = w/v) and the residuals, from :func:`.cara.solve_cara` (``tol``: its tolerance)."""
    c = solve_cara(income, prob, beta, gamma, tol=tol)
    return {"A": c.A, "v_star": c.v_star, "status": c.status, "transfers": c.transfers_star.copy(),
            "omega": c.omega.copy(), "residuals": dict(c.residuals), "contract": c}


def cara_cost(v, income, prob, beta: float, gamma: float, constant: dict | None = None) -> np.ndarray:
    r"""Closed-form CARA cost :math:`C(v) = A - \ln(v/v^*)/(\gamma(1-\beta))`, v < 0."""
    c = constant or cara_constant(income, prob, beta, gamma)
    v = np.asarray(v, float)
    return c["A"] - np.log(v / c["v_star"]) / (gamma * (1 - beta))
