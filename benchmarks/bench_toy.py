"""Layer representations on 2-D data, measured in one run:
  recording  the cost of recording every layer's representation of the data and of the grid at
             every snapshot, against training the same runs (target: at most 20 % of training);
  workflow   `snakemake --cores 2 --configfile config/toy.yaml` end to end in a fresh folder
             (training, learning graphs, layer tables and figures, sweep figures; target 300 s).

    .venv/bin/python benchmarks/bench_toy.py [--config config/toy.yaml] [--runs 4] [--no-workflow]
"""
import argparse
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

import torch  # noqa: E402
import zarr  # noqa: E402

from topolearn.sweep.config import load_config_file  # noqa: E402
from topolearn.train import record, train_run  # noqa: E402

WORKFLOW_TARGET_S = 300.0
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def recording(config: Path, n: int) -> None:
    """Train n toy runs (their trainer records at the end), then time recording again on each store."""
    torch.set_num_threads(1)
    points = list(load_config_file(config)["points"].items())[:n]
    train_s = record_s = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for rid, p in points:
            attrs = train_run(p, Path(tmp) / rid / "s.zarr", Path(tmp) / rid / "scr", log=io.StringIO())
            t0 = time.perf_counter()
            record(zarr.open_group(str(Path(tmp) / rid / "s.zarr"), mode="r+"), p)
            record_s += time.perf_counter() - t0
            train_s += attrs["wall_time_s"]  # taken before the store is finalized: training alone
    print(f"recording: {len(points)} runs, training {train_s:.2f} s, recording {record_s:.2f} s, "
          f"recording / training = {record_s / train_s:.1%} (limit 20 %)", flush=True)


def workflow(config: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="bench_toy_") as tmp:
        cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--directory", tmp, "--workflow-profile",
               str(ROOT / "profiles" / "default"), "--cores", "2", "--configfile", str(config.resolve())]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if res.returncode != 0:
            sys.exit(f"workflow FAILED: {res.stderr[-3000:]}")
        n = len(load_config_file(config)["points"])
    print(f"workflow: {n} runs end to end in {wall:.1f} s on 2 cores (target {WORKFLOW_TARGET_S:.0f} s, "
          f"ratio {wall / WORKFLOW_TARGET_S:.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path, default=ROOT / "config" / "toy.yaml")
    ap.add_argument("--runs", type=int, default=4, help="runs timed for the recording overhead")
    ap.add_argument("--no-workflow", action="store_true")
    a = ap.parse_args()
    recording(a.config, a.runs)
    if not a.no_workflow:
        workflow(a.config)


if __name__ == "__main__":
    main()
