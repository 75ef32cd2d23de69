"""Figure plumbing shared by the plots: pyplot-free figures, axes handling, line styles,
atomic saves, and the two generic plots (functions on a grid, simulated paths).

Every plotting function of :mod:`dmd_opt.analysis.plots` and
:mod:`dmd_opt.analysis.recursive_plots` follows one convention:

* ``ax=None`` draws on a new :class:`matplotlib.figure.Figure` made without ``pyplot`` (no
  display or GUI backend needed); ``ax=`` draws on the caller's axes instead (one
  :class:`~matplotlib.axes.Axes`, or a sequence of as many axes as the plot has panels);
* ``path=None`` returns the figure; a path saves it atomically (format from the suffix, PNG by
  default) and returns the path;
* curves are told apart by colour *and* marker *and* dash pattern (:func:`style`), so curves
  that coincide stay visible (later ones are drawn with open markers and dashes over earlier ones);
* the figure's title names the model.
"""

from __future__ import annotations

import io as _io
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from dmd_opt.core.serialise import atomic_write

#: (marker, dash pattern) of the k-th curve; colours follow matplotlib's cycle.
STYLES = (("o", "-"), ("s", "--"), ("^", "-."), ("D", ":"), ("v", (0, (5, 1, 1, 1))), ("x", (0, (3, 1))),
          ("P", (0, (1, 1))), ("*", (0, (6, 2))))


def style(k: int, n_points: int | None = None) -> dict:
    """Matplotlib keyword arguments of the ``k``-th curve: colour, marker, dashes; markers
    open from the second curve on (a curve drawn over an equal one stays visible) and thinned
    to about 12 per curve on long grids."""
    marker, dash = STYLES[k % len(STYLES)]
    kw = {"color": f"C{k % 10}", "marker": marker, "linestyle": dash, "markersize": 6 if k == 0 else 7}
    if k > 0:
        kw["markerfacecolor"] = "none"
    if n_points is not None and n_points > 24:
        kw["markevery"] = (k % 3 * max(1, n_points // 36), max(1, n_points // 12))
    return kw


def new_figure(ncols: int = 1, nrows: int = 1, size=(6.4, 4.2)):
    """A pyplot-free figure and a (nrows, ncols) array of axes."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def panels(ax, n: int, size=(6.4, 4.2)):
    """``(figure, [axes] * n, created)`` for a plot with ``n`` panels: new ones when ``ax`` is
    None, else the caller's (``n`` axes; one Axes when ``n == 1``)."""
    if ax is None:
        fig, axes = new_figure(n, size=size)
        return fig, list(axes.ravel()), True
    axes = list(np.ravel(np.asarray(ax, dtype=object))) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
    if len(axes) != n:
        raise ValueError(f"ax: this plot has {n} panel{'s' * (n != 1)}, got {len(axes)} axes")
    return axes[0].figure, axes, False


def titled(fig, created: bool, title: str | None) -> None:
    """Name the figure (the model) when the plot made it."""
    if created and title:
        fig.suptitle(title, fontsize=11)


def save(fig, path) -> Path:
    """Save ``fig`` to ``path`` atomically (format from the suffix, PNG by default)."""
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    buf = _io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip("."), dpi=110)
    atomic_write(path, buf.getvalue())
    return path


def finish(fig, path):
    """Save and return the path when ``path`` is given, else return the figure."""
    return save(fig, path) if path is not None else fig


def plot_function(x, ys: Mapping[str, Sequence[float]] | Sequence[float], path=None, ax=None,
                  xlabel: str = "promised utility", ylabel: str = "value", title: str | None = None,
                  model: str | None = None):
    """One or several functions on a grid (value, cost, policies), one style per curve.

    ``title`` names the panel, ``model`` the figure.
    """
    x = np.asarray(x, float)
    if not isinstance(ys, Mapping):
        ys = {ylabel: ys}
    fig, (a,), created = panels(ax, 1)
    for k, (name, y) in enumerate(ys.items()):
        a.plot(x, np.asarray(y, float), label=str(name), **style(k, x.size))
    a.set_xlabel(xlabel)
    a.set_ylabel(ylabel)
    if title:
        a.set_title(title)
    if len(ys) > 1:
        a.legend(fontsize=8)
    titled(fig, created, model)
    return finish(fig, path)


def plot_paths(paths, path=None, ax=None, n_show: int = 20, quantiles=(0.1, 0.5, 0.9), bounds=None,
               label: str = "promised utility", title: str | None = None, model: str | None = None):
    """Simulated paths ``(n_paths, T)`` in three panels: a few paths, the cross-section quantiles
    and mean over time, and the distribution at three dates — immiseration (Thomas–Worrall
    1990) or polarisation (Guo–Hörner 2018) at a glance.  ``ax``: three axes."""
    paths = np.asarray(paths, float)
    if paths.ndim == 1:
        paths = paths[None, :]
    n, T = paths.shape
    fig, (a, b, c), created = panels(ax, 3, size=(5.0, 4.0))
    ts = np.arange(T)
    for p in paths[:n_show]:
        a.plot(ts, p, lw=0.7, alpha=0.7)
    for bound in (bounds or ()):
        a.axhline(bound, color="k", ls=":", lw=0.8)
    a.set_xlabel("period")
    a.set_ylabel(label)
    a.set_title(title or f"{min(n, n_show)} simulated paths")
    for k, q in enumerate(quantiles):
        b.plot(ts, np.quantile(paths, q, axis=0), label=f"q{int(round(100 * q))}", **style(k + 1, T))
    b.plot(ts, paths.mean(axis=0), color="k", ls="--", label="mean")
    for bound in (bounds or ()):
        b.axhline(bound, color="k", ls=":", lw=0.8)
    b.set_xlabel("period")
    b.set_ylabel(label)
    b.set_title(f"cross-section of {n} paths")
    b.legend(fontsize=7)
    for k, t in enumerate(sorted({T // 4, T // 2, T - 1})):
        c.hist(paths[:, t], bins=40, histtype="step", color=f"C{k}", ls=STYLES[k][1], label=f"t = {t}")
    c.set_xlabel(label)
    c.set_ylabel("paths")
    c.set_title("distribution over time")
    c.legend(fontsize=7)
    titled(fig, created, model)
    return finish(fig, path)
