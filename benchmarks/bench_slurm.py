"""Per-job overhead of dispatching through SLURM (profiles/slurm) versus the local executor.

Runs a Snakefile of trivial jobs twice, with the local executor and with the SLURM profile, on the
local single-node SLURM of .ci/slurm/setup.sh (skipped, exit 0, when `sinfo` finds no cluster):
  chain   N jobs each waiting for the previous: latency per job (submit, start the job step's
          Snakemake, status check), the cost every dependent step of a workflow pays;
  fan-out N independent jobs: what a sweep of N training jobs pays in total.
Overhead per job = (SLURM wall time - local wall time) / N.

Usage: .venv/bin/python benchmarks/bench_slurm.py [--jobs 6]
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")

SNAKEFILE = """
N = {n}
rule chain:
    input: lambda w: [] if int(w.i) == 0 else [f"chain/{{int(w.i) - 1}}.txt"]
    output: "chain/{{i}}.txt"
    threads: 1
    resources: mem_mb=100, runtime=5
    shell: "printenv SLURM_JOB_ID > {{output}} || echo local > {{output}}"
rule fan:
    output: "fan/{{i}}.txt"
    threads: 1
    resources: mem_mb=100, runtime=5
    shell: "printenv SLURM_JOB_ID > {{output}} || echo local > {{output}}"
"""


def run(workdir: Path, targets: list[str], slurm: bool) -> float:
    cmd = [SNAKEMAKE, "-s", str(workdir / "Snakefile"), "--directory", str(workdir), *targets]
    if slurm:  # the project's profile; first status check after 2 s instead of the profile's 20 s
        cmd += ["--workflow-profile", str(ROOT / "profiles" / "slurm"),
                "--slurm-init-seconds-before-status-checks", "2"]
    else:
        cmd += ["--cores", "2"]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        sys.exit(f"{'slurm' if slurm else 'local'} run failed:\n{res.stderr[-4000:]}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=6)
    n = ap.parse_args().jobs
    if shutil.which("sinfo") is None or subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0:
        print("bench_slurm: no SLURM cluster reachable (run .ci/slurm/setup.sh as root); skipped")
        return
    cases = {"chain": [f"chain/{n - 1}.txt"], "fan-out": [f"fan/{i}.txt" for i in range(n)]}
    times = {}
    with tempfile.TemporaryDirectory(prefix="bench_slurm_") as tmp:
        for mode in ("local", "slurm"):
            wd = Path(tmp) / mode
            wd.mkdir()
            (wd / "Snakefile").write_text(SNAKEFILE.format(n=n))
            for case, targets in cases.items():
                times[mode, case] = run(wd, targets, slurm=mode == "slurm")
            job_ids = {p.read_text().strip() for p in wd.rglob("*.txt")}
            if mode == "slurm" and "local" in job_ids:
                sys.exit("a job of the SLURM run did not run under SLURM")
    for case in cases:
        local, slurm = times["local", case], times["slurm", case]
        print(f"{case:8s}: {n} jobs, local {local:6.1f} s, slurm {slurm:6.1f} s, "
              f"overhead per job {(slurm - local) / n:5.2f} s (slurm/local {slurm / local:.1f})")


if __name__ == "__main__":
    main()
