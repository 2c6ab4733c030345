"""A digits sweep end to end on 2 cores: planning, time per stage, peak memory per job, files per run.

Measured in one run, each case in a fresh folder:
  dry run   `snakemake -n` of the N-point sweep, nothing computed yet, the fastest of three
            (target <= 5 s for 1,000 points, <= 15 s for 10,000);
  packed    `snakemake --cores 2` of the N-point sweep: training, learning graphs, tables, summary,
            InPCA, per-run figures (the config's default selection), sweep figures, explorer
            (target <= 300 s for 1,000 points, <= 45 min for 10,000), reported per stage: jobs,
            job-seconds and their share, the stage's wall span; the peak memory of every job
            (resident set of the job's process tree, sampled every 0.2 s; target <= 8 GB); the files
            the sweep leaves under results/ per run, runs' figure folders and stability scans left
            out (target <= 20; distinct inodes, so a store's hard-linked kept copy counts once, and
            directory entries beside them); the training's arithmetic rate against this machine's
            single-thread matmul rate;
  unpacked  (--slice > 0) the same workflow with one network per training job and one run per
            analysis job on a slice of the sweep, and the ratio of seconds per point, unpacked over
            packed (target >= 10).

The sweep is the default architecture of config/config.yaml (digits, 64-32-32-10, sigmoid, no
biases, batch 16, 60 epochs, 101 snapshots) over init x lr x seed, with that config's other settings.

Usage: .venv/bin/python benchmarks/bench_sweep.py [--points 1000] [--slice 32] [--quick] [--keep DIR]
  --quick: 16 points and a 4-point slice, 4 epochs (seconds; used by the test suite).
"""

import argparse
import datetime as dt
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
TARGETS = {"job_peak_gb": 8.0, "files_per_run": 20, "speedup": 10.0}
# Job rules by stage (a pack or batch rule is named <prefix>_<group id>).
STAGES = {"train_pack": "training", "train": "training", "analyze_batch": "analysis", "analyze_run": "analysis",
          "inpca": "InPCA", "inpca_factors": "InPCA", "plot_runs": "per-run figures", "summary": "summary",
          "plot_sweep": "sweep figures", "explorer": "explorer"}


def targets_for(points: int) -> dict:
    """Planning and end-to-end targets: 1,000 points in 5 minutes, 10,000 in 45 (per point between)."""
    return {"dry_run_s": 5.0 if points <= 1000 else 15.0, "end_to_end_s": 0.3 * points if points <= 1000
            else 0.27 * points}


def sweep_config(n_points: int, epochs: int, **extra) -> dict:
    """n_points of the default architecture: init x lr x seed (as many seeds as needed); every other
    setting (checkpointing, Mapper, figures...) as in config/config.yaml."""
    inits, lrs = ["zero", "normal"], [0.25, 0.5, 1.0, 2.0]
    seeds = list(range(math.ceil(n_points / (len(inits) * len(lrs)))))
    base = {"dataset": "digits", "depth": 2, "width": 32, "activation": "sigmoid", "bias": False,
            "optimizer": "sgd", "batch_size": 16, "epochs": epochs, "snapshots": 101, "init_std": 0.01}
    if n_points == len(seeds) * len(inits) * len(lrs):  # a grid, as a researcher writes a sweep
        sweep = {"base": base, "grid": {"init": inits, "lr": lrs, "seed": seeds}}
    else:
        sweep = {"base": base, "points": [{"init": i, "lr": lr, "seed": s} for s in seeds for i in inits
                                          for lr in lrs][:n_points]}
    default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    return {**default, "results": "results", "sweep": sweep, **extra}


class JobMemory:
    """Peak resident memory of each job: the process tree of each child of Snakemake, sampled."""

    def __init__(self, pid: int, every: float = 0.2):
        self.root, self.every, self.peaks, self.names = psutil.Process(pid), every, {}, {}
        self.planner_peak, self.planner_cpu = 0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.planner_peak = max(self.planner_peak, self.root.memory_info().rss)
                cpu = self.root.cpu_times()
                self.planner_cpu = cpu.user + cpu.system
                for child in self.root.children():
                    tree = [child] + child.children(recursive=True)
                    rss = sum(_rss(p) for p in tree)
                    if rss > self.peaks.get(child.pid, 0):
                        self.peaks[child.pid] = rss
                        self.names.setdefault(child.pid, _job_name(child))
            except psutil.Error:
                pass
            self._stop.wait(self.every)

    def stop(self) -> tuple[float, str, float]:
        """(largest job peak in GB, that job's script, the planner's own peak in GB)."""
        self._stop.set()
        self._thread.join()
        if not self.peaks:
            return 0.0, "", self.planner_peak / 1e9
        pid = max(self.peaks, key=self.peaks.get)
        return self.peaks[pid] / 1e9, self.names.get(pid, "?"), self.planner_peak / 1e9


def _rss(p: psutil.Process) -> int:
    try:
        return p.memory_info().rss
    except psutil.Error:
        return 0


def _job_name(p: psutil.Process) -> str:
    try:
        scripts = [Path(a).name for a in p.cmdline() if a.endswith(".py")]
        return scripts[-1] if scripts else " ".join(p.cmdline()[:3])
    except psutil.Error:
        return "?"


def snakemake(workdir: Path, cfg: dict, *args, memory: bool = False):
    """Run Snakemake on `cfg` in `workdir`: (wall seconds, output text, JobMemory or None)."""
    cfgfile = workdir / "config.yaml"
    cfgfile.write_text(yaml.safe_dump(cfg))
    cmd = [SNAKEMAKE, *args, "-s", str(ROOT / "Snakefile"), "--directory", str(workdir), "--workflow-profile",
           str(ROOT / "profiles" / "default"), "--cores", "2", "--configfile", str(cfgfile)]
    logfile = workdir / "snakemake.out"
    t0 = time.perf_counter()
    with open(logfile, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "TOPOLEARN_PROGRESS": "0"})
        mem = JobMemory(proc.pid) if memory else None
        rc = proc.wait()
    wall = time.perf_counter() - t0
    text = logfile.read_text()
    if rc != 0:
        sys.exit(f"FAILED ({' '.join(args) or 'run'}): {text[-3000:]}")
    return wall, text, mem


def jobs(text: str) -> int:
    """Jobs Snakemake ran or planned (its 'total' line of job stats)."""
    for line in text.splitlines():
        if line.startswith("total"):
            return int(line.split()[1])
    return 0


def job_times(text: str) -> list[tuple[str, dt.datetime, dt.datetime]]:
    """(rule, start, end) of every job Snakemake ran, from its log (times to the second)."""
    ts, rule, starts, done = None, None, {}, []
    for line in text.splitlines():
        if m := re.match(r"\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]", line):
            ts = dt.datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
        elif m := re.match(r"(?:local)?rule (\S+):", line):
            rule = m.group(1)
        elif (m := re.match(r"\s+jobid: (\d+)", line)) and rule is not None:
            starts[m.group(1)], rule = (rule, ts), None
        elif m := re.match(r"Finished jobid: (\d+)", line):
            if m.group(1) in starts:
                r, t0 = starts[m.group(1)]
                done.append((r, t0, ts))
    return done


def stage_of(rule: str) -> str:
    return STAGES.get(rule) or STAGES.get(re.sub(r"_[0-9a-f]{10}$", "", rule)) or "other"


def stage_table(times) -> list[tuple[str, int, float, float, float]]:
    """(stage, jobs, job-seconds, share of all job-seconds, wall span in seconds) per stage."""
    by = defaultdict(list)
    times = [t for t in times if t[0] != "all"]
    for rule, t0, t1 in times:
        by[stage_of(rule)].append((t0, t1))
    total = sum((t1 - t0).total_seconds() for _, t0, t1 in times) or 1.0
    rows = []
    for stage, spans in by.items():
        secs = sum((t1 - t0).total_seconds() for t0, t1 in spans)
        wall = (max(t1 for _, t1 in spans) - min(t0 for t0, _ in spans)).total_seconds()
        rows.append((stage, len(spans), secs, secs / total, wall))
    order = list(dict.fromkeys(STAGES.values())) + ["other"]
    return sorted(rows, key=lambda r: order.index(r[0]))


def files_per_run(results: Path, n_runs: int) -> tuple[float, float, dict]:
    """Files the sweep left under results/ per run, runs' figure folders and stability scans left
    out: (distinct inodes per run, directory entries per run, {top folder: inodes per run}). An inode
    is counted in the first folder it is found in, runs/ first (a kept copy's links are not new files)."""
    inodes, entries, by_top = set(), 0, defaultdict(int)
    tops = sorted(results.iterdir(), key=lambda p: (p.name != "runs", p.name))
    for top in tops:
        walk = os.walk(top) if top.is_dir() else [(str(results), [], [top.name])]
        for dirpath, _, names in walk:
            rel = Path(dirpath).relative_to(results).parts
            if rel[:2] == ("figures", "runs") or rel[:1] == ("stability",):
                continue
            for name in names:
                ino = os.lstat(os.path.join(dirpath, name)).st_ino
                entries += 1
                if ino not in inodes:
                    inodes.add(ino)
                    by_top[rel[0] if rel else "."] += 1
    return len(inodes) / n_runs, entries / n_runs, {k: v / n_runs for k, v in sorted(by_top.items())}


def training_rate(results: Path, cfg: dict) -> tuple[float, float, float]:
    """(training FLOPs, seconds of the packs' update loops, seconds of the pack jobs' networks in all):
    FLOPs of the updates only (forward 2, backward 4 per multiply-add), from the stores' timing."""
    base = cfg["sweep"]["base"]
    widths = [64] + [base["width"]] * base["depth"] + [10]
    macs = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    updates = base["epochs"] * math.ceil(1437 / base["batch_size"])  # digits: 1,437 training samples
    flops = train_s = pack_s = 0.0
    for store in results.glob("runs/*/snapshots.zarr/zarr.json"):
        attrs = json.loads(store.read_text())["attributes"]
        timing = attrs.get("timing", {})
        flops += 6 * base["batch_size"] * macs * updates
        train_s += timing.get("train_s", 0.0)
        pack_s += sum(timing.values())
    return flops, train_s, pack_s


def matmul_rate() -> float:
    """Single-thread float32 matmul FLOP/s of this machine (bench_train.matmul_flops)."""
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_train import matmul_flops

    torch.set_num_threads(1)
    return matmul_flops(1024, 5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--slice", type=int, default=32, help="unpacked slice (0: skip)")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--keep", help="run in this folder and keep it (default: a temporary folder)")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.points, a.slice, a.epochs = 16, 4, 4
    tg = targets_for(a.points)
    print(f"python {sys.version.split()[0]}; {a.points}-point sweep, {a.slice}-point unpacked slice, "
          f"{a.epochs} epochs, {psutil.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        work = Path(a.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        big = sweep_config(a.points, a.epochs)
        tries = []
        for i in range(3):  # the fastest of three, each in a fresh folder: the machine is shared
            d = work / f"dry{i}"
            d.mkdir()
            dry_s, text, _ = snakemake(d, big, "-n")
            tries.append(dry_s)
        dry_s = min(tries)
        print(f"dry run: {dry_s:.2f} s wall (fastest of {', '.join(f'{t:.2f}' for t in tries)}), {jobs(text)} jobs "
              f"planned (target <= {tg['dry_run_s']:.0f} s, ratio {dry_s / tg['dry_run_s']:.2f})", flush=True)

        d = work / "packed"
        d.mkdir()
        packed_s, text, mem = snakemake(d, big, memory=True)
        peak, peak_job, planner = mem.stop()
        print(f"packed: {packed_s:.1f} s for {a.points} points ({jobs(text)} jobs), {packed_s / a.points:.3f} s/point "
              f"(target <= {tg['end_to_end_s']:.0f} s, ratio {packed_s / tg['end_to_end_s']:.2f})", flush=True)
        print("stage            jobs   job-s  share   wall-s")
        for stage, n, secs, share, wall in stage_table(job_times(text)):
            print(f"{stage:<16} {n:>4} {secs:>7.0f} {share:>6.1%} {wall:>8.0f}")
        print(f"peak memory: largest job {peak:.2f} GB ({peak_job}; target <= {TARGETS['job_peak_gb']:.0f} GB, ratio "
              f"{peak / TARGETS['job_peak_gb']:.2f}); Snakemake itself {planner:.2f} GB")
        print(f"Snakemake's own process: {mem.planner_cpu:.0f} CPU-s ({mem.planner_cpu / packed_s:.1%} of one core over "
              f"the run; planning and scheduling, taken from the jobs' cores)", flush=True)
        per_run, per_entry, by_top = files_per_run(d / "results", a.points)
        print(f"files per run: {per_run:.1f} (distinct inodes; target <= {TARGETS['files_per_run']}, ratio "
              f"{per_run / TARGETS['files_per_run']:.2f}), {per_entry:.1f} directory entries; by folder: "
              + ", ".join(f"{k} {v:.2f}" for k, v in by_top.items() if v >= 0.01))
        flops, train_s, pack_s = training_rate(d / "results", big)
        peak_rate = matmul_rate()
        if train_s and pack_s:
            print(f"training: {flops / 1e12:.2f} TFLOP of updates; {flops / train_s / 1e9:.1f} GFLOP/s in the update "
                  f"loops ({flops / train_s / peak_rate:.1%} of single-thread matmul, {peak_rate / 1e9:.0f} GFLOP/s), "
                  f"{flops / pack_s / 1e9:.1f} GFLOP/s over whole pack jobs ({flops / pack_s / peak_rate:.1%})",
                  flush=True)

        if a.slice:
            d = work / "unpacked"
            d.mkdir()
            small = sweep_config(a.slice, a.epochs, pack_size=1, analysis_batch=1)
            unpacked_s, text, _ = snakemake(d, small)
            un_per_point = unpacked_s / a.slice
            print(f"unpacked: {unpacked_s:.1f} s for {a.slice} points ({jobs(text)} jobs), {un_per_point:.3f} s/point",
                  flush=True)
            print(f"speed-up per point, unpacked / packed: {un_per_point / (packed_s / a.points):.1f}x "
                  f"(target >= {TARGETS['speedup']:.0f}x)")


if __name__ == "__main__":
    main()
