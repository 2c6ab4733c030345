"""The parse-time store check (topolearn.storecheck): what counts as damaged, and quarantine."""

import json
from pathlib import Path

import pytest
from fake_results import make_point, write_run

from topolearn.storecheck import TIMESTAMP_FILE, check_store, quarantine_bad_stores


def make_store(results: Path, **point) -> Path:
    """A complete synthetic run's store (tests/fake_results.py)."""
    return results / "runs" / write_run(results, make_point(**point)) / "snapshots.zarr"


def a_chunk(store: Path) -> Path:
    return sorted(p for p in (store / "weights" / "layer0").rglob("*") if p.is_file() and p.name != "zarr.json")[0]


def test_a_sound_store_passes_and_snakemakes_timestamp_is_ignored(tmp_path):
    store = make_store(tmp_path)
    (store / TIMESTAMP_FILE).touch()  # Snakemake adds it to directory() outputs after the job
    assert check_store(store) is None and check_store(store, deep=True) is None


@pytest.mark.parametrize("damage, expected", [
    (lambda s: a_chunk(s).unlink(), "missing file weights/layer0/"),
    (lambda s: a_chunk(s).write_bytes(a_chunk(s).read_bytes()[:-3]), "truncated or altered file weights/layer0/"),
    (lambda s: (s / "zarr.json").write_text("{not json"), "unreadable root metadata"),
    (lambda s: (s / "zarr.json").unlink(), "no zarr store here"),
])
def test_damage_is_named(tmp_path, damage, expected):
    store = make_store(tmp_path)
    damage(store)
    assert expected in check_store(store)


def test_an_interrupted_store_is_incomplete(tmp_path):
    store = make_store(tmp_path)
    meta = json.loads((store / "zarr.json").read_text())
    meta["attributes"]["complete"] = False
    (store / "zarr.json").write_text(json.dumps(meta))
    assert "store is incomplete" in check_store(store)


def test_a_same_size_corruption_needs_the_deep_check(tmp_path):
    store = make_store(tmp_path)
    chunk = a_chunk(store)
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 0xFF
    chunk.write_bytes(bytes(data))
    assert check_store(store) is None
    assert "checksum mismatch" in check_store(store, deep=True)


def test_quarantine_moves_only_damaged_stores_and_keeps_them(tmp_path):
    good = make_store(tmp_path / "results", lr=0.1)
    bad = make_store(tmp_path / "results", lr=0.2)
    a_chunk(bad).unlink()
    absent = tmp_path / "results" / "runs" / "cccccccccccc" / "snapshots.zarr"  # not trained yet: nothing to do
    quarantine = tmp_path / "results" / "quarantine"

    messages = quarantine_bad_stores([good, bad, absent], quarantine)

    assert len(messages) == 1 and "missing file" in messages[0] and "it will be rebuilt" in messages[0]
    assert good.exists() and not bad.exists() and not absent.exists()
    (moved,) = quarantine.iterdir()
    assert moved.name.startswith(f"{bad.parent.name}-") and str(moved) in messages[0]
    assert "missing file" in check_store(moved)  # kept as it was, for inspection
    assert quarantine_bad_stores([good, bad, absent], quarantine) == []  # nothing left to move
