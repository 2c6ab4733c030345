"""What survives what: a cancelled SLURM job, a killed Snakemake, divergence, damaged stores (found
at parse time or by a reader, quarantined with their products and rebuilt), and a dataset file with a
wrong checksum."""

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterutil import (
    SWEEP,
    assert_stores_equal,
    attrs,
    copy_workdir,
    has_analysis,
    ok,
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
from topolearn.data import DataError, fetch_dataset
from topolearn.store import StoreError, check_store, open_store, read_metrics
from topolearn.storecheck import derived_paths

pytestmark = pytest.mark.slow
FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return reference_run(tmp_path_factory)


def planned_jobs(workdir: Path, targets_=()):
    """(rule, wildcards) of every job a dry run plans, and the dry run's output."""
    out = ok(smk(workdir, targets_, extra=["-n"]))
    return jobs_in(out), out


def jobs_in(out: str) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job Snakemake's output announces."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
        m = re.match(r"(?:local)?rule (\w+):", block)
        if m:
            wc = re.search(r"wildcards: (.*)", block)
            jobs.append((m.group(1), dict(kv.split("=", 1) for kv in wc.group(1).split(", ")) if wc else {}))
    return jobs


def trained(jobs) -> list[str]:
    return sorted(w["run_id"] for r, w in jobs if r == "train")


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
    log = (wd / "results" / "logs" / "train" / f"{slow}.log").read_text()
    assert f"resuming {slow} from step {final['resumed_from'][0]}" in log
    assert not (wd / "results" / "checkpoints" / slow).exists()  # scratch removed once the store is in place
    assert_stores_equal(store_path(wd, slow), store_path(reference, slow))


# ---------------------------------------------------------------- (b) Snakemake killed mid-sweep


def test_killed_snakemake_reruns_only_unfinished_points(tmp_path):
    cfg = {"checkpoint_every": 4,
           "sweep": {"base": {**SWEEP["sweep"]["base"], "epochs": 20, "snapshots": 20}, "grid": {"seed": [1, 2]}}}
    write_config(tmp_path, cfg)
    first, second = sorted(points(cfg))
    stores = targets(cfg, analysis=False)[1:]
    # One job at a time, in a fixed order: kill the whole process group (Snakemake and its job) once
    # one store is finished and the other run has written a checkpoint.
    proc = subprocess.Popen(smk_cmd(tmp_path, stores, extra=["--cores", "1"]), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, env=CLEAN_ENV)
    done = None
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            finished = [r for r in (first, second) if store_path(tmp_path, r).exists()]
            ckpt = [r for r in (first, second) if (tmp_path / "results" / "checkpoints" / r / "checkpoint.pt").exists()]
            if len(finished) == 1 and set(ckpt) - set(finished):
                done = finished[0]
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert done, "no moment with one finished store and one run mid-way (training too fast?)"
    todo = second if done == first else first
    before = attrs(store_path(tmp_path, done))
    assert list((tmp_path / ".snakemake" / "incomplete").iterdir())  # the killed job is marked

    ok(smk(tmp_path, extra=["--unlock"]))  # a hard kill leaves Snakemake's lock behind
    out = ok(smk(tmp_path, stores))
    assert trained(jobs_in(out)) == [todo]  # only the unfinished point
    assert attrs(store_path(tmp_path, done)) == before  # untouched
    after = attrs(store_path(tmp_path, todo))
    assert after["resumed_from"], "the interrupted run started over instead of resuming"
    assert check_store(store_path(tmp_path, todo), deep=True) is None


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
    if has_analysis():  # the reference ran rule all without error: the analysis handled the run
        res = reference / "results"
        for path in (res / "mapper" / div / "layer1.json", res / "branches" / f"{div}.tsv",
                     res / "branching" / f"{div}.tsv"):
            assert path.stat().st_size > 0, path
        summary = pd.read_csv(res / "summary.tsv", sep="\t", index_col="run_id")
        assert summary.loc[div, "diverged"] and not summary.loc[slow, "diverged"]


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

    # At parse time both are moved aside, so both are planned for rebuilding (with their analysis).
    jobs, out = planned_jobs(wd, targets(SWEEP, has_analysis()))
    assert trained(jobs) == sorted([slow, div])
    if has_analysis():
        for rule in ("mapper", "analyze_run"):
            assert sorted(w["run_id"] for r, w in jobs if r == rule) == sorted([slow, div]), (rule, jobs)
    assert f"missing file {missing}" in out and "store is incomplete" in out and "rebuilt" in out
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
    assert not has_analysis() or products
    flipped = _flip_a_byte(store_path(wd, div))

    # The quick parse-time check cannot see a same-size change; --config verify=full can.
    out = ok(smk(wd, targets(SWEEP, has_analysis()), extra=["-n"]))
    assert store_path(wd, div).exists() and "checksum mismatch" not in out
    out = ok(smk(wd, targets(SWEEP, has_analysis()), extra=["-n", "--config", "verify=full"]))
    assert f"checksum mismatch in {flipped}" in out and "the next run rebuilds it" in out
    (q,) = (results / "quarantine").iterdir()
    assert (q / "runs" / div / "snapshots.zarr").is_dir() and not store_path(wd, div).exists()
    assert all((q / p).exists() and not (results / p).exists() for p in products)

    # A reader finds it as well (here open_store, as each analysis job does): quarantined at once.
    shutil.rmtree(q)
    shutil.copytree(store_path(reference, div), store_path(wd, div))
    _flip_a_byte(store_path(wd, div))
    with pytest.raises(StoreError, match="checksum mismatch"):
        open_store(store_path(wd, div))
    assert not store_path(wd, div).exists()

    # The next plain run rebuilds the store and everything made from it; the numbers equal the reference's.
    started = time.time()
    ok(smk(wd, targets(SWEEP, has_analysis())))
    assert_stores_equal(store_path(wd, div), store_path(reference, div))
    for p in products:
        assert (results / p).exists() and (results / p).stat().st_mtime >= started, p
    if has_analysis():  # the sweep's tables are made again from the new store
        assert (results / "summary.tsv").stat().st_mtime >= started


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
