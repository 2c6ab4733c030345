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

    sweepdata._read_series.cache_clear()
    short = next(r for r, p in points.items() if p["snapshots"] == 7)
    epochs = ds["epoch"].sel(run=short).values  # reads one store only
    assert sweepdata._read_series.cache_info().currsize == 1
    assert np.isfinite(epochs[:7]).all() and np.isnan(epochs[7:]).all()
    np.testing.assert_allclose(epochs[:7], np.linspace(0, 4, 7))
    prog = ds["progress"].sel(run=short).values
    assert np.isnan(prog[7:]).all() and (np.diff(prog[:7]) > 0).all()


def test_toy_fields_are_coordinates_of_toy_sweeps_only(sweep, tmp_path):
    """Off toy data, noise, turns, grid_size... apply to no run: no NaN coordinates for them."""
    from topolearn.data.toy import TOY_FIELDS

    res, _ = sweep
    coords = set(topolearn.open_sweep(res).metrics.coords)
    assert not set(TOY_FIELDS) & coords and {"lr", "dataset", "depth"} <= coords
    toy = tmp_path / "toy"
    p = make_point(dataset="spirals", turns=0.5)
    write_sweep_table({write_run(toy, p): p}, toy / "sweep.tsv")
    ds = topolearn.open_sweep(toy).metrics
    assert set(TOY_FIELDS) <= set(ds.coords) and ds["turns"].item() == 0.5


def test_tables(sweep):
    res, points = sweep
    sd = topolearn.open_sweep(res)
    assert set(sd.branches["run_id"]) == set(points) and set(sd.events["run_id"]) == set(points)
    assert {"inpca1", "progress"} <= set(sd.inpca_coords.columns) and len(sd.inpca_stress)
    assert sd.summary.empty  # no summary.tsv in this folder
    assert "3 runs" in repr(sd)


def test_runs_without_a_store_are_named_not_returned_as_nan_rows(sweep):
    import shutil
    import warnings

    res, points = sweep
    gone = sorted(points)[0]
    shutil.rmtree(res / "runs" / gone)  # not trained yet, or quarantined
    with pytest.warns(UserWarning, match=rf"1 of 3 runs of .*sweep.tsv have no store .*: {gone}; left out of"):
        sd = topolearn.open_sweep(res)
    assert sd.missing == [gone] and gone not in sd.metrics["run"].values and sd.metrics.sizes["run"] == 2
    assert "1 without a store" in repr(sd)
    with pytest.warns(UserWarning, match="kept in .metrics as NaN rows"):
        kept = topolearn.open_sweep(res, missing="keep").metrics
    assert np.isnan(kept["test_acc"].sel(run=gone).values).all()
    with pytest.raises(FileNotFoundError, match=gone):
        topolearn.open_sweep(res, missing="raise")
    shutil.copytree(res / "runs" / sorted(points)[1], res / "runs" / gone)  # any store: none missing now
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert topolearn.open_sweep(res).missing == []


# ---------------------------------------------------------------- xarray operations on the dask-backed metrics


def _expected(res, ds) -> dict:
    """Each metric (run, snapshot) as read by zarr directly (unchecked), NaN-padded: what .metrics must equal."""
    import zarr

    from topolearn.store.snapshots import METRICS, read_metric_series

    out = {m: np.full((ds.sizes["run"], ds.sizes["snapshot"]), np.nan) for m in METRICS}
    for i, rid in enumerate(ds["run"].values):
        root = zarr.open_group(str(res / "runs" / rid / "snapshots.zarr"), mode="r")
        for m, col in read_metric_series(root).items():
            out[m][i, : len(col)] = col
    return out


def test_metrics_are_dask_arrays_one_chunk_per_store(sweep):
    import dask.array as da

    res, points = sweep
    ds = topolearn.open_sweep(res).metrics
    for name in ("step", "epoch", "train_loss", "train_acc", "test_loss", "test_acc"):
        assert isinstance(ds[name].data, da.Array), name
    assert ds.chunks["run"] == (1, 1, 1) and ds.chunks["snapshot"] == (9,)
    computed = ds.compute()
    want = _expected(res, ds)
    for name, values in want.items():
        np.testing.assert_array_equal(computed[name].values, values)
        assert not isinstance(computed[name].data, da.Array)


def test_where_drop_sel_isel_groupby(sweep):
    res, points = sweep
    ds = topolearn.open_sweep(res).metrics
    want = _expected(res, ds)["test_acc"]
    runs = list(ds["run"].values)

    half = ds.where(ds.lr == 0.5, drop=True)  # on a run coordinate
    assert sorted(half["run"].values) == sorted(r for r, p in points.items() if p["lr"] == 0.5)
    np.testing.assert_array_equal(half.test_acc.values, want[[runs.index(r) for r in half["run"].values]])
    # on the values: dropping needs the condition computed (xarray refuses a dask boolean indexer)
    good = ds.test_acc.where((ds.test_acc > 0.5).compute(), drop=True)
    assert good.sizes["snapshot"] < ds.sizes["snapshot"] and np.nanmin(good.values) > 0.5

    np.testing.assert_array_equal(ds.isel(run=[2, 0], snapshot=slice(1, 5)).test_acc.values, want[[2, 0], 1:5])
    assert float(ds.sel(run=runs[1], snapshot=3).test_acc) == want[1, 3]  # .item() needs .compute() first on dask

    mean = ds.test_acc.groupby("lr").mean().compute()
    lrs = ds["lr"].values
    for lr in (0.5, 1.0):
        np.testing.assert_allclose(mean.sel(lr=lr).values, np.nanmean(want[lrs == lr], axis=0))


def test_deepcopy_pickle_and_other_processes_read_the_stores(sweep):
    import copy
    import pickle

    res, points = sweep
    ds = topolearn.open_sweep(res).metrics
    want = _expected(res, ds)["test_acc"]
    np.testing.assert_array_equal(copy.deepcopy(ds.test_acc).values, want)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(ds)).test_acc.values, want)
    # each task pickles: worker processes read (and check) the stores themselves
    np.testing.assert_array_equal(ds.test_acc.compute(scheduler="processes", num_workers=2).values, want)


def test_to_dataframe_zarr_netcdf(sweep, tmp_path):
    import xarray as xr

    res, points = sweep
    ds = topolearn.open_sweep(res).metrics
    want = _expected(res, ds)
    runs = list(ds["run"].values)

    df = ds.to_dataframe()
    assert len(df) == ds.sizes["run"] * ds.sizes["snapshot"]
    assert df.loc[(runs[0], 3), "test_acc"] == want["test_acc"][0, 3] and df.loc[(runs[0], 3), "lr"] == ds.lr.values[0]

    ds.to_zarr(tmp_path / "m.zarr", mode="w", consolidated=False)
    ds.to_netcdf(tmp_path / "m.nc")  # the default netCDF engine of this environment (scipy: netCDF3)
    for back in (xr.open_zarr(tmp_path / "m.zarr", consolidated=False), xr.open_dataset(tmp_path / "m.nc")):
        assert list(back["run"].values) == runs and back.attrs["swept"] == ds.attrs["swept"]
        np.testing.assert_array_equal(back["lr"].values, ds["lr"].values)
        for name, values in want.items():
            np.testing.assert_array_equal(back[name].values, values)
        np.testing.assert_array_equal(back["progress"].values, ds["progress"].values)
        back.close()


def test_a_damaged_store_is_caught_when_a_chunk_is_computed(sweep):
    import os

    from topolearn.results import sweepdata
    from topolearn.store.checks import StoreError

    res, points = sweep
    ds = topolearn.open_sweep(res).metrics  # opened before the damage: the read later still checks
    rid, want = ds["run"].values[1], _expected(res, ds)["test_acc"]
    f = res / "runs" / rid / "snapshots.zarr" / "metrics" / "c" / "0" / "0"
    st, data = f.stat(), bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x01
    f.write_bytes(bytes(data))
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    sweepdata._open.cache_clear()  # as in a fresh process
    sweepdata._read_series.cache_clear()
    np.testing.assert_array_equal(ds.test_acc.isel(run=[0, 2]).values, want[[0, 2]])  # the others read
    with pytest.raises(StoreError, match="checksum mismatch in metrics/c/0/0; moved to"):
        ds.test_acc.values
    assert not (res / "runs" / rid / "snapshots.zarr").exists() and (res / "quarantine").is_dir()
