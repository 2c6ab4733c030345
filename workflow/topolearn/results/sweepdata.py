"""A sweep's results as labeled data for notebooks: `topolearn.open_sweep(results)`.

`SweepData.metrics` is an xarray Dataset with dims (run, snapshot): every point field is a coordinate
along `run`; step, epoch, train/test loss and accuracy (and InPCA progress when coords.tsv exists)
per snapshot. Store arrays are dask arrays, one chunk per run's store (like `xr.open_zarr`), so every
xarray operation takes them (where/drop, groupby, deepcopy, pickling, to_zarr, to_netcdf); a chunk is
read through the checked path (topolearn.store.snapshots.open_store) when computed, so a selection
reads and checks only the stores it touches, only when its values are needed. Runs with fewer
snapshots (a diverged run, another `snapshots`) are padded with NaN. Runs of the sweep table without
a store (not trained yet, quarantined) are named in a warning and left out of `metrics`
(`missing="keep"` keeps them as NaN rows, `missing="raise"` refuses); `.missing` lists them. The
tables (summary, branches, events, curves, symmetry, layer tables, InPCA coordinates and stress) are
pandas frames read on first access; the analysis tables of every run of the sweep table, wherever
its analysis stamp says they are (topolearn.analysis.tables: one set per analysis batch), and of one
run by `.run_tables(run_id)`.
"""

import functools
import os
import threading
import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from ..analysis.tables import run_tables, sweep_tables
from ..store.snapshots import METRICS, open_store, read_metric_series, snapshot_count
from ..sweep.table import read_sweep_table, shown_fields, varied_fields
from ..utils.tables import read_tsv
from .summary import read_summary


# A store's reads are serialized (its CheckedStore records checked files and quarantines once);
# different stores are read in parallel. Module-level, so no task of the graph holds a lock.
_LOCKS = [threading.Lock() for _ in range(64)]


def _read_row(path: str | None, name: str, n_snapshots: int) -> np.ndarray:
    """One dask chunk: (1, n_snapshots) of metric `name` of the store at `path`, NaN-padded (NaN
    throughout for a run without a store). A plain function of strings: the task pickles."""
    out = np.full((1, n_snapshots), np.nan)
    if path is not None:
        with _LOCKS[hash(path) % len(_LOCKS)]:
            col = _read_metric(path, name, _stamp(path))[:n_snapshots]
        out[0, : len(col)] = col
    return out


def _metric_array(stores: list[str | None], name: str, n_snapshots: int, token: str) -> da.Array:
    """(run, snapshot) dask array of one metric, one chunk per run's store (as xr.open_zarr has one
    per zarr chunk); each chunk reads through the checked path when computed."""
    key = f"open_sweep-{name}-{token}"
    dsk = {(key, i, 0): (_read_row, path, name, n_snapshots) for i, path in enumerate(stores)}
    graph = HighLevelGraph.from_collections(key, dsk, dependencies=())
    return da.Array(graph, key, chunks=((1,) * len(stores), (n_snapshots,)), dtype=np.float64)


def _stamp(path: str) -> tuple | None:
    """Which store is at `path` now (a rebuilt store is a new file): cached reads never mix two."""
    try:
        st = os.stat(os.path.join(path, "zarr.json"))
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


@functools.lru_cache(maxsize=4096)
def _open(path: str, stamp):
    """A run's store, opened once: each file is checked (size, CRC32) when first read, so only
    what a selection reads is checked; a damaged one raises StoreError and is quarantined."""
    return open_store(path, deep=False)


@functools.lru_cache(maxsize=4096)
def _read_series(path: str, stamp) -> dict[str, np.ndarray]:
    """Every metric of a store at once: they are one array (store.layout)."""
    return {k: v.astype(float) for k, v in read_metric_series(_open(path, stamp)).items()}


def _read_metric(path: str, name: str, stamp) -> np.ndarray:
    return _read_series(path, stamp)[name]


def _n_snapshots(path: Path) -> int:
    return int(snapshot_count(_open(str(path), _stamp(str(path)))))


class SweepData:
    """A sweep's results folder as labeled data (see the module doc)."""

    def __init__(self, results="results", missing: str = "drop"):
        if missing not in ("drop", "keep", "raise"):
            raise ValueError(f"missing: {missing!r} is invalid; allowed: drop, keep, raise")
        self.results = Path(results)
        self.params = read_sweep_table(self.results / "sweep.tsv")
        stores = [self.results / "runs" / r / "snapshots.zarr" for r in self.params["run_id"]]
        self.stores = [s if (s / "zarr.json").is_file() else None for s in stores]
        self.missing = [r for r, s in zip(self.params["run_id"], self.stores) if s is None]
        self._keep = missing == "keep"
        if self.missing:
            shown = ", ".join(self.missing[:5]) + (", ..." if len(self.missing) > 5 else "")
            msg = (f"{len(self.missing)} of {len(self.params)} runs of {self.results / 'sweep.tsv'} have no store "
                   f"(not trained yet, or quarantined): {shown}")
            if missing == "raise":
                raise FileNotFoundError(msg)
            warnings.warn(msg + ("; kept in .metrics as NaN rows" if self._keep else
                                 "; left out of .metrics (open_sweep(..., missing='keep') keeps them as NaN rows)"),
                          stacklevel=3)
        self.swept = varied_fields(self.params, count_missing=True)  # a field set for some runs only is swept

    @functools.cached_property
    def metrics(self) -> xr.Dataset:
        """(run, snapshot) metrics of every run, lazily read; point fields as `run` coordinates."""
        keep = [self._keep or s is not None for s in self.stores]
        stores, params = [s for s, k in zip(self.stores, keep) if k], self.params[keep]
        n = max([_n_snapshots(s) for s in stores if s is not None] or [0])
        paths = [None if s is None else str(s) for s in stores]
        token = tokenize(paths, [p and _stamp(p) for p in paths], n)  # a rebuilt store is a new graph
        data = {m: (("run", "snapshot"), _metric_array(paths, m, n, token)) for m in METRICS}
        coords = {"run": params["run_id"].to_numpy(), "snapshot": np.arange(n)}
        for c in shown_fields(self.params):  # no NaN toy coordinates (noise, turns, ...) off toy data
            if c in params:
                coords[c] = ("run", params[c].to_numpy())
        ds = xr.Dataset(data, coords=coords,  # netCDF attributes hold a string, not a list of them
                        attrs={"results": str(self.results), "swept": " ".join(self.swept)})
        if self._has("inpca/coords.tsv"):
            ds["progress"] = self._progress(ds)
        return ds

    def _progress(self, ds) -> xr.DataArray:
        pts = self.inpca_coords[self.inpca_coords["kind"] == "checkpoint"]
        grid = np.full((ds.sizes["run"], ds.sizes["snapshot"]), np.nan)
        row = {r: i for i, r in enumerate(ds["run"].values)}
        ok = pts["run_id"].isin(row)
        grid[pts.loc[ok, "run_id"].map(row).to_numpy(int), pts.loc[ok, "snapshot"].to_numpy(int)] = pts.loc[ok, "progress"]
        return xr.DataArray(grid, dims=("run", "snapshot"),
                            attrs={"long_name": "geodesic progress ignorance -> truth (InPCA)"})

    def _has(self, rel: str) -> bool:
        return (self.results / rel).is_file()

    def _table(self, rel: str) -> pd.DataFrame:
        p = self.results / rel
        return read_tsv(p, dtype={"run_id": str}) if p.is_file() else pd.DataFrame()

    @functools.cached_property
    def _analysis(self) -> dict[str, pd.DataFrame]:
        """Every analysis table of the sweep's runs (each batch's table folder read once)."""
        return sweep_tables(self.results, list(self.params["run_id"]))

    @functools.cached_property
    def summary(self) -> pd.DataFrame:
        return read_summary(self.results / "summary.tsv") if self._has("summary.tsv") else pd.DataFrame()

    @property
    def branches(self) -> pd.DataFrame:
        """Learning-graph metrics, one row per run and layer (docs/tables.md)."""
        return self._analysis["branches"]

    @property
    def events(self) -> pd.DataFrame:
        """Branching events with their paired accuracy jumps."""
        return self._analysis["events"]

    @property
    def curves(self) -> pd.DataFrame:
        """Branching curves: one row per run, layer and snapshot."""
        return self._analysis["curve"]

    @property
    def symmetry(self) -> pd.DataFrame:
        """Symmetry tables: one row per run and layer."""
        return self._analysis["symmetry"]

    @property
    def layer_tables(self) -> pd.DataFrame:
        """Layer representations of toy-data runs: one row per run, measured snapshot and layer."""
        return self._analysis["layers"]

    def run_tables(self, run_id: str) -> dict[str, pd.DataFrame]:
        """One run's analysis tables, {branches, curve, events, symmetry, layers: its rows}."""
        return run_tables(self.results, run_id)

    @functools.cached_property
    def inpca_coords(self) -> pd.DataFrame:
        return self._table("inpca/coords.tsv")

    @functools.cached_property
    def inpca_stress(self) -> pd.DataFrame:
        return self._table("inpca/stress.tsv")

    def store(self, run_id: str):
        """The run's zarr group (weights, biases, probs), opened after the store checks."""
        return open_store(self.results / "runs" / run_id / "snapshots.zarr")

    def __repr__(self) -> str:
        gone = f" ({len(self.missing)} without a store)" if self.missing else ""
        return f"SweepData({str(self.results)!r}: {len(self.params)} runs{gone}, swept {', '.join(self.swept) or 'nothing'})"


def open_sweep(results="results", missing: str = "drop") -> SweepData:
    """The sweep in `results` as labeled data: `.metrics` (xarray, lazy), `.params`, `.summary`,
    `.branches`, `.events`, `.curves`, `.symmetry`, `.layer_tables`, `.inpca_coords`, `.inpca_stress`
    (pandas), `.run_tables(run_id)`, `.store(run_id)`. Runs without
    a store are named in a warning and, by `missing`, left out of `.metrics` ("drop"), kept as NaN
    rows ("keep") or refused ("raise"); `.missing` lists them."""
    return SweepData(results, missing)
