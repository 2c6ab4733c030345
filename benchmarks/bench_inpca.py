"""InPCA speed and memory on synthetic sweeps (softmax of logits moving from uniform to near one-hot).

    .venv/bin/python benchmarks/bench_inpca.py [--quick] [--threads 2]

Three measurements, each in its own process so that its peak memory (max RSS) is its own:
- exact: 100 runs x 50 snapshots x 1,000 probe samples x 10 classes (target <= 60 s, 4 GB);
- scale: 1,000 runs x 101 snapshots x 360 samples, landmark path (target <= 5 min, 8 GB), then 10
  runs added to the cached embedding (target <= 10 % of the full time), and the landmark path's
  error against exact on a 5,000-checkpoint subset at the same landmark density.
--quick shrinks every size (for the test suite); its times mean nothing.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

FULL = {"exact": (100, 50, 1000), "scale": (1000, 101, 360), "added": 10, "subset": 5000, "landmarks": 500}  # the default
QUICK = {"exact": (6, 8, 30), "scale": (20, 11, 30), "added": 2, "subset": 60, "landmarks": 40}


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def phase_exact(sizes, threads):
    from topolearn.inpca.sweep import SETTINGS, embed_group
    from topolearn.inpca.synthetic import synthetic_sweep

    runs = synthetic_sweep(*sizes["exact"])
    t = time.perf_counter()
    coords, stress = embed_group("bench", runs, {**SETTINGS, "threads": threads}, None, method="exact")
    return {"seconds": time.perf_counter() - t, "checkpoints": int((coords.kind == "checkpoint").sum())}


def phase_scale(sizes, threads):
    from topolearn.inpca.sweep import SETTINGS, compare_methods, embed_group
    from topolearn.inpca.synthetic import synthetic_sweep

    n_runs, n_snap, n_samples = sizes["scale"]
    cfg = {**SETTINGS, "threads": threads, "landmarks": sizes["landmarks"], "check_points": 0}
    runs = synthetic_sweep(n_runs, n_snap, n_samples)
    added = synthetic_sweep(sizes["added"], n_snap, n_samples, first=n_runs)
    with tempfile.TemporaryDirectory() as cache:
        t = time.perf_counter()
        embed_group("bench", runs, cfg, Path(cache), method="landmark")
        full = time.perf_counter() - t
        t = time.perf_counter()
        embed_group("bench", runs + added, cfg, Path(cache), method="landmark")
        add = time.perf_counter() - t
    sub = runs[: max(2, sizes["subset"] // n_snap)]
    t = time.perf_counter()
    err = compare_methods(sub, cfg, landmarks=max(2, round(sizes["landmarks"] * len(sub) / n_runs)))
    return {"seconds": full, "checkpoints": n_runs * n_snap, "add_seconds": add, "add_ratio": add / full,
            "check_seconds": time.perf_counter() - t, **{f"check_{k}": v for k, v in err.items()}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--phase", choices=["exact", "scale"])
    a = ap.parse_args()
    sizes = QUICK if a.quick else FULL
    if a.phase:
        out = {"exact": phase_exact, "scale": phase_scale}[a.phase](sizes, a.threads)
        print("RESULT " + json.dumps({**out, "max_rss_gb": _rss_gb(), "cpu_seconds": time.process_time()}))
        return
    for phase, target in (("exact", "60 s, 4 GB"), ("scale", "300 s, 8 GB; adding <= 10 %")):
        cmd = [sys.executable, __file__, "--phase", phase, "--threads", str(a.threads)] + (["--quick"] if a.quick else [])
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        r = json.loads(res.stdout.split("RESULT ", 1)[1])
        print(f"{phase} {sizes[phase]} (runs, snapshots, samples), {a.threads} threads: {r['checkpoints']} "
              f"checkpoints in {r['seconds']:.1f} s, max RSS {r['max_rss_gb']:.2f} GB (target {target}); the whole "
              f"phase used {r['cpu_seconds']:.0f} CPU s (load on the machine stretches wall time)")
        if phase == "scale":
            print(f"  adding {sizes['added']} runs: {r['add_seconds']:.1f} s = {100 * r['add_ratio']:.1f} % of the full "
                  f"embedding")
            print(f"  landmark vs exact on a {r['check_checkpoints']}-checkpoint subset ({r['check_landmarks']} "
                  f"landmarks): Procrustes error (top 3) {r['check_procrustes_top3']:.4f}, top-3 explained stress "
                  f"{r['check_stress_top3_landmark']:.4f} vs exact {r['check_stress_top3_exact']:.4f} (difference "
                  f"{r['check_stress_top3_difference']:+.4f}), {r['check_seconds']:.1f} s")


if __name__ == "__main__":
    main()
