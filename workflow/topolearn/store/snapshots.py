"""The snapshot store: one zarr v3 group per run (the contract is written down in docs/store.md).

Writers fill a store under a scratch path and move it into place only once it is complete;
readers go through `open_store`, which refuses incomplete or damaged stores.
"""

import asyncio
import copy
import os
import platform
import shutil
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import zarr
from zarr.codecs import BloscCodec
from zarr.storage import LocalStore, WrapperStore

from .._version import __version__
# The cheap checks live in a module without zarr (the workflow runs them at parse time).
from .checks import StoreError, check_store, quarantine_run, run_of
from .checks import crc32 as _crc
from .checks import manifest_files as _files
from .layout import METRICS, METRICS_ARRAY, SNAPSHOT_COORDS, metric_columns, metric_table, stored_names, with_columns

warnings.filterwarnings("ignore", message=r"Object at \.snakemake_timestamp is not recognized")


def library_versions() -> dict:
    import numcodecs
    import torch

    return {"python": platform.python_version(), "topolearn": __version__, "torch": torch.__version__,
            "numpy": np.__version__, "zarr": zarr.__version__, "numcodecs": numcodecs.__version__}


def codec():
    """Blosc lz4 with byte shuffle: on weights and predictions it compresses better than zarr's
    default zstd (probs 0.67 of raw against 0.85) and encodes 2-10x, decodes 5x faster."""
    return BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")


def _array(group, name, shape, chunks, dtype, dims, fill=np.nan, attrs=None):
    return group.create_array(name, shape=shape, chunks=chunks, dtype=dtype, dimension_names=dims,
                              fill_value=fill, attributes=attrs, compressors=codec())


# Attributes go in with the node they belong to, and later in one update_attributes: zarr's
# `attrs[key] = value` and `attrs.update(...)` rewrite the node's metadata once per key.


def create_store(path, *, layer_shapes, bias: bool, n_snapshots: int, probe_labels, n_classes: int,
                 chunk: int, attrs: dict, conv_shapes=()) -> zarr.Group:
    """Create an empty store with every array preallocated to `n_snapshots` rows, each array one
    chunk, one file (`chunk`, the snapshots written at a time, does not shape the files: a store is
    about a dozen files whatever its snapshot count; zarr rewrites the chunk at each write). The six
    metric series are the columns of one array (store.layout).

    layer_shapes: [(n_neurons, n_inputs)] per dense weight layer, layer0 first, output last.
    conv_shapes: [(filters, in_channels, k, k)] per conv layer of a CNN, conv0 first: `weights/conv{i}`
    holds each filter as a row of in_channels * k * k weights (torch's order), its shape in the
    array's `kernel_shape` attr.
    """
    root = zarr.open_group(str(path), mode="w", zarr_format=3, attributes={**attrs, "complete": False})
    c = max(1, n_snapshots)
    _array(root, METRICS_ARRAY, (n_snapshots, len(METRICS)), (c, len(METRICS)), "float64", ["snapshot", "metric"],
           attrs={"columns": list(METRICS)})
    n_probe = len(probe_labels)
    _array(root, "probs", (n_snapshots, n_probe, n_classes), (c, n_probe, n_classes), "float32",
           ["snapshot", "sample", "class"])
    labels = _array(root, "probe_labels", (n_probe,), (n_probe,), "int64", ["sample"], fill=-1)
    labels[:] = np.asarray(probe_labels, dtype=np.int64)
    weights = root.create_group("weights")
    biases = root.create_group("biases") if bias else None
    for i, (n_out, n_in) in enumerate(layer_shapes):
        _array(weights, f"layer{i}", (n_snapshots, n_out, n_in), (c, n_out, n_in), "float32",
               ["snapshot", f"neuron_layer{i}", f"input_layer{i}"])
        if biases is not None:
            _array(biases, f"layer{i}", (n_snapshots, n_out), (c, n_out), "float32",
                   ["snapshot", f"neuron_layer{i}"])
    for i, shape in enumerate(conv_shapes):
        n_in = int(np.prod(shape[1:]))
        _array(weights, f"conv{i}", (n_snapshots, shape[0], n_in), (c, shape[0], n_in), "float32",
               ["snapshot", f"filter_conv{i}", f"input_conv{i}"], attrs={"kernel_shape": [int(d) for d in shape]})
        if biases is not None:
            _array(biases, f"conv{i}", (n_snapshots, shape[0]), (c, shape[0]), "float32",
                   ["snapshot", f"filter_conv{i}"])
    return root


def write_rows(root: zarr.Group, start: int, rows: dict) -> None:
    """Write a block of consecutive snapshots; `rows` maps array paths to (k, ...) arrays."""
    write_blocks([(root, start, rows)])


def write_blocks(blocks: list[tuple[zarr.Group, int, dict]]) -> None:
    """write_rows for many (store or {path: array}, start, rows) at once, as one batch of zarr's
    asynchronous writes: a pack flushes every network's store together, and each synchronous write
    pays a hand-off to zarr's event loop that costs more than the write itself."""
    writes = [(root[name], start, np.asarray(block)) for root, start, rows in blocks
              for name, block in _in_layout(root, rows).items()]
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop running here (scripts, jobs): one batch
        async def all_writes():
            await asyncio.gather(*(a.async_array.setitem(slice(s, s + len(b)), b) for a, s, b in writes))

        if writes:
            asyncio.run(all_writes())
        return
    for a, s, b in writes:  # inside a running loop (a notebook): zarr's synchronous API
        a[s:s + len(b)] = b


def _in_layout(root, rows: dict) -> dict:
    """`rows` as the store keeps them: metrics given by name go into the metric table (all six
    together), a table goes into the per-metric arrays of a store from before the table (resumed)."""
    named = [n for n in METRICS if n in rows]
    if METRICS_ARRAY in root and named:
        if len(named) < len(METRICS):
            raise ValueError(f"rows hold metrics {named}; a store's metric rows are written together: {list(METRICS)}")
        return {**{k: v for k, v in rows.items() if k not in METRICS}, METRICS_ARRAY: metric_table(rows)}
    if METRICS_ARRAY in rows and METRICS_ARRAY not in root:
        return {**{k: v for k, v in rows.items() if k != METRICS_ARRAY}, **metric_columns(rows[METRICS_ARRAY])}
    return rows


def finalize_store(path, n_recorded: int, attrs: dict) -> None:
    """Trim to the snapshots actually recorded, record a file manifest, then mark complete.

    `complete: true` is the last write: a store without it was interrupted.
    """
    path = Path(path)
    root = zarr.open_group(str(path), mode="r+")
    n_total = _metrics_node(root).shape[0]
    if n_recorded < n_total:  # a diverged run keeps only what it recorded
        for name, arr in _all_arrays(root):
            if arr.metadata.dimension_names and arr.metadata.dimension_names[0] == "snapshot":
                arr.resize((n_recorded,) + arr.shape[1:])
    manifest = {rel: [f.stat().st_size, _crc(f)] for rel, f in _files(path)}
    root.update_attributes({**attrs, "n_snapshots": int(n_recorded), "manifest": manifest})
    root.update_attributes({"complete": True})


def store_arrays(root: zarr.Group) -> dict:
    """{array path: array} of a store, e.g. `weights/layer0`."""
    return dict(_all_arrays(root))


def _all_arrays(group, prefix=""):
    for name, arr in group.arrays():
        yield prefix + name, arr
    for name, sub in group.groups():
        yield from _all_arrays(sub, prefix + name + "/")


def read_all_arrays(path) -> dict[str, np.ndarray]:
    """Every array of a store by its path in the group (e.g. `weights/layer0`), as numpy (checked
    as it is read: open_store), and each metric by its name (`step`, ..., `test_acc`)."""
    out = {name: arr[:] for name, arr in _all_arrays(open_store(path, deep=False))}
    return {**out, **metric_columns(out[METRICS_ARRAY])} if METRICS_ARRAY in out else out


def _refuse(path, reason: str, quarantine: bool) -> StoreError:
    """The error for a store that must not be read. A damaged store of the workflow's layout is
    quarantined at once with everything made from it (checks.quarantine_run), so that the next run
    rebuilds it and no number from it stays standing; a missing store is left to the workflow."""
    if quarantine and Path(path).exists() and run_of(path) is not None:
        reason = quarantine_run(path, reason) or reason
    return StoreError(reason)


def verify_store(path, deep: bool | tuple = True, quarantine: bool = True) -> None:
    """Raise StoreError if the store is not sound (and quarantine it, unless `quarantine=False`:
    a dry run or an inspection that only reports)."""
    reason = check_store(path, deep=deep)
    if reason is not None:
        raise _refuse(path, reason, quarantine)


class CheckedStore(WrapperStore):
    """A store's files as zarr reads them, each compared once with the manifest (size and CRC32 of
    the very bytes zarr decodes) before zarr sees it: a damaged chunk or array metadata raises
    StoreError naming the store and the file, never becomes numbers, even when the damage came
    after the store was opened (a lazy read hours later). The root `zarr.json` holds the manifest:
    it is checked for completeness and readability when the store is opened."""

    def __init__(self, path, quarantine: bool = True):
        super().__init__(LocalStore(str(path), read_only=True))
        self.path, self.quarantine = Path(path), quarantine
        self.manifest: dict | None = None  # set by open_store; None: nothing to compare with
        self._verified: set[str] = set()
        self._damage: str | None = None  # once damaged (and moved), every later read says so again

    def _with_store(self, store):
        new = copy.copy(self)  # the same manifest and checked files
        new._store = store
        return new

    def _fail(self, reason: str):
        if self._damage is None:
            self._damage = str(_refuse(self.path, f"{self.path}: {reason}", self.quarantine))
        raise StoreError(self._damage)

    def _check(self, key: str, buf) -> None:
        if self.manifest is None:
            return
        expected = self.manifest.get(key)
        if expected is None:
            if buf is not None:
                self._fail(f"file {key} is not in the manifest")
            return
        if buf is None:
            self._fail(f"missing file {key}")
        data = buf.as_numpy_array()
        if data.nbytes != expected[0]:
            self._fail(f"truncated or altered file {key} ({data.nbytes} bytes, expected {expected[0]})")
        if zlib.crc32(data) != expected[1]:
            self._fail(f"checksum mismatch in {key}")
        self._verified.add(key)

    async def get(self, key, prototype=None, byte_range=None):
        if self._damage is not None:
            raise StoreError(self._damage)
        if key == "zarr.json" or key in self._verified:
            return await self._store.get(key, prototype, byte_range)
        buf = await self._store.get(key, prototype)  # the whole file, even for a range: the CRC covers it
        self._check(key, buf)
        return buf if byte_range is None else await self._store.get(key, prototype, byte_range)

    async def get_partial_values(self, prototype, key_ranges):
        return [await self.get(key, prototype, byte_range) for key, byte_range in key_ranges]

    async def _get_many(self, requests):
        for key, prototype, byte_range in requests:
            yield key, await self.get(key, prototype, byte_range)


def open_store(path, verify: bool = True, deep: bool | tuple = True, quarantine: bool = True) -> zarr.Group:
    """Open a complete store read-only; raise StoreError (and quarantine, unless `quarantine=False`)
    for anything else. With `verify`, every file zarr reads is checked against the manifest as it
    is read (CheckedStore). `deep` checks more up front, before anything is read: CRC32 of every
    file (True), of the named top-level arrays only (e.g. METRICS), or nothing but the complete
    flag (False: the cheapest open, each file checked once when read). `verify=False` is zarr's
    plain, unchecked open (benchmarks, writers)."""
    if not verify:
        return zarr.open_group(str(path), mode="r", zarr_format=3)
    path = Path(path)
    if deep is not False:
        verify_store(path, deep, quarantine)
    store = CheckedStore(path, quarantine=quarantine)
    try:
        root = zarr.open_group(store=store, mode="r", zarr_format=3)
        attrs = root.attrs.asdict()
    except StoreError:
        raise
    except Exception as exc:  # no store, or unreadable root metadata
        raise _refuse(path, check_store(path) or f"{path}: unreadable store ({type(exc).__name__}: {exc})",
                      quarantine) from None
    if attrs.get("complete") is not True:
        raise _refuse(path, check_store(path) or f"{path}: store is incomplete", quarantine)
    store.manifest = attrs.get("manifest")  # every finished store has one (finalize_store)
    return root


def open_checked(path):
    """Open a store after the check of what the summary, InPCA and sweep figures read (CRC32 of the
    metrics and predictions, sizes of the weights): a damaged store is quarantined (open_store)."""
    return open_store(path, deep=(METRICS_ARRAY, *METRICS, "probs", "probe_labels"))


def open_dataset(path, group: str | None = None, verify: bool = True):
    """One group of a store as an xarray.Dataset (root: metrics, probs; "weights", "biases"), after
    the deep check (StoreError and quarantine when damaged); later (lazy) reads are checked too.
    `step` and `epoch` are coordinates of the `snapshot` dimension in every group."""
    import xarray as xr

    store = open_store(path).store if verify else str(path)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Object at \.snakemake_timestamp is not recognized")
        ds = xr.open_zarr(store, group=group, consolidated=False)
        root = ds if group is None else xr.open_zarr(store, consolidated=False)
    if METRICS_ARRAY in root:  # the table's columns as variables, as in stores that keep one array each
        table = root[METRICS_ARRAY]
        cols = {name: table.isel(metric=i, drop=True) for i, name in enumerate(METRICS)}
        cols["step"] = cols["step"].fillna(-1).astype(np.int64)
        ds = ds.drop_vars(METRICS_ARRAY, errors="ignore")
        ds = ds.assign(**{k: v for k, v in cols.items() if k not in SNAPSHOT_COORDS}) if group is None else ds
        ds = ds.assign_coords(step=cols["step"], epoch=cols["epoch"])
    elif group is not None:  # the metrics live in the root group
        ds = ds.assign_coords(step=root["step"], epoch=root["epoch"])
    return ds.set_coords([c for c in SNAPSHOT_COORDS if c in ds.data_vars])


def layer_count(root: zarr.Group) -> int:
    """Dense weight layers (`layer{i}`; a CNN's `conv{i}` are counted by conv_count)."""
    return sum(1 for k in root["weights"].array_keys() if k.startswith("layer"))


def conv_count(root: zarr.Group) -> int:
    """Conv layers of a CNN's store (`weights/conv{i}`); 0 for an MLP's."""
    return sum(1 for k in root["weights"].array_keys() if k.startswith("conv"))


def read_weights(root: zarr.Group, layer: int | str) -> np.ndarray:
    """(snapshot, neuron, input) float32: row n is neuron n's incoming weights."""
    name = layer if isinstance(layer, str) else f"layer{layer}"
    return root["weights"][name][:]


def read_biases(root: zarr.Group, layer: int | str) -> np.ndarray | None:
    name = layer if isinstance(layer, str) else f"layer{layer}"
    return root["biases"][name][:] if "biases" in root else None


def _metrics_node(root: zarr.Group) -> zarr.Array:
    """The array whose rows are the store's snapshots: the metric table, or `step` in older stores."""
    return root[METRICS_ARRAY] if METRICS_ARRAY in root else root["step"]


def snapshot_count(root: zarr.Group) -> int:
    """Rows of the store's snapshot dimension (recorded or, while training, preallocated)."""
    return _metrics_node(root).shape[0]


def snapshot_chunk(root: zarr.Group) -> int:
    """Snapshots per chunk of the store's snapshot dimension."""
    return _metrics_node(root).chunks[0]


def read_metric_series(root: zarr.Group, names=METRICS) -> dict[str, np.ndarray]:
    """{name: array} of top-level arrays, a metric's name (METRICS) giving its series from either
    store layout (the metric table's column, or its own array in older stores)."""
    stored = stored_names(names, METRICS_ARRAY in root)
    return with_columns({name: root[name][:] for name in stored}, names)


def read_metrics(root: zarr.Group) -> pd.DataFrame:
    """One row per snapshot: step, epoch, train/test loss and accuracy."""
    return pd.DataFrame(read_metric_series(root))


def move_into_place(src, dst) -> None:
    """Atomic on one filesystem: the final path only ever holds a complete store."""
    dst = Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)
