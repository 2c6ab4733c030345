"""Cost of validating a sweep at parse time (topolearn.sweep.config.validate_config, with the limits
checks of topolearn.sweep.limits): CPU time and peak memory per planned point, each size in a fresh
process so the peak RSS is its own; and the refusal of a sweep over limits.max_points, which is
decided from the axis lengths before the grid is expanded.

Usage: .venv/bin/python benchmarks/bench_config.py [--points 1000 10000] [--huge 100000000]
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {workflow!r})
from topolearn.sweep.schema import ConfigError
from topolearn.sweep.config import validate_config
n, limit = {n}, {limit}
side = int(round(n ** 0.5))
cfg = {{"sweep": {{"grid": {{"seed": list(range(side)), "lr": [0.001 * (i + 1) for i in range(n // side)]}}}},
       "limits": {{"max_points": limit}}}}
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.process_time()
try:
    planned = len(validate_config(cfg)["points"]); refused = ""
except ConfigError as err:
    planned, refused = 0, str(err)
cpu = time.process_time() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(points=side * (n // side), planned=planned, cpu_s=cpu, base_kb=base, peak_kb=peak,
                      refused=refused)))
"""


def measure(n: int, limit: int) -> dict:
    code = CHILD.format(workflow=str(ROOT / "workflow"), n=n, limit=limit)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--huge", type=int, default=100_000_000)
    args = ap.parse_args()
    print(f"{'points':>12} {'cpu s':>8} {'ms/point':>9} {'peak MB':>8} {'KB/point':>9}")
    for n in args.points:
        r = measure(n, limit=max(n, 20000))
        grown = (r["peak_kb"] - r["base_kb"]) / 1024
        print(f"{r['points']:>12,} {r['cpu_s']:>8.2f} {1000 * r['cpu_s'] / r['points']:>9.3f} "
              f"{r['peak_kb'] / 1024:>8.0f} {1024 * grown / r['points']:>9.2f}")
    r = measure(args.huge, limit=20000)
    print(f"{r['points']:,} points, default cap: refused in {r['cpu_s']:.3f} s CPU, peak "
          f"{r['peak_kb'] / 1024:.0f} MB: {r['refused'][:90]}...")


if __name__ == "__main__":
    main()
