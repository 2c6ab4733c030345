"""Hard-kill safety: one trainer per run, finished stores kept, stop with Snakemake."""

import io
import json
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import TINY_POINT
from topolearn.sweep.points import normalize_point, run_id
from topolearn.store.runlock import FINISHED, is_snakemake_argv, run_lock
from topolearn.store.snapshots import open_store, read_all_arrays
from topolearn.train import CHECKPOINT, train_run

SLOW_POINT = normalize_point(TINY_POINT | {"epochs": 15, "snapshots": 100})  # many snapshots: seconds of work


def _hold(scratch, log_path, acquired, release):
    with open(log_path, "a") as log, run_lock(scratch, "r1", log):
        acquired.set()
        release.wait(60)


def _wait_for(scratch, log_path, events):
    with open(log_path, "a") as log, run_lock(scratch, "r1", log):
        events.put(time.monotonic())


def test_a_second_trainer_of_a_run_waits_for_the_first(tmp_path):
    ctx = mp.get_context("fork")
    acquired, release, events = ctx.Event(), ctx.Event(), ctx.Queue()
    first = ctx.Process(target=_hold, args=(tmp_path, tmp_path / "a.log", acquired, release))
    first.start()
    assert acquired.wait(60)
    second = ctx.Process(target=_wait_for, args=(tmp_path, tmp_path / "b.log", events))
    second.start()
    deadline = time.monotonic() + 60
    b_log = tmp_path / "b.log"
    while not (b_log.exists() and "waiting" in b_log.read_text()):
        assert time.monotonic() < deadline, "the second trainer never reported waiting"
        time.sleep(0.05)
    assert f"run r1 is being trained by PID {first.pid}; waiting" in (tmp_path / "b.log").read_text()
    assert events.empty()  # still blocked while the first holds the lock
    released = time.monotonic()
    release.set()
    first.join(60)
    got = events.get(timeout=60)
    second.join(60)
    assert got >= released and second.exitcode == 0 and first.exitcode == 0


def test_snakemake_is_recognised_by_its_program_not_by_paths():
    assert is_snakemake_argv(["/usr/bin/python3", "/work/.venv/bin/snakemake", "--cores", "2"])
    assert is_snakemake_argv(["snakemake", "-n"])
    assert is_snakemake_argv(["python", "-m", "snakemake", "--target-jobs", "x"])
    assert not is_snakemake_argv(["/bin/bash", "-c", "python .snakemake/scripts/tmpab.train_pack.py"])
    assert not is_snakemake_argv(["python", "/w/.snakemake/scripts/tmpab.train_pack.py"])


def test_a_finished_store_is_adopted_after_snakemake_deleted_it(tmp_path):
    p = normalize_point(TINY_POINT | {"epochs": 1, "snapshots": 3})
    store, scratch = tmp_path / "snapshots.zarr", tmp_path / "scratch"
    first = train_run(p, store, scratch, log=io.StringIO())
    assert (scratch / FINISHED).is_dir() and not (scratch / CHECKPOINT).exists()
    assert os.stat(store / "zarr.json").st_ino == os.stat(scratch / FINISHED / "zarr.json").st_ino  # no copy
    before = read_all_arrays(store)
    shutil.rmtree(store)
    log = io.StringIO()
    again = train_run(p, store, scratch, log=log)
    assert "already finished" in log.getvalue() and again["wall_time_s"] == first["wall_time_s"]
    open_store(store)
    assert all(before[k].tobytes() == v.tobytes() for k, v in read_all_arrays(store).items())
    # a damaged finished copy is not adopted: the run trains again (from scratch)
    shutil.rmtree(store)
    chunk = next(f for f in (scratch / FINISHED / "weights" / "layer0").rglob("*") if f.is_file() and f.name != "zarr.json")
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 0xFF
    chunk.unlink()  # (a hard link: rewrite a new file, as a disk error would not touch the output)
    chunk.write_bytes(bytes(data))
    log = io.StringIO()
    train_run(p, store, scratch, log=log)
    assert "not usable" in log.getvalue() and "already finished" not in log.getvalue()
    open_store(store)


TRAINER = textwrap.dedent("""
    import io, json, sys
    import torch
    torch.set_num_threads(1)
    from topolearn.train import train_run
    point, store, scratch = sys.argv[1:4]
    train_run(json.loads(point), store, scratch, chunk=2, log=sys.stderr)
""")

FAKE_SNAKEMAKE = textwrap.dedent("""
    import subprocess, sys
    err = open(sys.argv[1], "w")
    child = subprocess.Popen([sys.executable, "-c", sys.argv[2], *sys.argv[3:]], stderr=err)
    print(child.pid, flush=True)
    child.wait()
""")


def _wait_for_checkpoint(scratch, proc_alive, timeout=120):
    deadline = time.monotonic() + timeout
    while not (scratch / CHECKPOINT).exists():
        assert proc_alive() and time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)


def _wait_exit(pid, timeout=120):
    deadline = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}") and "Z" not in open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1][:3]:
        assert time.monotonic() < deadline, "the orphaned trainer kept running"
        time.sleep(0.05)


def test_a_trainer_stops_when_its_snakemake_is_killed(tmp_path):
    fake = tmp_path / "snakemake"  # its command line is `python .../snakemake ...`, as a real one's
    fake.write_text(FAKE_SNAKEMAKE)
    store, scratch, err = tmp_path / "snapshots.zarr", tmp_path / "scratch", tmp_path / "trainer.err"
    parent = subprocess.Popen([sys.executable, str(fake), str(err), TRAINER, json.dumps(SLOW_POINT), str(store),
                               str(scratch)], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    _wait_for_checkpoint(scratch, lambda: parent.poll() is None)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    _wait_exit(child)
    msg = err.read_text()
    assert f"topolearn: snakemake (PID {parent.pid}) is gone; checkpointed at step" in msg, msg[-2000:]
    assert not store.exists()
    log = io.StringIO()
    attrs = train_run(SLOW_POINT, store, scratch, chunk=2, log=log)
    assert attrs["resumed_from"] and f"resuming {run_id(SLOW_POINT)}" in log.getvalue()


def test_sigterm_checkpoints_and_exits_1(tmp_path):
    store, scratch = tmp_path / "snapshots.zarr", tmp_path / "scratch"
    proc = subprocess.Popen([sys.executable, "-c", TRAINER, json.dumps(SLOW_POINT), str(store), str(scratch)],
                            stderr=subprocess.PIPE, text=True)
    _wait_for_checkpoint(scratch, lambda: proc.poll() is None)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err[-2000:]
    assert "topolearn: received SIGTERM; checkpointed at step" in err.splitlines()[-1]
    step = int(err.splitlines()[-1].split("checkpointed at step ")[1].split(",")[0])
    log = io.StringIO()
    attrs = train_run(SLOW_POINT, store, scratch, chunk=2, log=log)
    assert attrs["resumed_from"] == [step]


@pytest.mark.parametrize("trainer", ["train_pack"])
def test_a_pack_stops_on_sigterm_too(tmp_path, trainer):
    code = textwrap.dedent("""
        import json, sys
        import torch
        torch.set_num_threads(1)
        from topolearn.train import train_pack
        point, base = json.loads(sys.argv[1]), sys.argv[2]
        pts = [point, point | {"seed": 7}]
        train_pack(pts, [f"{base}/n{i}/s.zarr" for i in range(2)], [f"{base}/n{i}/scratch" for i in range(2)],
                   chunk=2, log=sys.stderr)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(SLOW_POINT), str(tmp_path)],
                            stderr=subprocess.PIPE, text=True)
    _wait_for_checkpoint(tmp_path / "n1" / "scratch", lambda: proc.poll() is None)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "received SIGTERM; checkpointed at step" in err.splitlines()[-1], err[-2000:]
    assert all((tmp_path / f"n{i}" / "scratch" / CHECKPOINT).exists() for i in range(2))
