r"""Plots of mechanisms, comparisons, frontiers and recursive contracts (matplotlib, Agg-safe).

Every function draws on a :class:`matplotlib.figure.Figure` made without
``pyplot`` (so no display or GUI backend is needed) and either returns it or,
given a path, saves it atomically (PNG; the suffix picks the format).

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
  result or a comparison, saved into a folder; return the paths.
"""

from __future__ import annotations

import io as _io
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np


def _figure(ncols: int = 1, nrows: int = 1, size=(6.4, 4.2)):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def save(fig, path) -> Path:
    """Save ``fig`` to ``path`` atomically (format from the suffix, PNG by default)."""
    from dmd_opt.core.serialise import atomic_write
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    buf = _io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip("."), dpi=110)
    atomic_write(path, buf.getvalue())
    return path


def _out(fig, path):
    return save(fig, path) if path is not None else fig


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


def plot_allocation(mech, path=None, bench=None, max_nodes: int = 64):
    """Allocation by period (expected, truthful play) and by history node, with the efficient rule.

    Left: expected allocation per period of the mechanism and of the first best.
    Right: the allocation at every node of the last period with at most ``max_nodes`` nodes,
    labelled by history, with the efficient allocation as open markers.
    """
    from dmd_opt.analysis.compare import efficient_benchmark
    bench = bench or efficient_benchmark(mech.env, mech.T)
    tree = mech.tree
    fig, ax = _figure(2)
    periods = np.arange(1, mech.T + 1)
    ex = [tree.node_prob[t] @ _alloc_series(mech, t)[0] for t in range(mech.T)]
    eb = [tree.node_prob[t] @ _alloc_series(bench, t)[0] for t in range(mech.T)]
    ylabel = _alloc_series(mech, mech.T - 1)[1]
    a = ax[0, 0]
    a.plot(periods, ex, "o-", label=mech.name)
    a.plot(periods, eb, "s--", mfc="none", label="efficient")
    a.set_xlabel("period")
    a.set_ylabel(f"expected {ylabel}")
    a.set_xticks(periods)
    a.set_title("allocation by period")
    a.legend()
    t_show = max([t for t in range(mech.T) if tree.n_nodes(t) <= max_nodes] or [0])
    K = tree.n_nodes(t_show)
    k = np.arange(min(K, max_nodes))
    b = ax[0, 1]
    b.plot(k, _alloc_series(mech, t_show)[0][k], "o", label=mech.name)
    b.plot(k, _alloc_series(bench, t_show)[0][k], "s", mfc="none", label="efficient")
    b.set_xticks(k)
    b.set_xticklabels(tree.history_labels(t_show, k), rotation=70, fontsize=7)
    b.set_ylabel(ylabel)
    b.set_title(f"allocation by history, period {t_show + 1}")
    b.legend()
    return _out(fig, path)


def plot_distortion(mechs: Mapping[str, object] | Sequence, path=None, bench=None):
    """Distortion decay: expected gap by period per mechanism, and the gap along each
    constant report path (profile never changed) of the first mechanism."""
    from dmd_opt.analysis.compare import distortion_by_history, distortion_by_period
    if not isinstance(mechs, Mapping):
        mechs = {m.name: m for m in mechs}
    fig, ax = _figure(2)
    a = ax[0, 0]
    first, worst = None, -np.inf
    for name, m in mechs.items():
        d = distortion_by_period(m, bench)
        a.plot(d["period"], d["expected_gap"], "o-", label=name)
        total = float(np.abs(d["expected_gap"]).sum())
        if total > worst + 1e-9:          # show the paths of the most distorted mechanism
            first, worst = (name, m), total
        a.set_xticks(d["period"])
    a.axhline(0, color="grey", lw=0.6)
    a.set_xlabel("period")
    a.set_ylabel("expected gap (efficient − actual)")
    a.set_title("allocation distortion by period")
    a.legend(fontsize=8)
    b = ax[0, 1]
    if first is not None:
        name, m = first
        h = distortion_by_history(m, bench)
        const = h[h["from_start"]]
        for prof, g in const.groupby("profile", sort=False):
            b.plot(g["period"], g["mean_gap"], "o-", label=f"constant {prof}")
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
    return _out(fig, path)


def plot_distortion_decay(curves: Mapping[str, Sequence[float]], path=None, title: str = "distortion decay"):
    """Gap along one report path (e.g. the all-low path) for several labelled environments."""
    fig, ax = _figure()
    a = ax[0, 0]
    for label, ys in curves.items():
        ys = np.asarray(ys, float)
        a.plot(np.arange(1, len(ys) + 1), ys, "o-", label=str(label))
    a.axhline(0, color="grey", lw=0.6)
    a.set_xticks(np.arange(1, max((len(y) for y in curves.values()), default=1) + 1))
    a.set_xlabel("period")
    a.set_ylabel("gap (efficient − actual)")
    a.set_title(title)
    a.legend(fontsize=8)
    return _out(fig, path)


# ---------------------------------------------------------------------------------------
# frontier
# ---------------------------------------------------------------------------------------
def plot_frontier(front, path=None, points: Mapping[str, tuple[float, float]] | None = None,
                  first_best: float | None = None):
    """Revenue (x) against welfare (y) along the frontier, with named mechanisms marked.

    ``front`` is a frontier DataFrame (columns ``revenue``, ``welfare``, ``status``) or an
    object with ``.table`` and ``.points``."""
    table = getattr(front, "table", front)
    if points is None:
        points = getattr(front, "points", None) or {}
    if first_best is None:
        first_best = getattr(front, "first_best", None)
    ok = table[table["status"] == "optimal"] if "status" in table else table
    fig, ax = _figure()
    a = ax[0, 0]
    a.plot(ok["revenue"], ok["welfare"], "-", color="C0", label="frontier")
    a.plot(ok["revenue"], ok["welfare"], ".", color="C0")
    for k, (name, (r, w)) in enumerate(points.items()):
        a.plot([r], [w], "o", ms=8, color=f"C{k + 1}", label=name)
    if first_best is not None:
        a.axhline(first_best, color="grey", ls=":", label="first best")
    a.set_xlabel("expected revenue")
    a.set_ylabel("expected welfare")
    a.set_title("revenue–welfare frontier")
    a.legend(fontsize=8)
    return _out(fig, path)


# ---------------------------------------------------------------------------------------
# recursive contracts
# ---------------------------------------------------------------------------------------
def plot_paths(paths, path=None, n_show: int = 20, quantiles=(0.1, 0.5, 0.9), bounds=None,
               label: str = "promised utility", title: str | None = None):
    """Simulated paths ``(n_paths, T)``: a few paths (left) and cross-section quantiles and
    the histogram at the last date (right) — immiseration or polarisation at a glance."""
    paths = np.asarray(paths, float)
    if paths.ndim == 1:
        paths = paths[None, :]
    n, T = paths.shape
    fig, ax = _figure(3, size=(5.0, 4.0))
    a = ax[0, 0]
    ts = np.arange(T)
    for p in paths[:n_show]:
        a.plot(ts, p, lw=0.7, alpha=0.7)
    for bound in (bounds or ()):
        a.axhline(bound, color="k", ls=":", lw=0.8)
    a.set_xlabel("period")
    a.set_ylabel(label)
    a.set_title(title or f"{min(n, n_show)} simulated paths")
    b = ax[0, 1]
    for q in quantiles:
        b.plot(ts, np.quantile(paths, q, axis=0), label=f"q{int(round(100 * q))}")
    b.plot(ts, paths.mean(axis=0), "k--", label="mean")
    for bound in (bounds or ()):
        b.axhline(bound, color="k", ls=":", lw=0.8)
    b.set_xlabel("period")
    b.set_ylabel(label)
    b.set_title(f"cross-section of {n} paths")
    b.legend(fontsize=7)
    c = ax[0, 2]
    for t in sorted({T // 4, T // 2, T - 1}):
        c.hist(paths[:, t], bins=40, histtype="step", label=f"t = {t}")
    c.set_xlabel(label)
    c.set_ylabel("paths")
    c.set_title("distribution over time")
    c.legend(fontsize=7)
    return _out(fig, path)


def plot_function(x, ys: Mapping[str, Sequence[float]] | Sequence[float], path=None,
                  xlabel: str = "promised utility", ylabel: str = "value", title: str | None = None):
    """One or several functions on a grid (value, cost, policies)."""
    x = np.asarray(x, float)
    if not isinstance(ys, Mapping):
        ys = {ylabel: ys}
    fig, ax = _figure()
    a = ax[0, 0]
    for name, y in ys.items():
        a.plot(x, np.asarray(y, float), label=str(name))
    a.set_xlabel(xlabel)
    a.set_ylabel(ylabel)
    if title:
        a.set_title(title)
    if len(ys) > 1:
        a.legend(fontsize=8)
    return _out(fig, path)


# ---------------------------------------------------------------------------------------
# folders of figures
# ---------------------------------------------------------------------------------------
def _slug(text: str) -> str:
    import re
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "plot"


def plot_result(result, directory) -> list[Path]:
    """Save the figures that fit ``result`` into ``directory``; return their paths.

    * a mechanism on the history tree (revenue results): allocation by period and history
      with the efficient benchmark, and distortion decay;
    * several mechanisms (efficient results): revenue and welfare of each, and the allocation
      of the first one on the tree;
    * block diagnostics (contingent results): smallest singular value and convex-independence
      margin of every :math:`M^{-i}` block;
    * a value/cost function on a grid (``grid`` plus ``value`` or ``cost``) and simulated
      ``paths`` (recursive results).
    """
    from dmd_opt.mechanisms.tree import TreeMechanism
    directory = Path(directory)
    out: list[Path] = []
    mech = getattr(result, "mechanism", None)
    if isinstance(mech, TreeMechanism):
        base = _slug(mech.env.name)
        out.append(plot_allocation(mech, directory / f"{base}_allocation.png"))
        out.append(plot_distortion({mech.name: mech}, directory / f"{base}_distortion.png"))
    mechs = getattr(result, "mechanisms", None)
    if isinstance(mechs, dict) and mechs:
        out += _plot_mechanism_set(mechs, directory, allocation=not isinstance(mech, TreeMechanism))
    diag = getattr(result, "diagnostics", None)
    if diag is not None and hasattr(diag, "frame"):
        df = diag.frame()
        if {"sigma_min", "ci_margin"} <= set(df.columns):
            out.append(plot_function(np.arange(len(df)), {"smallest singular value": df["sigma_min"],
                                                          "convex-independence margin": df["ci_margin"]},
                                     directory / "diagnostics.png", xlabel="block (step, agent, decision, others)",
                                     ylabel="diagnostic", title="spanning and convex independence by block"))
    grid = getattr(result, "grid", None)
    if grid is not None:
        for attr in ("value", "cost", "values"):
            y = getattr(result, attr, None)
            if y is not None and np.ndim(y) >= 1:
                y = np.asarray(y, float)
                ys = {attr: y} if y.ndim == 1 else {f"{attr}[{k}]": y[k] for k in range(y.shape[0])}
                out.append(plot_function(grid, ys, directory / f"{attr}_function.png", ylabel=attr))
                break
    paths = getattr(result, "paths", None)
    if paths is not None:
        out.append(plot_paths(paths, directory / "paths.png"))
    return out


def _plot_mechanism_set(mechs: Mapping[str, object], directory: Path, allocation: bool = True) -> list[Path]:
    from dmd_opt.mechanisms.tree import TreeMechanism
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
        fig, ax = _figure()
        a = ax[0, 0]
        xs = np.arange(len(names))
        a.bar(xs - 0.2, rev, 0.4, label="revenue")
        a.bar(xs + 0.2, wel, 0.4, label="welfare")
        a.axhline(0, color="grey", lw=0.6)
        a.set_xticks(xs)
        a.set_xticklabels(names, rotation=20)
        a.set_title("expected discounted revenue and welfare")
        a.legend()
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
        fig, ax = _figure()
        a = ax[0, 0]
        for k, (name, (r, w)) in enumerate(pts.items()):
            a.plot([r], [w], "o", ms=8, color=f"C{k}", label=name)
        a.axhline(cmp.first_best, color="grey", ls=":", label="first best")
        a.set_xlabel("expected revenue")
        a.set_ylabel("expected welfare")
        a.set_title(cmp.env.name)
        a.legend(fontsize=7)
        out.append(save(fig, directory / "revenue_welfare.png"))
    return out
