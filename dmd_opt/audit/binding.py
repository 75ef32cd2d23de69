r"""Constraint audit of a solved labelled program (docs/theory.md#audit-verification-and-certificates).

For every row :math:`r` of a :class:`~dmd_opt.optim.program.Program` with bounds
:math:`\ell_r \le a_r^\top x \le u_r` the audit reports its activity, its
slack :math:`\min(a_r^\top x-\ell_r,\;u_r-a_r^\top x)` (distance to the nearest
finite bound), its dual value (the package convention:
:math:`\partial\,\text{objective}^*/\partial(\text{active bound})` in the
program's own sense) and a *binding* flag: slack :math:`\le \varepsilon`, with
:math:`\varepsilon = \text{tol}\times\text{scale}` and ``scale`` the program's
payoff scale (``program.meta["payoff_scale"]``, the largest |utility| or
|cost|).  A binding row with a dual of magnitude :math:`> \varepsilon_d`
(``tol`` × objective scale) is *strictly* binding: relaxing it would change the
optimum; a binding row with a zero dual is *weakly* binding (it holds with
equality at the returned solution, but need not — see :mod:`dmd_opt.audit.face`).

The summaries a designer reads come from the row labels only (the audit never
imports a designer program):

* binding ``IC`` rows (true type :math:`\theta`, report :math:`r`) by pattern:
  *downward* (a higher type mimicking a lower one, :math:`v(\theta) > v(r)`,
  read from ``program.meta["type_values"][agent][period]`` when present, else by
  type index), *upward*, *adjacent* (:math:`|\theta-r|=1` in the type order) or
  not, by period (the history depth of a period-:math:`t` node is :math:`t`
  earlier reports), by agent;
* binding participation rows (``IR_*``), promise keeping (``PK*``) and any other
  inequality family;
* shadow prices in economic units, as sentences.

Classic patterns (tests): static monopoly — downward adjacent IC and the lowest
type's IR bind (Myerson 1981; Mussa & Rosen 1978); Battaglini (2005) — the
high type's IC toward the low report binds at t = 1.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dmd_opt.core.display import fmt
from dmd_opt.optim.program import LABEL_FIELDS, Program
from dmd_opt.optim.solution import Solution

DEFAULT_TOL = 1e-7
PARTICIPATION_PREFIXES = ("IR", "participation")
PROMISE_PREFIXES = ("PK", "promise")


def row_name(labels: dict, r: int) -> str:
    """A readable label of row ``r``: family and every applicable label.

    Agents, periods, histories and types are counted from 1, as in all human output
    (the Program's labels and the JSON rows count from 0); ``r`` is the row's index.
    """
    parts = [str(labels["family"][r])]
    for k, word in (("agent", "agent"), ("period", "period"), ("history", "history"),
                    ("true_type", "true type"), ("report", "report")):
        v = int(labels[k][r])
        if v >= 0:
            parts.append(f"{word} {v + 1}")
    return f"row {r} (" + ", ".join(parts) + ")"


def _objective_name(program: Program) -> str:
    obj = program.meta.get("objective")
    if isinstance(obj, dict):
        active = [k for k, v in obj.items() if v]
        if active == ["revenue"]:
            return "expected revenue"
        if active == ["welfare"]:
            return "expected welfare"
        return "the objective (" + " + ".join(f"{obj[k]:g}×{k}" for k in active) + ")"
    if isinstance(obj, str):
        return f"expected {obj}"
    return "the objective"


@dataclass
class Audit:
    """Per-row slack, dual and binding flag of a solved program, with summaries."""

    program: Program
    solution: Solution
    tol: float
    scale: float
    eps: float
    eps_dual: float
    columns: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    # ---- tables ----------------------------------------------------------------
    def to_frame(self):
        """One row per constraint: labels, activity, bounds, slack, dual, binding."""
        import pandas as pd
        return pd.DataFrame(self.columns)

    def rows(self, family: str | None = None, binding: bool | None = None) -> np.ndarray:
        m = np.ones(len(self.columns["family"]), bool)
        if family is not None:
            m &= self.columns["family"] == family
        if binding is not None:
            m &= self.columns["binding"] == binding
        return np.nonzero(m)[0]

    # ---- summaries -------------------------------------------------------------
    @property
    def farkas(self) -> bool:
        return bool(self.meta.get("farkas"))

    def summary(self) -> dict:
        """Binding rows by family and IC pattern, participation rows, shadow prices.

        For an infeasible program: the rows of the Farkas combination, by family
        and IC pattern, largest multiplier first.
        """
        C = self.columns
        if self.farkas:
            fam = C["family"]
            inray = C["binding"]
            out = {"status": self.solution.status, "objective": None,
                   "farkas": {"rows": int(inray.sum()),
                              "by_family": {str(f): int((inray & (fam == f)).sum()) for f in dict.fromkeys(fam.tolist())
                                            if (inray & (fam == f)).any()},
                              "largest": self._listing(inray, limit=20)}}
            if np.any(inray & (fam == "IC")):
                out["farkas"]["IC"] = self._ic_patterns(inray & (fam == "IC"))
            return out
        fam = C["family"]
        out: dict[str, Any] = {
            "tolerances": {"binding_slack": self.eps, "nonzero_dual": self.eps_dual, "tol": self.tol,
                           "payoff_scale": self.scale,
                           "rule": f"a row binds when its slack ≤ {self.tol:g} × payoff scale {self.scale:g}"},
            "objective": self.solution.objective, "status": self.solution.status,
            "families": {}}
        for f in dict.fromkeys(fam.tolist()):
            m = fam == f
            eq = C["lo"][m] == C["hi"][m]
            out["families"][f] = {"rows": int(m.sum()), "equality_rows": int(eq.sum()),
                                  "binding": int(C["binding"][m].sum()),
                                  "binding_inequalities": int((C["binding"][m] & ~eq).sum()),
                                  "nonzero_dual": int((np.abs(C["dual"][m]) > self.eps_dual).sum())}
        ic = (fam == "IC") & C["binding"]
        if np.any(fam == "IC"):
            out["IC"] = self._ic_patterns(ic)
        part = np.array([str(f).startswith(PARTICIPATION_PREFIXES) for f in fam], bool)
        if part.any():
            out["participation"] = self._listing(part & C["binding"])
        pk = np.array([str(f).startswith(PROMISE_PREFIXES) for f in fam], bool)
        if pk.any():
            out["promise_keeping"] = self._listing(pk & C["binding"])
        out["shadow_prices"] = self.shadow_prices()
        return out

    def _type_value(self, agent: int, period: int, k: int):
        tv = self.program.meta.get("type_values")
        try:
            return float(np.asarray(tv[agent][period])[k])
        except (TypeError, IndexError, KeyError, ValueError):
            return None

    def direction(self, r: int) -> str:
        """``downward`` / ``upward`` / ``same value`` for an IC row (type values, else indices)."""
        C = self.columns
        a, t, th, rep = (int(C[k][r]) for k in ("agent", "period", "true_type", "report"))
        vt, vr = self._type_value(a, t, th), self._type_value(a, t, rep)
        if vt is None or vr is None:
            vt, vr = th, rep
        return "downward" if vt > vr else ("upward" if vt < vr else "same value")

    def _ic_patterns(self, mask: np.ndarray) -> dict:
        C = self.columns
        idx = np.nonzero(mask)[0]
        by = {k: Counter() for k in ("direction", "adjacency", "pattern", "period", "agent", "history_depth")}
        strict = Counter()
        for r in idx.tolist():
            d = self.direction(r)
            adj = "adjacent" if abs(int(C["true_type"][r]) - int(C["report"][r])) == 1 else "non-adjacent"
            by["direction"][d] += 1
            by["adjacency"][adj] += 1
            by["pattern"][f"{d} {adj}"] += 1
            by["period"][int(C["period"][r])] += 1
            by["history_depth"][max(int(C["period"][r]), 0)] += 1
            by["agent"][int(C["agent"][r])] += 1
            if abs(C["dual"][r]) > self.eps_dual:
                strict[f"{d} {adj}"] += 1
        total_by_period = Counter(int(p) for p in C["period"][C["family"] == "IC"])
        histories = defaultdict(set)
        for r in idx.tolist():
            histories[int(C["period"][r])].add(int(C["history"][r]))
        return {"binding": int(idx.size), "rows": int(np.sum(C["family"] == "IC")),
                "by_direction": dict(by["direction"]), "by_adjacency": dict(by["adjacency"]),
                "by_pattern": dict(by["pattern"]), "strictly_binding_by_pattern": dict(strict),
                "by_period": {str(k): v for k, v in sorted(by["period"].items())},
                "rows_by_period": {str(k): v for k, v in sorted(total_by_period.items())},
                "histories_with_binding_IC_by_period": {str(k): len(v) for k, v in sorted(histories.items())},
                "by_history_depth": {str(k): v for k, v in sorted(by["history_depth"].items())},
                "by_agent": {str(k): v for k, v in sorted(by["agent"].items())}}

    def _listing(self, mask: np.ndarray, limit: int = 50) -> list[dict]:
        C = self.columns
        idx = np.nonzero(mask)[0]
        idx = idx[np.argsort(-np.abs(C["dual"][idx]), kind="stable")][:limit]
        return [{"row": int(r), "family": str(C["family"][r]),
                 **{k: int(C[k][r]) for k in LABEL_FIELDS}, "slack": float(C["slack"][r]),
                 "dual": float(C["dual"][r])} for r in idx]

    def shadow_prices(self, limit: int = 12) -> list[dict]:
        """Sentences for the inequality rows with the largest |dual| (economic units)."""
        C = self.columns
        ineq = (C["lo"] != C["hi"]) & (np.abs(C["dual"]) > self.eps_dual)
        idx = np.nonzero(ineq)[0]
        idx = idx[np.argsort(-np.abs(C["dual"][idx]), kind="stable")][:limit]
        return [{"row": int(r), "family": str(C["family"][r]), "dual": float(C["dual"][r]),
                 "sentence": self._sentence(int(r))} for r in idx]

    def _type_text(self, a: int, t: int, k: int) -> str:
        v = self._type_value(a, t, k)
        return f"type {k + 1}" + (f" (value {v:g})" if v is not None else "")

    def _sentence(self, r: int) -> str:
        C = self.columns
        f = str(C["family"][r])
        a, t, h, th, rep = (int(C[k][r]) for k in ("agent", "period", "history", "true_type", "report"))
        d = float(C["dual"][r])
        objn = _objective_name(self.program)
        sense = self.program.sense
        lower_active = C["activity"][r] - C["lo"][r] <= C["hi"][r] - C["activity"][r]
        # a one-unit tightening of a ≥ row raises its lower bound: Δobj = dual;
        # of a ≤ row lowers its upper bound: Δobj = −dual.
        delta = d if lower_active else -d
        cost = -delta if sense == "max" else delta
        verb = "costs" if cost > 0 else "would raise"
        amount = abs(delta)
        where = f"period {t + 1}" + (f", history {h + 1}" if h >= 0 else "") if t >= 0 else ""
        who = f"agent {a + 1}" if a >= 0 else "the designer"
        if f == "IC" and th >= 0 and rep >= 0:
            what = (f"making {who}'s {self._type_text(a, max(t, 0), th)} prefer the truth to reporting "
                    f"{self._type_text(a, max(t, 0), rep)} by one more unit of payoff ({where})")
        elif f.startswith(PARTICIPATION_PREFIXES):
            whom = f"{who}'s {self._type_text(a, max(t, 0), th)}" if th >= 0 else who
            what = f"one more unit of guaranteed rent for {whom} ({f}, {where})"
        elif f.startswith(PROMISE_PREFIXES):
            what = f"promising {who} one more unit of continuation value ({f}, {where})"
        else:
            what = f"tightening {row_name(C, r)} by one unit"
        return f"{what[0].upper()}{what[1:]} {verb} {amount:.6g} of {objn}."

    def summary_lines(self) -> list[str]:
        s = self.summary()
        if self.farkas:
            f = s["farkas"]
            lines = [f"{self.program.name} is {s['status']}: a Farkas combination of {f['rows']} labelled rows "
                     "proves that no solution exists",
                     "rows in the combination by family: " + ", ".join(f"{k} {v}" for k, v in f["by_family"].items())]
            if "IC" in f:
                lines.append("IC rows in it by pattern: " + ", ".join(
                    f"{k} {v}" for k, v in sorted(f["IC"]["by_pattern"].items())))
            lines.append("largest multipliers:")
            lines += [f"  {row_name(self.columns, d['row'])}: {d['dual']:.6g}" for d in f["largest"][:10]]
            return lines
        tolr = s["tolerances"]
        lines = [f"audit of {self.program.name}: status {s['status']}, objective "
                 f"{s['objective'] if s['objective'] is None else format(s['objective'], '.10g')}",
                 f"binding rule: slack ≤ {tolr['binding_slack']:.3g} ({self.tol:g} × payoff scale {self.scale:g}); "
                 f"nonzero dual: |dual| > {tolr['nonzero_dual']:.3g}"]
        for f, d in s["families"].items():
            if d["equality_rows"] == d["rows"]:
                lines.append(f"  {f}: {d['rows']} equality rows, {d['nonzero_dual']} with nonzero dual")
            else:
                lines.append(f"  {f}: {d['binding']} of {d['rows']} bind ({d['nonzero_dual']} with nonzero dual)")
        if "IC" in s:
            ic = s["IC"]
            lines.append("binding IC by pattern: " + (", ".join(f"{k} {v}" for k, v in sorted(ic["by_pattern"].items()))
                                                      or "none"))
            if ic["strictly_binding_by_pattern"]:
                lines.append("  with nonzero shadow price: " + ", ".join(
                    f"{k} {v}" for k, v in sorted(ic["strictly_binding_by_pattern"].items())))
            lines.append("binding IC by period (of rows): " + ", ".join(
                f"period {int(k) + 1}: {v}/{ic['rows_by_period'].get(k, 0)}" for k, v in ic["by_period"].items()))
            if len(ic["by_agent"]) > 1:
                lines.append("binding IC by agent: " + ", ".join(f"agent {int(k) + 1}: {v}" for k, v in ic["by_agent"].items()))
        if "participation" in s:
            lines.append("binding participation rows: " + (", ".join(
                self._short(d) for d in s["participation"]) or "none"))
        if "promise_keeping" in s:
            lines.append(f"binding promise-keeping rows: {len(s['promise_keeping'])}")
        if s["shadow_prices"]:
            lines.append("shadow prices:")
            lines += ["  " + p["sentence"] for p in s["shadow_prices"]]
        return lines

    def _short(self, d: dict) -> str:
        bits = [d["family"]]
        if d["agent"] >= 0:
            bits.append(f"agent {d['agent'] + 1}")
        if d["period"] >= 0:
            bits.append(f"period {d['period'] + 1}")
        if d["true_type"] >= 0:
            bits.append(self._type_text(d["agent"], max(d["period"], 0), d["true_type"]))
        return " ".join(bits) + f" (dual {d['dual']:.4g})"

    def to_dict(self, rows: bool = True) -> dict:
        """JSON-ready and deterministic: the summary and (optionally) every row."""
        from dmd_opt.core.serialise import to_jsonable
        out = {"program": self.program.summary(), "summary": self.summary()}
        if rows:
            C = self.columns
            out["rows"] = {k: ([str(f) for f in v] if k == "family" else
                               [None if isinstance(u, float) and not np.isfinite(u) else u for u in v.tolist()])
                           for k, v in C.items()}
        return to_jsonable(out)

    def rich_table(self, limit: int = 40):
        """A rich Table of the binding inequality rows, largest |dual| first.

        Columns: row = the row's index in the program; agent, t = period, hist = history and
        θ→r = true type → report, all counted from 1; pattern = down/up(ward) adj(acent)/non-adj.

        For an infeasible program: the rows of the Farkas ray, largest multiplier first.
        """
        from rich.table import Table
        C = self.columns
        if self.farkas:
            idx = np.nonzero(C["binding"])[0]
            title = f"rows of the Farkas ray ({idx.size}; showing {min(limit, idx.size)})"
        else:
            idx = np.nonzero(C["binding"] & (C["lo"] != C["hi"]))[0]
            title = f"binding inequality rows ({idx.size}; showing {min(limit, idx.size)})"
        idx = idx[np.argsort(-np.abs(C["dual"][idx]), kind="stable")]
        t = Table(title=title, pad_edge=False)
        for col in ("row", "family", "agent", "t", "hist", "θ→r", "pattern", "slack",
                    "multiplier" if self.farkas else "dual"):
            t.add_column(col, justify="left" if col in ("family", "pattern") else "right", no_wrap=True)
        for r in idx[:limit].tolist():
            pat = ""
            if C["family"][r] == "IC":
                adj = "adj" if abs(int(C["true_type"][r]) - int(C["report"][r])) == 1 else "non-adj"
                pat = f"{self.direction(r).replace('ward', '')} {adj}"
            th, rep = int(C["true_type"][r]), int(C["report"][r])
            tr = f"{th + 1}→{rep + 1}" if th >= 0 and rep >= 0 else (str(th + 1) if th >= 0 else "")
            a, per, h = (int(C[k][r]) for k in ("agent", "period", "history"))
            slack = "" if not np.isfinite(C["slack"][r]) else fmt(C["slack"][r], 1, scale=self.scale)
            t.add_row(str(r), str(C["family"][r]), str(a + 1) if a >= 0 else "", str(per + 1) if per >= 0 else "",
                      str(h + 1) if h >= 0 else "", tr, pat, slack, fmt(C["dual"][r], 5, scale=self.scale))
        return t


def audit(program: Program, solution: Solution, *, tol: float | None = None, scale: float | None = None) -> Audit:
    """Audit ``solution`` of ``program``: per-row slack, dual, binding flag (module docstring).

    ``tol`` (default 1e-7) is relative; ``scale`` defaults to the program's
    payoff scale.  Works for any labelled Program.  For an infeasible program
    with a Farkas ray (``solution.dual_ray``) the audit names the rows the ray
    combines instead: their ``dual`` column holds the ray's multipliers
    (scaled to max-norm 1) and ``binding`` marks the rows in the combination.
    """
    tol = DEFAULT_TOL if tol is None else float(tol)
    scale = float(program.meta.get("payoff_scale", 1.0) or 1.0) if scale is None else float(scale)
    scale = max(scale, 1e-300)
    lo, hi = program.row_lower, program.row_upper
    labels = program.row_labels()
    eps = tol * scale
    if solution.x is None:
        if solution.dual_ray is None:
            raise ValueError(f"no primal solution or Farkas ray to audit (status {solution.status})")
        y = np.asarray(solution.dual_ray, float)
        y = y / max(float(np.max(np.abs(y))), 1e-300)
        nan = np.full(program.n_rows, np.nan)
        cols = {"row": np.arange(program.n_rows), "family": labels["family"],
                **{k: labels[k] for k in LABEL_FIELDS},
                "activity": nan, "lo": lo, "hi": hi, "slack": nan, "dual": y,
                "binding": np.abs(y) > 1e-9}
        return Audit(program, solution, tol, scale, eps, 1e-9, cols, {"farkas": True})
    A = program.matrix()
    act = solution.row_activity if solution.row_activity is not None else A @ solution.x
    act = np.asarray(act, float)
    with np.errstate(invalid="ignore"):
        slack = np.minimum(np.where(np.isfinite(lo), act - lo, np.inf), np.where(np.isfinite(hi), hi - act, np.inf))
    dual = np.zeros(program.n_rows) if solution.row_dual is None else np.asarray(solution.row_dual, float)
    obj = abs(solution.objective) if solution.objective is not None else 0.0
    eps_dual = tol * max(1.0, obj, scale)
    cols = {"row": np.arange(program.n_rows), "family": labels["family"],
            **{k: labels[k] for k in LABEL_FIELDS},
            "activity": act, "lo": lo, "hi": hi, "slack": slack, "dual": dual,
            "binding": slack <= eps}
    return Audit(program, solution, tol, scale, eps, eps_dual, cols)
