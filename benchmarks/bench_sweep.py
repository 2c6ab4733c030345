"""A 1,000-point digits sweep end to end on 2 cores, packed, beside the same workflow unpacked.

Measured in one run, each case in a fresh folder:
  dry run   `snakemake -n` of the N-point sweep, nothing computed yet, the fastest of three
            (target <= 5 s wall);
  packed    `snakemake --cores 2` of the N-point sweep: training, learning graphs, branch tables,
            summary, InPCA and sweep figures (per-run figures: the config's default selection)
            (target <= 600 s for 1,000 points);
  unpacked  the same workflow with one network per training job and one run per analysis job
            (`pack_size: 1`, `analysis_batch: 1`, as before packing) on a slice of the sweep;
and the ratio of seconds per point, unpacked over packed (target >= 10).

The sweep is the default architecture of config/config.yaml (digits, 64-32-32-10, sigmoid, no
biases, batch 16, 60 epochs, 101 snapshots) over init x lr x seed, with that config's other settings.

Usage: .venv/bin/python benchmarks/bench_sweep.py [--points 1000] [--slice 32] [--quick]
  --quick: 16 points and a 4-point slice, 4 epochs (seconds; used by the test suite).
"""

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
TARGETS = {"dry_run_s": 5.0, "packed_s_per_1000": 600.0, "speedup": 10.0}


def sweep_config(n_points: int, epochs: int, **extra) -> dict:
    """n_points of the default architecture: init x lr x seed (as many seeds as needed); every other
    setting (checkpointing, Mapper, figures...) as in config/config.yaml."""
    inits, lrs = ["zero", "normal"], [0.25, 0.5, 1.0, 2.0]
    seeds = list(range(math.ceil(n_points / (len(inits) * len(lrs)))))
    points = [{"init": i, "lr": lr, "seed": s} for s in seeds for i in inits for lr in lrs][:n_points]
    base = {"dataset": "digits", "depth": 2, "width": 32, "activation": "sigmoid", "bias": False,
            "optimizer": "sgd", "batch_size": 16, "epochs": epochs, "snapshots": 101, "init_std": 0.01}
    default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    return {**default, "results": "results", "sweep": {"base": base, "points": points}, **extra}


def snakemake(workdir: Path, cfg: dict, *args) -> tuple[float, subprocess.CompletedProcess]:
    cfgfile = workdir / "config.yaml"
    cfgfile.write_text(yaml.safe_dump(cfg))
    cmd = [SNAKEMAKE, *args, "-s", str(ROOT / "Snakefile"), "--directory", str(workdir), "--workflow-profile",
           str(ROOT / "profiles" / "default"), "--cores", "2", "--configfile", str(cfgfile)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"FAILED ({' '.join(args) or 'run'}): {res.stderr[-3000:]}")
    return wall, res


def jobs(res: subprocess.CompletedProcess) -> int:
    """Jobs Snakemake ran or planned (its 'total' line of job stats)."""
    for line in (res.stdout + res.stderr).splitlines():
        if line.startswith("total"):
            return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--slice", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.points, a.slice, a.epochs = 16, 4, 4
    print(f"python {sys.version.split()[0]}; {a.points}-point sweep, {a.slice}-point unpacked slice, "
          f"{a.epochs} epochs", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        big = sweep_config(a.points, a.epochs)
        tries = []
        for i in range(3):  # the fastest of three, each in a fresh folder: the machine is shared
            d = Path(tmp, f"dry{i}")
            d.mkdir()
            dry_s, res = snakemake(d, big, "-n")
            tries.append(dry_s)
        dry_s = min(tries)
        print(f"dry run: {dry_s:.2f} s wall (fastest of {', '.join(f'{t:.2f}' for t in tries)}), {jobs(res)} jobs "
              f"planned (target <= {TARGETS['dry_run_s']} s, ratio {dry_s / TARGETS['dry_run_s']:.2f})", flush=True)

        d = Path(tmp, "packed")
        d.mkdir()
        packed_s, res = snakemake(d, big)
        per_point = packed_s / a.points
        scaled = per_point * 1000
        print(f"packed: {packed_s:.1f} s for {a.points} points ({jobs(res)} jobs), {per_point:.3f} s/point; "
              f"1,000 points: {scaled:.0f} s (target <= {TARGETS['packed_s_per_1000']:.0f} s, ratio "
              f"{scaled / TARGETS['packed_s_per_1000']:.2f})", flush=True)

        d = Path(tmp, "unpacked")
        d.mkdir()
        small = sweep_config(a.slice, a.epochs, pack_size=1, analysis_batch=1)
        unpacked_s, res = snakemake(d, small)
        un_per_point = unpacked_s / a.slice
        print(f"unpacked: {unpacked_s:.1f} s for {a.slice} points ({jobs(res)} jobs), {un_per_point:.3f} s/point",
              flush=True)
        print(f"speed-up per point, unpacked / packed: {un_per_point / per_point:.1f}x "
              f"(target >= {TARGETS['speedup']:.0f}x)")


if __name__ == "__main__":
    main()
