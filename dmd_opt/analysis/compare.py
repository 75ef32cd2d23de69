r"""Comparing revenue-optimal and efficient mechanisms on one environment (docs/theory.md#comparing-mechanisms).

For an environment with a finite horizon, :func:`comparison` solves the revenue
program (docs/theory.md#revenue-maximisation) under each participation notion (ex ante, interim,
periodic), builds the efficient mechanisms (docs/theory.md#efficient-dynamic-mechanisms: team, dynamic pivot,
balanced team; Athey–Segal 2013, Bergemann–Välimäki 2010) and the
seller-optimal *efficient* mechanism (the revenue program with the allocation
fixed at the efficient rule, payments free), checks every one with the
independent verifier (:mod:`dmd_opt.verify.bayesian`) and tabulates, per mechanism,

* expected discounted revenue :math:`R = \sum_t\delta^t E[\sum_i p_{i,t} - c_t]` and
  welfare :math:`W = \sum_t\delta^t E[\sum_i u_{i,t} - c_t]` under truthful play;
* the deadweight loss :math:`W^* - W` against the first-best surplus :math:`W^*`
  (:func:`dmd_opt.families.revenue.program.expected_efficient_surplus`, computed without the
  tree or any LP) and the share of :math:`W^*` the designer keeps, :math:`R/W^*`;
* each agent's rent by initial type, :math:`V_i(\varnothing,\theta)` (the verifier's
  truthful values), and the expected total rent; the accounting identity
  :math:`W = R + \sum_i E_\theta V_i(\varnothing,\theta)` holds for every row;
* the allocation distortion :math:`s^*(k) - s(x(k))` node by node, where
  :math:`s` is the surplus at a node, by period (undiscounted expectation) and by
  history: along each *constant* report path and after the reports changed —
  Battaglini (2005): the low type's distortion along the all-low path shrinks
  with :math:`t` and vanishes after a high report; Pavan–Segal–Toikka (2014): the
  distortion is the virtual-value wedge times the impulse response of the
  current type to the initial one, so it decays as persistence falls;
* the binding-constraint summary of each LP (IC rows by direction/adjacency
  and IR rows), the largest IC regret and IR violations, and the budget
  (expected :math:`\sum_i p_i` and the largest per-node imbalance).

:func:`compare` returns the table as a :class:`pandas.DataFrame` (one row per
mechanism); the by-period and by-history distortion tables and the binding
summary ride along in ``DataFrame.attrs``.  The distortion measures live in
:mod:`dmd_opt.analysis.distortion`, the floored programs in :mod:`dmd_opt.analysis.floors`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from dmd_opt.analysis.distortion import (allocation_gap, decision_surplus, distortion_by_history,  # noqa: F401
                                         distortion_by_period, distortion_frame, efficient_benchmark,
                                         node_surplus, path_distortion)
from dmd_opt.analysis.floors import floored_program, seller_efficient_result  # noqa: F401
from dmd_opt.analysis.plots import plot_comparison
from dmd_opt.analysis.tables import records
from dmd_opt.audit.binding import audit
from dmd_opt.core import validation as V
from dmd_opt.core.environment import Environment
from dmd_opt.core.errors import DmdOptError, ModelError
from dmd_opt.core.record import result_record, verification_record
from dmd_opt.families import efficient as eff
from dmd_opt.families.revenue.program import PARTICIPATION, _check_env, expected_efficient_surplus
from dmd_opt.families.revenue.solve import solve_revenue
from dmd_opt.mechanisms.tree import TreeMechanism
from dmd_opt.mechanisms.markov import JointTreeMechanism, carried_tree_mechanism
from dmd_opt.verify import verify

PARTICIPATIONS = ("ex_ante", "interim", "periodic")
EFFICIENT = ("pivot", "team", "balanced", "agv")


# ---------------------------------------------------------------------------------------
# binding constraints of a revenue LP
# ---------------------------------------------------------------------------------------
def binding_summary(result, tol: float = 1e-7):
    """Binding rows of a solved revenue program, by family, agent, period and IC pattern.

    The binding rule and the duals are those of :func:`dmd_opt.audit.binding.audit` (slack ≤
    ``tol`` × payoff scale); ``strict`` counts binding rows with a non-zero dual.  IC rows
    are classified, vectorised, as *downward* (true value above the reported one) or
    *upward*, and *adjacent* (reports one step apart) or not, from
    ``program.meta["type_values"]``.  Equality families (value, lottery, budget) are left out
    except ``budget``.
    """
    import pandas as pd
    cols = ["family", "agent", "period", "direction", "adjacent", "rows", "binding", "strict"]
    prog, sol = result.program, result.solution
    if sol is None or sol.row_activity is None or sol.status not in ("optimal", "inaccurate"):
        return pd.DataFrame(columns=cols)
    a = audit(prog, sol, tol=tol)
    C = a.columns
    fam = np.asarray(C["family"], dtype=object)
    keep = np.array([f == "IC" or str(f).startswith("IR") or f == "budget" or str(f).endswith("_floor")
                     for f in fam], bool)
    direction = np.full(len(fam), "", dtype=object)
    adjacent = np.full(len(fam), "", dtype=object)
    ic = np.flatnonzero(fam == "IC")
    tv = prog.meta.get("type_values")
    if len(ic):
        ag, t, th, r = (np.asarray(C[k])[ic] for k in ("agent", "period", "true_type", "report"))
        vt, vr = th.astype(float), r.astype(float)
        if tv is not None:                          # type values, one (agent, period) block at a time
            key = ag.astype(np.int64) * (int(t.max()) + 1) + t
            for k in np.unique(key):
                m = key == k
                vals = np.asarray(tv[int(ag[m][0])][int(t[m][0])], float)
                vt[m], vr[m] = vals[th[m]], vals[r[m]]
        direction[ic] = np.where(vt > vr, "downward", np.where(vt < vr, "upward", "same value"))
        adjacent[ic] = np.where(np.abs(th - r) == 1, "adjacent", "non-adjacent")
    df = pd.DataFrame({"family": fam[keep], "agent": np.asarray(C["agent"])[keep],
                       "period": np.asarray(C["period"])[keep] + 1, "direction": direction[keep],
                       "adjacent": adjacent[keep], "binding": np.asarray(C["binding"])[keep],
                       "strict": np.asarray(C["binding"])[keep] & (np.abs(np.asarray(C["dual"])[keep]) > a.eps_dual)})
    if df.empty:
        return pd.DataFrame(columns=cols)
    out = df.groupby(["family", "agent", "period", "direction", "adjacent"], sort=True).agg(
        rows=("binding", "size"), binding=("binding", "sum"), strict=("strict", "sum")).reset_index()
    out.loc[out["period"] == 0, "period"] = -1      # rows without a period label (ex-ante IR)
    return out.astype({"binding": int, "strict": int})


# ---------------------------------------------------------------------------------------
# building the mechanisms
# ---------------------------------------------------------------------------------------
@dataclass
class Entry:
    """One compared mechanism: how it was made, the mechanism, and its checks."""

    name: str
    family: str                     # "optimal" | "efficient"
    participation: str | None
    status: str
    mechanism: TreeMechanism | None = None
    result: Any = None              # RevenueResult for LP-made mechanisms
    verification: Any = None
    message: str = ""
    seconds: float = 0.0


def efficient_mechanism(env: Environment, kind: str) -> TreeMechanism:
    """The efficient mechanism ``kind`` of :mod:`dmd_opt.families.efficient` on the history tree of ``env``.

    ``team`` (Athey–Segal §4), ``pivot`` (Bergemann–Välimäki 2010), ``balanced`` (the
    balanced team mechanism, Markov form (6.1) of Athey–Segal) and ``agv`` (static
    expected-externality transfers applied dynamically — the counter-example).
    """
    if kind == "team":
        mech = eff.team_mechanism(env)
    elif kind == "pivot":
        mech = eff.pivot_mechanism(env)
    elif kind == "balanced":
        if env.n_agents < 2:
            raise ModelError("efficient", "the balanced team mechanism needs at least two agents")
        mech = eff.balanced_markov(eff.team_mechanism(env))
    elif kind == "agv":
        mech = eff.agv_tree(eff.team_mechanism(env))
    else:
        raise ModelError("efficient", f"unknown efficient mechanism {kind!r}; expected one of {', '.join(EFFICIENT)}")
    if hasattr(mech, "to_tree"):
        mech = mech.to_tree(env)
    elif isinstance(mech, JointTreeMechanism) and (mech.model.meta or {}).get("environment") is not None:
        mech = carried_tree_mechanism(mech)              # persistent types carried on the state
    if not isinstance(mech, TreeMechanism):
        raise ModelError("efficient", f"the {kind} construction did not give a mechanism on the history tree")
    return mech


def comparison(env: Environment, participation: Iterable[str] = PARTICIPATIONS,
               efficient: Iterable[str] = ("pivot", "team", "balanced"), disclosure: str = "public",
               seller_efficient: bool = True, backend: str = "highs", solver: str | None = None,
               tol: float = 1e-7, horizon: int | None = None) -> "Comparison":
    """Solve and build every mechanism of the comparison (see module docstring).

    ``seller_efficient`` adds the revenue-maximising mechanism among those with the
    efficient allocation, under interim participation if listed, else the first (the
    welfare end of the revenue–welfare frontier with the most revenue).
    Failures of single mechanisms (an infeasible program, an efficient construction
    that needs N ≥ 2 …) are recorded in their row with the message; the others proceed.
    ``horizon`` replaces the environment's horizon (e.g. truncates a stationary
    infinite-horizon environment to ``horizon`` periods, whose tree the programs need).
    """
    if horizon is not None:
        env = env.with_updates(horizon=V.integer(horizon, "horizon", lo=1))
    _check_env(env)
    participation = tuple(participation)
    efficient = tuple(efficient)
    for k, p in enumerate(participation):
        if p not in PARTICIPATION:
            raise ModelError(f"participation[{k}]", f"expected one of {', '.join(PARTICIPATION)}, got {p!r}")
    for k, e in enumerate(efficient):
        if e not in EFFICIENT:
            raise ModelError(f"efficient[{k}]", f"expected one of {', '.join(EFFICIENT)}, got {e!r}")
    entries: list[Entry] = []

    def lp_entry(name, family, part, **kw):
        t0 = time.perf_counter()
        res = solve_revenue(env, participation=part, disclosure=disclosure, backend=backend, solver=solver, **kw)
        e = Entry(name, family, part, res.status, res.mechanism, res, res.verification,
                  "" if res.mechanism is not None else f"{res.status}: {res.solver_status}")
        e.seconds = time.perf_counter() - t0
        entries.append(e)

    for part in participation:
        lp_entry(f"optimal ({part})", "optimal", part)
    if seller_efficient and participation:
        part = "interim" if "interim" in participation else participation[0]
        t0 = time.perf_counter()
        res = seller_efficient_result(env, participation=part, disclosure=disclosure, backend=backend,
                                      solver=solver)
        entries.append(Entry(f"efficient, max revenue ({part})", "efficient", part, res.status, res.mechanism,
                             res, res.verification,
                             "" if res.mechanism is not None else f"{res.status}: {res.solver_status}",
                             time.perf_counter() - t0))
    for kind in efficient:
        t0 = time.perf_counter()
        try:
            mech = efficient_mechanism(env, kind)
            entries.append(Entry(kind, "efficient", None, "ok", mech, None, verify(mech),
                                 seconds=time.perf_counter() - t0))
        except (DmdOptError, ValueError, NotImplementedError) as exc:
            entries.append(Entry(kind, "efficient", None, "unavailable", message=str(exc),
                                 seconds=time.perf_counter() - t0))
    opts = {"participation": list(participation), "efficient": list(efficient), "disclosure": disclosure,
            "seller_efficient": seller_efficient, "backend": backend, "solver": solver, "tol": tol,
            "horizon": horizon}
    return Comparison(env, entries, tol=tol, options=opts)


@dataclass
class Comparison:
    """The compared mechanisms of one environment with tables, plots and JSON."""

    env: Environment
    entries: list[Entry]
    tol: float = 1e-7
    options: dict = field(default_factory=dict)
    _bench: TreeMechanism | None = field(default=None, repr=False)

    @property
    def benchmark(self) -> TreeMechanism:
        if self._bench is None:
            self._bench = efficient_benchmark(self.env)
        return self._bench

    @property
    def first_best(self) -> float:
        return expected_efficient_surplus(self.env)

    def entry(self, name: str) -> Entry:
        for e in self.entries:
            if e.name == name:
                return e
        raise KeyError(name)

    @property
    def mechanisms(self) -> dict[str, TreeMechanism]:
        return {e.name: e.mechanism for e in self.entries if e.mechanism is not None}

    def table(self):
        """One row per mechanism (see module docstring for the columns)."""
        import pandas as pd
        env, W = self.env, self.first_best
        rows = []
        for e in self.entries:
            row: dict[str, Any] = {"mechanism": e.name, "family": e.family, "participation": e.participation or "",
                                   "status": e.status, "message": e.message}
            m, ver = e.mechanism, e.verification
            if m is not None:
                rev, wel = m.revenue(), m.welfare()
                row.update({"revenue": rev, "welfare": wel, "first_best": W, "deadweight_loss": W - wel,
                            "revenue_share": rev / W if W else np.nan})
                rents_total = 0.0
                if ver is not None:
                    for i, a in enumerate(ver.agents):
                        for lab, v in zip(env.type_labels(i, 0), a.root_values):
                            row[f"rent[{env.agents[i].name}|{lab}]"] = float(v)
                        rents_total += float(env.agents[i].initial @ a.root_values)
                    row["rents_expected"] = rents_total
                    row["max_ic_regret"] = ver.max_regret
                    for p in PARTICIPATIONS:
                        row[f"ir_violation_{p}"] = ver.ir_violation(p)
                    row["budget_expected"] = ver.budget_expected
                    row["budget_max_imbalance"] = ver.budget_max_imbalance
                for t, d in enumerate(distortion_by_period(m, self.benchmark, self.tol)["expected_gap"]):
                    row[f"distortion[t={t + 1}]"] = d
            if e.result is not None and e.result.mechanism is not None:
                b = e.result.binding_count(self.tol)
                row["binding_IC"] = b.get("IC", 0)
                row["binding_IR"] = sum(v for k, v in b.items() if k.startswith("IR"))
            row["seconds"] = e.seconds
            rows.append(row)
        df = pd.DataFrame(rows)
        df.attrs["environment"] = env.name
        df.attrs["first_best"] = W
        df.attrs["distortion_by_period"] = self.distortion_by_period()
        df.attrs["distortion_by_history"] = self.distortion_by_history()
        df.attrs["binding"] = self.binding()
        return df

    def distortion_by_period(self):
        import pandas as pd
        parts = [distortion_by_period(e.mechanism, self.benchmark, self.tol).assign(mechanism=e.name)
                 for e in self.entries if e.mechanism is not None]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def distortion_by_history(self):
        import pandas as pd
        parts = [distortion_by_history(e.mechanism, self.benchmark).assign(mechanism=e.name)
                 for e in self.entries if e.mechanism is not None]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def binding(self):
        import pandas as pd
        parts = [binding_summary(e.result, self.tol).assign(mechanism=e.name)
                 for e in self.entries if e.result is not None and e.result.mechanism is not None]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    @property
    def status(self) -> str:
        """``optimal`` when every program was solved, else the first failing status (a program
        without a solution first: it decides the exit code)."""
        bad = [e.status for e in self.entries if e.result is not None and e.status != "optimal"]
        none = [s for s in bad if s in ("infeasible", "unbounded", "infeasible_or_unbounded")]
        return (none or bad or ["optimal"])[0]

    def to_dict(self, kind: str = "revenue") -> dict:
        """The result record (``docs/result.schema.json``) of command ``compare``: one row per
        mechanism in ``mechanisms``; ``verification`` holds the largest IC regret of each.
        ``kind`` is the kind of the model the environment came from."""
        df = self.table()
        attrs = dict(df.attrs)
        df.attrs = {}
        rows = records(df)
        regrets = {e.name: float(e.verification.max_regret) for e in self.entries if e.verification is not None}
        ver = verification_record(max(regrets.values()) if regrets else None, None, notion="bayesian",
                                  tolerance=self.tol, scale=self.env.payoff_scale, by_mechanism=regrets)
        return result_record(kind, self.status, None, command="compare", verification=ver,
                             mechanism=None, options=self.options, model={"name": self.env.name},
                             environment=self.env.name, first_best=self.first_best, mechanisms=rows,
                             distortion_by_period=records(attrs["distortion_by_period"]),
                             distortion_by_history=records(attrs["distortion_by_history"]),
                             binding=records(attrs["binding"]))

    def plot(self, directory) -> list:
        """Save the comparison's figures into ``directory`` (:func:`dmd_opt.analysis.plots.plot_comparison`)."""
        return plot_comparison(self, directory)

    def __repr__(self) -> str:
        names = ", ".join(e.name for e in self.entries)
        return f"<Comparison {self.env.name!r}: {len(self.entries)} mechanisms ({names})>"


def compare(env, participation: Iterable[str] = PARTICIPATIONS,
            efficient: Iterable[str] = ("pivot", "team", "balanced"), **kw):
    """Revenue-optimal vs efficient mechanisms of ``env`` as a DataFrame (see module docstring).

    ``env`` is an :class:`Environment` or a loaded model (:func:`dmd_opt.load`; its ``[solve]``
    table supplies ``disclosure``, ``backend`` and ``solver`` unless given; ``dmd_opt.compare``
    also takes a model file).  Keyword arguments are those of :func:`comparison`.

    >>> from dmd_opt import load
    >>> df = compare(load("models/static_monopoly.toml"), participation=("interim",), efficient=())
    >>> round(float(df.loc[0, "revenue"]), 6), round(float(df.loc[0, "deadweight_loss"]), 6)
    (1.333333, 0.333333)
    """
    for k, v in model_defaults(env).items():
        kw.setdefault(k, v)
    return comparison(as_environment(env), participation, efficient, **kw).table()


def model_defaults(source) -> dict:
    """``disclosure``/``backend``/``solver`` from a loaded model's ``[solve]`` table (none for an
    Environment)."""
    options = getattr(source, "options", None)
    if isinstance(source, Environment) or not isinstance(options, dict):
        return {}
    return {k: options[k] for k in ("disclosure", "backend", "solver") if k in options}


def as_environment(source) -> Environment:
    """The :class:`Environment` of ``source``: an Environment, or a loaded model of kind
    ``revenue`` or ``efficient`` (whose data wrap an Environment)."""
    if isinstance(source, Environment):
        return source
    data = getattr(source, "data", None)
    inner = getattr(data, "env", None)                # efficient-kind models wrap an Environment
    if inner is None:                                 # (in meta when persistent agents reshape the state)
        inner = getattr(data, "meta", {}).get("environment")
    if isinstance(inner, Environment):
        return inner
    if isinstance(data, Environment):
        return data
    kind = getattr(source, "kind", None)
    if kind is not None:
        raise ModelError("kind", f"comparison needs an environment model (kind 'revenue' or 'efficient'), "
                                 f"got kind {kind!r}")
    raise ModelError("env", f"expected an Environment or a loaded model (dmd_opt.load(path)), "
                            f"got {type(source).__name__}")
