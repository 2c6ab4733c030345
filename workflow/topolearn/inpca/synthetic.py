"""Synthetic prediction trajectories for InPCA benchmarks and tests: runs whose softmax outputs move
from uniform to near one-hot, at run-specific speeds, through run-specific mistakes, with noise."""

import numpy as np
import pandas as pd

from .sweep import Run


def synthetic_run(i: int, labels, n_classes: int, n_snapshots: int, seed: int = 0, dtype=np.float32) -> Run:
    """Run i: logits t(s) * (4 onehot(label) + run bias) + noise, t from 0 to about 1 along the run with
    a run-specific speed (a learning rate), so ignorance is the start and (near) truth the end."""
    labels = np.asarray(labels)
    n = len(labels)

    def load(rows=None):
        rng = np.random.default_rng((seed, i))
        speed = rng.uniform(0.5, 2.0)
        bias = rng.normal(scale=1.5, size=(n, n_classes))  # the run's own mistakes on the way
        t = 1 - np.exp(-speed * 3 * np.linspace(0, 1, n_snapshots))
        rows = np.arange(n_snapshots) if rows is None else np.asarray(rows)
        noise = np.random.default_rng((seed, i, 1)).normal(scale=0.3, size=(n_snapshots, n, n_classes))[rows]
        tt = t[rows, None, None]
        logits = tt * (4.0 * np.eye(n_classes)[labels] + bias * (1 - tt)) + tt * noise
        p = np.exp(logits - logits.max(axis=2, keepdims=True))
        p /= p.sum(axis=2, keepdims=True)
        epochs = np.linspace(0, 10, n_snapshots)[rows]
        return p.astype(dtype), pd.DataFrame({"step": rows * 10, "epoch": epochs, "test_acc": 0.1 + 0.8 * t[rows]})

    return Run(f"run{i:05d}", f"run{i:05d}-{seed}", "synthetic", labels, n_classes, n_snapshots, load)


def synthetic_sweep(n_runs: int, n_snapshots: int, n_samples: int, n_classes: int = 10, seed: int = 0,
                    first: int = 0) -> list[Run]:
    """n_runs runs (ids first..first+n_runs-1) sharing one probe set of n_samples labels."""
    labels = np.random.default_rng(seed).integers(0, n_classes, size=n_samples)
    return [synthetic_run(i, labels, n_classes, n_snapshots, seed) for i in range(first, first + n_runs)]


def factor_run(run_id: str, labels, n_classes: int, n_snapshots: int, *, path: int, speed: float, seed: int,
               jitter: float = 0.3) -> Run:
    """A run whose detour (its mistakes on the way to truth) is set by `path`, shared by every run of
    that path up to the run's own `jitter` (as seeds differ), and whose pace by `speed`: a factor that sets `path`
    moves the trajectory, one that sets only `speed` does not (at matched progress)."""
    labels = np.asarray(labels)
    n = len(labels)

    def load(rows=None):
        bias = np.random.default_rng(path).normal(scale=1.5, size=(n, n_classes))
        own = np.random.default_rng((path, seed, int(speed * 1000)))  # every run its own deviation
        bias = bias + own.normal(scale=jitter * 1.5, size=(n, n_classes))
        t = 1 - np.exp(-speed * 3 * np.linspace(0, 1, n_snapshots))
        rows = np.arange(n_snapshots) if rows is None else np.asarray(rows)
        tt = t[rows, None, None]
        logits = tt * (4.0 * np.eye(n_classes)[labels] + bias * (1 - tt))
        p = np.exp(logits - logits.max(axis=2, keepdims=True))
        p /= p.sum(axis=2, keepdims=True)
        return p, pd.DataFrame({"step": rows, "epoch": rows.astype(float), "test_acc": 0.1 + 0.8 * t[rows]})

    return Run(run_id, run_id, "synthetic", labels, n_classes, n_snapshots, load)
