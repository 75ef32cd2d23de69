"""Figures: a title naming the model, coinciding curves told apart, ``ax=``, returned figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")

import dmd_opt  # noqa: E402
from dmd_opt.analysis.figure import new_figure, plot_function, plot_paths, style  # noqa: E402
from dmd_opt.analysis.plots import plot_allocation, plot_distortion, plot_frontier, plot_result  # noqa: E402

MODELS = Path(__file__).resolve().parents[1] / "models"


def test_coinciding_curves_differ_in_marker_and_dashes():
    x = np.linspace(0, 1, 50)
    fig = plot_function(x, {"a": x, "b": x, "c": x}, model="m")
    lines = fig.axes[0].get_lines()
    assert len(lines) == 3
    assert len({ln.get_marker() for ln in lines}) == 3 and len({str(ln.get_linestyle()) for ln in lines}) == 3
    assert lines[1].get_markerfacecolor() == "none"          # an open marker over an equal curve stays visible
    assert len({style(k)["color"] for k in range(8)}) == 8


def test_ax_is_used_and_the_figure_returned():
    fig, axes = new_figure(2)
    x = np.linspace(0, 1, 5)
    out = plot_function(x, {"v": x ** 2}, ax=axes[0, 1], title="panel")
    assert out is fig and axes[0, 1].get_title() == "panel" and not axes[0, 0].get_lines()
    assert fig._suptitle is None                               # the caller's figure keeps its own title
    with pytest.raises(ValueError, match="ax: this plot has 3 panels"):
        plot_paths(np.zeros((2, 4)), ax=axes[0, 0])
    fig3, ax3 = new_figure(3)
    assert plot_paths(np.random.default_rng(0).normal(size=(5, 10)), ax=ax3[0]) is fig3


def test_titles_name_the_model():
    res = dmd_opt.solve(MODELS / "battaglini.toml")
    fig = plot_allocation(res.mechanism)
    assert res.env.name in fig._suptitle.get_text()
    assert res.env.name in plot_distortion([res.mechanism])._suptitle.get_text()
    fr = dmd_opt.frontier(MODELS / "static_monopoly.toml", n=3, efficient=())
    assert "static monopoly" in fr.plot()._suptitle.get_text()
    fig, ax = new_figure()
    assert plot_frontier(fr, ax=ax[0, 0]) is fig


@pytest.mark.parametrize("name", ["battaglini", "licensing_pivot", "liu_spanning", "thomas_worrall_cara",
                                  "guo_horner_finite"])
def test_plot_result_covers_every_kind(name, tmp_path):
    res = dmd_opt.solve(MODELS / f"{name}.toml")
    files = plot_result(res, tmp_path)
    assert files and all(Path(f).exists() and Path(f).stat().st_size > 1000 for f in files)
