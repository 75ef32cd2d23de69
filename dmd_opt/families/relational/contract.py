r"""Relational contracts: the model, the optimal contract and its dynamics.

:class:`RelationalModel` is a stage game (:mod:`.game`), a discount factor and how
promises are enforced — ``relational`` (perfect public equilibrium: every promise
must be self-enforcing) or ``commitment`` (the principal's actions are part of a
contract a court enforces; only the agent's incentives bind).  :meth:`RelationalModel.solve`
computes the payoff set by self-generation (:mod:`.aps`) and returns a
:class:`RelationalResult`: the Pareto frontier :math:`\bar V(U)`, the optimal
contract (the principal's preferred point of the frontier, ties broken toward the
agent), and the policy at every promise — the lottery over pure plans (recommended
actions by private state), continuation promises by public outcome — with its
modes.  :meth:`RelationalResult.simulate` draws paths: mode by period, promise
paths, the time until absorption and the absorbing modes; :meth:`RelationalResult.check`
recomputes every enforcement constraint independently (:mod:`.check`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from dmd_opt.core.errors import ModelError
from dmd_opt.core.validation import integer, mapping, real
from dmd_opt.families.relational.aps import (ENFORCEMENTS, RANDOMIZATIONS, APSResult, PayoffSet, fixed_point)
from dmd_opt.families.relational.check import PolicyCheck, check_policy
from dmd_opt.families.relational.game import LMP_VARIANTS, Plans, StageGame, enumerate_plans, lmp_game

MAX_GRID = 5000


@dataclass(frozen=True)
class RelationalModel:
    """A repeated principal–agent game with a privately informed agent (module docstring)."""

    game: StageGame
    delta: float
    enforcement: str = "relational"
    n_grid: int = 101
    horizon: int | None = None
    name: str = "relational"
    lmp: dict | None = None         # the power-dynamics preset's parameters, when used

    @classmethod
    def from_dict(cls, raw: dict) -> "RelationalModel":
        raw = mapping(raw, "", required=("delta",),
                      optional=("name", "description", "enforcement", "lmp", "stage", "grid", "horizon"))
        if ("lmp" in raw) == ("stage" in raw):
            raise ModelError("stage", "give exactly one of [lmp] (the power-dynamics game) and [stage] (any stage game)")
        delta = real(raw["delta"], "delta", lo=0, hi=1, lo_open=True, hi_open=True)
        name = raw.get("name", "relational")
        if not isinstance(name, str):
            raise ModelError("name", "expected a string")
        lmp = None
        if "lmp" in raw:
            d = mapping(raw["lmp"], "lmp", required=("B", "b", "p"), optional=("variant", "exposure", "annihilation"))
            variant = d.get("variant", "trust")
            if not isinstance(variant, str) or variant not in LMP_VARIANTS:
                raise ModelError("lmp.variant", f"must be one of {', '.join(map(repr, LMP_VARIANTS))}, got {variant!r}")
            game = lmp_game(variant, d["B"], d["b"], d["p"], d.get("exposure"), d.get("annihilation"))
            x = float(game.u_principal[1, 1, 2]) if variant != "lecture" else float(game.u_principal[1, 1, 0])
            lmp = {"variant": variant, "B": float(d["B"]), "b": float(d["b"]), "p": float(d["p"]), "exposure": x}
            default_enf = "commitment" if variant == "commitment" else "relational"
        else:
            game = StageGame.from_dict(raw["stage"])
            default_enf = "relational"
        enf = raw.get("enforcement", default_enf)
        if not isinstance(enf, str) or enf not in ENFORCEMENTS:
            raise ModelError("enforcement", f"must be one of {', '.join(map(repr, ENFORCEMENTS))}, got {enf!r}")
        if lmp is not None and lmp["variant"] == "commitment" and enf != "commitment":
            raise ModelError("enforcement", "variant 'commitment' is the trust game under commitment")
        g = mapping(raw.get("grid", {}), "grid", optional=("n",))
        n = integer(g.get("n", 101), "grid.n", lo=3)
        if n > MAX_GRID:
            raise ModelError("grid.n", f"at most {MAX_GRID} promises, got {n}")
        horizon = raw.get("horizon")
        if horizon is not None:
            horizon = integer(horizon, "horizon", lo=1)
            if horizon > 10_000:
                raise ModelError("horizon", f"at most 10000 periods, got {horizon}")
        plans = enumerate_plans(game)            # size guard: refuse oversized games at load time
        from dmd_opt.core.limits import check_grid
        # per grid promise: two blocks (max and min V), each with plan weights, (x, y) per outcome,
        # and IC / obedience / domain rows plus a few cuts per outcome
        per = 2 * (plans.Q * (2 + game.n_states * (game.n_states + len(game.agent_actions))) + 6 * plans.O)
        check_grid("grid.n", n + plans.Q + 8, rows_per_point=per, nonzeros_per_point=4 * per)
        # the lazy continuation-set cuts keep a (block, outcome, piece, side) table: O(n²)
        from dmd_opt.core.limits import check_dense
        check_dense("grid.n", (2 * (n + plans.Q + 8), plans.O, n + plans.Q + 9, 2), itemsize=1, copies=2,
                    what=f"the continuation-set cuts' table of a {n}-point grid would take",
                    alternative="use a coarser grid")
        return cls(game, delta, enf, n, horizon, name, lmp)

    def with_enforcement(self, enforcement: str) -> "RelationalModel":
        return replace(self, enforcement=enforcement)

    def solve(self, *, tol: float = 1e-9, max_iter: int = 2000, randomization: str | None = None,
              progress=None, refine: int = 0) -> "RelationalResult":
        """Self-generation to the fixed point.  ``refine`` > 0 re-solves that many times with the
        continuation promises the contract uses at the frontier's kinks added to the grid, so
        that kinks of the true frontier off the uniform grid become nodes (sharper dynamics)."""
        if randomization is None:
            randomization = "message" if self.enforcement == "commitment" else "period"
        plans = enumerate_plans(self.game)
        special: bool | np.ndarray = True
        res = None
        for _ in range(int(refine) + 1):
            aps = fixed_point(plans, self.delta, self.n_grid, enforcement=self.enforcement,
                              randomization=randomization, tol=tol, max_iter=max_iter, horizon=self.horizon,
                              progress=progress, special=special)
            res = RelationalResult(self, aps)
            if self.horizon is not None or aps.status != "optimal":
                break
            rho, wA, _ = res.policy()
            used = (rho[:, plans.out_plan] > 0) & res.kinks()[:, None]
            w = wA[used]
            special = np.unique(np.concatenate([np.asarray(special if not isinstance(special, bool) else [], float),
                                                w[np.isfinite(w)]]))
        return res

    # ---- closed forms of the power-dynamics game ---------------------------------------
    def anchors(self) -> dict[str, Any]:
        """Payoffs (agent, principal) of the stationary modes and, for the trust game, the
        discount factor below which no cooperation is possible (docs/relational.md)."""
        if self.lmp is None:
            return {}
        B, b, p, x = self.lmp["B"], self.lmp["b"], self.lmp["p"], self.lmp["exposure"]
        d = self.delta
        out = {"centralisation": (0.0, 0.0), "restricted empowerment": (p * b, p * B),
               "unrestricted empowerment": (B, x),
               "cooperative empowerment": (p * b + (1 - p) * B, p * B + (1 - p) * x)}
        if self.lmp["variant"] != "lecture":
            # restricted empowerment is self-enforcing when the agent, who could take his own
            # project, prefers the default (future p b) under the threat of centralisation
            out["restricted_self_enforcing"] = bool(d * p * b >= (1 - d) * B - 1e-12)
            if x == 0:
                out["cooperation_threshold_delta"] = (B - b) / (2 * B - b)
        return out


# ---------------------------------------------------------------------------------------
@dataclass
class Simulation:
    """Simulated paths of the optimal contract."""

    blocks: np.ndarray          # (n, T+1) grid index of the promise
    promises: np.ndarray        # (n, T+1)
    plans: np.ndarray           # (n, T) realised plan
    states: np.ndarray          # (n, T) private state
    modes: np.ndarray           # (n, T) mode index into ``mode_names``
    mode_names: list[str]
    absorbed_at: np.ndarray     # (n,) first period in an absorbing promise (−1: never within T)
    absorbing_mode: list[str]   # per path: the mode of its absorbing promise ("" if not absorbed)
    seed: int

    @property
    def T(self) -> int:
        return int(self.plans.shape[1])

    @property
    def n(self) -> int:
        return int(self.plans.shape[0])

    def mode_shares(self) -> np.ndarray:
        """(T, n_modes): share of paths in each mode by period."""
        M = len(self.mode_names)
        out = np.zeros((self.T, M))
        for m in range(M):
            out[:, m] = (self.modes == m).mean(axis=0)
        return out

    def absorbing_shares(self) -> dict[str, float]:
        names, counts = np.unique(np.array(self.absorbing_mode, dtype=object), return_counts=True)
        return {("not absorbed" if k == "" else str(k)): float(c) / self.n for k, c in zip(names, counts)}

    def absorption_times(self) -> dict[str, float]:
        t = self.absorbed_at[self.absorbed_at >= 0]
        if t.size == 0:
            return {"absorbed": 0.0}
        return {"absorbed": float(t.size) / self.n, "mean": float(t.mean()), "median": float(np.median(t)),
                "q90": float(np.quantile(t, 0.9)), "max": int(t.max())}

    def to_dict(self) -> dict:
        sh = self.mode_shares()
        dates = sorted({0, self.T // 4, self.T // 2, max(self.T - 1, 0)})
        return {"paths": self.n, "periods": self.T, "seed": self.seed,
                "absorbing_shares": self.absorbing_shares(), "absorption_time": self.absorption_times(),
                "mode_shares": {int(t): {m: float(sh[t, i]) for i, m in enumerate(self.mode_names) if sh[t, i] > 0}
                                for t in dates if self.T > 0}}


@dataclass
class RelationalResult:
    """The optimal contract of a :class:`RelationalModel` (module docstring); figures:
    :func:`dmd_opt.analysis.relational_plots.plot_relational` (``dmd-opt solve --plot``)."""

    kind = "relational"
    model: RelationalModel
    aps: APSResult
    simulation: Simulation | None = None
    _check: PolicyCheck | None = field(default=None, repr=False)
    _policy: tuple | None = field(default=None, repr=False)
    tie_break: Any = field(default=None, repr=False)

    # ---- the frontier -----------------------------------------------------------------
    @property
    def status(self) -> str:
        return self.aps.status

    @property
    def message(self) -> str:
        return self.aps.message

    @property
    def plans(self) -> Plans:
        return self.aps.plans

    @property
    def W(self) -> PayoffSet:
        return self.aps.W

    @property
    def grid(self) -> np.ndarray:
        return self.aps.W.grid

    @property
    def frontier(self) -> np.ndarray:
        """:math:`\\bar V(U)` on the grid: the principal's best equilibrium payoff at promise U."""
        return self.aps.W.upper

    @property
    def lower(self) -> np.ndarray:
        return self.aps.W.lower

    @property
    def initial_index(self) -> int:
        """The optimal contract's first promise: the principal's best, ties toward the agent."""
        V = self.frontier
        best = V.max()
        tie = np.nonzero(V >= best - 1e-9 * self.model.game.scale)[0]
        return int(tie[-1])

    @property
    def objective(self) -> float:
        return float(self.frontier.max())

    @property
    def initial_promise(self) -> float:
        return float(self.grid[self.initial_index])

    def principal_worst(self) -> float:
        """The principal's lowest equilibrium payoff (her punishment), from the computed set."""
        return float(self.lower.min())

    def agent_worst(self) -> float:
        return float(self.aps.W.U_lo)

    # ---- the policy ------------------------------------------------------------------------
    def policy(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ρ (K, Q), w_A (K, O), w_P (K, O)): plan lotteries and continuation (promise, value)
        per outcome at every grid promise, from the final LP (tiny weights dropped)."""
        if self._policy is None:
            from dmd_opt.families.relational.aps import efficient_policy
            fr = efficient_policy(self.aps) if self.aps.frontier is not None else None
            self.tie_break = fr
            st, lay = fr.stacked, fr.layout
            K = self.grid.size
            x = fr.x
            rho = x[st.colmap[:K, lay.rho]]
            xs = x[st.colmap[:K, lay.x]]
            ys = x[st.colmap[:K, lay.y]]
            rq = rho[:, self.plans.out_plan]
            wA = np.where(rq > 1e-6, xs / np.maximum(rq, 1e-300), np.nan)
            wP = np.where(rq > 1e-6, ys / np.maximum(rq, 1e-300), np.nan)
            # the principal's continuation value, read as y/ρ, can stray outside [V̲(w), V̄(w)] by the
            # LP tolerance divided by ρ: put it back (it enters no promise, only her obedience)
            W_in = self.aps.W_in
            # promises past the ends of the continuation range by the LP's tolerance are put on
            # the ends (a larger excess is left for the check to report)
            near = np.isfinite(wA) & (wA >= W_in.U_lo - 1e-7) & (wA <= W_in.U_hi + 1e-7)
            wA = np.where(near, np.clip(wA, W_in.U_lo, W_in.U_hi), wA)
            wc = np.clip(np.nan_to_num(wA, nan=W_in.U_lo), W_in.U_lo, W_in.U_hi)
            if not W_in.degenerate:
                up = np.interp(wc, W_in.grid, W_in.upper)
                dn = np.interp(wc, W_in.grid, W_in.lower)
                wP = np.where(np.isfinite(wP), np.clip(wP, dn, np.maximum(up, dn)), wP)
            rho = np.where(rho > 1e-6, np.clip(rho, 0.0, 1.0), 0.0)
            rho = rho / rho.sum(axis=1, keepdims=True)
            self._policy = (rho, wA, wP)
        return self._policy

    @property
    def mode_names(self) -> list[str]:
        return list(dict.fromkeys(self.plans.names()))

    def modes_at(self, j: int) -> dict[str, float]:
        rho, _, _ = self.policy()
        names = self.plans.names()
        out: dict[str, float] = {}
        for q in np.nonzero(rho[j] > 0)[0]:
            out[names[q]] = out.get(names[q], 0.0) + float(rho[j, q])
        return out

    def at(self, promise: float) -> dict[str, Any]:
        """The contract at the grid promise nearest to ``promise``: the lottery over plans, each
        plan's recommended actions by state and its continuation promises by outcome."""
        j = int(np.argmin(np.abs(self.grid - float(promise))))
        rho, wA, wP = self.policy()
        g = self.model.game
        P = self.plans
        plans = []
        for q in np.nonzero(rho[j] > 0)[0]:
            d = P.describe(q)
            d["probability"] = float(rho[j, q])
            d["continuation"] = {g.states[s]: {"promise": float(wA[j, P.outcome[q, s]]),
                                               "principal": float(wP[j, P.outcome[q, s]])}
                                 for s in range(g.n_states)}
            plans.append(d)
        return {"promise": float(self.grid[j]), "principal_value": float(self.frontier[j]),
                "absorbing": bool(self.absorbing()[j]), "plans": plans}

    def __getitem__(self, promise: float) -> dict[str, Any]:
        return self.at(promise)

    def next_lottery(self) -> np.ndarray:
        """(K, O, 2) adjacent grid nodes and (K, O) weight on the upper one: the public
        lottery that implements each continuation promise on the grid."""
        _, wA, _ = self.policy()
        g = self.grid
        w = np.clip(np.nan_to_num(wA, nan=g[0]), g[0], g[-1])
        k = np.clip(np.searchsorted(g, w, side="right") - 1, 0, g.size - 2) if g.size > 1 else np.zeros(w.shape, int)
        if g.size > 1:
            frac = np.clip((w - g[k]) / np.maximum(g[k + 1] - g[k], 1e-300), 0.0, 1.0)
        else:
            frac = np.zeros(w.shape)
        return k, frac

    def kinks(self, tol: float = 1e-7) -> np.ndarray:
        """(K,) grid promises where the frontier bends (and its two ends).  On a linear piece the
        principal is indifferent between a promise and the public lottery over the piece's ends."""
        g, V = self.grid, self.frontier
        out = np.ones(g.size, bool)
        if g.size > 2:
            s = np.diff(V) / np.maximum(np.diff(g), 1e-300)
            scale = self.model.game.scale
            out[1:-1] = np.abs(np.diff(s)) > tol * scale / max(g[-1] - g[0], 1e-12)
        return out

    def absorbing(self) -> np.ndarray:
        """(K,) promises the contract never leaves: every used plan's every continuation is that promise."""
        rho, wA, _ = self.policy()
        g = self.grid
        tol = 1e-7 * max(1.0, float(np.abs(g).max()))
        stay = np.abs(np.nan_to_num(wA, nan=np.inf) - g[:, None]) <= tol          # (K, O)
        used_out = rho[:, self.plans.out_plan] > 0
        return np.all(stay | ~used_out, axis=1)

    def absorbing_mode(self, j: int) -> str:
        m = self.modes_at(j)
        return max(m, key=m.get) if len(m) == 1 else " + ".join(f"{k} ({v:.2f})" for k, v in m.items())

    # ---- checks ------------------------------------------------------------------------------
    def check(self) -> PolicyCheck:
        """Every enforcement constraint recomputed from the stage game (:mod:`.check`)."""
        if self._check is None:
            rho, wA, wP = self.policy()
            self._check = check_policy(self.plans, self.model.delta, self.aps.W_in, self.grid, self.frontier,
                                       rho, np.nan_to_num(wA), np.nan_to_num(wP),
                                       self.model.enforcement == "relational", self.aps.D, self.aps.randomization)
        return self._check

    @property
    def mechanism(self):
        """The optimal contract as a :class:`~dmd_opt.mechanisms.base.Mechanism`."""
        from dmd_opt.families.relational.mechanism import RelationalMechanism
        return RelationalMechanism(self, f"{self.model.name}: optimal contract")

    @property
    def verification(self) -> PolicyCheck | None:
        """The independent check (``dmd-opt verify``)."""
        return self.check() if self.aps.frontier is not None else None

    def audit(self):
        """Binding rows and shadow prices of the final frontier LP (``dmd-opt audit``)."""
        from dmd_opt.audit.binding import audit
        fr = self.aps.frontier
        return audit(fr.program, fr.solution, tol=1e-7, scale=self.model.game.scale)

    def fixed_point_gap(self) -> float:
        return float(self.aps.record[-1].change) if self.aps.record else float("nan")

    def check_paths(self, sim: Simulation | None = None) -> float:
        """Largest violation of any enforcement constraint at any period of the simulated paths."""
        sim = sim or self.simulation
        if sim is None:
            raise ValueError("simulate first")
        per = self.check().per_block
        return float(per[np.unique(sim.blocks[:, :-1])].max(initial=0.0))

    def verification_dict(self, tol: float = 1e-7) -> dict:
        from dmd_opt.core.record import verification_record
        c = self.check()
        scale = self.model.game.scale
        return verification_record(c.max_violation, bool(c.max_violation <= tol * scale), notion="self_enforcement"
                                   if self.model.enforcement == "relational" else "agent_incentives",
                                   tolerance=tol, scale=scale, **c.to_dict(),
                                   fixed_point_gap=self.fixed_point_gap())

    # ---- dynamics ----------------------------------------------------------------------------
    def simulate(self, T: int = 200, n_paths: int = 2000, seed: int = 0, start: int | None = None,
                 spread: bool = True) -> Simulation:
        """Paths from the optimal contract's first promise (or grid index ``start``): each period
        the public device draws a plan from the promise's lottery, nature the private state,
        and the continuation promise is implemented by a public lottery between the adjacent
        grid promises.

        ``spread``: a promise strictly inside a linear piece of the frontier is first sent by
        the public device to the piece's ends (same value for both players, same incentives:
        the contract that spreads promises as far as the principal's indifference allows).
        The optimal contract is not unique on linear pieces — without spreading the LP's own
        choice there may cycle inside the piece forever."""
        if self.model.horizon is not None:
            raise ModelError("horizon", "paths are simulated for the infinite-horizon contract only")
        rng = np.random.default_rng(seed)
        rho, _, _ = self.policy()
        k, frac = self.next_lottery()
        P = self.plans
        g = self.model.game
        names = P.names()
        mode_names = self.mode_names
        mode_of_plan = np.array([mode_names.index(n) for n in names])
        K = self.grid.size
        cum = np.cumsum(rho, axis=1)
        cum[:, -1] = 1.0
        absorbing = self.absorbing()
        j = np.full(n_paths, self.initial_index if start is None else int(start), np.int64)
        blocks = np.empty((n_paths, T + 1), np.int64)
        plans = np.empty((n_paths, T), np.int64)
        states = np.empty((n_paths, T), np.int64)
        blocks[:, 0] = j
        ps = np.cumsum(g.prob)
        ps[-1] = 1.0
        kink = self.kinks() if spread else np.ones(K, bool)
        kidx = np.nonzero(kink)[0]
        # a promise inside a linear piece → its ends kL < j < kR, upper one with weight (U−U_L)/(U_R−U_L)
        pos = np.searchsorted(kidx, np.arange(K))
        kR = kidx[np.minimum(pos, kidx.size - 1)]
        kL = kidx[np.maximum(np.where(kink, pos, pos - 1), 0)]
        gg = self.grid
        wR = np.where(kR > kL, (gg - gg[kL]) / np.maximum(gg[kR] - gg[kL], 1e-300), 0.0)
        for t in range(T):
            if spread:
                j = np.where(rng.random(n_paths) < wR[j], kR[j], kL[j])
                blocks[:, t] = j
            q = (cum[j] < rng.random(n_paths)[:, None]).sum(axis=1)
            q = np.minimum(q, P.Q - 1)
            s = np.minimum(np.searchsorted(ps, rng.random(n_paths), side="right"), g.n_states - 1)
            o = P.outcome[q, s]
            up = rng.random(n_paths) < frac[j, o]
            j = np.minimum(k[j, o] + up, K - 1)
            plans[:, t], states[:, t] = q, s
            blocks[:, t + 1] = j
        if spread:
            blocks[:, T] = np.where(rng.random(n_paths) < wR[j], kR[j], kL[j])
        absorbed = absorbing[blocks]
        first = np.where(absorbed.any(axis=1), absorbed.argmax(axis=1), -1)
        amode = [self.absorbing_mode(int(blocks[i, f])) if f >= 0 else "" for i, f in enumerate(first)]
        sim = Simulation(blocks, self.grid[blocks], plans, states, mode_of_plan[plans], mode_names, first, amode, seed)
        self.simulation = sim
        return sim

    # ---- comparisons ---------------------------------------------------------------------------
    def counterpart(self, **kw) -> "RelationalResult":
        """The same environment under the other enforcement (commitment ↔ relational)."""
        other = "commitment" if self.model.enforcement == "relational" else "relational"
        return self.model.with_enforcement(other).solve(**kw)

    def certificate(self, path=None, model=None):
        """Certificate of the final frontier LP (``dmd-opt check`` rebuilds it from the model
        and the continuation set, punishments and cuts stored as program options)."""
        from dmd_opt import certificates
        if self.model.horizon is not None:
            raise ModelError("horizon", "certificates are written for the infinite-horizon frontier LP only")
        fr = self.aps.frontier
        opts = certificate_options(self)
        if path is not None:
            return certificates.write_certificate(path, fr.program, fr.solution, model=model, options=opts)
        return certificates.make_certificate(fr.program, fr.solution, model=model, options=opts)

    # ---- reporting -----------------------------------------------------------------------------
    def modes_table(self) -> list[dict]:
        rows = []
        for j in range(self.grid.size):
            rows.append({"promise": float(self.grid[j]), "principal": float(self.frontier[j]),
                         "lower": float(self.lower[j]), "absorbing": bool(self.absorbing()[j]),
                         "modes": self.modes_at(j)})
        return rows

    def to_frame(self):
        import pandas as pd
        rho, wA, _ = self.policy()
        P = self.plans
        g = self.model.game
        rows = []
        for r in self.modes_table():
            j = int(np.argmin(np.abs(self.grid - r["promise"])))
            main = max(r["modes"], key=r["modes"].get) if r["modes"] else ""
            q = max(np.nonzero(rho[j] > 0)[0], key=lambda qq: rho[j, qq])
            row = {"promise": r["promise"], "principal_value": r["principal"], "principal_lowest": r["lower"],
                   "mode": main, "lottery": len(r["modes"]) > 1, "absorbing": r["absorbing"]}
            for s in range(g.n_states):
                row[f"w[{g.states[s]}]"] = float(wA[j, P.outcome[q, s]])
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        from dmd_opt.core.record import result_record
        m = self.model
        a = self.aps
        d: dict[str, Any] = {"enforcement": m.enforcement, "delta": m.delta, "randomization": a.randomization,
                             "stage_game": m.game.to_dict(), "horizon": m.horizon,
                             "iterations": a.iterations, "seconds": a.seconds,
                             "convergence": [r.change for r in a.record],
                             "promise_grid": self.grid, "frontier": self.frontier, "lower_boundary": self.lower,
                             "agent_range": [a.W.U_lo, a.W.U_hi], "principal_worst": self.principal_worst(),
                             "initial_promise": self.initial_promise, "anchors": m.anchors()}
        if m.lmp is not None:
            d["lmp"] = m.lmp
        if a.D is not None:
            d["punishments"] = [{"message_cell": [m.game.states[s] for s in c],
                                 "action": m.game.principal_actions[act], "value": v} for (c, act), v in a.D.items()]
        mech = {"name": f"{m.name}: optimal {'relational contract' if m.enforcement == 'relational' else 'contract with commitment'}",
                "state": "promised utility U", "initial_promise": self.initial_promise,
                "modes_by_promise": self.modes_table() if m.horizon is None else None,
                "first_period": self.at(self.initial_promise)}
        if self.simulation is not None:
            d["dynamics"] = self.simulation.to_dict()
        opts = {"tol": None, "randomization": a.randomization, "grid": m.n_grid}
        verification = self.verification_dict() if a.frontier is not None else None
        return result_record("relational", self.status, self.objective, verification=verification, mechanism=mech,
                             options=opts, model={"name": m.name}, message=self.message, **d)

    def summary(self) -> list[str]:
        m = self.model
        a = self.aps
        enf = "relational contract (self-enforcing)" if m.enforcement == "relational" else "contract with commitment"
        lines = [f"{m.game.name} '{m.name}': {enf}, δ = {m.delta:g}: {self.status} ({self.message})",
                 f"  self-generation: {a.iterations} iterations, {a.seconds:.2f} s, grid of {self.grid.size} promises "
                 f"on [{a.W.U_lo:.6g}, {a.W.U_hi:.6g}]"]
        if m.lmp is not None:
            L = m.lmp
            lines.append(f"  B={L['B']:g}, b={L['b']:g}, p={L['p']:g}, principal's payoff from the agent's project "
                         f"{L['exposure']:g} ({L['variant']} variant)")
        lines.append(f"  principal's optimal value {self.objective:.6g} at promise {self.initial_promise:.6g}; "
                     f"her worst equilibrium payoff {self.principal_worst():.6g}, the agent's {self.agent_worst():.6g}")
        j0 = self.initial_index
        lines.append("  first period: " + ", ".join(f"{k} ({v:.2f})" for k, v in self.modes_at(j0).items()))
        ab = np.nonzero(self.absorbing())[0]
        if ab.size:
            lines.append("  absorbing promises: " + "; ".join(
                f"U={self.grid[j]:.4g} ({self.absorbing_mode(j)}, V={self.frontier[j]:.4g})" for j in ab[:8]))
        c = self.check()
        lines.append(f"  enforcement check (independent): largest violation {c.max_violation:.2e} "
                     f"(agent IC {c.agent_ic:.1e}, principal {c.principal_obedience:.1e}, promise keeping "
                     f"{c.promise_keeping:.1e}); fixed-point gap {self.fixed_point_gap():.1e}")
        if self.simulation is not None:
            s = self.simulation
            sh = ", ".join(f"{k} {v:.1%}" for k, v in s.absorbing_shares().items())
            at = s.absorption_times()
            lines.append(f"  {s.n} paths × {s.T} periods: absorbed {at.get('absorbed', 0):.1%}"
                         + (f", mean time {at['mean']:.1f}, 90% by {at['q90']:.0f}" if "mean" in at else "")
                         + f"; absorbing modes: {sh}")
        return lines



def certificate_options(res: RelationalResult) -> dict:
    fr = res.aps.frontier
    W = res.aps.W_in
    D = res.aps.D
    return {"continuation_set": W.to_dict(), "promises": res.grid.tolist(),
            "punishments": None if D is None else [[list(c), int(a), float(v)] for (c, a), v in D.items()],
            "cuts": {"block": fr.cuts.block.tolist(), "outcome": fr.cuts.out.tolist(),
                     "piece": fr.cuts.piece.tolist(), "side": fr.cuts.side.tolist()},
            "randomization": res.aps.randomization}
