"""CNN training speed: a pack against the same networks one at a time, as ratios measured in one run.

1. 32 CNNs `channels: [16, 32]`, 3x3, dense 64, ReLU, Adam, batch 128, on Fashion-MNIST (28x28, from
   /usr/share/datasets/fashion-mnist or --data-root), 1 torch thread: net-updates/s of the pack
   (topolearn.train.stacked.packed_update) vs a plain nn.Module + torch.optim loop over the nets.
   Target: packed >= 4x plain. Both loops' training FLOP/s are printed as fractions of this
   machine's single-thread convolution FLOP/s (oneDNN on the nets' largest conv layer, channels-last,
   forward only: the best case), with the fraction the 4x target would need: above 100 %, no way of
   batching on this machine reaches it (the bound).
2. The same for 32 small CNNs on digits (8x8, `channels: [4, 8]`, batch 32), where per-call
   overhead, not arithmetic, dominates.
3. The circle analysis's cost per snapshot (topolearn.learning_graphs.circle.snapshot_row: normalize,
   density filter, ripser H1) for pools of 3x3 kernels: the preset's 6 seeds x 64 filters and the
   default cap `circle.max_points` (2,000).

Each network draws its batches from its own per-epoch order (topolearn.train.epoch_order), as the
trainer does; each measurement keeps its fastest of `--repeats` alternating rounds. Usage:

    python benchmarks/bench_cnn.py [--quick] [--nets 32] [--updates 200] [--repeats 2]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from topolearn.data import load_dataset  # noqa: E402
from topolearn.sweep.arch import conv_flops  # noqa: E402
from topolearn.sweep.points import normalize_point  # noqa: E402
from topolearn.train import (StackedNet, StackedOptimizer, epoch_order, make_optimizer, model_for_point,  # noqa: E402
                             packed_update)

from bench_train import _timed, best_of, matmul_flops  # noqa: E402  (this folder: the MLP benchmark's timers)

FASHION = {"dataset": "fashion-mnist", "arch": "cnn", "channels": [16, 32], "depth": 1, "width": 64,
           "activation": "relu", "bias": True, "optimizer": "adam", "lr": 1e-3, "batch_size": 128, "init": "kaiming"}
DIGITS = FASHION | {"dataset": "digits", "channels": [4, 8], "width": 16, "batch_size": 32}


def nets(base: dict, n: int) -> list[dict]:
    return [normalize_point(base | {"seed": s, "lr": base["lr"] * (1 + 0.1 * (s % 3))}) for s in range(n)]


def orders(points, n: int, updates: int, bs: int) -> torch.Tensor:
    epochs = -(-updates * bs // n)
    return torch.stack([torch.cat([epoch_order(p["seed"], e, n) for e in range(epochs)])[:updates * bs]
                        for p in points])


def plain(points, X, y, idx, bs, shape) -> float:
    """Seconds to train the networks one after another: the textbook nn.Module + torch.optim loop."""
    t = time.perf_counter()
    for p, order in zip(points, idx):
        model = model_for_point(p, X.shape[1], 10, shape)
        opt = make_optimizer(model, p)
        for b in range(0, len(order), bs):
            i = order[b:b + bs]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(X[i]), y[i]).backward()
            opt.step()
    return time.perf_counter() - t


def packed(points, X, y, idx, bs, shape) -> float:
    """Seconds to train the same networks as one pack."""
    t = time.perf_counter()
    stack = StackedNet.from_models([model_for_point(p, X.shape[1], 10, shape) for p in points], "relu", "cpu")
    opt = StackedOptimizer("adam", stack.params, [p["lr"] for p in points], 0.0, 0.0)
    for b in range(0, idx.shape[1], bs):
        packed_update(stack, opt, X, y, idx[:, b:b + bs])
    return time.perf_counter() - t


def conv_throughput(p: dict, shape: tuple, repeats: int = 5) -> float:
    """FLOP/s of one forward convolution of the point's costliest conv layer on a batch (channels-last)."""
    model = model_for_point(p, 1, 10, shape)
    probe = torch.zeros(p["batch_size"], *model[0].unflattened_size)
    best = (0.0, None)
    for m in model[1:]:  # follow the maps through the net; keep the layer with the most FLOP
        if isinstance(m, torch.nn.Conv2d):
            flop = 2 * m.weight.numel() * probe.shape[0] * probe.shape[2] * probe.shape[3]
            best = max(best, (flop, (probe.contiguous(memory_format=torch.channels_last), m.weight.detach(),
                                     m.weight.shape[-1] // 2)), key=lambda b: b[0])
        if not isinstance(m, torch.nn.Flatten):
            probe = m(probe).detach()
        else:
            break
    flop, (x, w, pad) = best
    F.conv2d(x, w, padding=pad)
    seconds = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        F.conv2d(x, w, padding=pad)
        seconds = min(seconds, time.perf_counter() - t)
    return flop / seconds


def train_flops(p: dict, shape: tuple) -> float:
    """Training FLOP of one update (forward 2 per weight use, backward twice the forward)."""
    model = model_for_point(p, 1, 10, shape)
    dense = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    return 3 * p["batch_size"] * (conv_flops(p, shape) + 2 * dense)


def part(label, base, data, data_root, n_nets, updates, repeats, peak) -> float:
    X, y, _, _ = load_dataset(data, data_root)
    shape = (28, 28) if data != "digits" else (8, 8)
    X, y = torch.as_tensor(X), torch.as_tensor(y)
    points = nets(base, n_nets)
    bs = base["batch_size"]
    idx = orders(points, len(y), updates, bs)
    plain(points[:1], X, y, idx[:1, :2 * bs], bs, shape), packed(points[:2], X, y, idx[:2, :2 * bs], bs, shape)
    t = best_of(repeats, plain=lambda: plain(points, X, y, idx, bs, shape),
                packed=lambda: packed(points, X, y, idx, bs, shape))
    n = n_nets * updates
    conv = conv_throughput(points[0], shape)
    flop = {k: train_flops(points[0], shape) * n / s for k, s in t.items()}
    pct = lambda f: f"{f / 1e9:.1f} GFLOP/s = {100 * f / conv:.0f} % of conv"  # noqa: E731
    print(f"{label}: {n_nets} nets x {updates} updates, 1 thread, fastest of {repeats}; this machine: matmul "
          f"{peak / 1e9:.1f} GFLOP/s, conv {conv / 1e9:.1f} GFLOP/s\n"
          f"   plain {n / t['plain']:.1f} net-updates/s ({pct(flop['plain'])}), packed {n / t['packed']:.1f} "
          f"({pct(flop['packed'])}); 4x plain would need {pct(4 * flop['plain'])}")
    return t["plain"] / t["packed"]


def circle_cost(repeats: int) -> None:
    """Seconds per snapshot of the circle analysis on pools of random 3x3 kernels (ripser's cost
    depends on the kept cloud's size, not on what the kernels look like)."""
    import numpy as np

    from topolearn.learning_graphs.circle import CIRCLE_DEFAULTS as settings, snapshot_row

    rng = np.random.default_rng(0)
    for n in (384, int(settings["max_points"])):
        pool = [rng.standard_normal((n, 9))]
        best = min(_timed(lambda: snapshot_row(pool, settings)) for _ in range(repeats))
        print(f"3. circle analysis, pool of {n} kernels: {best:.3f} s per snapshot")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a smoke test in seconds (4 nets, 3 updates)")
    ap.add_argument("--nets", type=int, default=32)
    ap.add_argument("--updates", type=int, default=200, help="updates per Fashion-MNIST net")
    ap.add_argument("--digits-updates", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--data-root", default="/usr/share/datasets", help="folder holding fashion-mnist/")
    args = ap.parse_args()
    if args.quick:
        args.nets, args.updates, args.digits_updates, args.repeats = 4, 3, 3, 1
    torch.set_num_threads(1)
    peak = matmul_flops(1024, 3)
    r1 = part("1. fashion-mnist CNN [16, 32] 3x3, dense 64, batch 128", FASHION, "fashion-mnist", args.data_root,
              args.nets, args.updates, args.repeats, peak)
    print(f"RATIO 1 packed / plain net-updates/s = {r1:.2f}  (target >= 4)")
    r2 = part("2. digits CNN [4, 8] 3x3, dense 16, batch 32", DIGITS, "digits", args.data_root,
              args.nets, args.digits_updates, args.repeats, peak)
    print(f"RATIO 2 packed / plain net-updates/s = {r2:.2f}")
    circle_cost(args.repeats)


if __name__ == "__main__":
    main()
