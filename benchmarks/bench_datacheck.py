"""What judging data by content costs at every parse, on Fashion-MNIST's real files.

Prints, measured in this run: declaring the set as an own IDX folder (gzipped, as Debian ships it)
and as an .npz (plan-time checks: sizes against headers, labels, full npz load and finiteness);
hashing its four files once (a first parse) against the cached check (later parses: one stat per
file); and the whole parse-time check of N runs that share the files (each file hashed once).

    .venv/bin/python benchmarks/bench_datacheck.py [--runs 1000]
"""

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from topolearn.data import read_idx  # noqa: E402
from topolearn.store.datacheck import CACHE_FILE, FileHashes, check_data  # noqa: E402
from topolearn.sweep.config import validate_config  # noqa: E402

FASHION = Path("/usr/share/datasets/fashion-mnist")
NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def best(f, repeat=3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def declare(fmt: str, path) -> dict:
    return validate_config({"datasets": {"own": {"format": fmt, "path": str(path)}},
                            "sweep": {"base": {"dataset": "own", "batch_size": 100, "snapshots": 2}}})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    args = ap.parse_args()
    if not (FASHION / f"{NAMES[0]}.gz").is_file():
        sys.exit(f"{FASHION} missing: make sysdeps (Debian dataset-fashion-mnist)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = tmp / "fashion"
        folder.mkdir()
        for n in NAMES:
            shutil.copy(FASHION / f"{n}.gz", folder / f"{n}.gz")
        arrays = [read_idx(folder / f"{n}.gz") for n in NAMES]
        npz = tmp / "fashion.npz"
        np.savez(npz, x_train=arrays[0], y_train=arrays[1], x_test=arrays[2], y_test=arrays[3])
        files = [folder / f"{n}.gz" for n in NAMES]
        mb = sum(f.stat().st_size for f in files) / 1e6

        t_idx = best(lambda: declare("idx", folder))
        t_npz = best(lambda: declare("npz", npz))
        print(f"plan-time checks: idx folder (gz, {mb:.0f} MB) {t_idx:.3f} s; npz ({npz.stat().st_size / 1e6:.0f} MB) "
              f"{t_npz:.3f} s")

        t_cold = best(lambda: [FileHashes().sha256(f) for f in files])
        warm = FileHashes(tmp / CACHE_FILE)
        [warm.sha256(f) for f in files]
        warm.save()
        t_warm = best(lambda: [FileHashes(tmp / CACHE_FILE).sha256(f) for f in files])
        print(f"hashing the 4 files: {t_cold:.3f} s; from the cache (size, mtime, ctime, inode): {t_warm * 1e3:.2f} ms; "
              f"ratio {t_cold / t_warm:.0f}x")

        results = tmp / "results"
        record = {str(f): FileHashes().sha256(f) for f in files}
        stores, current = {}, {}
        for i in range(args.runs):
            rid = f"{i:012x}"
            store = results / "runs" / rid / "snapshots.zarr"
            store.mkdir(parents=True)
            attrs = {"complete": True, "run_id": rid, "data_files": record}
            (store / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group", "attributes": attrs}))
            stores[rid], current[rid] = store, files
        scratch = {r: results / "checkpoints" / r for r in stores}
        t_first = best(lambda: ((results / CACHE_FILE).unlink(missing_ok=True), check_data(stores, current, scratch, results, act=True)), 1)
        t_next = best(lambda: check_data(stores, current, scratch, results, act=True))
        print(f"parse-time check of {args.runs} runs sharing the files: first {t_first:.3f} s, later parses "
              f"{t_next:.3f} s ({t_next / args.runs * 1e6:.0f} us per run)")


if __name__ == "__main__":
    main()
