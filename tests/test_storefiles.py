"""Files of a snapshot store and of a finished run: one file per array, and nothing but the kept copy
left in scratch; stores of the older layout (a chunk per `checkpoint_every` rows) still work."""

import io
from pathlib import Path

import numpy as np
import pytest
import zarr

from conftest import TINY_CHUNK
from topolearn.store.checks import StoreError
from topolearn.store.fastread import read_arrays
from topolearn.store.layout import METRICS, METRICS_ARRAY, metric_table
from topolearn.store.snapshots import (_array, finalize_store, open_dataset, open_store, read_all_arrays, read_metrics,
                                       write_rows)
from topolearn.train import train_run

def chunk_files(store: Path) -> dict[str, list[str]]:
    """{array path: its chunk files}."""
    out = {}
    for meta in store.rglob("zarr.json"):
        if (meta.parent / "c").exists() or '"node_type": "array"' in meta.read_text():
            rel = meta.parent.relative_to(store).as_posix()
            out[rel] = sorted(p.relative_to(meta.parent).as_posix() for p in (meta.parent / "c").rglob("*")
                              if p.is_file()) if (meta.parent / "c").exists() else []
    return out


def test_a_trained_store_has_one_file_per_array_and_its_run_leaves_only_the_kept_copy(tiny_point, tmp_path):
    store, scratch = tmp_path / "snapshots.zarr", tmp_path / "scratch"
    train_run(tiny_point, store, scratch, chunk=TINY_CHUNK, log=io.StringIO())  # 25 snapshots, 4 blocks
    files = chunk_files(store)
    assert len(files) == 6 and all(len(f) == 1 for f in files.values()), files  # metrics, probs, labels, 3 layers
    # root, weights group, and metadata and chunk per array: what a run costs a quota in its store
    assert sum(1 for p in store.rglob("*") if p.is_file()) == 2 + 2 * 6
    assert sorted(p.name for p in scratch.iterdir()) == ["finished.zarr"]  # no lock, no checkpoint


def test_stores_with_one_array_per_metric_are_still_written_and_read(tmp_path):
    """Stores from before the metric table keep each metric in its own array: a resumed run writes
    the trainer's table rows into them, and every reader gives the same series as from a table."""
    path = tmp_path / "runs" / "0123456789ab" / "snapshots.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=3, attributes={"run_id": "0123456789ab", "complete": False})
    for name in METRICS:
        _array(root, name, (4,), (4,), "int64" if name == "step" else "float64", ["snapshot"],
               fill=-1 if name == "step" else np.nan)
    series = {"step": [0, 5, 10, 15], "epoch": [0, .5, 1, 1.5], "train_loss": [2.3, 1, .5, .25],
              "train_acc": [.1, .5, .8, .9], "test_loss": [2.3, 1.1, .6, .3], "test_acc": [.1, .4, .7, .85]}
    write_rows(root, 0, {METRICS_ARRAY: metric_table(series)[:2]})  # as the trainer writes
    write_rows(root, 2, {METRICS_ARRAY: metric_table(series)[2:]})
    finalize_store(path, 4, {})
    assert METRICS_ARRAY not in open_store(path) and (path / "test_acc" / "c" / "0").is_file()
    m = read_metrics(open_store(path))
    for name, values in series.items():
        np.testing.assert_array_equal(m[name], values)
        np.testing.assert_array_equal(read_arrays(path, (name,))[1][name], values)
    assert m.step.dtype == np.int64
    ds = open_dataset(path)
    np.testing.assert_array_equal(ds["test_acc"].values, series["test_acc"])
    np.testing.assert_array_equal(ds["step"].values, series["step"])


def test_metrics_by_name_go_into_the_table_together(tmp_path):
    root = zarr.open_group(str(tmp_path / "s.zarr"), mode="w", zarr_format=3)
    _array(root, METRICS_ARRAY, (3, 6), (3, 6), "float64", ["snapshot", "metric"])
    write_rows(root, 0, {name: np.arange(3) + i for i, name in enumerate(METRICS)})
    np.testing.assert_array_equal(root[METRICS_ARRAY][:, 4], [4, 5, 6])
    with pytest.raises(ValueError, match="written together"):
        write_rows(root, 0, {"test_acc": np.ones(3)})


def test_stores_of_several_chunks_per_array_are_still_written_and_read(tmp_path):
    """Stores from before one file per array (chunks of `checkpoint_every` rows): zarr writes them
    on resume, readers read them, and a damaged chunk is still one StoreError."""
    path = tmp_path / "runs" / "0123456789ab" / "snapshots.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=3, attributes={"run_id": "0123456789ab"})
    _array(root, "step", (5,), (2,), "int64", ["snapshot"], fill=-1)
    _array(root.create_group("weights"), "layer0", (5, 3, 4), (2, 3, 4), "float32", ["snapshot", "n", "i"])
    w = np.arange(60, dtype="f4").reshape(5, 3, 4)
    write_rows(root, 0, {"step": np.arange(3), "weights/layer0": w[:3]})
    write_rows(root, 3, {"step": np.arange(3, 5), "weights/layer0": w[3:]})
    assert len(chunk_files(path)["weights/layer0"]) == 3
    finalize_store(path, 5, {})
    got = read_all_arrays(path)
    np.testing.assert_array_equal(got["weights/layer0"], w)
    np.testing.assert_array_equal(got["step"], np.arange(5))
    chunk = path / "weights" / "layer0" / "c" / "1" / "0" / "0"
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 1
    chunk.write_bytes(bytes(data))
    try:
        open_store(path, deep=False, quarantine=False)["weights/layer0"][:]
    except StoreError as err:
        assert "checksum mismatch in weights/layer0/c/1/0/0" in str(err)
    else:
        raise AssertionError("a damaged chunk was read")
