"""Data changed after a run never cost finished results: data files are judged by content (the
sha256 each store records), not mtime; a run whose data really changed is retrained after its old
store is moved to results/superseded/; a dry run only reports; a half-written data file is refused
at plan time, before any store is touched."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from clusterutil import CLEAN_ENV, ok, points, smk, store_path, write_config
from test_data import _toy_images, _write_idx_set, idx_bytes

from topolearn.data import read_idx
from topolearn.store.datacheck import CACHE_FILE, FileHashes, changed_runs, check_data, verify_data
from topolearn.store.runlock import FINISHED
from topolearn.utils.runmode import inspecting_argv

WORKFLOW = Path(__file__).resolve().parents[1] / "workflow"
RID = "0123456789ab"


def fake_store(results: Path, rid: str, data_files: dict) -> Path:
    """A finished store's root metadata (all the data check reads) recording `data_files`."""
    store = results / "runs" / rid / "snapshots.zarr"
    store.mkdir(parents=True)
    attrs = {"complete": True, "run_id": rid, "params": {}, "data_files": data_files}
    (store / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group", "attributes": attrs}))
    return store


def sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def relabel_keeping_mtime(path: Path) -> None:
    """Other labels in the same file, its mtime set back (as `cp -p` or `touch -r` do)."""
    st = os.stat(path)
    y = read_idx(path)
    path.write_bytes(idx_bytes(((y + 1) % 4).astype(np.uint8)))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


# ---------------------------------------------------------------- hashing and comparing (no workflow)


def test_each_file_is_hashed_once_and_a_cache_keeps_unchanged_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"x" * 1000)
    b.write_bytes(b"y" * 1000)
    h = FileHashes(tmp_path / CACHE_FILE)
    assert [h.sha256(p) for p in (a, b, a, b, str(a))] == [sha(a), sha(b), sha(a), sha(b), sha(a)]
    assert h.hashed == 2 and h.sha256(tmp_path / "gone") is None
    h.save()
    again = FileHashes(tmp_path / CACHE_FILE)
    assert again.sha256(a) == sha(a) and again.hashed == 0  # from the cache

    time.sleep(0.05)  # file times are kept at a clock tick's resolution
    relabel = a.read_bytes().replace(b"x", b"z", 1)
    st = os.stat(a)
    a.write_bytes(relabel)
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime, same inode: ctime moved
    third = FileHashes(tmp_path / CACHE_FILE)
    assert third.sha256(a) == sha(a) != again.sha256(a) and third.hashed == 1


def test_a_store_is_stale_when_its_recorded_hash_differs(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    f, g = data / "f", data / "g"
    f.write_bytes(b"one")
    g.write_bytes(b"two")
    results = tmp_path / "results"
    same = fake_store(results, "aaaaaaaaaaaa", {str(f): sha(f), str(g): sha(g)})
    other = fake_store(results, "bbbbbbbbbbbb", {str(f): sha(f), str(g): "0" * 64})
    none = fake_store(results, "cccccccccccc", {})  # digits, toy data: nothing recorded
    stores = {p.parent.name: p for p in (same, other, none)}
    assert list(changed_runs(stores, FileHashes())) == ["bbbbbbbbbbbb"]
    moved = data.rename(tmp_path / "moved")  # the dataset moved (the config's path follows): same content
    now = {rid: [moved / "f", moved / "g"] for rid in stores}
    assert list(changed_runs(stores, FileHashes(), now)) == ["bbbbbbbbbbbb"]


def test_a_dry_run_reports_and_a_real_run_moves_the_store_aside_with_its_products(tmp_path):
    data = tmp_path / "labels"
    data.write_bytes(b"old labels")
    results = tmp_path / "results"
    store = fake_store(results, RID, {str(data): sha(data)})
    product = results / "mapper" / RID
    product.mkdir(parents=True)
    scratch = results / "checkpoints" / RID
    (scratch / FINISHED).mkdir(parents=True)  # its finished copy: must not be adopted by the retrain
    data.write_bytes(b"new labels")
    args = ({RID: store}, {RID: [data]}, {RID: scratch}, results)

    (line,) = check_data(*args, act=False)
    assert line.startswith(f"data changed for 1 run: {RID}; a real run moves")
    assert store.is_dir() and product.is_dir() and (scratch / FINISHED).is_dir()
    assert not (results / CACHE_FILE).exists()  # a dry run writes nothing

    summary, moved = check_data(*args, act=True)
    assert summary == f"data changed for 1 run: {RID}" and "store moved to" in moved
    (dest,) = (results / "superseded").iterdir()
    assert dest.name.startswith(RID) and (dest / "runs" / RID / "snapshots.zarr" / "zarr.json").is_file()
    assert (dest / "mapper" / RID).is_dir() and f"data changed since run {RID} was trained" in (dest / "REASON.txt").read_text()
    assert not store.exists() and not product.exists() and not (scratch / FINISHED).exists()
    assert check_data(*args, act=True) == []


def test_a_finished_copy_on_old_data_is_set_aside_not_adopted(tmp_path):
    """A run finished behind a dead Snakemake's back: no store, a finished copy a trainer would adopt."""
    data = tmp_path / "labels"
    data.write_bytes(b"old labels")
    results = tmp_path / "results"
    scratch = results / "checkpoints" / RID
    scratch.mkdir(parents=True)
    copy = fake_store(tmp_path / "elsewhere", RID, {str(data): sha(data)}).rename(scratch / FINISHED)
    data.write_bytes(b"new labels")
    store = results / "runs" / RID / "snapshots.zarr"
    lines = check_data({RID: store}, {RID: [data]}, {RID: scratch}, results, act=True)
    assert lines[0] == f"data changed for 1 run: {RID}" and not copy.exists()
    (dest,) = (results / "superseded").iterdir()
    assert (dest / FINISHED / "zarr.json").is_file() and (dest / "REASON.txt").is_file()


def test_verify_reports_changed_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("own").mkdir()
    Path("own/labels").write_bytes(b"labels")
    fake_store(Path("results"), RID, {"own/labels": sha(Path("own/labels"))})
    assert verify_data([Path("results/runs") / RID / "snapshots.zarr"]) == ([], 0)
    Path("own/labels").write_bytes(b"LABELS")
    monkeypatch.chdir(tmp_path / "own")  # relative paths: found beside the results folder too
    lines, n = verify_data([tmp_path / "results" / "runs" / RID / "snapshots.zarr"])
    assert n == 1 and lines[0].startswith(f"data changed for 1 run: {RID}")


def test_the_run_mode_is_read_as_snakemake_reads_its_command_line():
    assert inspecting_argv(["snakemake", "-n"]) and inspecting_argv(["snakemake", "-npq", "all"])
    assert inspecting_argv(["snakemake", "--touch", "-c1"]) and inspecting_argv(["snakemake", "--summ"])
    assert not inspecting_argv(["snakemake", "all", "--cores", "2", "--configfile", "c.yaml"])
    assert not inspecting_argv(["snakemake", "--report", "r.html", "--report-after-run", "-c1"])


# ---------------------------------------------------------------- the workflow


def own_data_sweep(wd: Path) -> tuple[dict, str]:
    """A one-run config on an own IDX folder (uncompressed), digits-sized, 1 epoch, 2 snapshots."""
    rng = np.random.default_rng(0)
    _write_idx_set(wd / "own", {"train": _toy_images(rng, 300), "t10k": _toy_images(rng, 60)}, gz=False)
    cfg = {"datasets": {"own": {"format": "idx", "path": "own"}},
           "sweep": {"base": {"dataset": "own", "depth": 1, "width": 4, "epochs": 1, "batch_size": 50,
                              "snapshots": 2, "probe_size": 20}}}
    write_config(wd, cfg)
    (rid,) = points({**cfg, "datasets": {"own": {"format": "idx", "path": str(wd / "own")}}})
    return cfg, rid


def listing(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_a_half_copied_data_file_is_refused_and_the_finished_store_kept(tmp_path):
    wd = tmp_path / "wd"
    _, rid = own_data_sweep(wd)
    target = [f"results/runs/{rid}/snapshots.zarr"]
    ok(smk(wd, target))
    before = listing(store_path(wd, rid))
    images = wd / "own" / "train-images-idx3-ubyte"
    raw = images.read_bytes()
    images.write_bytes(raw[: len(raw) // 2])  # an interrupted copy: newer, truncated

    for extra in (["-n"], []):
        res = smk(wd, target, extra=extra)
        assert res.returncode == 1
        assert f"topolearn: invalid config: own/train-images-idx3-ubyte: truncated: {len(raw) // 2} bytes" in res.stderr
        assert "Traceback" not in res.stderr + res.stdout
    assert listing(store_path(wd, rid)) == before

    images.write_bytes(raw)  # copied again, complete: newer, same content: nothing to do
    out = ok(smk(wd, target, extra=["-n"]))
    assert "Nothing to be done" in out and "data changed" not in out
    assert listing(store_path(wd, rid)) == before


@pytest.mark.slow
def test_relabelled_data_with_the_old_mtime_is_found_reported_and_retrained_keeping_the_old_store(tmp_path):
    wd = tmp_path / "wd"
    _, rid = own_data_sweep(wd)
    target = [f"results/runs/{rid}/snapshots.zarr"]
    ok(smk(wd, target))
    store = store_path(wd, rid)
    before = listing(store)
    labels = wd / "own" / "train-labels-idx1-ubyte"
    relabel_keeping_mtime(labels)

    out = ok(smk(wd, target, extra=["-n"]))  # reported, nothing moved
    assert f"topolearn: data changed for 1 run: {rid}; a real run moves their stores to results/superseded" in out
    assert listing(store) == before and not (wd / "results" / "superseded").exists()
    res = subprocess.run([sys.executable, "-m", "topolearn", "verify", "results"], cwd=wd, capture_output=True,
                         text=True, env={**CLEAN_ENV, "PYTHONPATH": str(WORKFLOW)})
    assert res.returncode == 1 and f"data changed for 1 run: {rid}" in res.stdout, res.stdout + res.stderr

    out = ok(smk(wd, target))
    assert f"topolearn: data changed for 1 run: {rid}" in out and "store moved to results/superseded/" in out
    (old,) = (wd / "results" / "superseded").iterdir()
    assert listing(old / "runs" / rid / "snapshots.zarr") == before  # kept, byte for byte
    new_files = json.loads((store / "zarr.json").read_text())["attributes"]["data_files"]
    assert new_files["own/train-labels-idx1-ubyte"] == sha(labels)
    assert "Nothing to be done" in ok(smk(wd, target, extra=["-n"]))


@pytest.mark.slow
def test_a_forced_retrain_that_fails_never_loses_the_finished_store(tmp_path):
    """Snakemake deletes a store before its retrain (--forcerun); when that retrain fails, the kept
    copy (topolearn.store.runlock) is set aside under results/superseded/ and the run trains again."""
    wd = tmp_path / "wd"
    _, rid = own_data_sweep(wd)
    target = [f"results/runs/{rid}/snapshots.zarr"]
    ok(smk(wd, target))
    before = {k: v for k, v in listing(store_path(wd, rid)).items() if k != ".snakemake_timestamp"}
    lock = wd / "results" / "checkpoints" / rid / "lock"
    lock.unlink(missing_ok=True)
    lock.mkdir(parents=True)  # the retrain cannot take its run lock: it fails
    res = smk(wd, target, extra=["--forcerun", *target])
    assert res.returncode != 0 and not store_path(wd, rid).exists(), res.stderr[-2000:]
    lock.rmdir()

    out = ok(smk(wd, target))
    assert f"topolearn: run {rid}: its store was deleted for a retrain that did not complete" in out
    (old,) = (wd / "results" / "superseded").iterdir()
    assert listing(old / "runs" / rid / "snapshots.zarr") == before  # the finished store, byte for byte
    assert store_path(wd, rid).is_dir() and "Nothing to be done" in ok(smk(wd, target, extra=["-n"]))
