"""Layer representations of toy-data runs, recorded into the run's store (docs/layers.md).

`record(root, point, data_root)` is called once per run, after the last snapshot is written and
before the store is finalized (so the manifest covers its arrays). It recomputes every layer's
output from the stored weights for all snapshots at once (one batched matmul per layer):

  repr/input   (point, feature)               the first `repr_size` training points
  repr/labels  (point)                        their classes
  repr/layer{i} (snapshot, point, unit_layer{i})  after layer i's activation; the last = logits
  grid/input   (grid_point, feature)          grid_size x grid_size points, row-major (y, then x)
  grid/layer{i} (snapshot, grid_point, unit_layer{i})
"""

import numpy as np
import torch
import zarr

from ..sweep.points import normalize_point
from ..data import load_dataset
from .models import ACTIVATIONS
from ..store.snapshots import codec, snapshot_chunk
from ..data.toy import GRID_MARGIN, is_toy


def input_grid(X: np.ndarray, grid_size: int, margin: float = GRID_MARGIN) -> tuple[np.ndarray, list]:
    """Points of a grid_size x grid_size grid over the bounding box of X widened by `margin` per
    side (row-major: y outer, x inner), and the box [[x0, x1], [y0, y1]]."""
    lo, hi = X.min(0).astype(np.float64), X.max(0).astype(np.float64)
    pad = margin * np.maximum(hi - lo, 1e-6)
    lo, hi = lo - pad, hi + pad
    xs, ys = (np.linspace(lo[d], hi[d], grid_size) for d in (0, 1))
    gx, gy = np.meshgrid(xs, ys)
    pts = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
    return pts, [[float(lo[0]), float(hi[0])], [float(lo[1]), float(hi[1])]]


@torch.no_grad()
def forward_all(weights: list, biases: list | None, X: np.ndarray, activation: str | None) -> list:
    """Every layer's output for every snapshot: [(snapshot, point, unit)] float32, layer0 first.

    Hidden layers after their activation, the output layer as logits (what the model computes).
    """
    act = ACTIVATIONS[activation]() if activation else None
    h = torch.as_tensor(X, dtype=torch.float32)
    out = []
    for i, w in enumerate(weights):
        w = torch.as_tensor(w)
        h = torch.matmul(h, w.transpose(1, 2))  # (S, P, in) or (P, in) against (S, in, out)
        if biases is not None:
            h = h + torch.as_tensor(biases[i])[:, None, :]
        if i < len(weights) - 1:
            h = act(h)
        out.append(h.numpy())
    return out


def _write(group, name, data, dims, chunk_rows=None):
    chunks = data.shape if chunk_rows is None else (min(chunk_rows, max(1, data.shape[0])),) + data.shape[1:]
    arr = group.create_array(name, shape=data.shape, chunks=chunks, dtype=data.dtype, dimension_names=dims,
                             fill_value=np.nan if data.dtype.kind == "f" else -1, overwrite=True,
                             compressors=codec())
    arr[:] = data


def record(root: zarr.Group, point: dict, data_root="data") -> bool:
    """Write the run's layer representations into `root` (an open, writable store); False (and
    nothing written) unless the run is on a toy dataset."""
    p = normalize_point(point)
    if not is_toy(p["dataset"]):
        return False
    X_train, y_train, _, _ = load_dataset(p["dataset"], data_root, point=p)
    X_train, y_train = X_train[:p["train_size"] or None], y_train[:p["train_size"] or None]
    n = min(p["repr_size"], len(y_train))
    X, y = X_train[:n], y_train[:n]  # the data are shuffled: a prefix is a random subset
    n_layers = p["depth"] + 1
    weights = [root["weights"][f"layer{i}"][:] for i in range(n_layers)]
    biases = [root["biases"][f"layer{i}"][:] for i in range(n_layers)] if "biases" in root else None
    rows = snapshot_chunk(root)
    rep = root.require_group("repr")
    _write(rep, "input", X, ["point", "feature"])
    _write(rep, "labels", y, ["point"])
    for i, h in enumerate(forward_all(weights, biases, X, p["activation"])):
        _write(rep, f"layer{i}", h, ["snapshot", "point", f"unit_layer{i}"], rows)
    if p["grid_size"]:
        pts, bounds = input_grid(X_train, p["grid_size"])
        grid = root.require_group("grid")
        grid.update_attributes({"shape": [p["grid_size"], p["grid_size"]], "bounds": bounds})
        _write(grid, "input", pts, ["grid_point", "feature"])
        for i, h in enumerate(forward_all(weights, biases, pts, p["activation"])):
            _write(grid, f"layer{i}", h, ["snapshot", "grid_point", f"unit_layer{i}"], rows)
    return True


def record_finished(store_path, data_root="data") -> bool:
    """Record into an already finished store (one trained before recording existed), then renew
    its manifest; False for non-toy runs."""
    from ..store.snapshots import finalize_store, open_store

    root = open_store(store_path)
    attrs = dict(root.attrs)
    if not record(zarr.open_group(str(store_path), mode="r+"), attrs["params"], data_root):
        return False
    finalize_store(store_path, attrs["n_snapshots"], {})
    return True
