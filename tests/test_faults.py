"""What survives what: a cancelled SLURM job, a killed Snakemake, divergence, damaged stores (found
at parse time or by a reader, quarantined with their products and rebuilt), and a dataset file with a
wrong checksum."""

import gzip
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smkutil import jobs_in, runs_of

from clusterutil import (
    SWEEP,
    assert_stores_equal,
    attrs,
    copy_workdir,
    ok,
    pack_of,
    points,
    reference_run,
    slow_and_diverging,
    slurm_job,
    slurm_sweep_run,
    smk,
    smk_cmd,
    store_path,
    targets,
    write_config,
    CLEAN_ENV,
)
from topolearn.analysis.tables import run_tables
from topolearn.data import DataError, fetch_dataset
from topolearn.sweep.packing import group_id
from topolearn.store.snapshots import StoreError, check_store, open_store, read_metrics
from topolearn.store.checks import derived_paths
from topolearn.__main__ import main

pytestmark = pytest.mark.slow
FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return reference_run(tmp_path_factory)


def planned_jobs(workdir: Path, targets_=()):
    """(rule, wildcards, outputs) of every job a dry run plans, and the dry run's output."""
    out = ok(smk(workdir, targets_, extra=["-n"]))
    return jobs_in(out), out


# ---------------------------------------------------------------- (a) scancel mid-run


@pytest.mark.slurm
def test_cancelled_slurm_job_is_retried_and_resumes_from_its_checkpoint(tmp_path_factory):
    run = slurm_sweep_run(tmp_path_factory)  # cancels the slow point's job after its first checkpoint
    reference = reference_run(tmp_path_factory)  # ran meanwhile
    wd, slow, cancelled = run["wd"], run["slow"], run["cancelled"]
    assert slurm_job(cancelled)["JobState"] == "CANCELLED"
    final = attrs(store_path(wd, slow))
    assert final["slurm_job_id"] != cancelled and slurm_job(final["slurm_job_id"])["JobState"] == "COMPLETED"
    assert final["resumed_from"] and all(step > 0 for step in final["resumed_from"])
    log = (wd / "results" / "logs" / "train" / f"pack_{group_id(pack_of(slow))}.log").read_text()
    assert f"resuming {slow} from step {final['resumed_from'][0]}" in log
    assert not (wd / "results" / "checkpoints" / slow / "checkpoint.pt").exists()  # done with once in place
    assert_stores_equal(store_path(wd, slow), store_path(reference, slow))


# ---------------------------------------------------------------- (b) Snakemake killed mid-sweep


def _wait(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_hard_kill_of_snakemake_loses_nothing_and_resumes(reference, tmp_path):
    """As a user would: `snakemake &`, wait for a checkpoint, `kill -9` Snakemake's PID alone, then
    `snakemake --unlock && snakemake`. The orphaned trainer notices its Snakemake is gone and stops
    at a checkpoint (never two trainers of one run); the rerun resumes the pack, leaves the stores
    finished before the kill as they are and gives the stores of an uninterrupted run, bit for bit."""
    write_config(tmp_path, SWEEP)
    slow, div = slow_and_diverging()
    pack = pack_of(slow)
    stores = targets(SWEEP, analysis=False)[1:]
    ok(smk(tmp_path, [str(store_path(tmp_path, div).relative_to(tmp_path))]))  # finished before the kill
    proc = subprocess.Popen(smk_cmd(tmp_path, stores, extra=["--cores", "1"]), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=CLEAN_ENV)
    ckpts = [tmp_path / "results" / "checkpoints" / r / "checkpoint.pt" for r in pack]
    try:
        _wait(lambda: all(c.exists() for c in ckpts) or proc.poll() is not None, 240, "the pack's checkpoints")
    finally:
        proc.kill()  # SIGKILL to Snakemake alone: its job is orphaned
        proc.wait()
    assert all(c.exists() for c in ckpts), "the pack finished before it could be killed"
    trainers = subprocess.run(["pgrep", "-f", f"{tmp_path}.*train_pack"], capture_output=True, text=True)
    for pid in map(int, trainers.stdout.split()):  # the orphan checkpoints and exits on its own
        _wait(lambda: not _alive(pid), 120, f"orphaned trainer {pid} to stop")
    assert not any(store_path(tmp_path, r).exists() for r in pack)
    done = {r: attrs(store_path(tmp_path, r)) for r in points(SWEEP) if store_path(tmp_path, r).exists()}
    log = (tmp_path / "results" / "logs" / "train" / f"pack_{group_id(pack)}.log").read_text()
    assert "is gone; checkpointed at step" in log

    ok(smk(tmp_path, extra=["--unlock"]))  # a hard kill leaves Snakemake's lock behind
    out = ok(smk(tmp_path, stores))
    assert runs_of(jobs_in(out), "train") == sorted(set(points(SWEEP)) - set(done))  # only unfinished runs
    assert done, "no store finished before the kill: nothing to check untouched"
    assert all(attrs(store_path(tmp_path, r)) == a for r, a in done.items())  # finished stores untouched
    for r in pack:
        assert attrs(store_path(tmp_path, r))["resumed_from"], "the interrupted pack started over"
        assert_stores_equal(store_path(tmp_path, r), store_path(reference, r))


def test_stores_finished_behind_a_dead_snakemakes_back_are_kept(reference, tmp_path):
    """Snakemake killed after a trainer finished its stores but before it registered them: its
    incomplete markers make the rerun redo that job, and it adopts the kept finished copies instead
    of training again (same stores, no new training)."""
    wd = copy_workdir(reference, tmp_path / "wd")
    slow, _ = slow_and_diverging()
    pack = pack_of(slow)
    before = {r: attrs(store_path(wd, r)) for r in pack}
    for r in pack:  # as left by a trainer whose Snakemake died: copy kept, store not registered
        scratch = wd / "results" / "checkpoints" / r
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.copytree(store_path(wd, r), scratch / "finished.zarr")
        (store_path(wd, r) / ".snakemake_timestamp").unlink()
    stores = [str(store_path(wd, r).relative_to(wd)) for r in pack]
    out = ok(smk(wd, stores, extra=["--forcerun", *stores]))
    assert runs_of(jobs_in(out), "train") == sorted(pack)
    for r in pack:
        assert attrs(store_path(wd, r)) == before[r]  # adopted: the very same store, not retrained
        log = (wd / "results" / "logs" / "train" / f"{r}.log").read_text()
        assert "already finished" in log


# ---------------------------------------------------------------- (c) divergence


def test_diverged_run_is_marked_and_the_workflow_completes(reference):
    slow, div = slow_and_diverging()
    a = attrs(store_path(reference, div))
    assert a["diverged"] is True and a["diverged_at_step"] == 2 and a["complete"] is True
    root = open_store(store_path(reference, div))
    metrics = read_metrics(root)
    assert list(metrics["step"]) == [0, 1] and a["n_snapshots"] == 2  # what it recorded before the overflow
    assert np.isfinite(metrics[["train_loss", "test_loss"]].to_numpy()).all()
    assert np.isfinite(root["weights"]["layer0"][:]).all()
    res = reference / "results"  # the reference ran rule all without error: the analysis handled the run
    # its second snapshot is finite but ~1e27 (beyond topolearn.store.health's bound): not analysed,
    # no table rows, the status in the stamp and summary
    assert (res / "mapper" / div / "analysis.json").stat().st_size > 0
    assert all(t.empty for t in run_tables(res, div).values()) and len(run_tables(res, slow)["branches"])
    summary = pd.read_csv(res / "summary.tsv", sep="\t", index_col="run_id")
    assert summary.loc[div, "diverged"] and not summary.loc[slow, "diverged"]
    assert summary.loc[div, "analysis_status"] == "diverged" and summary.loc[slow, "analysis_status"] == "ok"
    assert summary.loc[div, "analysis_reason"].startswith("loss up to ")


# ---------------------------------------------------------------- (d) damaged stores


def _delete_a_chunk(store: Path) -> str:
    chunk = sorted(p for p in (store / "weights" / "layer0" / "c").rglob("*") if p.is_file())[-1]
    chunk.unlink()
    return chunk.relative_to(store).as_posix()


def _drop_complete(store: Path) -> None:
    meta = json.loads((store / "zarr.json").read_text())
    del meta["attributes"]["complete"]
    (store / "zarr.json").write_text(json.dumps(meta))


def test_damaged_stores_are_refused_quarantined_and_rebuilt(reference, tmp_path):
    wd = copy_workdir(reference, tmp_path / "wd")
    slow, div = slow_and_diverging()
    missing = _delete_a_chunk(store_path(wd, div))
    _drop_complete(store_path(wd, slow))
    for rid in (slow, div):  # what every reader would refuse (and quarantine: see the next test)
        assert check_store(store_path(wd, rid)) is not None

    # A dry run names both (one line each) and moves nothing.
    _, out = planned_jobs(wd, targets(SWEEP, analysis=True))
    assert f"missing file {missing}" in out and "store is incomplete" in out
    assert out.count("left in place (dry run): a real run or `python -m topolearn verify` moves it") == 2
    assert all(store_path(wd, r).exists() for r in (slow, div)) and not (wd / "results" / "quarantine").exists()

    # verify (or a real run, at parse time) moves both aside, so both are planned for rebuilding (with their analysis).
    assert main(["verify", str(wd / "results"), "--quick"]) == 1
    jobs, out = planned_jobs(wd, targets(SWEEP, analysis=True))
    assert runs_of(jobs, "train") == sorted([slow, div])
    assert runs_of(jobs, "analyze") == sorted([slow, div])
    quarantined = sorted((wd / "results" / "quarantine").iterdir())
    assert [q.name.split("-")[0] for q in quarantined] == sorted([slow, div])
    assert all(not store_path(wd, r).exists() for r in (slow, div))
    for q in quarantined:  # kept for inspection (outside the workflow's layout: not moved again), still refused
        with pytest.raises(StoreError):
            open_store(q / "runs" / q.name.split("-")[0] / "snapshots.zarr")

    # Rebuild the quick one for real (the slow one's retraining is (a)'s business): equal to before.
    shutil.copytree(store_path(reference, slow), store_path(wd, slow))
    ok(smk(wd, targets(SWEEP, analysis=False)))
    assert_stores_equal(store_path(wd, div), store_path(reference, div))
    assert check_store(store_path(wd, div), deep=True) is None


def _flip_a_byte(store: Path) -> str:
    chunk = sorted(p for p in (store / "weights" / "layer0" / "c").rglob("*") if p.is_file())[0]
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    return chunk.relative_to(store).as_posix()


def test_a_flipped_byte_is_found_by_a_reader_or_verify_full_and_everything_made_from_it_rebuilt(reference, tmp_path):
    wd = copy_workdir(reference, tmp_path / "wd")
    _, div = slow_and_diverging()
    results = wd / "results"
    products = [p.relative_to(results) for p in derived_paths(store_path(wd, div))]
    assert products, "the run's analysis tables and figures"
    flipped = _flip_a_byte(store_path(wd, div))

    # The quick parse-time check cannot see a same-size change; --config verify=full can.
    out = ok(smk(wd, targets(SWEEP, analysis=True), extra=["-n"]))
    assert store_path(wd, div).exists() and "checksum mismatch" not in out
    out = ok(smk(wd, targets(SWEEP, analysis=True), extra=["-n", "--config", "verify=full"]))
    assert f"checksum mismatch in {flipped}; left in place (dry run)" in out  # a dry run only reports
    assert store_path(wd, div).exists() and not (results / "quarantine").exists()

    # A reader finds it (here open_store, as each analysis job does): quarantined at once with its products.
    with pytest.raises(StoreError, match="checksum mismatch"):
        open_store(store_path(wd, div))
    (q,) = (results / "quarantine").iterdir()
    assert (q / "runs" / div / "snapshots.zarr").is_dir() and not store_path(wd, div).exists()
    assert all((q / p).exists() and not (results / p).exists() for p in products)

    # The next plain run rebuilds the store and everything made from it; the numbers equal the reference's.
    started = time.time()
    ok(smk(wd, targets(SWEEP, analysis=True)))
    assert_stores_equal(store_path(wd, div), store_path(reference, div))
    for p in products:
        assert (results / p).exists() and (results / p).stat().st_mtime >= started, p
    assert (results / "summary.tsv").stat().st_mtime >= started  # the sweep's tables are made again


def test_truncated_or_altered_chunks_are_detected(reference, tmp_path):
    slow, _ = slow_and_diverging()
    store = shutil.copytree(store_path(reference, slow), tmp_path / "s.zarr")
    chunk = sorted(p for p in (store / "probs" / "c").rglob("*") if p.is_file())[0]
    data = chunk.read_bytes()
    chunk.write_bytes(data[:-7])
    assert "truncated" in check_store(store)
    chunk.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # same size, one byte altered
    assert check_store(store) is None and "checksum mismatch" in check_store(store, deep=True)
    with pytest.raises(StoreError, match="checksum mismatch"):
        open_store(store)


# ---------------------------------------------------------------- (e) wrong dataset checksum


@pytest.fixture
def bad_fashion(tmp_path):
    """A fashion-mnist folder whose test labels are valid IDX with one label changed."""
    if not FASHION.is_dir():
        pytest.skip("Debian package dataset-fashion-mnist is not installed (make sysdeps)")
    root = tmp_path / "data"
    (root / "fashion-mnist").mkdir(parents=True)
    for f in FASHION.iterdir():
        (root / "fashion-mnist" / f.name).symlink_to(f)
    name = "t10k-labels-idx1-ubyte.gz"
    payload = bytearray(gzip.decompress((FASHION / name).read_bytes()))
    payload[8] = (payload[8] + 1) % 10  # the first label
    (root / "fashion-mnist" / name).unlink()
    (root / "fashion-mnist" / name).write_bytes(gzip.compress(bytes(payload)))
    return root, root / "fashion-mnist" / name


def test_wrong_dataset_checksum_is_a_clear_error(bad_fashion, tmp_path):
    root, bad = bad_fashion
    with pytest.raises(DataError, match=f"{re.escape(str(bad))}: checksum mismatch"):
        fetch_dataset("fashion-mnist", root)

    cfg = {"data_root": str(root),
           "sweep": {"base": {"dataset": "fashion-mnist", "train_size": 200, "depth": 1, "width": 4,
                              "epochs": 1, "batch_size": 50, "snapshots": 2, "probe_size": 20}}}
    wd = tmp_path / "wd"
    write_config(wd, cfg)
    (rid,) = points(cfg)
    res = smk(wd, [f"results/runs/{rid}/snapshots.zarr"])
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert f"{bad}: checksum mismatch" in out, out[-5000:]
    assert not store_path(wd, rid).exists()
