"""Cost of checking on read: `open_sweep` of a 1,000-run sweep with every metric loaded, through the
checked path (each file zarr reads compared with the store's manifest: size and CRC32) against
zarr's plain, unchecked open, in the same process.

    .venv/bin/python benchmarks/bench_readers.py [--runs 1000] [--repeats 3] [--quick]

The stores are written synthetically with the store writer (topolearn.store.snapshots), shaped like
a default digits run: 64-8-10 network, 41 snapshots in chunks of 10, 50 probe samples. Each timing
starts from cold caches of open_sweep (not of the OS: both paths read the same files, alternately).
Target: checked / unchecked <= 1.10 (CPU time; wall time printed too). --quick shrinks the sweep (for the test suite); its times mean
nothing.

Then the dask side of `open_sweep` (metrics are dask arrays, one chunk per store): the time and peak
Python memory (tracemalloc: numpy's buffers included) of opening the sweep, and of computing every
metric, against reading the same chunks through the same checked path in a plain loop without dask
(dask / loop: the scheduler's overhead).
"""

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from topolearn.results import sweepdata  # noqa: E402
from topolearn.store.snapshots import METRICS, create_store, finalize_store, open_store, write_rows  # noqa: E402
from topolearn.sweep.points import normalize_point, run_id  # noqa: E402
from topolearn.sweep.table import write_sweep_table  # noqa: E402

SHAPES = [(8, 64), (10, 8)]  # (neurons, inputs) per layer


def write_sweep(results: Path, n_runs: int, n_snap: int = 41, chunk: int = 10) -> None:
    rng = np.random.default_rng(0)
    points = {}
    for i in range(n_runs):
        p = normalize_point({"dataset": "digits", "depth": 1, "width": 8, "epochs": 4, "snapshots": n_snap,
                             "batch_size": 64, "probe_size": 50, "init": "normal", "lr": 0.5, "seed": i})
        rid = run_id(p)
        points[rid] = p
        path = results / "runs" / rid / "snapshots.zarr"
        root = create_store(path, layer_shapes=SHAPES, bias=False, n_snapshots=n_snap, probe_labels=np.arange(50) % 10,
                            n_classes=10, chunk=chunk, attrs={"run_id": rid, "params": p})
        rows = {m: rng.random(n_snap) for m in METRICS}
        rows["step"] = np.arange(n_snap) * 10
        rows["probs"] = rng.random((n_snap, 50, 10)).astype(np.float32)
        for j, shape in enumerate(SHAPES):
            rows[f"weights/layer{j}"] = rng.normal(size=(n_snap, *shape)).astype(np.float32)
        write_rows(root, 0, rows)
        finalize_store(path, n_snap, {"diverged": False, "diverged_at_step": None})
    write_sweep_table(points, results / "sweep.tsv")


def load_all(results: Path) -> tuple[float, float]:
    """(wall, CPU) seconds to open the sweep and load every metric of every run, from cold
    open_sweep caches. CPU time (all threads: zarr reads on its own) is steadier on a shared machine."""
    sweepdata._open.cache_clear()
    sweepdata._read_series.cache_clear()
    t, c = time.perf_counter(), time.process_time()
    ds = sweepdata.open_sweep(results).metrics
    ds[list(METRICS)].load()
    return time.perf_counter() - t, time.process_time() - c


def _cold() -> None:
    sweepdata._open.cache_clear()
    sweepdata._read_series.cache_clear()


def open_and_compute(results: Path) -> dict:
    """Wall seconds and tracemalloc peaks (MB) of open_sweep(...).metrics and of computing every
    metric from cold caches; the same chunks read in a plain loop (no dask) for comparison."""
    out = {}
    _cold()
    t = time.perf_counter()
    ds = sweepdata.open_sweep(results).metrics
    out["open_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ds[list(METRICS)].compute()
    out["compute_s"] = time.perf_counter() - t
    paths, n = [str(results / "runs" / r / "snapshots.zarr") for r in ds["run"].values], ds.sizes["snapshot"]
    _cold()
    sweepdata._n_snapshots(Path(paths[0]))  # as open_sweep: every store opened before the reads
    for p in paths:
        sweepdata._n_snapshots(Path(p))
    t = time.perf_counter()
    for m in METRICS:
        np.concatenate([sweepdata._read_row(p, m, n) for p in paths])
    out["loop_s"] = time.perf_counter() - t
    out["tasks"] = sum(len(ds[m].data.__dask_graph__()) for m in METRICS)
    _cold()
    tracemalloc.start()
    ds = sweepdata.open_sweep(results).metrics
    out["open_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.reset_peak()
    ds[list(METRICS)].compute()
    out["compute_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="20 runs, one repeat (for the test suite)")
    args = ap.parse_args()
    n_runs, repeats = (20, 1) if args.quick else (args.runs, args.repeats)
    checked_open = sweepdata._open.__wrapped__

    def unchecked_open(path, stamp):
        return open_store(path, verify=False)

    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results"
        t = time.perf_counter()
        write_sweep(results, n_runs)
        print(f"wrote {n_runs} stores in {time.perf_counter() - t:.1f} s")
        times = {"checked": [], "unchecked": []}
        load_all(results)  # warm the OS cache and the imports once
        for _ in range(repeats):  # alternate, so that both see the same machine
            for kind, opener in (("unchecked", unchecked_open), ("checked", checked_open)):
                sweepdata._open = sweepdata.functools.lru_cache(maxsize=4096)(opener)
                times[kind].append(load_all(results))
        sweepdata._open = sweepdata.functools.lru_cache(maxsize=4096)(checked_open)
        dask_side = open_and_compute(results)
    wall = {k: min(w for w, _ in v) for k, v in times.items()}
    cpu = {k: min(c for _, c in v) for k, v in times.items()}
    for kind, ts in times.items():
        print(f"{kind}: {wall[kind]:.2f} s wall, {cpu[kind]:.2f} s CPU for {n_runs} runs x {len(METRICS)} metrics "
              f"(fastest of {', '.join(f'{w:.2f}/{c:.2f}' for w, c in ts)})")
    # Each pair ran back to back: the median of the pairs' ratios cancels the load of a shared machine.
    pairs = [(c[1] / u[1], c[0] / u[0]) for c, u in zip(times["checked"], times["unchecked"])]
    print(f"checked / unchecked: CPU {cpu['checked'] / cpu['unchecked']:.3f}, "
          f"wall {wall['checked'] / wall['unchecked']:.3f} (fastest of each); median of {len(pairs)} pairs: "
          f"CPU {np.median([p[0] for p in pairs]):.3f}, wall {np.median([p[1] for p in pairs]):.3f} (target <= 1.10)")
    d = dask_side
    print(f"open_sweep on dask, {n_runs} runs: open {d['open_s']:.2f} s, peak {d['open_mb']:.1f} MB; compute all "
          f"{len(METRICS)} metrics ({d['tasks']} tasks) {d['compute_s']:.2f} s, peak {d['compute_mb']:.1f} MB; "
          f"the same reads in a plain loop {d['loop_s']:.2f} s; dask / loop {d['compute_s'] / d['loop_s']:.2f}")


if __name__ == "__main__":
    main()
