"""The sweep-wide readers' store reads (topolearn.store.fastread): the same arrays as zarr's checked
read, the plain decoder taken for the stores the workflow writes, zarr's path for any other layout,
and a damaged store refused and quarantined as by every reader."""

from pathlib import Path

import numpy as np
import pytest
import zarr
from fake_results import make_point, write_run

from topolearn.store import fastread
from topolearn.store.fastread import array_names, array_shape, read_arrays
from topolearn.store.checks import crc32, manifest_files
from topolearn.store.snapshots import METRICS, StoreError, open_store, read_metrics


def make_store(results: Path, **point) -> Path:
    return results / "runs" / write_run(results, make_point(**point)) / "snapshots.zarr"


def finish(path: Path) -> None:
    """Manifest and complete flag, as snapshots.finalize_store records them."""
    root = zarr.open_group(str(path), mode="r+")
    root.update_attributes({"manifest": {rel: [f.stat().st_size, crc32(f)] for rel, f in manifest_files(path)}})
    root.update_attributes({"complete": True})


def test_every_top_level_array_reads_as_zarr_reads_it_through_the_plain_decoder(tmp_path):
    store = make_store(tmp_path)
    root = open_store(store)
    names = [n for n, _ in root.arrays()]
    assert set(names) >= {"metrics", "probs", "probe_labels"}
    assert fastread._read_plain(store, tuple(names)) is not None, "the workflow's own layout takes the fast path"
    attrs, arrays = read_arrays(store, names)
    assert attrs["complete"] is True and attrs["manifest"]
    for name in names:
        ref = root[name][:]
        assert arrays[name].dtype == ref.dtype and arrays[name].shape == ref.shape, name
        np.testing.assert_array_equal(arrays[name], ref)
    assert array_shape(store, "probs") == root["probs"].shape
    assert array_names(attrs, "weights") == sorted(root["weights"].array_keys())
    by_name = read_arrays(store, METRICS)[1]  # the metric table's columns by name
    for name, values in read_metrics(root).items():
        np.testing.assert_array_equal(by_name[name], values.to_numpy())


def test_chunks_never_written_read_as_the_fill_value(tmp_path):
    path = tmp_path / "s.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    a = root.create_array("x", shape=(10,), chunks=(4,), dtype="float64", fill_value=np.nan)
    a[:4] = np.arange(4.0)  # chunks 1 and 2 hold only the fill value: zarr writes no file for them
    finish(path)
    assert not (path / "x" / "c" / "1").exists()
    np.testing.assert_array_equal(read_arrays(path, ["x"])[1]["x"], [0, 1, 2, 3] + [np.nan] * 6)


def test_another_layout_goes_to_zarr_and_reads_the_same(tmp_path):
    path = tmp_path / "s.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    a = root.create_array("x", shape=(10, 3), chunks=(2, 3), shards=(10, 3), dtype="float32")  # one file per array
    a[:] = np.arange(30, dtype=np.float32).reshape(10, 3)
    finish(path)
    assert fastread._read_plain(path, ("x",)) is None
    np.testing.assert_array_equal(read_arrays(path, ["x"])[1]["x"], a[:])
    assert array_shape(path, "x") == (10, 3)


def test_a_damaged_chunk_is_refused_and_the_store_quarantined(tmp_path):
    store = make_store(tmp_path)
    chunk = store / "metrics" / "c" / "0" / "0"
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 0xFF  # same size: only the CRC tells
    chunk.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="checksum mismatch in metrics/c/0/0"):
        read_arrays(store, METRICS)
    assert not store.exists() and any((tmp_path / "quarantine").iterdir())


def test_an_incomplete_store_is_refused(tmp_path):
    path = tmp_path / "s.zarr"
    zarr.open_group(str(path), mode="w", zarr_format=3).create_array("x", shape=(2,), dtype="float64")
    with pytest.raises(StoreError, match="incomplete"):
        read_arrays(path, ["x"])


def test_tables_with_a_float_format_are_written_as_pandas_writes_them(tmp_path):
    import pandas as pd

    from topolearn.utils.tables import write_tsv

    df = pd.DataFrame({"a": [0.123456789123, np.nan, np.inf, -1e-12], "b": np.float32([1.5, 2, 3, np.nan]),
                       "n": pd.array([1.25, None, 3, 4], dtype="Float64"), "i": [1, 2, 3, 4],
                       "s": ["x", None, "", "y"], "t": [True, False, True, False]})
    write_tsv(df, tmp_path / "new.tsv", float_format="%.8g")
    df.to_csv(tmp_path / "pandas.tsv", sep="\t", index=False, na_rep="NA", float_format="%.8g")
    assert (tmp_path / "new.tsv").read_text() == (tmp_path / "pandas.tsv").read_text()
