"""A point's training data on the device, its update schedule, its eval sets and its epochs' sample order."""

from dataclasses import dataclass

import numpy as np
import torch

from ..data import data_source, dataset_info, load_dataset
from ..sweep.schedule import snapshot_steps, updates_per_epoch
from .evaluation import EvalSets, make_eval_sets


@dataclass
class TrainData:
    """A point's training data on the device, its update schedule and its eval sets."""

    X: torch.Tensor
    y: torch.Tensor
    X_test: np.ndarray  # full test set (final evaluation)
    y_test: np.ndarray
    n_classes: int
    n: int
    bs: int
    upe: int
    total: int
    steps: list
    ev: EvalSets
    image_shape: tuple  # one sample's shape before flattening (a CNN unflattens X's rows to it)


def load_train_data(point: dict, data_root, dev: torch.device) -> TrainData:
    """data_root: a data folder or a config (topolearn.data.data_source)."""
    X_train, y_train, X_test, y_test = load_dataset(point["dataset"], data_root, point=point)
    if point["train_size"]:
        X_train, y_train = X_train[:point["train_size"]], y_train[:point["train_size"]]
    n, bs = len(y_train), point["batch_size"]
    upe = updates_per_epoch(n, bs)
    total = point["epochs"] * upe
    steps = snapshot_steps(total, point["snapshots"], point["snapshot_spacing"]).tolist()
    X, y = torch.as_tensor(X_train).to(dev), torch.as_tensor(y_train).to(dev)
    ev = make_eval_sets(point, X, y, X_test, y_test, dev)  # shares X unless eval_size
    info = dataset_info(point, data_source(data_root)[1])
    return TrainData(X, y, X_test, y_test, info.n_classes, n, bs, upe, total, steps, ev, tuple(info.image_shape))


def _seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (run seed, epoch, ...)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The sample order of one epoch: a function of (seed, epoch) only, so a resume reproduces it."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(_seed(seed, epoch)))
