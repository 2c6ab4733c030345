"""Dry run (`snakemake -n`) of a 1,000-point sweep: parse + config validation + DAG <= 15 s.

Two cases, each in a fresh temporary folder:
  fresh     no results yet: every job of the sweep is planned;
  finished  every store exists and is complete (copies of one tiny store): the parse-time
            quarantine check (topolearn.store.check_store) runs on all 1,000 stores.
Each case also runs `snakemake --list-rules` (parsing only: imports, config validation,
quarantine check) to split the time into parse and DAG. Times are wall clock and the child's CPU
time (user + sys): Snakemake plans on one core, so on a shared machine CPU time is what the dry run
costs on an idle one; the verdict uses it and says so. Config validation alone is timed in process.

Usage: .venv/bin/python benchmarks/bench_dryrun.py [--points 1000]
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

from topolearn.config import validate_config  # noqa: E402
from topolearn.store import create_store, finalize_store, write_rows  # noqa: E402

TARGET_S = 15.0
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def sweep_config(n_points: int) -> dict:
    """A digits sweep of n_points = 5 inits x 10 lrs x n/50 seeds (the tiny test net)."""
    cfg = yaml.safe_load((ROOT / "tests" / "configs" / "tiny.yaml").read_text())
    cfg["sweep"]["grid"] = {"init": ["zero", "normal", "kaiming", "xavier", "orthogonal"],
                            "lr": [round(0.1 * i, 1) for i in range(1, 11)],
                            "seed": list(range(max(1, n_points // 50)))}
    return cfg


def fake_store(path: Path, point: dict) -> None:
    """One small complete store; the benchmark copies it under every run id."""
    shapes = [(point["width"], 64), (10, point["width"])]
    n = point["snapshots"]
    root = create_store(path, layer_shapes=shapes, bias=False, n_snapshots=n, probe_labels=np.zeros(50, np.int64),
                        n_classes=10, chunk=4, attrs={"run_id": "bench"})
    rows = {"step": np.arange(n), "epoch": np.linspace(0, 1, n), "train_loss": np.ones(n),
            "train_acc": np.ones(n), "test_loss": np.ones(n), "test_acc": np.ones(n),
            "probs": np.full((n, 50, 10), 0.1, np.float32)}
    rows |= {f"weights/layer{i}": np.zeros((n, *s), np.float32) for i, s in enumerate(shapes)}
    write_rows(root, 0, rows)
    finalize_store(path, n, {"diverged": False})


def timed(cmd: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall s, child CPU s, result) of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
    return wall, cpu, res


def case(name: str, workdir: Path, configfile: Path) -> float:
    """Parse-only and dry-run times of one case; returns the dry run's CPU seconds."""
    base = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
            "--workflow-profile", str(ROOT / "profiles" / "default"), "--cores", "1",
            "--configfile", str(configfile)]
    parse_wall, parse_cpu, _ = timed(base + ["--list-rules"])
    wall, cpu, res = timed(base + ["-n", "-q", "rules"])
    counts = dict(line.split() for line in res.stdout.splitlines()  # the job-stats table
                  if len(line.split()) == 2 and line.split()[1].isdigit())
    print(f"{name:9s}: snakemake -n {wall:6.2f} s wall, {cpu:6.2f} s CPU "
          f"(parse {parse_cpu:5.2f} s CPU, DAG {cpu - parse_cpu:5.2f} s CPU); "
          f"{counts.get('total', '?')} jobs, {counts.get('train', 0)} train; ratio CPU/target {cpu / TARGET_S:.2f}")
    return cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1000)
    args = ap.parse_args()
    cfg = sweep_config(args.points)

    t0 = time.perf_counter()
    points = validate_config(cfg)["points"]
    validate_s = time.perf_counter() - t0
    print(f"points: {len(points)}; validate_config alone: {validate_s:.2f} s")

    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench_dryrun_") as tmp:
        tmp = Path(tmp)
        cfgfile = tmp / "sweep.yaml"
        cfgfile.write_text(yaml.safe_dump(cfg))
        fresh = case("fresh", tmp / "fresh", cfgfile)

        wd = tmp / "finished"
        template = tmp / "template.zarr"
        fake_store(template, next(iter(points.values())))
        for rid in points:
            shutil.copytree(template, wd / "results" / "runs" / rid / "snapshots.zarr")
        finished = case("finished", wd, cfgfile)
        quarantine = wd / "results" / "quarantine"
        assert not quarantine.exists(), "complete stores were quarantined"
    worst = max(fresh, finished)
    print(f"RESULT dry run of {len(points)} points: {worst:.2f} s CPU (target <= {TARGET_S:.0f} s), "
          f"ratio {worst / TARGET_S:.2f} -> {'OK' if worst <= TARGET_S else 'TOO SLOW'}")
    sys.exit(0 if worst <= TARGET_S else 1)


if __name__ == "__main__":
    main()
