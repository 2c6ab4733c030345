"""open_sweep: every run with its parameters, lazily read metrics padded with NaN, the tables."""

import numpy as np
import pytest
from fake_results import make_point, write_run

import topolearn
from topolearn.inpca.sweep import make_inpca
from topolearn.sweep.table import write_sweep_table


@pytest.fixture
def sweep(tmp_path):
    res = tmp_path / "results"
    points = {}
    for i, (lr, snaps) in enumerate(((0.5, 9), (1.0, 9), (0.5, 7))):
        p = make_point(lr=lr, snapshots=snaps, seed=i)
        points[write_run(res, p, seed=i, diverge_at=4 if i == 1 else None)] = p
    write_sweep_table(points, res / "sweep.tsv")
    make_inpca([res / "runs" / r / "snapshots.zarr" for r in points], res / "inpca/coords.tsv",
               res / "inpca/stress.tsv")
    return res, points


def test_open_sweep_returns_every_run_with_its_parameters(sweep):
    res, points = sweep
    sd = topolearn.open_sweep(res)
    ds = sd.metrics
    assert sorted(ds["run"].values) == sorted(points)
    for rid, p in points.items():
        row = ds.sel(run=rid)
        assert row["lr"].item() == p["lr"] and row["seed"].item() == p["seed"]
    assert set(sd.swept) == {"lr", "seed", "snapshots"}
    assert ds.sizes["snapshot"] == 9


def test_metrics_are_lazy_and_padded(sweep, monkeypatch):
    res, points = sweep
    ds = topolearn.open_sweep(res).metrics
    from topolearn.results import sweepdata

    sweepdata._read_metric.cache_clear()
    short = next(r for r, p in points.items() if p["snapshots"] == 7)
    epochs = ds["epoch"].sel(run=short).values  # reads one store only
    assert sweepdata._read_metric.cache_info().currsize == 1
    assert np.isfinite(epochs[:7]).all() and np.isnan(epochs[7:]).all()
    np.testing.assert_allclose(epochs[:7], np.linspace(0, 4, 7))
    prog = ds["progress"].sel(run=short).values
    assert np.isnan(prog[7:]).all() and (np.diff(prog[:7]) > 0).all()


def test_tables(sweep):
    res, points = sweep
    sd = topolearn.open_sweep(res)
    assert set(sd.branches["run_id"]) == set(points) and set(sd.events["run_id"]) == set(points)
    assert {"inpca1", "progress"} <= set(sd.inpca_coords.columns) and len(sd.inpca_stress)
    assert sd.summary.empty  # no summary.tsv in this folder
    assert "3 runs" in repr(sd)
