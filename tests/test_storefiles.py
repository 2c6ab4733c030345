"""Files of a snapshot store and of a finished run: one file per array, and nothing but the kept copy
left in scratch; stores of the older layout (a chunk per `checkpoint_every` rows) still work."""

import io
from pathlib import Path

import numpy as np
import zarr

from conftest import TINY_CHUNK
from topolearn.store.checks import StoreError
from topolearn.store.snapshots import _array, finalize_store, open_store, read_all_arrays, write_rows
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
    assert len(files) == 11 and all(len(f) == 1 for f in files.values()), files  # 6 metrics, probs, labels, 3 layers
    assert sorted(p.name for p in scratch.iterdir()) == ["finished.zarr"]  # no lock, no checkpoint


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
