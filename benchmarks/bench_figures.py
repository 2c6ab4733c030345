"""All figures and the report for the default sweep (config/config.yaml) in <= 60 s on 2 cores.

Steps, in one working folder:
  1. (untimed) the upstream stages: training and Mapper of every point (kept between invocations,
     so a second benchmark run skips this);
  2. (timed) `snakemake --cores 2`, which now runs only one analyze_run job per run (branch table,
     branching curve and the run's figures), the summary, InPCA and the sweep figures, from scratch
     (their outputs are deleted first);
  3. (timed) `snakemake --report report.html`.
Prints each step's seconds, the per-figure seconds from the figure logs, and the ratio to the target.

Usage: .venv/bin/python benchmarks/bench_figures.py [--workdir DIR] [--configfile FILE]
"""

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

from topolearn.config import load_config_file, mapper_layers  # noqa: E402

TARGET_S = 60.0
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
OWN_RULES = {"analyze_run", "summary", "inpca", "plot_sweep", "all"}


def command(workdir: Path, configfile: Path, *args) -> list[str]:
    # Targets first: --configfile takes several values and would swallow them. Only mtimes trigger
    # re-runs: a code or params edit made meanwhile must not retrain inside the timed step.
    return [SNAKEMAKE, *args, "-s", str(ROOT / "Snakefile"), "--directory", str(workdir), "--workflow-profile",
            str(ROOT / "profiles" / "default"), "--cores", "2", "--rerun-triggers", "mtime",
            "--configfile", str(configfile)]


def smk(workdir: Path, configfile: Path, *args) -> float:
    """Seconds one snakemake call takes; exits on failure."""
    t0 = time.perf_counter()
    res = subprocess.run(command(workdir, configfile, *args), capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"snakemake failed:\n{res.stdout[-3000:]}\n{res.stderr[-5000:]}")
    return time.perf_counter() - t0


def planned_rules(workdir: Path, configfile: Path) -> set[str]:
    res = subprocess.run(command(workdir, configfile, "-n"), capture_output=True, text=True)
    return set(re.findall(r"^(?:local)?rule (\w+):", res.stdout + res.stderr, re.M))


def upstream_targets(cfg: dict) -> list[str]:
    out = []
    for rid, p in cfg["points"].items():
        out += [f"results/runs/{rid}/snapshots.zarr"]
        out += [f"results/mapper/{rid}/{layer}.json" for layer in mapper_layers(cfg, p)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/topolearn-bench-figures"))
    ap.add_argument("--configfile", type=Path, default=ROOT / "config" / "config.yaml")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    cfg = load_config_file(args.configfile)
    if cfg["results"] != "results":
        sys.exit("the benchmark expects `results: results` in the config")

    t_up = smk(args.workdir, args.configfile, *upstream_targets(cfg))
    print(f"upstream (training, Mapper; untimed): {t_up:.1f} s for {len(cfg['points'])} runs")

    res = args.workdir / "results"
    for path in (res / "branches", res / "branching", res / "figures", res / "inpca", res / "summary.tsv",
                 args.workdir / "report.html"):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    planned = planned_rules(args.workdir, args.configfile)
    if not planned <= OWN_RULES:
        sys.exit(f"upstream jobs still planned ({sorted(planned - OWN_RULES)}): they would be timed too")
    t_fig = smk(args.workdir, args.configfile)
    t_rep = smk(args.workdir, args.configfile, "--report", str(args.workdir / "report.html"))

    per_figure: dict[str, list[float]] = {}
    for log in sorted((res / "logs" / "analyze_run").glob("*.log")):
        for name, sec in re.findall(r"topolearn\.figures\.theme: (\w+): ([\d.]+) s", log.read_text()):
            per_figure.setdefault(name, []).append(float(sec))
    print("drawing + saving per figure (mean s over runs): "
          + ", ".join(f"{k} {sum(v) / len(v):.2f}" for k, v in per_figure.items()))
    total = t_fig + t_rep
    print(f"branching + figures per run, summary, InPCA, sweep figures: {t_fig:.1f} s; report: {t_rep:.1f} s "
          f"({(args.workdir / 'report.html').stat().st_size / 2**20:.1f} MiB)")
    print(f"total {total:.1f} s, target {TARGET_S:.0f} s: ratio {total / TARGET_S:.2f} "
          f"({'OK' if total <= TARGET_S else 'OVER'})")


if __name__ == "__main__":
    main()
