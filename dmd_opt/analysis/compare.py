r"""Comparing revenue-optimal and efficient mechanisms on one environment (SPEC §7).

For an environment with a finite horizon, :func:`comparison` solves the revenue
program of SPEC §2 under each participation notion (ex ante, interim,
periodic), builds the efficient mechanisms of SPEC §3 (team, dynamic pivot,
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
summary ride along in ``DataFrame.attrs``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from dmd_opt.core.environment import Environment
from dmd_opt.core.errors import DmdOptError, ModelError
from dmd_opt.core.record import result_record, verification_record
from dmd_opt.mechanisms.tree import TreeMechanism

PARTICIPATIONS = ("ex_ante", "interim", "periodic")
EFFICIENT = ("pivot", "team", "balanced", "agv")


# ---------------------------------------------------------------------------------------
# distortion of an allocation rule against the efficient one
# ---------------------------------------------------------------------------------------
def efficient_benchmark(env: Environment, horizon: int | None = None) -> TreeMechanism:
    """The first-best allocation on the history tree with zero payments (ties: first decision)."""
    from dmd_opt.families.revenue.program import efficient_allocation
    from dmd_opt.core.tree import HistoryTree
    tree = HistoryTree(env, horizon)
    alloc = efficient_allocation(env, tree)
    pay = [np.zeros((tree.n_nodes(t), env.n_agents)) for t in range(tree.T)]
    return TreeMechanism(env, alloc, pay, name="first best")


def node_surplus(mech: TreeMechanism, t: int) -> np.ndarray:
    """(K_t,) surplus :math:`\\sum_i u_i(x(k),\\theta_i) - c_t(x(k))` at every node, truthful types."""
    return sum(mech.truthful_utility(i, t) for i in range(mech.env.n_agents)) - mech.principal_cost(t)


def allocation_gap(mech: TreeMechanism, bench: TreeMechanism, t: int, tol: float = 1e-9) -> np.ndarray:
    r"""(K_t,) how far the allocation is from the efficient one at every node.

    Quantity models: :math:`\sum_i (q^*_i - q_i)` (positive = downward distortion,
    Mussa–Rosen/Battaglini).  Finite decisions: the probability of a decision that is
    *not* surplus-maximising at the node's reported profile,
    :math:`1 - \sum_{a \in A^*(k)} x_a(k)` — ties between efficient decisions (equal
    values) are not distortions.  ``bench`` supplies the quantities (quantity models).
    """
    x = mech.allocation[t]
    if mech.is_quantity:
        return (bench.allocation[t] - x).sum(axis=1)
    S = decision_surplus(mech.env, mech.tree, t)
    best = S.max(axis=1, keepdims=True)
    efficient = S >= best - tol * max(1.0, mech.env.payoff_scale)
    return np.clip(1.0 - np.where(efficient, x, 0.0).sum(axis=1), 0.0, 1.0)


def decision_surplus(env: Environment, tree, t: int) -> np.ndarray:
    r"""(K_t, |A_t|) surplus :math:`\sum_i u_{i,t}(a, r_i) - c_t(a)` of each decision at each node."""
    last = tree.last_reports(t)
    S = -np.broadcast_to(env.cost(t), (tree.n_nodes(t), env.n_decisions(t))).copy()
    for i in range(env.n_agents):
        S += env.utility(i, t)[:, last[:, i]].T
    return S


def distortion_frame(mech: TreeMechanism, bench: TreeMechanism | None = None, max_nodes: int = 200_000):
    """Node-level table: period, node, history label, probability, gap and surplus loss."""
    import pandas as pd
    bench = bench or efficient_benchmark(mech.env, mech.T)
    tree = mech.tree
    frames = []
    for t in range(mech.T):
        K = tree.n_nodes(t)
        if K > max_nodes:
            break
        k = np.arange(K)
        frames.append(pd.DataFrame({
            "period": t + 1, "node": k, "history": tree.history_labels(t, k),
            "probability": tree.node_prob[t], "gap": allocation_gap(mech, bench, t),
            "surplus_loss": node_surplus(bench, t) - node_surplus(mech, t)}))
    return pd.concat(frames, ignore_index=True)


def distortion_by_period(mech: TreeMechanism, bench: TreeMechanism | None = None, tol: float = 1e-7):
    """Per period: expected gap, expected surplus loss (undiscounted), the largest gap on
    reachable nodes and the probability that the allocation is distorted (gap > tol)."""
    import pandas as pd
    bench = bench or efficient_benchmark(mech.env, mech.T)
    tree, rows = mech.tree, []
    eps = tol * mech.env.payoff_scale
    for t in range(mech.T):
        p = tree.node_prob[t]
        g = allocation_gap(mech, bench, t)
        loss = node_surplus(bench, t) - node_surplus(mech, t)
        reach = p > 0
        rows.append({"period": t + 1, "expected_gap": float(p @ g), "expected_surplus_loss": float(p @ loss),
                     "discounted_surplus_loss": float(mech.env.discount ** t * (p @ loss)),
                     "max_gap": float(np.max(np.abs(g[reach]))) if reach.any() else 0.0,
                     "distorted_probability": float(p[np.abs(g) > eps].sum())})
    return pd.DataFrame(rows)


def _run_lengths(tree, t: int) -> np.ndarray:
    """(K_t,) number of consecutive periods up to t in which the report profile equals the current one."""
    K = tree.n_nodes(t)
    d = tree.digits(t)                                  # (K, t+1, N)
    same = np.all(d == d[:, -1:, :], axis=2)           # (K, t+1)
    # run = trailing count of True
    rev = same[:, ::-1]
    run = np.where(rev.all(axis=1), t + 1, np.argmin(rev, axis=1))
    return run.astype(np.int64) if K else np.zeros(0, np.int64)


def distortion_by_history(mech: TreeMechanism, bench: TreeMechanism | None = None, max_nodes: int = 200_000):
    """Distortion by history depth.

    Groups the nodes of each period by the current report profile and the *run
    length* — how many consecutive periods the profile has been reported,
    ``run = t`` (1-based period) meaning it has never changed since the start.
    Rows: period, profile, run, from_start (run == period), probability mass,
    conditional mean gap and conditional mean surplus loss.  In Battaglini's
    model the row (L, from_start) carries the whole distortion, decreasing in
    the period; every row after a change to H is zero.
    """
    import pandas as pd
    bench = bench or efficient_benchmark(mech.env, mech.T)
    tree, env, N = mech.tree, mech.env, mech.env.n_agents
    out = []
    for t in range(mech.T):
        K = tree.n_nodes(t)
        if K > max_nodes:
            break
        p = tree.node_prob[t]
        g = allocation_gap(mech, bench, t)
        loss = node_surplus(bench, t) - node_surplus(mech, t)
        prof = np.arange(K) % tree.R[t]
        run = _run_lengths(tree, t)
        key = prof * (t + 2) + run
        uniq, inv = np.unique(key, return_inverse=True)
        mass = np.bincount(inv, weights=p, minlength=len(uniq))
        mg = np.bincount(inv, weights=p * g, minlength=len(uniq))
        ml = np.bincount(inv, weights=p * loss, minlength=len(uniq))
        mx = np.zeros(len(uniq))
        np.maximum.at(mx, inv, np.where(p > 0, np.abs(g), 0.0))
        for u, m, a, b, x in zip(uniq, mass, mg, ml, mx):
            pr, r = divmod(int(u), t + 2)
            digits = tree.profile_digits(t, np.array(pr))
            labs = [env.type_labels(i, t)[int(digits[i])] for i in range(N)]
            out.append({"period": t + 1, "profile": labs[0] if N == 1 else "(" + ",".join(labs) + ")",
                        "run": r, "from_start": r == t + 1, "probability": float(m),
                        "mean_gap": float(a / m) if m > 0 else np.nan,
                        "mean_surplus_loss": float(b / m) if m > 0 else np.nan, "max_gap": float(x)})
    return pd.DataFrame(out)


def path_distortion(mech: TreeMechanism, path: Iterable, bench: TreeMechanism | None = None) -> np.ndarray:
    """Gap along one report path: ``path[t]`` is the period-t profile (type index for N = 1,
    or a tuple of type indices).  Returns one value per period of the path."""
    bench = bench or efficient_benchmark(mech.env, mech.T)
    tree, k, out = mech.tree, 0, []
    for t, prof in enumerate(path):
        if t >= mech.T:
            break
        prof = np.atleast_1d(np.asarray(prof, dtype=np.int64))
        r = int(np.ravel_multi_index(tuple(prof), tree.shapes[t]))
        k = k * tree.R[t] + r
        out.append(float(allocation_gap(mech, bench, t)[k]))
    return np.array(out)


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
    from dmd_opt.audit.binding import audit
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
    try:
        from dmd_opt.families import efficient as eff
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the other family
        if exc.name and exc.name.startswith("dmd_opt.families.efficient"):
            raise ModelError("efficient", "the efficient-mechanism family (dmd_opt.families.efficient) is not installed")
        raise
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
    from dmd_opt.families.revenue.program import PARTICIPATION, _check_env, solve_revenue
    from dmd_opt.verify import verify
    if horizon is not None:
        from dmd_opt.core import validation as V
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


def seller_efficient_result(env: Environment, participation: str = "interim", disclosure: str = "public",
                            backend: str = "highs", solver: str | None = None):
    r"""The revenue-maximising mechanism among the welfare-maximising ones.

    Finite decisions: the revenue program with one labelled ``"welfare_floor"`` row
    :math:`W \ge W^* - 10^{-12}\max(1,|W^*|)` (:func:`dmd_opt.analysis.frontier.floored_program`),
    so ties between efficient decisions may be broken — or randomised — in the seller's
    favour (in the handicap auction, by the handicapped values).  Quantity models (whose
    efficient quantities are unique with a strictly convex cost): the allocation is fixed at
    the efficient rule and only payments are free.  Returns a ``RevenueResult``.
    """
    from dmd_opt.families.revenue.program import RevenueResult, decode, solve_revenue
    from dmd_opt.solvers import solve
    from dmd_opt.verify import verify
    from dmd_opt.families.revenue.program import expected_efficient_surplus
    if env.quantity is not None:
        return solve_revenue(env, participation=participation, disclosure=disclosure, backend=backend,
                             solver=solver, fixed_allocation="efficient")
    from dmd_opt.analysis.frontier import floored_program
    W = expected_efficient_surplus(env)
    t0 = time.perf_counter()
    prog = floored_program(env, "revenue", "welfare", W - 1e-12 * max(1.0, abs(W)),
                           participation=participation, disclosure=disclosure)
    t1 = time.perf_counter()
    sol = solve(prog, backend=backend, solver=solver)
    mech = decode(env, prog, sol) if sol.x is not None and sol.status in ("optimal", "inaccurate") else None
    ver = verify(mech) if mech is not None else None
    opts = {"participation": participation, "disclosure": disclosure, "objective": "revenue",
            "welfare_floor": W, "backend": backend, "solver": solver}
    return RevenueResult(sol.status, sol.solver_status, sol.objective if mech is not None else None, env, prog,
                         sol, mech, ver, opts, {"build": t1 - t0, "solve": sol.solve_seconds})


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
        from dmd_opt.families.revenue.program import expected_efficient_surplus
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
        rows = _records(df)
        regrets = {e.name: float(e.verification.max_regret) for e in self.entries if e.verification is not None}
        ver = verification_record(max(regrets.values()) if regrets else None, None, notion="bayesian",
                                  tolerance=self.tol, scale=self.env.payoff_scale, by_mechanism=regrets)
        return result_record(kind, self.status, None, command="compare", verification=ver,
                             mechanism=None, options=self.options, model={"name": self.env.name},
                             environment=self.env.name, first_best=self.first_best, mechanisms=rows,
                             distortion_by_period=_records(attrs["distortion_by_period"]),
                             distortion_by_history=_records(attrs["distortion_by_history"]),
                             binding=_records(attrs["binding"]))

    def plot(self, directory) -> list:
        from dmd_opt.analysis.plots import plot_comparison
        return plot_comparison(self, directory)


def _records(df) -> list[dict]:
    if df is None or len(df) == 0:
        return []
    out = []
    for rec in df.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and not np.isfinite(v) else
                        (v.item() if isinstance(v, np.generic) else v)) for k, v in rec.items()})
    return out


def compare(env, participation: Iterable[str] = PARTICIPATIONS,
            efficient: Iterable[str] = ("pivot", "team", "balanced"), **kw):
    """Revenue-optimal vs efficient mechanisms of ``env`` as a DataFrame (see module docstring).

    ``env`` may be an :class:`Environment`, a loaded model or a model path; for a model,
    its ``[solve]`` table supplies ``disclosure``, ``backend`` and ``solver`` unless given.
    Keyword arguments are those of :func:`comparison`.

    >>> from dmd_opt import load
    >>> df = compare(load("models/static_monopoly.toml").data, participation=("interim",), efficient=())
    >>> round(float(df.loc[0, "revenue"]), 6), round(float(df.loc[0, "deadweight_loss"]), 6)
    (1.333333, 0.333333)
    """
    for k, v in _model_defaults(env).items():
        kw.setdefault(k, v)
    return comparison(_as_env(env), participation, efficient, **kw).table()


def _model_defaults(source) -> dict:
    """``disclosure``/``backend``/``solver`` from a model's ``[solve]`` table (none for an Environment)."""
    if isinstance(source, Environment):
        return {}
    from dmd_opt.interfaces.models import Model, load
    model = source if isinstance(source, Model) else load(source)
    return {k: model.options[k] for k in ("disclosure", "backend", "solver") if k in model.options}


def _as_env(env) -> Environment:
    if isinstance(env, Environment):
        return env
    from dmd_opt.interfaces.models import Model, load
    model = env if isinstance(env, Model) else load(env)
    inner = getattr(model.data, "env", None)          # efficient-kind models wrap an Environment
    if isinstance(inner, Environment):
        return inner
    if not isinstance(model.data, Environment):
        raise ModelError("kind", f"comparison needs an environment model (kind 'revenue' or 'efficient'), "
                                 f"got kind {model.kind!r}")
    return model.data


def _callable_module(name: str, fn) -> None:
    """Make module ``name`` callable as ``fn``: ``dmd_opt.analysis.compare`` names both the
    submodule and the function, and whichever Python binds, ``dmd_opt.analysis.compare(env)`` works."""
    import sys
    import types

    class _Callable(types.ModuleType):
        def __call__(self, *args, **kwargs):
            return fn(*args, **kwargs)

    sys.modules[name].__class__ = _Callable


_callable_module(__name__, compare)
