"""Recording overhead of layer representations (issue 12: at most 20 % of training), measured in
one run: train toy points with the solo trainer, then time `record` on each finished store.

    .venv/bin/python benchmarks/bench_toy.py [config/toy.yaml] [N_POINTS]
"""
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

import torch  # noqa: E402
import zarr  # noqa: E402

from topolearn.config import load_config_file  # noqa: E402
from topolearn.representations import record  # noqa: E402
from topolearn.train import train_run  # noqa: E402

torch.set_num_threads(1)
cfg = load_config_file(sys.argv[1] if len(sys.argv) > 1 else "config/toy.yaml")
n = int(sys.argv[2]) if len(sys.argv) > 2 else 4
train_s = record_s = 0.0
with tempfile.TemporaryDirectory() as tmp:
    for rid, p in list(cfg["points"].items())[:n]:
        attrs = train_run(p, Path(tmp) / rid / "s.zarr", Path(tmp) / rid / "scr", log=io.StringIO())
        train_s += attrs["wall_time_s"]  # includes the trainer's own call of record, if wired
        t0 = time.perf_counter()
        record(zarr.open_group(str(Path(tmp) / rid / "s.zarr"), mode="r+"), p)
        record_s += time.perf_counter() - t0
print(f"{n} runs: training {train_s:.2f} s, recording {record_s:.2f} s, "
      f"recording / training = {record_s / train_s:.1%} (limit 20 %)")
