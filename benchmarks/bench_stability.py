"""Cost of the branch-count stability scan (topolearn.learning_graphs.stability) against one learning graph, per layer.

    .venv/bin/python benchmarks/bench_stability.py STORE [STORE ...]

STORE: snapshot stores (e.g. results/runs/*/snapshots.zarr of the default digits sweep). Prints, per
layer, the seconds of one mapper.learning_graph and of the scan over the default 3x3x3 grid, and
their ratio (single thread, same process, best of 2).
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from threadpoolctl import threadpool_limits  # noqa: E402

from topolearn.sweep.mapper_settings import MAPPER_DEFAULTS  # noqa: E402
from topolearn.sweep.mapper_settings import SCAN_DEFAULTS, scan_grid  # noqa: E402
from topolearn.learning_graphs.mapper import learning_graph  # noqa: E402
from topolearn.learning_graphs.stability import scan  # noqa: E402
from topolearn.store.snapshots import layer_count, open_store, read_metrics, read_weights  # noqa: E402


def best(f, n=2):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        out.append(time.perf_counter() - t)
    return min(out)


def main(stores):
    grid = scan_grid(SCAN_DEFAULTS)
    tot_g = tot_s = 0.0
    with threadpool_limits(1):
        for s in stores:
            root = open_store(s)
            e = read_metrics(root)["epoch"].to_numpy()
            for i in range(layer_count(root)):
                w = read_weights(root, i)
                g = best(lambda: learning_graph(w, e, dict(MAPPER_DEFAULTS), 0.1))
                sc = best(lambda: scan(w, e, dict(MAPPER_DEFAULTS), grid))
                tot_g, tot_s = tot_g + g, tot_s + sc
                print(f"{Path(s).parent.name} layer{i} {w.shape}: graph {g:.3f} s, scan of {len(grid)} {sc:.3f} s, "
                      f"ratio {sc / g:.1f}")
    print(f"total: graphs {tot_g:.2f} s, scans {tot_s:.2f} s, scan / graph {tot_s / tot_g:.1f}, "
          f"scan / ({len(grid)} graphs) {tot_s / (len(grid) * tot_g):.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
