"""Tiny toy-data runs for the layer-representation tests: trained alone (a pack of one), recorded."""

import io

from topolearn.sweep.points import normalize_point

# 2 hidden tanh layers of 3 units with biases; 120 spiral points, 6 epochs, 7 snapshots.
TOY_POINT = {
    "dataset": "spirals", "n_samples": 120, "turns": 0.75, "repr_size": 60, "grid_size": 8,
    "depth": 2, "width": 3, "activation": "tanh", "bias": True, "init": "xavier", "lr": 0.2,
    "batch_size": 20, "epochs": 6, "snapshots": 7, "seed": 1,
}


def train_toy(tmp_path, **changes):
    """(normalized point, store path) of a trained toy run: its layer representations are the ones
    the trainer recorded before finalizing the store (topolearn.train.checkpoints.publish)."""
    from topolearn.train import train_run

    point = normalize_point({**TOY_POINT, **changes})
    path = tmp_path / "snapshots.zarr"
    train_run(point, path, tmp_path / "scratch", chunk=4, log=io.StringIO())
    return point, path
