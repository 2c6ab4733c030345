"""Helpers of the SLURM and fault tests: running Snakemake, a three-point reference sweep run once
per session, the local SLURM cluster, and bitwise store comparison."""

import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
import zarr

from topolearn.sweep.config import validate_config
from topolearn.sweep.packing import form_packs, group_id
from topolearn.store.snapshots import read_all_arrays

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
SETUP = ROOT / ".ci" / "slurm" / "setup.sh"
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}  # local runs: no job id

# Three points over tests/configs/tiny.yaml's net (digits, 64-8-10, sigmoid, sgd):
#   slow (the base point) and its pack mate (seed 2, lr 0.25): one pack of two networks, 30 epochs
#         x 23 updates, 40 snapshots, a checkpoint every 4: seconds of training, long enough to
#         cancel the pack's job between its first checkpoint and its end;
#   diverging: relu with lr 1e15 overflows at update 2 (log-spaced snapshots record updates 0, 1);
#         another activation and schedule, so a pack of its own.
SWEEP = {
    "checkpoint_every": 4,
    "sweep": {
        "base": {"dataset": "digits", "depth": 1, "width": 8, "activation": "sigmoid", "optimizer": "sgd",
                 "init": "normal", "lr": 0.5, "batch_size": 64, "epochs": 30, "snapshots": 40,
                 "probe_size": 50, "seed": 1},
        "points": [{"seed": 2, "lr": 0.25},
                   {"activation": "relu", "init": "kaiming", "lr": 1.0e15, "epochs": 4, "snapshots": 12,
                    "snapshot_spacing": "log"}],
    },
    "mapper": {"layers": ["output"], "defaults": {"pca": 5, "intervals": 6, "eps": "auto", "min_samples": 2}},
    "figures": {"formats": ["png"], "dpi": 50},
}


def points(cfg: dict) -> dict:
    return validate_config(copy.deepcopy(cfg))["points"]


def slow_and_diverging(cfg=SWEEP) -> tuple[str, str]:
    """The base point (the slow one the SLURM test cancels) and the diverging one."""
    pts = points(cfg)
    (slow,) = [r for r, p in pts.items() if p["lr"] == 0.5]
    (div,) = [r for r, p in pts.items() if p["lr"] > 1]
    return slow, div


def packs(cfg=SWEEP) -> list[list[str]]:
    """The training packs of a fresh sweep (every run pending), as the workflow forms them."""
    valid = validate_config(copy.deepcopy(cfg))
    return form_packs(valid["points"], list(valid["points"]), valid["pack_size"])


def pack_of(rid: str, cfg=SWEEP) -> list[str]:
    (pack,) = [p for p in packs(cfg) if rid in p]
    return pack


def pack_rule(rid: str, cfg=SWEEP) -> str:
    """Name of the rule that trains `rid` in a fresh sweep (topolearn.sweep.packing.group_id of its pack)."""
    return f"train_pack_{group_id(pack_of(rid, cfg))}"


def write_config(workdir: Path, cfg: dict) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def store_path(workdir: Path, rid: str) -> Path:
    return workdir / "results" / "runs" / rid / "snapshots.zarr"


def smk_cmd(workdir: Path, targets=(), profile="default", extra=()) -> list[str]:
    """Targets first: --configfile takes several values and would swallow them."""
    return [SNAKEMAKE, *targets, "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
            "--workflow-profile", str(ROOT / "profiles" / profile), *extra,
            "--configfile", str(workdir / "config.yaml")]


def smk(workdir: Path, targets=(), profile="default", extra=(), timeout=600) -> subprocess.CompletedProcess:
    if profile == "default":
        extra = ["--cores", "2", *extra]
    return subprocess.run(smk_cmd(workdir, targets, profile, extra), capture_output=True, text=True,
                          timeout=timeout, env=CLEAN_ENV if profile == "default" else None)


def ok(res: subprocess.CompletedProcess) -> str:
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-8000:]
    return out


def targets(cfg: dict, analysis: bool) -> list[str]:
    """Stores and sweep table; with `analysis`, everything (rule all)."""
    if analysis:
        return ["all"]
    return ["results/sweep.tsv"] + [f"results/runs/{r}/snapshots.zarr" for r in sorted(points(cfg))]


def analysis_files(cfg: dict) -> list[str]:
    """Every run's analysis as targets: its mapper folder (learning graphs and the stamp; the job
    that makes it makes the table folder its stamp names)."""
    return [f"results/mapper/{r}" for r in sorted(points(cfg))]


def cluster_targets(cfg: dict) -> list[str]:
    """Stores, sweep table and every run's analysis: one SLURM job per analysis batch (a pack's
    runs are analysed together as soon as it is trained)."""
    return targets(cfg, analysis=False) + analysis_files(cfg)


_REFERENCE: dict = {}


def start_reference_run(tmp_path_factory) -> None:
    """Start the sweep's local reference run in the background (once per session): the SLURM
    run spends most of its time waiting for status checks, so both overlap."""
    if _REFERENCE:
        return
    wd = tmp_path_factory.mktemp("reference")
    write_config(wd, SWEEP)
    cmd = smk_cmd(wd, targets(SWEEP, analysis=True), extra=["--cores", "2"])
    log = open(wd / "snakemake.out", "w+")
    _REFERENCE.update(wd=wd, log=log, proc=subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                                            env=CLEAN_ENV))


def reference_run(tmp_path_factory) -> Path:
    """The sweep run locally to its end, analysis included: the
    uninterrupted result every fault and SLURM run is compared with. Shared by test modules."""
    start_reference_run(tmp_path_factory)
    proc, log = _REFERENCE["proc"], _REFERENCE["log"]
    if proc.wait(timeout=600) != 0:
        log.seek(0)
        pytest.fail(f"reference run failed:\n{log.read()[-8000:]}")
    return _REFERENCE["wd"]


def copy_workdir(src: Path, dst: Path) -> Path:
    """A finished run's folder (results and .snakemake metadata) to break things in."""
    shutil.copytree(src, dst, symlinks=True)
    return dst


# ---------------------------------------------------------------- stores


def assert_stores_equal(a: Path, b: Path) -> None:
    """Every array equal bit for bit (same dtype, shape and bytes; NaN where NaN)."""
    xa, xb = read_all_arrays(a), read_all_arrays(b)
    assert sorted(xa) == sorted(xb)
    for name in xa:
        assert xa[name].dtype == xb[name].dtype and xa[name].shape == xb[name].shape, name
        assert xa[name].tobytes() == xb[name].tobytes(), f"{name} differs between {a} and {b}"
    pa, pb = (zarr.open_group(str(p), mode="r").attrs for p in (a, b))
    assert pa["params"] == pb["params"] and pa["n_snapshots"] == pb["n_snapshots"]
    assert pa["diverged"] == pb["diverged"] and pa["diverged_at_step"] == pb["diverged_at_step"]


def attrs(path: Path) -> dict:
    return dict(zarr.open_group(str(path), mode="r").attrs)


# ---------------------------------------------------------------- the local SLURM


def _can_admin() -> bool:
    if os.geteuid() == 0:
        return True
    return shutil.which("sudo") is not None and subprocess.run(
        ["sudo", "-n", "true"], capture_output=True).returncode == 0


def run_setup(*args: str, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SETUP), *args], capture_output=True, text=True, timeout=timeout,
                          env=None if env is None else {**os.environ, **env})


def read_state(path: Path) -> dict:
    """setup.sh's state file: status (ready or skip), cluster (project or foreign), partition, reason."""
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def start_slurm() -> dict:
    """Install (if missing) and start the single-node SLURM, or use a working SLURM that the project
    did not configure as it is (setup.sh never touches one). Skips where a foreign cluster does not
    work (setup.sh's reason, in CI too) and, outside CI, where starting the local one needs root that
    is missing; any other failure fails. Returns setup.sh's state."""
    in_ci = os.environ.get("CI") == "true"
    foreign = run_setup("--check", timeout=60).stdout.startswith("foreign")
    if not foreign and not _can_admin() and not in_ci:
        pytest.skip("needs root or passwordless sudo to start a local SLURM (.ci/slurm/setup.sh)")
    with tempfile.TemporaryDirectory(prefix="topolearn-slurm-") as tmp:
        path = Path(tmp) / "state"
        res = run_setup(env={"TOPOLEARN_SLURM_STATE": str(path)})
        if res.returncode != 0 or not path.is_file():
            pytest.fail(f".ci/slurm/setup.sh failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
        state = read_state(path)
    if state["status"] != "ready":
        pytest.skip(state["reason"])
    return state


def fit_to_cluster(cfg: dict, partition: str) -> dict:
    """`cfg` with every job sent to `partition`, and analysis jobs asking for no more processes than
    the partition's largest usable node has CPUs (sinfo): no name or size of the project's own
    cluster is assumed."""
    res = subprocess.run(["sinfo", "-h", "-N", "-p", partition, "-o", "%c|%T"], capture_output=True, text=True,
                         check=True)
    usable = ("idle", "mixed", "allocated", "completing")  # not down, drained, failing
    cpus = max(int(c) for c, state in (line.split("|") for line in res.stdout.split()) if state in usable)
    cfg = copy.deepcopy(cfg)
    cfg["resources"] = {stage: {"slurm_partition": partition} for stage in ("train", "analysis", "figures")}
    if cpus < validate_config(copy.deepcopy(cfg))["analysis_threads"]:
        cfg["analysis_threads"] = cpus
    return cfg


def slurm_job(job_id: str) -> dict:
    """`scontrol show job` as a dict (finished jobs stay known for MinJobAge = 600 s)."""
    res = subprocess.run(["scontrol", "show", "job", "-o", str(job_id)], capture_output=True, text=True)
    assert res.returncode == 0, f"SLURM does not know job {job_id}: {res.stderr}"
    return dict(kv.split("=", 1) for kv in res.stdout.split() if "=" in kv)


# The profile's first status check waits 20 s (sensible on a shared cluster); 2 s here.
FAST_STATUS = ["--slurm-init-seconds-before-status-checks", "2"]
_SLURM_RUN: dict = {}


def _running_job(rule: str) -> str | None:
    """SLURM id of the running job of `rule` (the plugin's comment: rule_<rule>, no wildcards here;
    a pack runs in its job group with its analysis, commented rule_pack_<id>_<its rules>)."""
    group = f"rule_pack_{rule.removeprefix('train_pack_')}_"
    res = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k"], capture_output=True, text=True)
    for line in res.stdout.splitlines():
        job_id, comment = line.split("|", 1)
        if comment == f"rule_{rule}" or comment.startswith(group):
            return job_id
    return None


def slurm_sweep_run(tmp_path_factory) -> dict:
    """The sweep through profiles/slurm on the local SLURM, run once per session. The training job
    of the slow point's pack is cancelled (scancel) once every network of the pack has written its
    first checkpoint: the profile's retries must resubmit it and the pack must resume. Returns the
    folder, Snakemake's output, the id of the cancelled job, the slow run, its pack and rule."""
    if _SLURM_RUN:
        return _SLURM_RUN
    cluster = start_slurm()
    start_reference_run(tmp_path_factory)
    wd = tmp_path_factory.mktemp("slurm")
    write_config(wd, fit_to_cluster(SWEEP, cluster["partition"]))
    slow, _ = slow_and_diverging()
    pack, rule = pack_of(slow), pack_rule(slow)
    checkpoints = [wd / "results" / "checkpoints" / r / "checkpoint.pt" for r in pack]
    log = open(wd / "snakemake.out", "w+")
    proc = subprocess.Popen(smk_cmd(wd, cluster_targets(SWEEP), "slurm", FAST_STATUS),
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    cancelled = None
    deadline = time.monotonic() + 300
    while proc.poll() is None and cancelled is None and time.monotonic() < deadline:
        if all(c.is_file() for c in checkpoints):
            cancelled = _running_job(rule)
            if cancelled:
                subprocess.run(["scancel", cancelled], check=True)
        time.sleep(0.1)
    try:
        proc.wait(timeout=max(1.0, deadline - time.monotonic() + 200))
    finally:
        if proc.poll() is None:
            proc.terminate()  # Snakemake cancels its SLURM jobs on SIGTERM
            proc.wait(timeout=60)
    log.seek(0)
    out = log.read()
    assert proc.returncode == 0, out[-8000:]
    assert cancelled, "the slow pack's training job ended before it could be cancelled after its first checkpoint"
    _SLURM_RUN.update(wd=wd, out=out, cancelled=cancelled, slow=slow, pack=pack, rule=rule)
    return _SLURM_RUN
