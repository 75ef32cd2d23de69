r"""Plots of mechanisms, comparisons, frontiers and recursive contracts (matplotlib, Agg-safe).

Every function follows the conventions of :mod:`dmd_opt.analysis.figure`: ``ax=`` draws on
the caller's axes (else a new pyplot-free figure), ``path=`` saves atomically and returns the
path (else the figure is returned), curves differ by colour, marker and dashes (coinciding
curves stay visible), and the figure's title names the model.

* :func:`plot_allocation` — allocation by period and by history node, with the
  efficient benchmark (Battaglini 2005 Fig.: high type efficient, low type distorted);
* :func:`plot_distortion` — expected distortion by period per mechanism, and the gap
  along each constant report path (its decay; Pavan–Segal–Toikka 2014);
* :func:`plot_distortion_decay` — gap along one path for several environments
  (e.g. falling persistence);
* :func:`plot_frontier` — the revenue–welfare frontier with mechanisms marked;
* :func:`plot_paths` — simulated promised-utility paths and their cross-section
  quantiles over time (immiseration: Thomas–Worrall 1990; polarisation: Guo–Hörner 2018);
* :func:`plot_function` — value or cost functions on a grid (e.g. :math:`C(v)`);
* :func:`plot_result` / :func:`plot_comparison` — all the relevant figures of a
  result (any kind: revenue, efficient, contingent, Thomas–Worrall, Guo–Hörner) or a
  comparison, saved into a folder; return the paths (``dmd-opt solve --plot DIR``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from dmd_opt.analysis.distortion import distortion_by_history, distortion_by_period, efficient_benchmark
from dmd_opt.analysis.figure import (finish, new_figure, panels, plot_function, plot_paths, save,  # noqa: F401
                                     style, titled)
from dmd_opt.analysis.recursive_plots import plot_guo_horner, plot_thomas_worrall
from dmd_opt.families.recursive.guo_horner import GHResult
from dmd_opt.families.recursive.thomas_worrall import CARAResult, TWResult
from dmd_opt.mechanisms.tree import TreeMechanism


# ---------------------------------------------------------------------------------------
# mechanisms
# ---------------------------------------------------------------------------------------
def _alloc_series(mech, t: int) -> tuple[np.ndarray, str]:
    """The plotted allocation quantity at each node: total quantity, or P(not the first decision)."""
    x = mech.allocation[t]
    if mech.is_quantity:
        return x.sum(axis=1), "quantity"
    if x.shape[1] == 1:
        return np.zeros(x.shape[0]), "allocation"
    return 1.0 - x[:, 0], f"P(not '{mech.decision_names(t)[0]}')"


def plot_allocation(mech, path=None, bench=None, max_nodes: int = 64, ax=None):
    """Allocation by period (expected, truthful play) and by history node, with the efficient rule.

    Left: expected allocation per period of the mechanism and of the first best.
    Right: the allocation at every node of the last period with at most ``max_nodes`` nodes,
    labelled by history, with the efficient allocation as open markers.  ``ax``: two axes.
    """
    bench = bench or efficient_benchmark(mech.env, mech.T)
    tree = mech.tree
    fig, (a, b), created = panels(ax, 2)
    periods = np.arange(1, mech.T + 1)
    ex = [tree.node_prob[t] @ _alloc_series(mech, t)[0] for t in range(mech.T)]
    eb = [tree.node_prob[t] @ _alloc_series(bench, t)[0] for t in range(mech.T)]
    ylabel = _alloc_series(mech, mech.T - 1)[1]
    a.plot(periods, ex, label=mech.name, **style(0))
    a.plot(periods, eb, label="efficient", **style(1))
    a.set_xlabel("period")
    a.set_ylabel(f"expected {ylabel}")
    a.set_xticks(periods)
    a.set_title("allocation by period")
    a.legend()
    t_show = max([t for t in range(mech.T) if tree.n_nodes(t) <= max_nodes] or [0])
    K = tree.n_nodes(t_show)
    k = np.arange(min(K, max_nodes))
    b.plot(k, _alloc_series(mech, t_show)[0][k], ls="none", label=mech.name,
           **{kw: v for kw, v in style(0).items() if kw != "linestyle"})
    b.plot(k, _alloc_series(bench, t_show)[0][k], ls="none", label="efficient",
           **{kw: v for kw, v in style(1).items() if kw != "linestyle"})
    b.set_xticks(k)
    b.set_xticklabels(tree.history_labels(t_show, k), rotation=70, fontsize=7)
    b.set_ylabel(ylabel)
    b.set_title(f"allocation by history, period {t_show + 1}")
    b.legend()
    titled(fig, created, mech.env.name)
    return finish(fig, path)


def plot_distortion(mechs: Mapping[str, object] | Sequence, path=None, bench=None, ax=None):
    """Distortion decay: expected gap by period per mechanism, and the gap along each
    constant report path (profile never changed) of the most distorted mechanism.  ``ax``: two axes."""
    if not isinstance(mechs, Mapping):
        mechs = {m.name: m for m in mechs}
    fig, (a, b), created = panels(ax, 2)
    first, worst = None, -np.inf
    for k, (name, m) in enumerate(mechs.items()):
        d = distortion_by_period(m, bench)
        a.plot(d["period"], d["expected_gap"], label=name, **style(k))
        total = float(np.abs(d["expected_gap"]).sum())
        if total > worst + 1e-9:          # show the paths of the most distorted mechanism
            first, worst = (name, m), total
        a.set_xticks(d["period"])
    a.axhline(0, color="grey", lw=0.6)
    a.set_xlabel("period")
    a.set_ylabel("expected gap (efficient − actual)")
    a.set_title("allocation distortion by period")
    a.legend(fontsize=8)
    if first is not None:
        name, m = first
        h = distortion_by_history(m, bench)
        const = h[h["from_start"]]
        for k, (prof, g) in enumerate(const.groupby("profile", sort=False)):
            b.plot(g["period"], g["mean_gap"], label=f"constant {prof}", **style(k))
        changed = h[~h["from_start"]]
        if len(changed):
            agg = changed.groupby("period").apply(
                lambda g: float(np.average(g["mean_gap"], weights=g["probability"])) if g["probability"].sum() > 0
                else 0.0, include_groups=False)
            b.plot(agg.index, agg.values, "x--", color="k", label="after a change")
        b.axhline(0, color="grey", lw=0.6)
        b.set_xticks(np.arange(1, m.T + 1))
        b.set_title(f"gap along report paths: {name}")
        b.set_xlabel("period")
        b.set_ylabel("gap")
        b.legend(fontsize=8)
        titled(fig, created, m.env.name)
    return finish(fig, path)


def plot_distortion_decay(curves: Mapping[str, Sequence[float]], path=None, title: str = "distortion decay",
                          ax=None, model: str | None = None):
    """Gap along one report path (e.g. the all-low path) for several labelled environments."""
    fig, (a,), created = panels(ax, 1)
    for k, (label, ys) in enumerate(curves.items()):
        ys = np.asarray(ys, float)
        a.plot(np.arange(1, len(ys) + 1), ys, label=str(label), **style(k))
    a.axhline(0, color="grey", lw=0.6)
    a.set_xticks(np.arange(1, max((len(y) for y in curves.values()), default=1) + 1))
    a.set_xlabel("period")
    a.set_ylabel("gap (efficient − actual)")
    a.set_title(title)
    a.legend(fontsize=8)
    titled(fig, created, model)
    return finish(fig, path)


# ---------------------------------------------------------------------------------------
# frontier
# ---------------------------------------------------------------------------------------
def plot_frontier(front, path=None, points: Mapping[str, tuple[float, float]] | None = None,
                  first_best: float | None = None, ax=None, model: str | None = None):
    """Revenue (x) against welfare (y) along the frontier, with named mechanisms marked.

    ``front`` is a frontier DataFrame (columns ``revenue``, ``welfare``, ``status``) or an
    object with ``.table`` and ``.points`` (:class:`dmd_opt.analysis.frontier.Frontier`)."""
    table = getattr(front, "table", front)
    if points is None:
        points = getattr(front, "points", None) or {}
    if first_best is None:
        first_best = getattr(front, "first_best", None)
    model = model or getattr(front, "model", None)
    ok = table[table["status"] == "optimal"] if "status" in table else table
    fig, (a,), created = panels(ax, 1)
    a.plot(ok["revenue"], ok["welfare"], color="C0", marker=".", label="frontier")
    for k, (name, (r, w)) in enumerate(points.items()):
        kw = style(k + 1)
        kw.pop("linestyle")
        a.plot([r], [w], ls="none", label=name, **kw)
    if first_best is not None:
        a.axhline(first_best, color="grey", ls=":", label="first best")
    a.set_xlabel("expected revenue")
    a.set_ylabel("expected welfare")
    a.set_title("revenue–welfare frontier")
    a.legend(fontsize=8)
    titled(fig, created, model)
    return finish(fig, path)


# ---------------------------------------------------------------------------------------
# folders of figures
# ---------------------------------------------------------------------------------------
def _slug(text: str) -> str:
    import re
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "plot"


def plot_result(result, directory) -> list[Path]:
    """Save the figures that fit ``result`` into ``directory``; return their paths.

    * Thomas–Worrall and Guo–Hörner results: :mod:`dmd_opt.analysis.recursive_plots`;
    * a mechanism on the history tree (revenue results): allocation by period and history
      with the efficient benchmark, and distortion decay;
    * several mechanisms (efficient results): revenue and welfare of each, and the allocation
      of the first one on the tree;
    * block diagnostics (contingent results): smallest singular value and convex-independence
      margin of every :math:`M^{-i}` block;
    * otherwise a value/cost function on a grid (``grid`` plus ``value`` or ``cost``) and
      simulated ``paths``.
    """
    directory = Path(directory)
    if getattr(result, "kind", None) == "relational":
        from dmd_opt.analysis.relational_plots import plot_relational
        return plot_relational(result, directory)
    if isinstance(result, (TWResult, CARAResult)):
        return plot_thomas_worrall(result, directory)
    if isinstance(result, GHResult):
        return plot_guo_horner(result, directory)
    out: list[Path] = []
    mech = getattr(result, "mechanism", None)
    if isinstance(mech, TreeMechanism):
        base = _slug(mech.env.name)
        out.append(plot_allocation(mech, directory / f"{base}_allocation.png"))
        out.append(plot_distortion({mech.name: mech}, directory / f"{base}_distortion.png"))
    mechs = getattr(result, "mechanisms", None)
    model = _model_name(result)
    if isinstance(mechs, dict) and mechs:
        out += _plot_mechanism_set(mechs, directory, allocation=not isinstance(mech, TreeMechanism), model=model)
    diag = getattr(result, "diagnostics", None)
    if diag is not None and hasattr(diag, "frame"):
        df = diag.frame()
        if {"sigma_min", "ci_margin"} <= set(df.columns):
            out.append(plot_function(np.arange(len(df)), {"smallest singular value": df["sigma_min"],
                                                          "convex-independence margin": df["ci_margin"]},
                                     directory / "diagnostics.png", xlabel="block (step, agent, decision, others)",
                                     ylabel="diagnostic", title="spanning and convex independence by block",
                                     model=model))
    grid = getattr(result, "grid", None)
    if grid is not None:
        for attr in ("value", "cost", "values"):
            y = getattr(result, attr, None)
            if y is not None and np.ndim(y) >= 1:
                y = np.asarray(y, float)
                ys = {attr: y} if y.ndim == 1 else {f"{attr}[{k}]": y[k] for k in range(y.shape[0])}
                out.append(plot_function(grid, ys, directory / f"{attr}_function.png", ylabel=attr, model=model))
                break
    paths = getattr(result, "paths", None)
    if paths is not None:
        out.append(plot_paths(paths, directory / "paths.png", model=model))
    return out


def _model_name(result) -> str | None:
    for owner in (result, getattr(result, "env", None), getattr(result, "model", None)):
        name = getattr(owner, "name", None)
        if isinstance(name, str) and name:
            return name
    return None


def _plot_mechanism_set(mechs: Mapping[str, object], directory: Path, allocation: bool = True,
                        model: str | None = None) -> list[Path]:
    out: list[Path] = []
    names, rev, wel = [], [], []
    for name, m in mechs.items():
        try:
            r, w = float(m.revenue()), float(m.welfare())
        except Exception:   # a mechanism whose evaluation needs what this one lacks
            continue
        names.append(name)
        rev.append(r)
        wel.append(w)
    if names:
        fig, axes = new_figure()
        a = axes[0, 0]
        xs = np.arange(len(names))
        a.bar(xs - 0.2, rev, 0.4, label="revenue")
        a.bar(xs + 0.2, wel, 0.4, label="welfare", hatch="//", fill=False, edgecolor="C1")
        a.axhline(0, color="grey", lw=0.6)
        a.set_xticks(xs)
        a.set_xticklabels(names, rotation=20)
        a.set_title("expected discounted revenue and welfare")
        a.legend()
        titled(fig, True, model)
        out.append(save(fig, directory / "mechanisms.png"))
    first = next((m for m in mechs.values() if isinstance(m, TreeMechanism)), None)
    if first is not None and allocation:
        out.append(plot_allocation(first, directory / "allocation.png"))
    return out


def plot_comparison(cmp, directory) -> list[Path]:
    """Figures of a :class:`~dmd_opt.analysis.compare.Comparison`: allocation of each optimal mechanism
    with the efficient benchmark, distortion decay, and revenue vs welfare of every mechanism."""
    directory = Path(directory)
    out: list[Path] = []
    mechs = cmp.mechanisms
    for name, m in mechs.items():
        if name.startswith("optimal"):
            out.append(plot_allocation(m, directory / f"allocation_{_slug(name)}.png", bench=cmp.benchmark))
    if mechs:
        opt = {k: v for k, v in mechs.items() if k.startswith("optimal")} or mechs
        out.append(plot_distortion(opt, directory / "distortion.png", bench=cmp.benchmark))
        pts = {name: (m.revenue(), m.welfare()) for name, m in mechs.items()}
        fig, axes = new_figure()
        a = axes[0, 0]
        for k, (name, (r, w)) in enumerate(pts.items()):
            kw = style(k)
            kw.pop("linestyle")
            a.plot([r], [w], ls="none", ms=9, label=name, **{x: v for x, v in kw.items() if x != "markersize"})
        a.axhline(cmp.first_best, color="grey", ls=":", label="first best")
        a.set_xlabel("expected revenue")
        a.set_ylabel("expected welfare")
        a.set_title("revenue and welfare of every mechanism")
        a.legend(fontsize=7)
        titled(fig, True, cmp.env.name)
        out.append(save(fig, directory / "revenue_welfare.png"))
    return out
