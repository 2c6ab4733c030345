"""Training speed, as ratios measured in one run (same machine, same moment).

1. Digits, the default architecture of config/config.yaml (64-32-32-10 sigmoid, no biases, SGD,
   batch 16): net-updates/s of N networks trained as one pack (topolearn.train.stacked.packed_update) vs
   the same networks one at a time in a plain loop (nn.Module + torch.optim), for 1 and 2 torch
   threads. Target: packed >= 10x plain on one thread (N = 64).
2. Paper setup (784-100-100-10 sigmoid, batch 100, random data of MNIST's shape): training FLOP/s
   of one network (plain loop) and of a pack of 8, as a fraction of this machine's single-thread
   matmul FLOP/s measured in the same run; and packed vs single for the 8 networks.

Both loops draw each network's batches from its own per-epoch order (topolearn.train.epoch_order), as the
trainer does. Each measurement keeps its fastest of `--repeats` alternating rounds (a shared machine
is noisy; the fastest round is the least disturbed). Usage:

    python benchmarks/bench_train.py [--quick] [--nets 64] [--repeats 3]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from topolearn.sweep.points import normalize_point  # noqa: E402
from topolearn.data import load_dataset  # noqa: E402
from topolearn.train import (StackedNet, StackedOptimizer, epoch_order, make_optimizer, model_for_point,  # noqa: E402
                             packed_update)

DIGITS = {"dataset": "digits", "depth": 2, "width": 32, "activation": "sigmoid", "bias": False,
          "optimizer": "sgd", "lr": 0.5, "batch_size": 16, "init_std": 1e-2}
PAPER = {"dataset": "mnist", "depth": 2, "width": 100, "activation": "sigmoid", "bias": False,
         "optimizer": "sgd", "lr": 0.05, "batch_size": 100, "init_std": 1e-6}


def nets(base: dict, n: int) -> list[dict]:
    return [normalize_point(base | {"seed": s, "lr": base["lr"] * (1 + 0.1 * (s % 3))}) for s in range(n)]


def orders(points, n: int, updates: int, bs: int) -> torch.Tensor:
    """(P, updates * bs) sample indices: each network's own epochs, concatenated."""
    epochs = -(-updates * bs // n)
    return torch.stack([torch.cat([epoch_order(p["seed"], e, n) for e in range(epochs)])[:updates * bs]
                        for p in points])


def plain(points, X, y, idx, bs) -> float:
    """Seconds to train the networks one after another: the textbook nn.Module + torch.optim loop."""
    t = time.perf_counter()
    for p, order in zip(points, idx):
        model = model_for_point(p, X.shape[1])
        opt = make_optimizer(model, p)
        for b in range(0, len(order), bs):
            i = order[b:b + bs]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(X[i]), y[i]).backward()
            opt.step()
    return time.perf_counter() - t


def packed(points, X, y, idx, bs) -> float:
    """Seconds to train the same networks as one pack."""
    t = time.perf_counter()
    stack = StackedNet.from_models([model_for_point(p, X.shape[1]) for p in points], points[0]["activation"], "cpu")
    opt = StackedOptimizer("sgd", stack.params, [p["lr"] for p in points], 0.0, 0.0)
    for b in range(0, idx.shape[1], bs):
        packed_update(stack, opt, X, y, idx[:, b:b + bs])
    return time.perf_counter() - t


def best_of(repeats: int, **fns) -> dict:
    """Fastest seconds of each function over alternating rounds."""
    best = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            best[name] = min(best.get(name, float("inf")), fn())
    return best


def matmul_flops(size: int, repeats: int) -> float:
    """Single-thread FLOP/s of a square float32 matmul."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * size ** 3 / best


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a smoke test in seconds (8 nets, few updates)")
    ap.add_argument("--nets", type=int, default=64, help="digits networks (part 1)")
    ap.add_argument("--updates", type=int, default=270, help="updates per digits network (3 epochs)")
    ap.add_argument("--paper-updates", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if args.quick:
        args.nets, args.updates, args.paper_updates, args.repeats = 8, 20, 4, 1

    X, y, _, _ = load_dataset("digits")
    X, y = torch.as_tensor(X), torch.as_tensor(y)
    points = nets(DIGITS, args.nets)
    idx = orders(points, len(y), args.updates, DIGITS["batch_size"])
    net_updates = args.nets * args.updates
    plain(points[:1], X, y, idx[:1, :32], 16), packed(points[:2], X, y, idx[:2, :32], 16)  # warm-up: first calls
    print(f"1. digits 64-32-32-10 sigmoid, batch 16: {args.nets} nets x {args.updates} updates, "
          f"fastest of {args.repeats} round(s)")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        t = best_of(args.repeats, plain=lambda: plain(points, X, y, idx, 16), packed=lambda: packed(points, X, y, idx, 16))
        print(f"  {threads} thread(s): plain {net_updates / t['plain']:.0f} net-updates/s, packed "
              f"{net_updates / t['packed']:.0f} net-updates/s")
        print(f"RATIO 1 [{threads} thread(s)] packed / plain net-updates/s = {t['plain'] / t['packed']:.1f}"
              f"  (target >= 10 on one thread)")

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    Xp, yp = torch.rand(60000, 784, generator=gen), torch.randint(0, 10, (60000,), generator=gen)
    paper = nets(PAPER, 8)
    idx = orders(paper, len(yp), args.paper_updates, 100)
    flop = 6 * 100 * (784 * 100 + 100 * 100 + 100 * 10)  # forward 2 FLOP per weight and sample, backward 4
    peak = matmul_flops(1024, 3 if not args.quick else 1)
    t = best_of(args.repeats, single=lambda: plain(paper[:1], Xp, yp, idx[:1], 100),
                packed=lambda: packed(paper, Xp, yp, idx, 100))
    single, pack = flop * args.paper_updates / t["single"], 8 * flop * args.paper_updates / t["packed"]
    print(f"2. paper setup 784-100-100-10, batch 100, random data, 1 thread; matmul {peak / 1e9:.1f} GFLOP/s")
    print(f"  one net (plain loop) {single / 1e9:.1f} GFLOP/s = {100 * single / peak:.0f} % of matmul; "
          f"pack of 8 {pack / 1e9:.1f} GFLOP/s = {100 * pack / peak:.0f} %")
    print(f"RATIO 2 packed / single net-updates/s for 8 paper nets = {pack / single:.2f}")


if __name__ == "__main__":
    main()
