"""The parse-time store check (topolearn.storecheck): what counts as damaged, and quarantine."""

import json
from pathlib import Path

import numpy as np
import pytest

from topolearn.storecheck import TIMESTAMP_FILE, check_store, quarantine_bad_stores
from topolearn.store import create_store, finalize_store, write_rows

N = 6


def make_store(path: Path) -> Path:
    """A small complete store: one hidden layer of 4 neurons, 6 snapshots in chunks of 2."""
    shapes = [(4, 8), (10, 4)]
    root = create_store(path, layer_shapes=shapes, bias=False, n_snapshots=N, probe_labels=np.arange(5),
                        n_classes=10, chunk=2, attrs={"run_id": path.parent.name})
    rows = {"step": np.arange(N), "epoch": np.linspace(0, 1, N), "train_loss": np.ones(N), "train_acc": np.ones(N),
            "test_loss": np.ones(N), "test_acc": np.ones(N), "probs": np.full((N, 5, 10), 0.1, np.float32)}
    rows |= {f"weights/layer{i}": np.arange(N * o * k, dtype=np.float32).reshape(N, o, k)
             for i, (o, k) in enumerate(shapes)}
    write_rows(root, 0, rows)
    finalize_store(path, N, {"diverged": False})
    return path


def a_chunk(store: Path) -> Path:
    return sorted(p for p in (store / "weights" / "layer0").rglob("*") if p.is_file() and p.name != "zarr.json")[0]


def test_a_sound_store_passes_and_snakemakes_timestamp_is_ignored(tmp_path):
    store = make_store(tmp_path / "a" / "snapshots.zarr")
    (store / TIMESTAMP_FILE).touch()  # Snakemake adds it to directory() outputs after the job
    assert check_store(store) is None and check_store(store, deep=True) is None


@pytest.mark.parametrize("damage, expected", [
    (lambda s: a_chunk(s).unlink(), "missing file weights/layer0/"),
    (lambda s: a_chunk(s).write_bytes(a_chunk(s).read_bytes()[:-3]), "truncated or altered file weights/layer0/"),
    (lambda s: (s / "zarr.json").write_text("{not json"), "unreadable root metadata"),
    (lambda s: (s / "zarr.json").unlink(), "no zarr store here"),
])
def test_damage_is_named(tmp_path, damage, expected):
    store = make_store(tmp_path / "a" / "snapshots.zarr")
    damage(store)
    assert expected in check_store(store)


def test_an_interrupted_store_is_incomplete(tmp_path):
    store = make_store(tmp_path / "a" / "snapshots.zarr")
    meta = json.loads((store / "zarr.json").read_text())
    meta["attributes"]["complete"] = False
    (store / "zarr.json").write_text(json.dumps(meta))
    assert "store is incomplete" in check_store(store)


def test_a_same_size_corruption_needs_the_deep_check(tmp_path):
    store = make_store(tmp_path / "a" / "snapshots.zarr")
    chunk = a_chunk(store)
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 0xFF
    chunk.write_bytes(bytes(data))
    assert check_store(store) is None
    assert "checksum mismatch" in check_store(store, deep=True)


def test_quarantine_moves_only_damaged_stores_and_keeps_them(tmp_path):
    runs = tmp_path / "results" / "runs"
    good = make_store(runs / "aaaaaaaaaaaa" / "snapshots.zarr")
    bad = make_store(runs / "bbbbbbbbbbbb" / "snapshots.zarr")
    a_chunk(bad).unlink()
    absent = runs / "cccccccccccc" / "snapshots.zarr"  # not trained yet: nothing to do
    quarantine = tmp_path / "results" / "quarantine"

    messages = quarantine_bad_stores([good, bad, absent], quarantine)

    assert len(messages) == 1 and "missing file" in messages[0] and "it will be rebuilt" in messages[0]
    assert good.exists() and not bad.exists() and not absent.exists()
    (moved,) = quarantine.iterdir()
    assert moved.name.startswith("bbbbbbbbbbbb-") and str(moved) in messages[0]
    assert "missing file" in check_store(moved)  # kept as it was, for inspection
    assert quarantine_bad_stores([good, bad, absent], quarantine) == []  # nothing left to move
