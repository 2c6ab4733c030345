"""Update counts and the snapshot schedule of a training run."""

import math

import numpy as np


def updates_per_epoch(n_train: int, batch_size: int) -> int:
    """Updates in one epoch; the last, smaller batch is kept (as Keras does)."""
    return math.ceil(n_train / batch_size)


def snapshot_steps(total_updates: int, n: int, spacing: str = "linear") -> np.ndarray:
    """`n` strictly increasing update counts from 0 to `total_updates` inclusive.

    linear: evenly spaced (the paper: 201 snapshots over 42,000 updates = one every 210).
    log: 0, then geometrically spaced from 1; collisions after rounding are pushed forward.
    """
    if n < 2 or n > total_updates + 1:
        raise ValueError(f"snapshots must be in [2, {total_updates + 1}] for {total_updates} updates, got {n}")
    if spacing == "linear":
        steps = np.rint(np.linspace(0, total_updates, n)).astype(np.int64)
    elif spacing == "log":
        # geomspace(1, T, 1) is [1], not [T]: with n == 2 the schedule is just [0, T]
        tail = np.geomspace(1, total_updates, n - 1) if n > 2 else [total_updates]
        steps = np.concatenate([[0], np.rint(tail)]).astype(np.int64)
        for i in range(1, n):  # make strictly increasing, then pull the tail back under the end
            steps[i] = max(steps[i], steps[i - 1] + 1)
        for i in range(n - 1, 0, -1):
            steps[i] = min(steps[i], total_updates - (n - 1 - i))
    else:
        raise ValueError(f"snapshot_spacing must be 'linear' or 'log', got {spacing!r}")
    return steps
