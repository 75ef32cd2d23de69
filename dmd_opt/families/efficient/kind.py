r"""Model kind ``efficient``: efficient dynamic mechanisms from a model file (docs/theory.md#efficient-dynamic-mechanisms).

A file with ``kind = "efficient"`` holds an environment (the fields of
:meth:`dmd_opt.core.environment.Environment.from_dict`) — or, for the correlated-types
counter-example, the same fields plus ``joint_initial`` / ``joint_transition``
(:func:`dmd_opt.families.efficient.joint.correlated_from_dict`) — and a ``[solve]`` table:

``mechanism``
    ``"pivot"``, ``"team"``, ``"balanced"``, ``"balanced_history"``, ``"agv"`` or ``"all"``
    (default; the mechanisms defined for the model).
``horizon_method``
    how χ* is computed on a stationary infinite horizon: ``policy_iteration`` (default),
    ``value_iteration``, ``modified_policy_iteration``, ``lp`` or ``blackwell``.
``self_enforcement``
    ``true`` to add the Athey–Segal Proposition 3 report (stationary models).
``delta``
    evaluate the self-enforcement direct check at this discount factor.
``tie_break``
    how χ* chooses among tied efficient decisions: ``"lowest"`` (default), ``"highest"``,
    ``"uniform"`` (a fair lottery; transfers follow the randomised policy) or a list of decision
    labels (:mod:`dmd_opt.dp.ties`).
``backend``, ``solver``
    the LP backend for ``horizon_method = "lp"`` (highs | cvxpy | pyomo).

The result carries χ*, each mechanism (finite horizons: a
:class:`~dmd_opt.mechanisms.tree.TreeMechanism`; stationary: a
:class:`~dmd_opt.mechanisms.markov.MarkovMechanism`) and its verification
(:mod:`dmd_opt.verify.expost`: Bayesian IC, within-period and periodic ex-post IC,
per-period budget).  ``objective`` is the expected efficient welfare
:math:`E[W_0(\theta_0)]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dmd_opt.core.model import unravel
from dmd_opt.core import validation as V
from dmd_opt.core.environment import Environment
from dmd_opt.core.display import fmt, result_html, result_repr
from dmd_opt.core.errors import ModelError
from dmd_opt.core.record import result_record, verification_record
from dmd_opt.core import joint as J
from dmd_opt.core.kinds import register_kind
from dmd_opt.core.truthful import markov_tree_arrays, tree_node_probabilities
from dmd_opt.dp import ties
from dmd_opt.mechanisms.markov import JointTreeMechanism
from dmd_opt.verify.expost import tree_view, verify_dynamic
from dmd_opt.families.efficient.agv import agv_markov, agv_tree
from dmd_opt.families.efficient.balanced import balanced_markov, balanced_tree
from dmd_opt.families.efficient.pivot import pivot_mechanism
from dmd_opt.families.efficient.policy import METHODS, EfficientPolicy, efficient_policy
from dmd_opt.families.efficient.self_enforcement import self_enforcement_report
from dmd_opt.families.efficient.team import team_mechanism

MECHANISMS = ("pivot", "team", "balanced", "balanced_history", "agv")
OPTIONS = ("mechanism", "horizon_method", "self_enforcement", "delta", "backend", "solver", "tie_break")

# the property each construction claims, checked by the verifier (the static AGV mechanism is
# the counter-example: only its budget balance is claimed; its IC regret is reported)
CLAIMS = {"team": ("bayes", "expost"), "pivot": ("bayes", "expost"), "balanced": ("bayes", "budget"),
          "balanced_history": ("bayes", "budget"), "agv": ("budget",)}


def parse(data: dict) -> J.JointModel:
    """Validate the file's fields into a :class:`~dmd_opt.families.efficient.joint.JointModel`.

    Optional ``pivot_outside``: one list of decision labels per agent — the decisions the
    others can take without that agent (its exclusion in the pivot's :math:`W_{-i}`); an
    empty list or omitted agent entry keeps every decision.
    """
    data = dict(data)
    outside = data.pop("pivot_outside", None)
    if "joint_initial" in data or "joint_transition" in data:
        m = J.correlated_from_dict(data)
    else:
        m = J.from_environment(Environment.from_dict(data))
    if outside is not None:
        rows = V.sequence(outside, "pivot_outside")
        if len(rows) != m.N:
            raise ModelError("pivot_outside", f"gives {len(rows)} agents, the model has {m.N}")
        labels = list(m.decision_labels[0])
        if any(tuple(lab) != tuple(labels) for lab in m.decision_labels):
            raise ModelError("pivot_outside", "needs the same decision labels in every period")
        opts = []
        for i, row in enumerate(rows):
            names = V.sequence(row, f"pivot_outside[{i}]", nonempty=False) if row else []
            idx = []
            for k, nm in enumerate(names):
                if nm not in labels:
                    raise ModelError(f"pivot_outside[{i}][{k}]", f"unknown decision {nm!r}")
                idx.append(labels.index(nm))
            opts.append(idx or None)
        m.meta["outside_options"] = opts
    return m


@dataclass
class EfficientVerification:
    """Verification reports of every mechanism, with one pass/fail verdict for the CLI."""

    reports: dict[str, Any]
    claims: dict[str, tuple[str, ...]]
    scale: float

    def failures(self, tol: float = 1e-7) -> list[str]:
        eps = tol * self.scale
        out = []
        for name, rep in self.reports.items():
            c = self.claims[name]
            if "bayes" in c and rep.bayes_max_regret_on_path > eps:
                out.append(f"{name}: Bayesian IC regret {rep.bayes_max_regret_on_path:.3g}")
            if "expost" in c and rep.expost_max_regret > eps:
                out.append(f"{name}: ex-post IC regret {rep.expost_max_regret:.3g}")
            if "budget" in c and rep.budget_max_imbalance > eps:
                out.append(f"{name}: budget imbalance {rep.budget_max_imbalance:.3g}")
        return out

    def passed(self, participation=None, tol: float = 1e-7, budget_balance: bool = False) -> bool:
        return not self.failures(tol)

    @property
    def max_regret(self) -> float:
        return max(r.bayes_max_regret for r in self.reports.values())

    def max_claimed_regret(self) -> float | None:
        """Largest regret among the notions the mechanisms claim (Bayesian on path, periodic
        ex post); ``None`` when no mechanism claims incentive compatibility."""
        vals = []
        for name, rep in self.reports.items():
            c = self.claims[name]
            if "bayes" in c:
                vals.append(rep.bayes_max_regret_on_path)
            if "expost" in c:
                vals.append(rep.expost_max_regret)
        return max(vals) if vals else None

    def to_dict(self, tol: float = 1e-7) -> dict:
        """The record's ``verification``: each mechanism's claims checked at ``tol`` × scale."""
        return verification_record(
            self.max_claimed_regret(), self.passed(tol=tol), notion="claims", tolerance=tol, scale=self.scale,
            failures=self.failures(tol),
            mechanisms={k: {"claims": list(self.claims[k]), **v.to_dict()} for k, v in self.reports.items()})

    def summary_lines(self) -> list[str]:
        lines = []
        for k, v in self.reports.items():
            lines.append(f"{k}: claims {', '.join(self.claims[k])}")
            lines += ["  " + s for s in v.summary_lines()]
        f = self.failures()
        lines.append("all claims verified" if not f else "failed: " + "; ".join(f))
        return lines


@dataclass
class EfficientResult:

    __repr__ = result_repr
    _repr_html_ = result_html
    status: str
    objective: float | None
    model: J.JointModel
    policy: EfficientPolicy | None
    mechanisms: dict[str, Any] = field(default_factory=dict)
    verification: EfficientVerification | None = None
    self_enforcement: Any = None
    options: dict = field(default_factory=dict)
    message: str = ""

    @property
    def mechanism(self):
        """The first mechanism (the one asked for, when only one was)."""
        return next(iter(self.mechanisms.values()), None)

    def verification_dict(self, tol: float = 1e-7) -> dict | None:
        """The record's ``verification`` at relative tolerance ``tol``."""
        return None if self.verification is None else self.verification.to_dict(tol)

    def to_dict(self) -> dict:
        """The result record (``docs/result.schema.json``) of kind ``efficient``: ``mechanism`` is
        the first mechanism, ``mechanisms`` all of them by name."""
        m = self.model
        out: dict[str, Any] = {"agents": m.agent_names, "horizon": "infinite" if m.stationary else m.horizon,
                               "discount": m.discount, "independent_types": m.independent}
        if self.policy is not None:
            p = self.policy
            labels = [m.decision_labels[0 if m.stationary else t] for t in range(len(p.decision))]
            out["policy"] = {"method": p.method, "iterations": p.iterations,
                             "decision_by_profile": [[labels[t][a] for a in d] for t, d in enumerate(p.decision)],
                             "welfare_by_profile": [v.tolist() for v in p.values[:len(p.decision)]],
                             **{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in p.info.items()}}
            if p.tie_break.randomised:      # decision_by_profile then holds representatives
                out["policy"]["lottery_by_profile"] = [
                    [{labels[t][a]: float(row[a]) for a in np.flatnonzero(row > 0)} for row in x]
                    for t, x in enumerate(p.lottery)]
        mech = {}
        for k, mm in self.mechanisms.items():
            rec = {"name": getattr(mm, "name", k) or k, "revenue": _call(mm, "revenue"),
                   "welfare": _call(mm, "welfare")}
            if self.verification is not None and k in self.verification.reports:
                rec["revenue"] = self.verification.reports[k].revenue
                rec["welfare"] = self.verification.reports[k].welfare
            rec["rules"] = mm.to_dict() if m.stationary else tree_rules(mm)
            mech[k] = rec
        out["mechanisms"] = mech
        if self.self_enforcement is not None:
            out["self_enforcement"] = self.self_enforcement.to_dict()
        return result_record("efficient", self.status, self.objective, verification=self.verification_dict(),
                             mechanism=next(iter(mech.values()), None), options=self.options,
                             model={"name": m.name}, message=self.message, **out)

    def summary(self) -> list[str]:
        m = self.model
        lines = [f"efficient mechanisms for {m.name!r}: {m.N} agents, "
                 f"{'stationary infinite horizon' if m.stationary else f'{m.horizon} periods'}, δ = {m.discount:g}"
                 + ("" if m.independent else " (correlated types)"),
                 f"status {self.status}; expected efficient welfare {self.objective:.6g}"
                 + (f" (χ* by {self.policy.method}, {self.policy.iterations} iterations)" if self.policy else "")]
        if self.policy is not None and self.policy.info.get("tied_profiles"):
            lines.append(f"{self.policy.info['tied_profiles']} profile(s) with tied efficient decisions; "
                         + self.policy.tie_break.describe())
        if self.message:
            lines.append(self.message)
        for k, mm in self.mechanisms.items():
            rep = self.verification.reports.get(k) if self.verification else None
            if rep is None:
                continue
            lines.append(f"{k:17s} revenue {rep.revenue:10.5g}  welfare {rep.welfare:10.5g}  "
                         f"BIC regret {fmt(rep.bayes_max_regret_on_path, 2, rep.scale)}  ex-post regret "
                         f"{fmt(rep.expost_max_regret, 2, rep.scale)}  max |Σp−c| {fmt(rep.budget_max_imbalance, 2, rep.scale)}")
        if self.verification is not None:
            f = self.verification.failures()
            lines.append("verifier: every claimed property holds" if not f else "verifier: " + "; ".join(f))
        if self.self_enforcement is not None:
            lines += self.self_enforcement.summary_lines()
        return lines


def tree_rules(mech, max_nodes: int = 5_000) -> dict:
    """JSON-ready rules of a tree mechanism by period (histories, truthful probabilities,
    allocation, payments), with node probabilities that follow decision-dependent transitions."""
    m, alloc, pay = tree_view(mech)
    probs = tree_node_probabilities(m, alloc)
    env = m.env

    def label(i, t, k):
        return m.type_labels(i, t)[k]

    out = {"name": getattr(mech, "name", ""), "disclosure": "public", "periods": []}
    for t in range(len(alloc)):
        K = alloc[t].shape[0]
        if K > max_nodes:
            out["truncated_after_period"] = t
            break
        dims = [n for s in range(t + 1) for n in m.profile_shape(s)]
        dig = np.stack(unravel(np.arange(K), dims), axis=-1).reshape(K, t + 1, m.N)
        hist = ["|".join("(" + ",".join(label(i, s, row[s, i]) for i in range(m.N)) + ")" for s in range(t + 1))
                for row in dig]
        out["periods"].append({"period": t + 1, "decisions": list(m.decision_labels[t]), "histories": hist,
                               "probability": probs[t].tolist(), "allocation": alloc[t].tolist(),
                               "payments": pay[t].tolist()})
    return out


def _call(obj, name):
    f = getattr(obj, name, None)
    try:
        return float(f()) if callable(f) else None
    except Exception:  # e.g. lead's tree evaluation with decision-dependent transitions
        return None


def build_mechanisms(model: J.JointModel, which, policy: EfficientPolicy) -> dict[str, Any]:
    """Construct the requested mechanisms (finite horizons on the tree, stationary as Markov)."""
    out: dict[str, Any] = {}
    team = team_mechanism(model, policy=policy)

    def finite(mm):
        if model.env is not None:
            return mm.to_tree()
        a, p = markov_tree_arrays(model, mm.allocation, mm.payments)
        return JointTreeMechanism(model, a, p, name=mm.name)

    for k in which:
        if k == "team":
            mm = team
        elif k == "pivot":
            mm = pivot_mechanism(model, policy=policy)
        elif k == "balanced":
            mm = balanced_markov(team)
        elif k == "balanced_history":
            out[k] = balanced_tree(finite(team))
            continue
        elif k == "agv":
            if model.stationary:
                out[k] = agv_markov(team)
            else:
                out[k] = agv_tree(finite(team))
            continue
        out[k] = mm if model.stationary else finite(mm)
    return out


def available(model: J.JointModel) -> tuple[str, ...]:
    got = ["team"]
    if model.independent:
        got.append("pivot")
    if model.N >= 2:
        got.append("balanced")
        if not model.stationary:
            got.append("balanced_history")
    if model.N >= 2 and model.independent:
        got.append("agv")
    return tuple(got)


def solve(model: J.JointModel, mechanism: str = "all", horizon_method: str = "policy_iteration",
          self_enforcement: bool = False, delta: float | None = None, backend: str = "highs",
          solver: str | None = None, tie_break=None, **other) -> EfficientResult:
    """Solve an ``efficient`` model (see module docstring).  ``backend``/``solver`` serve the
    ``lp`` horizon method; revenue-program options (participation, disclosure …) do not apply."""
    for k, v in other.items():
        if v is not None:
            raise ModelError(f"solve.{k}", f"is not an option of efficient models; allowed: {', '.join(OPTIONS)}")
    if delta is not None:
        delta = V.real(delta, "solve.delta", lo=0, hi=1, lo_open=True, hi_open=True)
    if not isinstance(self_enforcement, bool):
        raise ModelError("solve.self_enforcement", "expected true or false")
    if horizon_method not in METHODS:
        raise ModelError("solve.horizon_method", f"unknown method {horizon_method!r}; choose one of {', '.join(METHODS)}")
    avail = available(model)
    if mechanism == "all":
        which = avail
    else:
        which = tuple(s.strip() for s in str(mechanism).split(","))
        for w in which:
            if w not in MECHANISMS:
                raise ModelError("solve.mechanism", f"unknown mechanism {w!r}; choose from {', '.join(MECHANISMS)} or 'all'")
            if w not in avail:
                raise ModelError("solve.mechanism", f"{w!r} is not defined for this model "
                                 f"(available: {', '.join(avail)})")
    if tie_break is not None:         # checked here: a bad rule is bad input (exit 2), not a failed solve
        tie_break = ties.tie_break(tie_break, labels=model.decision_labels).spec
    opts = {"mechanism": mechanism, "horizon_method": horizon_method, "self_enforcement": self_enforcement,
            "delta": delta, "tie_break": tie_break if tie_break is not None else "lowest"}
    try:
        policy = efficient_policy(model, method=horizon_method, backend=backend, solver=solver,
                                  tie_break=tie_break)
    except ModelError:
        raise
    except ValueError as exc:
        return EfficientResult("error", None, model, None, options=opts, message=str(exc))
    if not policy.info.get("converged", True):
        return EfficientResult("iteration_limit", policy.expected_welfare(), model, policy, options=opts,
                               message=f"{horizon_method} did not converge")
    mechs = build_mechanisms(model, which, policy)
    reps = {k: verify_dynamic(mm) for k, mm in mechs.items()}
    ver = EfficientVerification(reps, {k: CLAIMS[k] for k in reps}, model.payoff_scale)
    se = None
    if self_enforcement:
        se = self_enforcement_report(model, delta=delta)
    return EfficientResult("optimal", policy.expected_welfare(), model, policy, mechs, ver, se, opts)


def register_kinds() -> None:
    register_kind("efficient", parse, solve, options=OPTIONS,
                  description="efficient dynamic mechanisms: team, dynamic pivot, balanced team "
                              "(Athey-Segal), static AGV; efficient policy by DP; ex-post verification")
