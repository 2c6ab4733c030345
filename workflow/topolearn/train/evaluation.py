"""What a snapshot records: fixed eval sets, per-network scores, snapshot rows and their blocks."""

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..store.layout import METRICS, METRICS_ARRAY, metric_table

EVAL_SEED = 20190208  # fixed, not the run's seed: every run of a sweep is probed on the same samples
EVAL_BATCH = 16384  # large no-grad batches: evaluation costs little next to batch-100 training


@dataclass
class EvalSets:
    """Fixed samples evaluated at every snapshot (on the training device)."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor  # the first n_test rows score test metrics, the first n_probe give probs
    y_test: torch.Tensor
    n_test: int
    n_probe: int
    probe_index: np.ndarray  # indices into the test set


def make_eval_sets(point: dict, X_train, y_train, X_test, y_test, device) -> EvalSets:
    """A fixed seeded permutation of the test set: its first `probe_size` samples are the probe,
    its first `eval_size` (or all) score the test metrics; `eval_size` training samples likewise."""
    gen = np.random.default_rng(EVAL_SEED)
    test_order = gen.permutation(len(y_test))
    train_order = gen.permutation(len(y_train))
    eval_size = point["eval_size"]
    n_test = min(eval_size or len(y_test), len(y_test))
    n_train = min(eval_size or len(y_train), len(y_train))
    n_probe = point["probe_size"]
    test_rows = test_order[:max(n_test, n_probe)]
    t = lambda a: torch.as_tensor(a).to(device)  # noqa: E731
    if n_train < len(y_train):
        rows = np.sort(train_order[:n_train])
        X_train, y_train = X_train[rows], y_train[rows]
    return EvalSets(t(X_train), t(y_train), t(X_test[test_rows]), t(y_test[test_rows]), n_test, n_probe,
                    test_order[:n_probe].astype(np.int64))


def score(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss and accuracy per network of `logits` (P, N, C) on labels y (N,): two (P,) float64."""
    P, N, C = logits.shape
    # cross-entropy as logsumexp minus the true class's logit (what F.cross_entropy computes, within
    # float32 rounding): on a whole eval set of every network it is 2-3x faster than cross_entropy
    # over (P * N) rows; per-sample losses summed in float64, a float32 sum overflows long before any loss
    picked = logits.gather(2, y.view(1, N, 1).expand(P, N, 1)).squeeze(2)
    loss = torch.logsumexp(logits, 2) - picked
    return loss.double().mean(1), (logits.argmax(2) == y).double().mean(1)


def snapshots_from(weights: dict, biases: dict, train_logits, test_logits, ev: EvalSets) -> list[dict | None]:
    """One snapshot per network from stacked weights and biases ({store name: (P, ...) numpy},
    StackedNet.arrays) and logits (P, N, C) on the eval sets; None for a network with anything
    non-finite (divergence)."""
    train_loss, train_acc = (t.tolist() for t in score(train_logits, ev.y_train))
    test_loss, test_acc = (t.tolist() for t in score(test_logits[:, :ev.n_test], ev.y_test[:ev.n_test]))
    probs = torch.softmax(test_logits[:, :ev.n_probe], dim=2).cpu().numpy().astype(np.float32)
    finite = np.ones(len(probs), bool)
    for a in [*weights.values(), *biases.values()]:
        finite &= np.isfinite(a.reshape(len(a), -1)).all(1)
    out = []
    for i in range(len(probs)):
        if not (finite[i] and math.isfinite(train_loss[i]) and math.isfinite(test_loss[i])):
            out.append(None)
            continue
        out.append({"weights": {k: w[i].copy() for k, w in weights.items()},
                    "biases": {k: b[i].copy() for k, b in biases.items()},
                    "train_loss": train_loss[i], "train_acc": train_acc[i], "test_loss": test_loss[i],
                    "test_acc": test_acc[i], "probs": probs[i]})
    return out


@dataclass
class Block:
    """One network's snapshots recorded since the last flush; written to its store as one chunk."""

    start: int
    rows: list = field(default_factory=list)

    def add(self, step: int, epoch: float, snap: dict) -> None:
        self.rows.append((step, epoch, snap))

    def take(self) -> tuple[int, dict]:
        """(start, {array path: rows}) of the rows recorded since the last flush, which they leave."""
        steps, epochs, snaps = zip(*self.rows)
        series = {"step": steps, "epoch": epochs, **{name: [s[name] for s in snaps] for name in METRICS[2:]}}
        out = {METRICS_ARRAY: metric_table(series), "probs": np.stack([s["probs"] for s in snaps])}
        for group in ("weights", "biases"):
            for name in snaps[0][group]:
                out[f"{group}/{name}"] = np.stack([s[group][name] for s in snaps])
        start = self.start
        self.start += len(self.rows)
        self.rows = []
        return start, out
