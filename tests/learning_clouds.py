"""Synthetic weight histories with known learning-graph shapes (for the mapper/graphs/branching tests).

Every function returns (weights (S, N, D) float32, epochs (S,)). Neurons drift along a trunk
direction at unit speed; a branch peels off at a known epoch by also moving, at `speed`, along a
direction of its own (orthogonal to everything else). Gaussian noise of std `noise` on every
coordinate.
"""

import numpy as np


def _frame(dim: int, k: int, rng) -> np.ndarray:
    """k+1 orthonormal directions in R^dim (row 0: the trunk)."""
    q, _ = np.linalg.qr(rng.normal(size=(dim, k + 1)))
    return q.T


def comb(split_epochs=(10.0, 20.0, 30.0), n_neurons=12, dim=10, epochs=40.0, n_snapshots=81, speed=3.0,
         noise=0.01, seed=0):
    """A trunk from which branch j+1 peels off at split_epochs[j]: len(split_epochs) + 1 branches.

    Neuron n follows branch n % (len(split_epochs) + 1); branch 0 is the trunk to the end.
    """
    rng = np.random.default_rng(seed)
    k = len(split_epochs) + 1
    e = _frame(dim, k, rng)
    t = np.linspace(0.0, epochs, n_snapshots)
    w = np.zeros((n_snapshots, n_neurons, dim))
    for n in range(n_neurons):
        b = n % k
        w[:, n] = t[:, None] * e[0]
        if b:
            w[:, n] += speed * np.clip(t - split_epochs[b - 1], 0, None)[:, None] * e[b]
    w += noise * rng.normal(size=w.shape)
    return w.astype(np.float32), t


def y_shape(split=15.0, n_neurons=10, dim=8, epochs=40.0, n_snapshots=81, speed=2.0, noise=0.01, seed=1):
    """A trunk that splits into two symmetric arms at `split` (the trunk itself stops there)."""
    rng = np.random.default_rng(seed)
    e = _frame(dim, 2, rng)
    t = np.linspace(0.0, epochs, n_snapshots)
    after = np.clip(t - split, 0, None)[:, None]
    w = np.zeros((n_snapshots, n_neurons, dim))
    for n in range(n_neurons):
        side = e[1] if n % 2 else -e[1]
        w[:, n] = np.minimum(t, split)[:, None] * e[0] + after * (e[0] + speed * side)
    w += noise * rng.normal(size=w.shape)
    return w.astype(np.float32), t


def loop(split=10.0, merge=30.0, n_neurons=10, dim=8, epochs=40.0, n_snapshots=81, height=8.0, noise=0.01,
         seed=2):
    """Two groups part at `split` (one up, one down) and meet again at `merge`: one cycle."""
    rng = np.random.default_rng(seed)
    e = _frame(dim, 1, rng)
    t = np.linspace(0.0, epochs, n_snapshots)
    bump = height * np.clip(np.sin(np.pi * (t - split) / (merge - split)), 0, None) * ((t > split) & (t < merge))
    w = np.zeros((n_snapshots, n_neurons, dim))
    for n in range(n_neurons):
        w[:, n] = t[:, None] * e[0] + (1 if n % 2 else -1) * bump[:, None] * e[1]
    w += noise * rng.normal(size=w.shape)
    return w.astype(np.float32), t


def write_store(path, layers: list, epochs, test_acc=None, complete: bool = True):
    """A snapshot store holding the given (S, N, D) weight histories as layer0, layer1, ...

    complete=False leaves it as an interrupted run would (no `complete: true`).
    """
    from topolearn.store.snapshots import create_store, finalize_store, write_rows

    n = len(epochs)
    acc = np.full(n, 0.1) if test_acc is None else np.asarray(test_acc, dtype=float)
    shapes = [w.shape[1:] for w in layers]
    root = create_store(path, layer_shapes=shapes, bias=False, n_snapshots=n, probe_labels=np.arange(4) % 10,
                        n_classes=10, chunk=16, attrs={"run_id": "0123456789ab"})
    rows = {"step": np.arange(n) * 10, "epoch": np.asarray(epochs, dtype=float), "test_acc": acc,
            "train_acc": acc, "test_loss": 1 - acc, "train_loss": 1 - acc,
            "probs": np.full((n, 4, 10), 0.1, dtype=np.float32)}
    rows.update({f"weights/layer{i}": w for i, w in enumerate(layers)})
    write_rows(root, 0, rows)
    if complete:
        finalize_store(path, n, {"diverged": False})
    return path


def plateau_split(split=36.0, n_neurons=10, dim=8, epochs=70.0, n_snapshots=201, speed=1.0, noise=1e-3, seed=3):
    """Zero-init-like: all neurons rest at the origin until `split`, then two halves move apart
    (along a shared drift plus opposite directions). A merge node then spans epoch 0 to the split,
    so its mean epoch is about split / 2: the trap issue 13 describes."""
    rng = np.random.default_rng(seed)
    e = _frame(dim, 2, rng)
    t = np.linspace(0.0, epochs, n_snapshots)
    after = np.clip(t - split, 0, None)[:, None]
    w = np.zeros((n_snapshots, n_neurons, dim))
    for n in range(n_neurons):
        w[:, n] = after * (e[0] + speed * (e[1] if n % 2 else -e[1]))
    w += noise * rng.normal(size=w.shape)
    return w.astype(np.float32), t
