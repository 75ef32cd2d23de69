"""Parameter sweeps on dask.distributed: grids, dotted paths, failures per point, Parquet."""

import copy

import numpy as np
import pandas as pd
import pytest

import dmd_opt
from dmd_opt import load, solve_model
from dmd_opt.core.errors import ModelError
from dmd_opt.interfaces.models import read_toml
from dmd_opt.interfaces.sweep import canonical, grid_points, parse_param, run_point, set_path, sweep


def test_sweep_on_local_cluster_keeps_failed_point(models_dir, tmp_path):
    deltas = [round(0.3 + 0.03 * k, 2) for k in range(20)] + [1.5]      # 21 points, the last one bad
    out = tmp_path / "sweep.parquet"
    df = dmd_opt.sweep(models_dir / "battaglini.toml", {"delta": deltas}, n_workers=2, processes=False,
                       progress=False, out=out)
    assert len(df) == 21 and list(df["discount"]) == deltas
    bad = df[df["discount"] == 1.5].iloc[0]
    assert not bad["ok"] and "discount" in bad["error"] and "ModelError" in bad["error"]
    good = df[df["discount"] != 1.5]
    assert good["ok"].all() and (good["status"] == "optimal").all()
    # each point equals a direct solve (independent of dask)
    model = load(models_dir / "battaglini.toml")
    for d in (0.3, 0.6, 0.87):
        direct = solve_model(load({**{"kind": model.kind, "solve": model.options}, **copy.deepcopy(model.raw),
                                   "discount": d}))
        row = df[np.isclose(df["discount"], d)].iloc[0]
        assert row["revenue"] == pytest.approx(direct.revenue, rel=1e-9)
        assert row["objective"] == pytest.approx(direct.objective, rel=1e-9)
    assert (good["max_regret"] <= 1e-6).all()
    # revenue rises with patience in this model (more periods to extract from)
    assert np.all(np.diff(good["revenue"].to_numpy()) > 0)
    back = pd.read_parquet(out)
    assert len(back) == 21 and back["ok"].sum() == 20
    assert not list(tmp_path.glob(".*tmp"))                     # atomic: no temporary left behind


def test_sweep_infeasible_point_and_solve_options(models_dir):
    df = sweep(models_dir / "bilateral_trade_impossible.toml", {"solve.budget_balance": [True, False]},
               n_workers=2, processes=False, progress=False)
    infeasible = df[df["solve.budget_balance"]].iloc[0]
    assert not infeasible["ok"] and infeasible["status"] == "infeasible"
    assert infeasible["error"].startswith("infeasible")
    feasible = df[~df["solve.budget_balance"]].iloc[0]
    assert feasible["ok"] and feasible["revenue"] < 0          # efficient trade runs a deficit


def test_product_grid_and_matrix_parameters(models_dir):
    P_low = [[0.8, 0.2], [0.6, 0.4]]
    grid = {"agents[0].transition": [[[0.8, 0.2], [0.3, 0.7]], P_low], "solve.participation": ["interim", "ex_ante"]}
    df = sweep(models_dir / "battaglini.toml", grid, n_workers=1, processes=False, progress=False)
    assert len(df) == 4 and df["ok"].all()
    assert list(df["solve.participation"]) == ["interim", "ex_ante", "interim", "ex_ante"]
    # ex ante participation extracts the first-best surplus: revenue = welfare
    ea = df[df["solve.participation"] == "ex_ante"]
    np.testing.assert_allclose(ea["revenue"], ea["welfare"], rtol=1e-6)
    assert df["agents[0].transition"].iloc[2] == "[[0.8, 0.2], [0.6, 0.4]]"


def test_paths_and_params():
    raw = {"discount": 0.9, "agents": [{"types": [1, 2], "transition": [[1, 0], [0, 1]]}]}
    set_path(raw, "delta", 0.5)
    set_path(raw, "agents[0].transition[1]", [0.5, 0.5])
    set_path(raw, "solve.participation", "periodic")
    assert raw["discount"] == 0.5 and raw["agents"][0]["transition"][1] == [0.5, 0.5]
    assert raw["solve"] == {"participation": "periodic"}
    with pytest.raises(ModelError, match=r"agents\[3\]"):
        set_path(raw, "agents[3].types", [1])
    with pytest.raises(ModelError, match="discount"):
        set_path(raw, "discount.x", 1)
    with pytest.raises(ModelError):
        canonical("agents[x")
    assert canonical("delta") == "discount" and canonical("agents[0].transition") == "agents[0].transition"
    assert parse_param("delta=0.5:0.9:5") == ("discount", pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9]))
    assert parse_param("solve.participation=interim,periodic") == ("solve.participation", ["interim", "periodic"])
    assert parse_param("x=[[1,2],[3,4]]") == ("x", [[1, 2], [3, 4]])
    assert parse_param("flag=true,false,2") == ("flag", [True, False, 2])
    with pytest.raises(ModelError, match="param"):
        parse_param("delta")
    assert len(grid_points({"a": [1, 2], "b": [3, 4, 5]})) == 6
    with pytest.raises(ModelError, match="grid"):
        grid_points({})


def test_run_point_never_raises(models_dir):
    raw = read_toml(models_dir / "static_monopoly.toml")
    ok = run_point(raw, {"solve.participation": "interim"})
    assert ok["ok"] and ok["revenue"] == pytest.approx(4 / 3)
    bad = run_point(raw, {"agents[0].initial": [0.5, 0.6, 0.1]})
    assert not bad["ok"] and "agents[0].initial" in bad["error"]


def test_bad_base_model_fails_fast(tmp_path):
    p = tmp_path / "m.toml"
    p.write_text('horizon = 1\n[[agents]]\ntypes = [1, 2]\ninitial = [0.5, 0.6]\n[decisions]\nkind = "allocate"\n')
    with pytest.raises(ModelError, match="initial"):
        sweep(p, {"discount": [0.5]}, n_workers=1, processes=False, progress=False)


def test_sweep_on_a_scheduler_address_and_a_client(models_dir):
    """``scheduler="tcp://…"`` connects to an existing cluster (here a local one on TCP);
    a Client is used as given and left open."""
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=1, processes=False, protocol="tcp", host="127.0.0.1",
                      dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        df = sweep(models_dir / "static_monopoly.toml", {"solve.participation": ["interim", "ex_ante"]},
                   scheduler=cluster.scheduler_address, progress=False)
        assert df["ok"].all()
        assert df["revenue"].tolist() == pytest.approx([4 / 3, 2.0])
        with Client(cluster) as client:
            df2 = sweep(models_dir / "static_monopoly.toml", {"discount": [0.5]}, scheduler=client, progress=False)
            assert df2["ok"].all() and client.status == "running"


def test_unreachable_scheduler_is_a_clear_error(models_dir):
    with pytest.raises(ModelError, match="scheduler"):
        sweep(models_dir / "static_monopoly.toml", {"discount": [0.5]}, scheduler="tcp://127.0.0.1:1",
              progress=False, connect_timeout="1s")


def test_interrupted_sweep_keeps_finished_points(models_dir, tmp_path, monkeypatch):
    """A sweep stopped half way (here: the third result raises KeyboardInterrupt) leaves the
    finished points in the Parquet file and marks the rest as pending."""
    import distributed
    real = distributed.as_completed

    def interrupted(futs):
        for n, f in enumerate(real(futs)):
            if n == 2:
                raise KeyboardInterrupt
            yield f

    monkeypatch.setattr(distributed, "as_completed", interrupted)
    out = tmp_path / "partial.parquet"
    with pytest.raises(KeyboardInterrupt):
        sweep(models_dir / "static_monopoly.toml", {"discount": [0.5, 0.6, 0.7, 0.8]}, n_workers=1,
              processes=False, progress=False, out=out)
    df = pd.read_parquet(out)
    assert len(df) == 4 and int(df["ok"].sum()) == 2
    assert set(df.loc[~df["ok"], "status"]) == {"pending"}
