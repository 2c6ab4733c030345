"""Training speed targets of issue 2, as ratios measured in one run (same machine, same moment).

1. Updates/s of topolearn's training loop vs a plain in-memory PyTorch loop of the same model on
   the paper setup (784-100-100-10 sigmoid, no biases, SGD, batch 100): target >= 1/1.3.
   Epochs of the two alternate (ABAB...), and each keeps its fastest epoch.
2. Wall time that the paper's 200 snapshots (+ the initial one) with probe evaluation add to its
   42,000 updates: target <= 10 %. Measured per snapshot (evaluation, weight copy, the amortised
   zarr write of a 16-snapshot block) and per update, then scaled to the paper's counts; for
   full-set evaluation and for several `eval_size`s.

Both clocks are reported: wall, and process CPU time (steadier on a shared machine). Data:
Fashion-MNIST from the Debian package (or --data-root). Usage:

    python benchmarks/bench_train.py [--quick] [--epochs N] [--threads T]
"""

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from topolearn.config import normalize_point  # noqa: E402
from topolearn.models import model_for_point  # noqa: E402
from topolearn.train import Block, Run, epoch_order, take_snapshot  # noqa: E402

PAPER = {"dataset": "fashion-mnist", "depth": 2, "width": 100, "activation": "sigmoid", "bias": False,
         "optimizer": "sgd", "lr": 0.05, "batch_size": 100, "init": "normal", "init_std": 1e-6, "seed": 42,
         "probe_size": 1000, "epochs": 70, "snapshots": 201}
PAPER_UPDATES, PAPER_SNAPSHOTS, UPE = 42000, 201, 600


def timed(fn) -> tuple[float, float]:
    """(wall, process CPU) seconds of fn()."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def fastest(a, b):
    return tuple(min(x, y) for x, y in zip(a, b)) if a else b


def plain_epoch(model, opt, X, y, epoch: int, seed: int, bs: int) -> None:
    """The textbook loop: shuffled in-memory batches, nothing else."""
    order = epoch_order(seed, epoch, len(y))
    for b in range(0, len(y), bs):
        idx = order[b:b + bs]
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(X[idx]), y[idx]).backward()
        opt.step()


def ratio_updates(point, data_root, threads, epochs, scratch) -> dict:
    """Fastest epoch of topolearn's loop and of the plain loop, alternating epochs."""
    run = Run(point | {"snapshots": 2, "epochs": epochs + 1}, scratch / "r1", data_root, "cpu", threads, 16,
              io.StringIO())
    model = model_for_point(run.point, run.X.shape[1])
    opt = torch.optim.SGD(model.parameters(), lr=point["lr"])
    run.t_loop = time.perf_counter()
    run.train_epoch(0)  # holds the initial snapshot: not timed
    best = {"ours": (), "plain": ()}
    for e in range(1, epochs + 1):
        best["plain"] = fastest(best["plain"], timed(lambda: plain_epoch(model, opt, run.X, run.y, e, 42, 100)))
        best["ours"] = fastest(best["ours"], timed(lambda: run.train_epoch(e)))
    return best


def snapshot_cost(point, data_root, threads, eval_size, repeats, scratch) -> tuple[float, float]:
    """Seconds per snapshot: take_snapshot plus 1/16 of writing a 16-snapshot block."""
    run = Run(point | {"eval_size": eval_size}, scratch / f"r2-{eval_size}", data_root, "cpu", threads, 16,
              io.StringIO())
    best = ()
    for _ in range(repeats):
        best = fastest(best, timed(lambda: take_snapshot(run.model, run.ev)))
    snap = take_snapshot(run.model, run.ev)
    block = Block(start=0)
    for i in range(16):
        block.add(i, 0.0, snap)
    write = timed(lambda: block.flush(run.root))
    return tuple(s + w / 16 for s, w in zip(best, write))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 epochs, 2 repeats (a smoke test, noisier)")
    ap.add_argument("--epochs", type=int, default=4, help="timed epochs per loop (ratio 1)")
    ap.add_argument("--repeats", type=int, default=5, help="snapshots timed per eval_size (ratio 2)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-root", default="/usr/share/datasets")
    args = ap.parse_args()
    epochs, repeats = (2, 2) if args.quick else (args.epochs, args.repeats)
    torch.set_num_threads(args.threads)
    point = normalize_point(PAPER)

    with tempfile.TemporaryDirectory() as d:
        best = ratio_updates(point, args.data_root, args.threads, epochs, Path(d))
        costs = {ev: snapshot_cost(point, args.data_root, args.threads, ev, repeats, Path(d))
                 for ev in (None, 10000, 5000, 2000)}

    print(f"paper setup on Fashion-MNIST: 784-100-100-10 sigmoid, batch 100, {args.threads} thread(s); "
          f"fastest of {epochs} alternating epochs, {repeats} snapshots per eval_size")
    for clock, i in (("wall", 0), ("cpu", 1)):
        plain, ours = UPE / best["plain"][i], UPE / best["ours"][i]
        print(f"  [{clock}] plain loop {plain:.1f} updates/s, topolearn loop {ours:.1f} updates/s")
        print(f"RATIO 1 [{clock}] updates/s topolearn / plain = {ours / plain:.3f}  (target >= {1 / 1.3:.3f})")
    for ev, cost in costs.items():
        over = [100 * PAPER_SNAPSHOTS * cost[i] / (PAPER_UPDATES * best["ours"][i] / UPE) for i in (0, 1)]
        label = "all samples" if ev is None else f"eval_size {ev}"
        print(f"RATIO 2 [{label}] {1000 * cost[0]:.1f} ms per snapshot: 201 snapshots add "
              f"{over[0]:.1f} % wall, {over[1]:.1f} % cpu to 42,000 updates  (target <= 10 %)")


if __name__ == "__main__":
    main()
