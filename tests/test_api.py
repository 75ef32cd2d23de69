"""The public API: lazy top-level names, no name clashes, short reprs, py.typed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import dmd_opt

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"


def test_import_is_cheap_and_lazy():
    code = ("import sys, dmd_opt; heavy = [m for m in ('numpy', 'scipy', 'pandas', 'highspy', 'cvxpy', 'pyomo', "
            "'matplotlib', 'dask') if m in sys.modules]; print(heavy); assert not heavy")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_public_name_resolves_and_none_clashes_with_a_subpackage():
    subpackages = {p.name for p in (ROOT / "dmd_opt").iterdir() if (p / "__init__.py").exists()}
    for name in dmd_opt.__all__:
        assert getattr(dmd_opt, name) is not None
        assert name not in subpackages, name
    import importlib
    importlib.import_module("dmd_opt.analysis.compare")   # binding the submodule must not shadow the function
    importlib.import_module("dmd_opt.analysis.frontier")
    assert callable(dmd_opt.compare) and callable(dmd_opt.frontier) and callable(dmd_opt.sweep)
    assert dmd_opt.compare.__module__ == "dmd_opt.interfaces.api"
    assert set(dir(dmd_opt)) >= set(dmd_opt.__all__)
    with pytest.raises(AttributeError):
        dmd_opt.no_such_name  # noqa: B018


def test_solve_accepts_files_dicts_models_and_environments():
    res = dmd_opt.solve(MODELS / "static_monopoly.toml")
    assert isinstance(res, dmd_opt.RevenueResult) and res.revenue == pytest.approx(4 / 3)
    model = dmd_opt.load(MODELS / "static_monopoly.toml")
    assert dmd_opt.solve(model, participation="ex_ante").revenue == pytest.approx(2.0)   # E[θ] = (1+2+3)/3
    assert isinstance(model.data, dmd_opt.Environment)
    assert dmd_opt.solve(model.data).revenue == pytest.approx(4 / 3)
    assert isinstance(res.mechanism, dmd_opt.TreeMechanism)
    with pytest.raises(TypeError, match="Environment"):
        dmd_opt.solve(3.0)
    with pytest.raises(dmd_opt.ModelError, match="does not exist"):
        dmd_opt.solve(MODELS / "nope.toml")


def test_compare_and_frontier_take_files():
    df = dmd_opt.compare(MODELS / "static_monopoly.toml", participation=("interim",), efficient=())
    assert df.loc[0, "revenue"] == pytest.approx(4 / 3)
    cmp = dmd_opt.comparison(MODELS / "static_monopoly.toml", participation=("interim",), efficient=())
    assert len(repr(cmp)) < 200 and "static monopoly" in repr(cmp)
    fr = dmd_opt.frontier(MODELS / "static_monopoly.toml", n=3, efficient=())
    assert len(fr.table) == 3 and "Frontier" in repr(fr)


@pytest.mark.parametrize("name", ["battaglini", "athey_segal_trade", "liu_spanning", "thomas_worrall",
                                  "guo_horner_finite", "bilateral_trade_impossible"])
def test_short_reprs_and_html(name):
    res = dmd_opt.solve(MODELS / f"{name}.toml", **({"simulate_periods": 5} if "horner" in name or "worrall" in name
                                                   else {}))
    r = repr(res)
    assert len(r) < 300 and r.startswith(f"<{type(res).__name__}") and f"status={res.status}" in r, r
    html = res._repr_html_()
    assert html.startswith("<div>") and res.status in html and "<script" not in html


def test_repr_of_a_revenue_result_names_the_numbers():
    res = dmd_opt.solve(MODELS / "battaglini.toml")
    r = repr(res)
    assert "'Battaglini" in r or "battaglini" in r.lower()
    assert f"objective={res.objective:.10g}" in r and "max_regret=" in r


def test_package_is_typed():
    assert (ROOT / "dmd_opt" / "py.typed").exists()
    assert 'dmd_opt = ["py.typed"]' in (ROOT / "pyproject.toml").read_text()


def test_readme_quick_tour_runs(monkeypatch):
    """The README's Python quick tour runs as written (from the repository root)."""
    import re
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick tour\s+```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(ROOT)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)   # our own README, not data
    assert scope["res"].status == "optimal" and abs(scope["res"].revenue - 2.742712890625) < 1e-9
    assert scope["res"].mechanism.verify().max_regret < 1e-9
