"""The parse-time store check (topolearn.store.checks): what counts as damaged, and quarantine."""

import json
from pathlib import Path

import numpy as np
import pytest
from fake_results import make_point, write_run

from topolearn.store.snapshots import StoreError, open_dataset, open_store, read_all_arrays, read_metrics
from topolearn.store.checks import (TIMESTAMP_FILE, check_store, check_stores, derived_paths, manifest_files,
                                  run_of)
from topolearn.results.summary import run_row


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
    flip_a_byte(a_chunk(store))
    assert check_store(store) is None
    assert "checksum mismatch" in check_store(store, deep=True)


def flip_a_byte(f: Path) -> None:
    data = bytearray(f.read_bytes())
    data[-1] ^= 0xFF
    f.write_bytes(bytes(data))


def derived(results: Path, rid: str) -> list[Path]:
    """Products of a run as the analysis writes them (its mapper folder with the tables of a run
    analysed alone, a stability scan, a figure folder)."""
    paths = [results / "mapper" / rid / "graphs.json", results / "mapper" / rid / "branches.tsv",
             results / "stability" / f"{rid}.tsv", results / "figures" / "runs" / rid / "weights.png"]
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("made from the store")
    return paths


def test_quarantine_moves_only_damaged_stores_and_keeps_them(tmp_path):
    good = make_store(tmp_path / "results", lr=0.1)
    bad = make_store(tmp_path / "results", lr=0.2)
    a_chunk(bad).unlink()
    absent = tmp_path / "results" / "runs" / "cccccccccccc" / "snapshots.zarr"  # not trained yet: nothing to do
    quarantine = tmp_path / "results" / "quarantine"

    messages = check_stores([good, bad, absent], quarantine)

    assert len(messages) == 1 and "missing file" in messages[0] and "rebuilds it" in messages[0]
    assert good.exists() and not bad.exists() and not absent.exists()
    (moved,) = quarantine.iterdir()
    assert moved.name.startswith(f"{bad.parent.name}-") and str(moved) in messages[0]
    kept = moved / "runs" / bad.parent.name / "snapshots.zarr"
    assert "missing file" in check_store(kept)  # kept as it was, for inspection
    assert "missing file" in (moved / "REASON.txt").read_text()
    assert check_stores([good, bad, absent], quarantine) == []  # nothing left to move


def test_a_damaged_store_takes_every_product_made_from_it_to_the_quarantine(tmp_path):
    results = tmp_path / "results"
    bad, good = make_store(results, lr=0.2), make_store(results, lr=0.1)
    rid = bad.parent.name
    products, others = derived(results, rid), derived(results, good.parent.name)
    flip_a_byte(a_chunk(bad))
    n_products = len(derived_paths(bad))  # its mapper folder (graphs, tables), stability scan, figure folder

    assert n_products == 3 and check_stores([good, bad], results / "quarantine") == []  # same size: the quick check passes
    (msg,) = check_stores([good, bad], results / "quarantine", deep=True)

    assert "checksum mismatch" in msg and f"with {n_products} product(s)" in msg
    (moved,) = (results / "quarantine").iterdir()
    for p in products:
        assert not p.exists() and (moved / p.relative_to(results)).read_text() == "made from the store"
    assert not (results / "mapper" / rid).exists() and not (results / "figures" / "runs" / rid).exists()
    assert all(p.exists() for p in others) and good.exists()


def test_derived_paths_need_the_workflow_layout(tmp_path):
    assert derived_paths(tmp_path / "s.zarr") == [] and run_of(tmp_path / "s.zarr") is None
    assert run_of(tmp_path / "runs" / "0123456789ab" / "snapshots.zarr") == (tmp_path, "0123456789ab")


# ---------------------------------------------------------------- readers quarantine what they find


def metric_chunk(store: Path) -> Path:
    return sorted(p for p in (store / "metrics" / "c").rglob("*") if p.is_file())[0]


def _mapper(store, tmp):
    from topolearn.sweep.mapper_settings import MAPPER_DEFAULTS
    from topolearn.learning_graphs.mapper import mapper_layer

    mapper_layer(store, "layer0", MAPPER_DEFAULTS, 0.1, tmp / "g.json", tmp / "g.html")


READERS = {
    "open_store": lambda store, tmp: open_store(store),
    "open_dataset": lambda store, tmp: open_dataset(store, group="weights"),
    "mapper": _mapper,
    "summary": lambda store, tmp: run_row(store),
}


@pytest.mark.parametrize("reader", READERS)
def test_each_reader_refuses_a_flipped_byte_and_quarantines_the_run(tmp_path, reader):
    results = tmp_path / "results"
    store = make_store(results)
    products = derived_paths(store)
    flip_a_byte(metric_chunk(store))
    with pytest.raises(StoreError, match="checksum mismatch in metrics/c/.*moved to .*quarantine"):
        READERS[reader](store, tmp_path)
    assert not store.exists() and products and not any(p.exists() for p in products)
    (moved,) = (results / "quarantine").iterdir()
    assert (moved / "runs" / store.parent.name / "snapshots.zarr" / "zarr.json").is_file()


def test_a_store_outside_the_workflow_layout_is_refused_but_not_moved(tmp_path):
    store = make_store(tmp_path / "results")
    copy = tmp_path / "copy.zarr"
    copy.mkdir()
    for rel, f in manifest_files(store):
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (copy / rel).write_bytes(f.read_bytes())
    (copy / "zarr.json").write_bytes((store / "zarr.json").read_bytes())
    flip_a_byte(metric_chunk(copy))
    with pytest.raises(StoreError, match="checksum mismatch"):
        open_store(copy)
    assert copy.exists() and not (tmp_path / "quarantine").exists()


def test_open_dataset_has_step_and_epoch_as_coordinates_and_no_warning(tmp_path, recwarn):
    store = make_store(tmp_path / "results")
    epochs = read_metrics(open_store(store))["epoch"].to_numpy()
    (store / TIMESTAMP_FILE).touch()
    root, weights = open_dataset(store), open_dataset(store, group="weights")
    for ds in (root, weights):
        assert {"step", "epoch"} <= set(ds.coords) and ds["epoch"].dims == ("snapshot",)
    assert "probs" in root.data_vars and "layer0" in weights.data_vars
    assert weights["layer0"].dims == ("snapshot", "neuron_layer0", "input_layer0")
    assert (weights["epoch"].values == epochs).all() and float(root["train_loss"].sum()) > 0
    assert not [w for w in recwarn if "snakemake_timestamp" in str(w.message)]


def test_a_plain_xarray_open_shows_the_metric_table(tmp_path):
    import xarray as xr

    store = make_store(tmp_path / "results")
    ds = xr.open_zarr(store, consolidated=False)
    assert ds["metrics"].dims == ("snapshot", "metric") and ds["metrics"].attrs["columns"][2] == "train_loss"
    named = open_dataset(store)  # the columns by name
    np.testing.assert_array_equal(named["train_loss"].values, ds["metrics"].values[:, 2])
