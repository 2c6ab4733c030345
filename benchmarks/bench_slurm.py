"""SLURM jobs per sweep point with packed training and batched analysis (profiles/slurm).

1. Plan: a dry run (-n) of a --plan-points sweep (default 1,000; 10,000 for the scale target, at most
   150 submissions; the default architecture of bench_sweep.py: digits 64-32-32-10, init x lr x seed,
   default pack_size and analysis_batch) under the SLURM profile: the SLURM submissions (a pack, the
   analysis of its runs and the figures of its chosen runs are one job group, one submission) and the jobs kept on
   the submit host (sweep table, summary, InPCA, sweep figures). No cluster needed.
2. Run (when `sinfo` finds a cluster, e.g. .ci/slurm/setup.sh): a --points sweep (default 64) of
   tiny nets through rule all on the local SLURM, pack_size and analysis_batch 16: SLURM jobs
   submitted, wall time, and jobs per point (one job per point would be >= 2: train + analysis).

Usage: .venv/bin/python benchmarks/bench_slurm.py [--points 64] [--plan-points 1000] [--no-run]
"""

import argparse
import math
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_sweep import sweep_config  # noqa: E402  the 1,000-point sweep of the end-to-end benchmark


def tiny_config(n_points: int) -> dict:
    """n_points tiny digits nets (64-8-10, 2 epochs), lr x seed: one pack key, cut into packs of 16."""
    lrs = [0.1, 0.2, 0.4, 0.8]
    points = [{"lr": lr, "seed": s} for s in range(math.ceil(n_points / len(lrs))) for lr in lrs][:n_points]
    base = {"dataset": "digits", "depth": 1, "width": 8, "batch_size": 64, "epochs": 2, "snapshots": 6,
            "probe_size": 50, **points[0]}  # the base is a point too: make it the first
    return {"results": "results", "checkpoint_every": 3, "pack_size": 16, "analysis_batch": 16,
            "sweep": {"base": base, "points": points},
            "mapper": {"layers": ["output"], "defaults": {"pca": 5, "intervals": 6}},
            "figures": {"formats": ["png"], "dpi": 50, "runs": 2}}


def snakemake(workdir: Path, cfg: dict, *args, timeout=900) -> tuple[float, str]:
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [SNAKEMAKE, *args, "-s", str(ROOT / "Snakefile"), "--directory", str(workdir), "--workflow-profile",
           str(ROOT / "profiles" / "slurm"), "--slurm-init-seconds-before-status-checks", "2",
           "--configfile", str(workdir / "config.yaml")]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    out = res.stdout + res.stderr
    if res.returncode != 0:
        sys.exit(f"bench_slurm: snakemake {' '.join(args)} failed:\n{out[-4000:]}")
    return wall, out


def local_rules() -> set[str]:
    """Rules the workflow runs on the submit host (its `localrules:` lists; `all` only collects)."""
    names = {"all"}
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        for block in re.findall(r"^localrules:\n((?:[ \t]+\w+,?\n)+)", smk.read_text(), flags=re.M):
            names |= set(re.findall(r"\w+", block))
    return names


def planned(out: str) -> tuple[dict, dict, int]:
    """({rule kind: count} of the jobs SLURM would run, of the local jobs, SLURM submissions) of a
    dry run: jobs of one group (a pack and the analysis of its runs) are one submission. A dry run
    does not mark local rules, so they come from the rule files."""
    kind = lambda rule: re.sub(r"_[0-9a-f]{10}$", "_<id>", rule)  # noqa: E731
    remote, local, local_names = {}, {}, local_rules()
    groups, ungrouped, group = set(), 0, None
    for line in out.splitlines():
        if m := re.search(r"Group job (\S+) \(jobs", line):
            group = m.group(1)
            groups.add(group)
        elif m := re.match(r"^( *)(?:local)?rule (\w+):", line):
            indented, rule = bool(m.group(1)), m.group(2)
            group = group if indented else None
            d = local if rule in local_names else remote
            d[kind(rule)] = d.get(kind(rule), 0) + 1
            ungrouped += d is remote and group is None
    return remote, local, len(groups) + ungrouped


def plan(n_points: int, tmp: Path) -> None:
    wd = tmp / "plan"
    wd.mkdir()
    wall, out = snakemake(wd, sweep_config(n_points, epochs=60), "-n")
    remote, local, submissions = planned(out)
    print(f"plan   : {n_points} points -> {submissions} SLURM submissions of {sum(remote.values())} jobs "
          f"({', '.join(f'{v} {k}' for k, v in remote.items())}; a pack, its analysis and its figures are one submission) "
          f"+ {sum(local.values())} local ({', '.join(local)}); {submissions / n_points:.3f} submissions per point "
          f"(target <= 150 at 10,000 points); dry run {wall:.1f} s", flush=True)


def run(n_points: int, tmp: Path) -> None:
    wd = tmp / "run"
    wd.mkdir()
    wall, out = snakemake(wd, tiny_config(n_points), "all")
    submitted = re.findall(r"submitted with SLURM jobid \d+ \(log: \S*/slurm_logs/(?:rule|group)_(\w+)/", out)
    kinds = {}
    for rule in submitted:
        k = re.sub(r"_[0-9a-f]{10}$", "_<id>", rule)
        kinds[k] = kinds.get(k, 0) + 1
    local = len(re.findall(r"^localrule \w+:", out, flags=re.M))
    print(f"run    : {n_points} points on the local SLURM -> {len(submitted)} SLURM jobs "
          f"({', '.join(f'{v} {k}' for k, v in kinds.items())}) + {local} local; "
          f"{len(submitted) / n_points:.3f} SLURM jobs per point (one job per run and step: >= 2); "
          f"wall {wall:.0f} s ({wall / n_points:.2f} s per point)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=64, help="points of the real run on the local SLURM")
    ap.add_argument("--plan-points", type=int, default=1000, help="points of the dry run")
    ap.add_argument("--no-run", action="store_true", help="dry run only")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_slurm_") as tmp:
        plan(args.plan_points, Path(tmp))
        if args.no_run:
            return
        if shutil.which("sinfo") is None or subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0:
            print("run    : no SLURM cluster reachable (run .ci/slurm/setup.sh as root); skipped")
            return
        run(args.points, Path(tmp))


if __name__ == "__main__":
    main()
