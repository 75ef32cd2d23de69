r"""The ex-post auction that implements an optimal interim rule, and its checks.

A :class:`ReducedFormMechanism` holds the interim rule :math:`(Q, T)` of the
reduced-form program and a lottery over *priority rules*
(:class:`~dmd_opt.families.revenue.border.PriorityMixture`): draw a rule, give
the units to the present (bidder, type) pairs of the best priority classes,
ties within a class by a uniform lottery (Border's hierarchical allocations).
Its interim allocation is computed by products over bidders
(:meth:`.border.Border.vertex`) — never by enumerating profiles.

Payments (``payments``):

* ``"winner_pays"`` — a winner of type :math:`\theta` pays :math:`T_i(\theta)/Q_i(\theta)`,
  a loser nothing (a type with :math:`Q_i(\theta)=0` pays :math:`T_i(\theta)\le0`, i.e.
  is paid, whatever happens).  Then :math:`E[p_i\mid\theta]=T_i(\theta)` and interim IR
  :math:`v_i(\theta)Q_i(\theta)\ge T_i(\theta)` is ex-post IR as well;
* ``"interim"`` — :math:`T_i(\theta_i)` is charged whatever the others report.

:meth:`ReducedFormMechanism.verify` checks, on the interim problem, that the
implementation's interim allocation equals the program's (to 1e-9), Bayesian IC
(every report of every type) and interim IR, the ex-post unit count; and, where
profiles can be enumerated, builds the ex-post :class:`~dmd_opt.mechanisms.tree.TreeMechanism`
and runs the package's profile verifier on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dmd_opt.families.revenue.border import PriorityMixture
from dmd_opt.mechanisms.base import Mechanism, Rule


@dataclass
class InterimCheck:
    """Checks of an implemented interim rule (module docstring)."""

    implementation_error: float          # max |Q_impl − Q_program|
    payment_error: float                 # max |T_impl − T_program|
    max_regret: float                    # max over bidders, true types and reports
    ir_gap: float                        # max(0, −min U) for the participation notion
    max_units: float                     # largest number of units handed out at a profile (sampled rules)
    scale: float
    participation: str
    expost: Any = None                   # profile verifier report (small sizes)
    notes: list = field(default_factory=list)
    implementation_mass_error: float = 0.0   # max f·|Q_impl − Q_program| (rare types: the LP fixes Q loosely)

    def ir_violation(self, participation: str | None = None) -> float:
        """Largest participation violation (≥ 0) of the notion the program imposed."""
        return self.ir_gap

    def implemented(self) -> bool:
        """The implementation reproduces the program's interim rule (to 1e-9, or 1e-12 in mass per type)."""
        return self.implementation_error <= 1e-9 or self.implementation_mass_error <= 1e-12

    def passed(self, participation: str | None = None, tol: float = 1e-7, budget_balance: bool = False) -> bool:
        eps = tol * self.scale
        ok = self.implemented() and self.max_regret <= eps and self.ir_gap <= eps
        if self.expost is not None:
            ok &= self.expost.max_regret <= eps
        return bool(ok)

    def to_dict(self) -> dict:
        d = {"implementation_error": self.implementation_error, "payment_error": self.payment_error,
             "implementation_mass_error": self.implementation_mass_error,
             "max_regret": self.max_regret, "ir_violation": {self.participation: self.ir_gap},
             "scale": self.scale, "passed": self.passed(), "notes": list(self.notes)}
        if self.expost is not None:
            d["expost_verifier"] = self.expost.to_dict()
        return d

    def summary_lines(self) -> list[str]:
        lines = [f"verification (interim): implementation error {self.implementation_error:.3g}, "
                 f"max IC regret {self.max_regret:.3g}, {self.participation} IR violation {self.ir_gap:.3g}; "
                 f"payoff scale {self.scale:g}"]
        if self.expost is not None:
            lines.append(f"verification (ex post, every profile): max IC regret {self.expost.max_regret:.3g}, "
                         f"interim IR violation {self.expost.ir_violation('interim'):.3g}")
        lines += [f"note: {n}" for n in self.notes]
        return lines


class ReducedFormMechanism(Mechanism):
    """An auction given by an interim rule and a lottery over priority rules (module docstring).

    Implements the package's mechanism protocol (:class:`dmd_opt.mechanisms.base.Mechanism`)
    with ``form = "interim"``: ``at(profile)`` evaluates the ex-post rule at one type profile
    (``("H", "L")``, ``"(H,L)"`` or type indices); nothing else enumerates profiles.
    """

    form = "interim"

    def __init__(self, data, Q: np.ndarray, T: np.ndarray, mixture: PriorityMixture,
                 payments: str = "winner_pays", participation: str = "interim", name: str | None = None):
        self.data = data
        self.env = data.env
        self.border = data.border
        self.Q_program = np.asarray(Q, float)
        self.T_program = np.asarray(T, float)
        self.mixture = mixture
        self.payments = payments
        self.participation = participation
        self.name = name or f"optimal auction (reduced form, {payments.replace('_', ' ')} payments)"
        self._Q = None

    # ---- interim rule -----------------------------------------------------------------
    @property
    def Q(self) -> np.ndarray:
        """Interim allocation of the implementation (products over bidders)."""
        if self._Q is None:
            self._Q = self.border.interim(self.mixture)
        return self._Q

    @property
    def T(self) -> np.ndarray:
        """Interim expected payment of the implementation."""
        if self.payments == "interim":
            return self.T_program.copy()
        Qp = self.Q_program
        ratio = np.where(Qp > 1e-12, self.T_program / np.where(Qp > 1e-12, Qp, 1.0), 0.0)
        return np.where(Qp > 1e-12, ratio * self.Q, self.T_program)

    @property
    def allocation(self) -> list[np.ndarray]:
        """The program's interim allocation Q as one row (pairs bidder by bidder), for comparisons."""
        return [self.Q_program[None, :]]

    def _split(self, a: np.ndarray) -> list[np.ndarray]:
        off = self.data.offsets
        return [a[off[i]:off[i] + self.data.values[i].size] for i in range(self.data.N)]

    def interim_utility(self) -> list[np.ndarray]:
        """U_i(θ) = v_i(θ) Q_i(θ) − T_i(θ), per bidder."""
        return self._split(self.data.value * self.Q - self.T)

    # ---- Mechanism protocol -------------------------------------------------------------
    def revenue(self) -> float:
        """Expected payments minus the principal's cost of the units sold."""
        f = self.data.f
        return float(f @ self.T - self.data.cost * (f @ self.Q))

    def welfare(self) -> float:
        f = self.data.f
        return float(f @ ((self.data.value - self.data.cost) * self.Q))

    def rents(self) -> list[np.ndarray]:
        return self.interim_utility()

    def at(self, profile) -> Rule:
        """The ex-post rule at a type profile: probabilities of the decisions and the payments."""
        d = self.data
        if isinstance(profile, (str, tuple, list)) and not all(isinstance(v, (int, np.integer)) for v in profile):
            one = isinstance(profile, (tuple, list)) and len(profile) == d.N and all(isinstance(v, str) for v in profile)
            digits = self.env.parse_history((tuple(profile),) if one else profile)
            if digits.shape[0] != 1:
                raise KeyError("a one-period auction has histories of one profile")
            prof = digits[0]
        else:
            prof = np.asarray(profile, np.int64).ravel()
        if prof.size != d.N or np.any(prof < 0) or np.any(prof >= [v.size for v in d.values]):
            raise KeyError(f"a profile has one type per bidder ({d.N})")
        x = self.border.allocate(self.mixture, prof[None, :])[0]
        p = self._payments(prof[None, :], x[None, :])[0]
        names = tuple(ag.name for ag in self.env.agents)
        if d.units == 1:
            decisions = tuple(self.env.decisions(0))
            alloc = np.r_[max(0.0, 1.0 - float(x.sum())), x]
        else:
            decisions = tuple(f"unit to {nm}" for nm in names)
            alloc = x
        prob = float(np.prod([d.probs[i][prof[i]] for i in range(d.N)]))
        return Rule(1, self.env.history_label(prof[None, :]), decisions, alloc, p, names, prob)

    def describe(self) -> dict:
        d = self.data
        return {"form": self.form, "bidders": d.N, "types": d.M, "units": d.units,
                "rules": len(self.mixture.ranks), "payments": self.payments.replace("_", " ")}

    def _payments(self, prof: np.ndarray, x: np.ndarray) -> np.ndarray:
        pair = self.data.offsets[None, :] + prof
        T = self.T_program[pair]
        if self.payments == "interim":
            return T
        Qp = self.Q_program[pair]
        served = Qp > 1e-12
        return np.where(served, x * T / np.where(served, Qp, 1.0), T)

    def to_frame(self):
        """One row per (bidder, type): value, probability, Q (program, implemented), T, U."""
        import pandas as pd
        d = self.data
        bidder = np.repeat(np.arange(d.N) + 1, [v.size for v in d.values])
        typ = np.concatenate([np.arange(v.size) for v in d.values])
        return pd.DataFrame({"bidder": bidder, "type": typ, "value": d.value, "probability": d.f,
                             "Q": self.Q_program, "Q_implemented": self.Q, "T": self.T_program,
                             "U": d.value * self.Q - self.T})

    def implementation_record(self) -> dict:
        """The lottery over priority rules, JSON-ready (classes per pair; −1 never served)."""
        return {"weights": [float(w) for w in self.mixture.weights],
                "ranks": [np.asarray(r).astype(int).tolist() for r in self.mixture.ranks]}

    def to_dict(self, max_pairs: int = 20_000) -> dict:
        d = self.data
        out = {"name": self.name, "kind": "reduced_form", "payments": self.payments, "units": d.units,
               "revenue": self.revenue(), "welfare": self.welfare(),
               "rules": len(self.mixture.ranks)}
        if d.M <= max_pairs:
            out["interim"] = [{"bidder": i + 1, "values": d.values[i].tolist(),
                               "Q": q.tolist(), "T": t.tolist()}
                              for i, (q, t) in enumerate(zip(self._split(self.Q_program),
                                                             self._split(self.T_program)))]
            out["implementation"] = self.implementation_record()
        return out

    def to_tree_mechanism(self, limit: int = 200_000):
        """The ex-post rule over every profile as a TreeMechanism (one unit; small sizes only)."""
        from dmd_opt.mechanisms.tree import TreeMechanism
        d = self.data
        if d.units != 1:
            raise ValueError("the profile form of a k-unit auction is not an 'allocate' mechanism")
        if d.n_profiles > limit:
            raise ValueError(f"{d.n_profiles:.3g} profiles exceed the limit {limit}")
        shape = [v.size for v in d.values]
        prof = np.stack(np.unravel_index(np.arange(int(d.n_profiles)), shape), axis=1)
        x = self.border.allocate(self.mixture, prof)
        alloc = np.concatenate([np.clip(1.0 - x.sum(axis=1, keepdims=True), 0.0, 1.0), x], axis=1)
        return TreeMechanism(self.env, [alloc], [self._payments(prof, x)], name=self.name,
                             meta={"program": "reduced_form"})

    def verify(self, notion: str = "interim", profile_limit: int = 20_000) -> InterimCheck:
        """Interim checks (always) and the profile verifier (when profiles ≤ ``profile_limit``).

        ``notion``: ``"interim"``/``"bayesian"`` (Bayesian IC and the participation notion) or
        ``"expost"`` (then the profile verifier checks ex-post IC, i.e. dominant strategies —
        which the priority lottery need not have: the reduced form imposes Bayesian IC).
        """
        d = self.data
        Qi = self.Q
        Ti = self.T
        regret = 0.0
        ir_min = np.inf
        ir_ex_ante = 0.0
        for i in range(d.N):
            e = slice(d.offsets[i], d.offsets[i] + d.values[i].size)
            v = d.values[i]
            U = v[:, None] * Qi[e][None, :] - Ti[e][None, :]          # U[θ, r]
            truth = np.diag(U)
            regret = max(regret, float(np.max(U.max(axis=1) - truth)))
            ir_min = min(ir_min, float(truth.min()))
            ir_ex_ante = min(ir_ex_ante, float(d.probs[i] @ truth))
        if self.participation == "ex_ante":
            irv = max(0.0, -ir_ex_ante)
        elif self.participation == "none":
            irv = 0.0
        else:
            irv = max(0.0, -ir_min)
        scale = max(1.0, float(self.env.payoff_scale))
        check = InterimCheck(float(np.max(np.abs(Qi - self.Q_program))) if Qi.size else 0.0,
                             float(np.max(np.abs(Ti - self.T_program))) if Ti.size else 0.0,
                             regret, irv, float(d.units), scale,
                             "interim" if self.participation in ("expost", "ex_post", "periodic") else self.participation,
                             implementation_mass_error=float(np.max(d.f * np.abs(Qi - self.Q_program)))
                             if Qi.size else 0.0)
        if notion not in ("interim", "bayesian", "expost"):
            raise ValueError("notion must be 'interim', 'bayesian' or 'expost'")
        if d.units == 1 and d.n_profiles <= profile_limit:
            from dmd_opt.verify import verify as run_verify
            check.expost = run_verify(self.to_tree_mechanism(profile_limit),
                                      notion="expost" if notion == "expost" else "bayesian")
        elif d.units == 1:
            check.notes.append(f"{d.n_profiles:.3g} profiles: the profile verifier was not run "
                               f"(limit {profile_limit:,}); the interim checks above use exact products over bidders")
        if self.payments == "winner_pays" and self.participation != "none":
            check.notes.append("winner-pays payments: interim IR of every type implies ex-post IR")
        return check
