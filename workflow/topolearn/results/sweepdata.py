"""A sweep's results as labeled data for notebooks: `topolearn.open_sweep(results)`.

`SweepData.metrics` is an xarray Dataset with dims (run, snapshot): every point field is a coordinate
along `run`; step, epoch, train/test loss and accuracy (and InPCA progress when coords.tsv exists)
per snapshot. Store arrays are read lazily (xarray's lazy indexing over a backend array, no dask):
a selection reads only the stores it touches, only when its values are needed. Runs with fewer
snapshots (a diverged run, another `snapshots`) are padded with NaN. The tables (summary, branches,
events, InPCA coordinates and stress) are pandas frames read on first access.
"""

import functools
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

from ..store.snapshots import METRICS, open_store
from ..sweep.table import read_sweep_table, varied_fields
from ..utils.tables import read_tsv
from .summary import read_summary


class _StoreMetric(BackendArray):
    """(run, snapshot) view of one metric over all runs' stores, NaN-padded; reads on indexing."""

    def __init__(self, stores: list[Path | None], name: str, n_snapshots: int):
        self.stores, self.name = stores, name
        self.shape = (len(stores), n_snapshots)
        self.dtype = np.dtype("float64")
        self._lock = threading.Lock()

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.OUTER, self._raw)

    def _raw(self, key):
        idx = [np.arange(n)[k] for k, n in zip(key, self.shape)]
        runs, snaps = (np.atleast_1d(i) for i in idx)
        out = np.full((len(runs), len(snaps)), np.nan)
        for i, r in enumerate(runs):
            col = self._column(int(r))
            ok = snaps < len(col)
            out[i, ok] = col[snaps[ok]]
        return out.reshape(np.shape(idx[0]) + np.shape(idx[1]))

    def _column(self, r: int) -> np.ndarray:
        path = self.stores[r]
        if path is None:
            return np.array([])
        with self._lock:
            return _read_metric(str(path), self.name)


@functools.lru_cache(maxsize=4096)
def _read_metric(path: str, name: str) -> np.ndarray:
    return open_store(path, verify=False)[name][:].astype(float)


def _n_snapshots(path: Path) -> int:
    import json

    return int(json.loads((path / "step" / "zarr.json").read_text())["shape"][0])


class SweepData:
    """A sweep's results folder as labeled data (see the module doc)."""

    def __init__(self, results="results"):
        self.results = Path(results)
        self.params = read_sweep_table(self.results / "sweep.tsv")
        stores = [self.results / "runs" / r / "snapshots.zarr" for r in self.params["run_id"]]
        self.stores = [s if (s / "zarr.json").is_file() else None for s in stores]
        self.swept = varied_fields(self.params, count_missing=True)  # a field set for some runs only is swept

    @functools.cached_property
    def metrics(self) -> xr.Dataset:
        """(run, snapshot) metrics of every run, lazily read; point fields as `run` coordinates."""
        n = max([_n_snapshots(s) for s in self.stores if s is not None] or [0])
        data = {m: (("run", "snapshot"), indexing.LazilyIndexedArray(_StoreMetric(self.stores, m, n)))
                for m in METRICS}
        coords = {"run": self.params["run_id"].to_numpy(), "snapshot": np.arange(n)}
        for c in self.params.columns[1:]:
            coords[c] = ("run", self.params[c].to_numpy())
        ds = xr.Dataset(data, coords=coords, attrs={"results": str(self.results), "swept": self.swept})
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

    def _tables(self, pattern: str) -> pd.DataFrame:
        frames = [read_tsv(p, dtype={"run_id": str}) for p in sorted(self.results.glob(pattern)) if p.stat().st_size]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    @functools.cached_property
    def summary(self) -> pd.DataFrame:
        return read_summary(self.results / "summary.tsv") if self._has("summary.tsv") else pd.DataFrame()

    @functools.cached_property
    def branches(self) -> pd.DataFrame:
        return self._tables("branches/*.tsv")

    @functools.cached_property
    def events(self) -> pd.DataFrame:
        return self._tables("branching/*.events.tsv")

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
        return f"SweepData({str(self.results)!r}: {len(self.params)} runs, swept {', '.join(self.swept) or 'nothing'})"


def open_sweep(results="results") -> SweepData:
    """The sweep in `results` as labeled data: `.metrics` (xarray, lazy), `.params`, `.summary`,
    `.branches`, `.events`, `.inpca_coords`, `.inpca_stress` (pandas), `.store(run_id)`."""
    return SweepData(results)
