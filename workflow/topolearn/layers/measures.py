"""Measured topology of layer representations on toy data (docs/layers.md).

Per (snapshot, layer) of a run's recorded representations (topolearn.train.representations):
  - separability: held-out accuracy of a logistic regression on the representation;
  - Betti numbers b0, b1 of each class's point cloud (Vietoris-Rips, ripser.py), counted at a
    scale of BETTI_SCALE x the cloud's diameter (Naitzat et al. 2020 track these through layers);
  - folded_fraction, for 2-unit layers: grid cells whose mapped orientation is not the layer's.
Degenerate input gives NaN, never an exception (see each function).
"""

import numpy as np
import pandas as pd

from ..store.snapshots import open_store, read_metric_series
from ..utils.tables import read_tsv, write_tsv

BETTI_SCALE = 0.15  # bars alive at this fraction of the cloud's diameter are counted
BETTI_POINTS = 80  # per class cloud: a fixed-seed subsample, the same points at every snapshot
MIN_POINTS = 4  # fewer distinct points: no Betti numbers (NaN)
MAX_SNAPSHOTS = 6  # snapshots measured per run, evenly spaced, first and last included
SQUASH_RESOLUTION = 1e-5  # mapped cell edges shorter than this x the largest coordinate: squashed
SQUASH_SINE = 1e-3  # mapped edges more nearly parallel than this (sine of their angle): squashed
SPLIT_SEED = 0  # the fixed half/half split of the separability score
TABLE_COLUMNS = ["snapshot", "step", "epoch", "train_acc", "test_acc", "layer", "position", "units",
                 "separability", "b0", "b1", "b0_class0", "b1_class0", "b0_class1", "b1_class1",
                 "folded_fraction"]


# ---------------------------------------------------------------- metrics


def separability_split(y: np.ndarray, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray] | None:
    """Fixed stratified half/half (fit, score) indices; None if a class has fewer than 2 points."""
    from sklearn.model_selection import train_test_split

    if len(np.unique(y)) < 2 or np.bincount(y).min(initial=len(y)) < 2:
        return None
    idx = np.arange(len(y))
    return tuple(train_test_split(idx, test_size=0.5, stratify=y, random_state=seed))


def separability(H: np.ndarray, y: np.ndarray, split=None) -> float:
    """Held-out accuracy of a (nearly unregularized) logistic regression on standardized H.

    1.0: a hyperplane separates the classes; near the majority share: no linear structure.
    NaN when H is not finite or the split has a single class.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    H = np.asarray(H, np.float64).reshape(len(y), -1)
    split = separability_split(y) if split is None else split
    if split is None or not np.isfinite(H).all():
        return float("nan")
    fit, score = split
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1e3, max_iter=300))
    clf.fit(H[fit], y[fit])
    return float(clf.score(H[score], y[score]))


def subsample(n: int, max_points: int = BETTI_POINTS, seed: int = 0) -> np.ndarray:
    """Fixed indices of at most max_points of n (sorted)."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))


def betti_numbers(X: np.ndarray, scale: float = BETTI_SCALE) -> tuple[float, float]:
    """(b0, b1) of the Vietoris-Rips complex of X at radius scale x diameter(X).

    b0: H0 bars alive at that radius (components), b1: H1 bars born at or before it and dying
    after it (loops). NaN, NaN when X is not finite or has fewer than MIN_POINTS distinct points
    (then the diameter gives no scale).
    """
    from ripser import ripser
    from scipy.spatial.distance import pdist

    X = np.asarray(X, np.float64)
    X = X.reshape(len(X), -1) if X.size else np.zeros((0, 1))
    if not np.isfinite(X).all() or len(np.unique(X, axis=0)) < MIN_POINTS:
        return float("nan"), float("nan")
    r = scale * pdist(X).max()
    h0, h1 = ripser(X, maxdim=1)["dgms"]
    b0 = int(np.sum(h0[:, 1] > r))
    b1 = int(np.sum((h1[:, 0] <= r) & (h1[:, 1] > r)))
    return float(b0), float(b1)


def folded_fraction(grid_points: np.ndarray, shape, count_squashed: bool = True) -> float:
    """Share of grid cells a 2-unit layer does not map with the layer's orientation.

    grid_points: (grid_point, 2) images of a row-major grid of `shape`. Each cell's orientation is
    the sign of det[e_x, e_y] of its mapped edge vectors; the layer's orientation is the majority
    sign. A cell with the other sign (a fold) counts, and with `count_squashed` one of zero area
    (squashed, as ReLU does to quadrants). Strictly monotonic activations (tanh, sigmoid) are
    injective, so their zero-area cells are float32 saturation, not folds: the caller passes
    count_squashed=False for them. 0.0: the grid maps like a homeomorphism. NaN unless the layer
    has 2 units and is finite.
    """
    G = np.asarray(grid_points, np.float64)
    if G.ndim != 2 or G.shape[1] != 2 or not np.isfinite(G).all():
        return float("nan")
    G = G.reshape(*shape, 2)
    ex, ey = G[:-1, 1:] - G[:-1, :-1], G[1:, :-1] - G[:-1, :-1]
    det = ex[..., 0] * ey[..., 1] - ex[..., 1] * ey[..., 0]
    lx, ly = np.linalg.norm(ex, axis=-1), np.linalg.norm(ey, axis=-1)
    # below float32 resolution the sign of a cell is rounding noise: such cells are squashed
    res = SQUASH_RESOLUTION * max(np.abs(G).max(), 1e-30)
    squashed = (lx <= res) | (ly <= res) | (np.abs(det) <= SQUASH_SINE * lx * ly)
    sign = np.sign(np.sum(np.sign(det[~squashed]))) or 1.0
    folded = ~squashed & (det * sign < 0)
    return float(np.mean(folded | squashed if count_squashed else folded))


# ---------------------------------------------------------------- per run


def measured_snapshots(n: int, max_snapshots: int | None = MAX_SNAPSHOTS) -> np.ndarray:
    if not max_snapshots or n <= max_snapshots:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_snapshots).round().astype(int))


def _class_betti(H: np.ndarray, y: np.ndarray, picks: dict) -> dict:
    out = {}
    for c, idx in picks.items():
        out[f"b0_class{c}"], out[f"b1_class{c}"] = betti_numbers(H[idx])
    out["b0"] = sum(out[f"b0_class{c}"] for c in picks)  # NaN if any class's is
    out["b1"] = sum(out[f"b1_class{c}"] for c in picks)
    return out


def _measure(H, y, split, picks, grid, shape, squash=True) -> dict:
    fold = folded_fraction(grid, shape, squash) if grid is not None else float("nan")
    return {"units": H.shape[-1], "separability": separability(H, y, split), **_class_betti(H, y, picks),
            "folded_fraction": fold}


def layer_table(store_path, max_snapshots: int | None = MAX_SNAPSHOTS) -> pd.DataFrame:
    """One row per (measured snapshot, layer) of a run's representations (TABLE_COLUMNS).

    Layers: `input` (position 0), then layer{i} at position i + 1 (the last is the logits). An
    empty table (columns only) for a run without recorded representations (non-toy data).
    """
    root = open_store(store_path)
    if "repr" not in root:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    rep, grid = root["repr"], (root["grid"] if "grid" in root else None)
    y = rep["labels"][:]
    split = separability_split(y)
    picks = {int(c): np.flatnonzero(y == c)[subsample(int(np.sum(y == c)))] for c in np.unique(y)}
    shape = tuple(grid.attrs["shape"]) if grid is not None else None
    n_layers = len(list(root["weights"].array_keys()))
    names = ["input"] + [f"layer{i}" for i in range(n_layers)]
    metrics = read_metric_series(root, ("step", "epoch", "train_acc", "test_acc"))
    squash = root.attrs["params"].get("activation") not in ("tanh", "sigmoid")  # see folded_fraction
    static = _measure(rep["input"][:], y, split, picks, grid["input"][:] if grid is not None else None, shape)
    rows = []
    for s in measured_snapshots(len(metrics["step"]), max_snapshots):
        head = {"snapshot": int(s), **{k: v[s] for k, v in metrics.items()}}
        rows.append({**head, "layer": "input", "position": 0, **static})
        for pos, name in enumerate(names[1:], start=1):
            g = grid[name][s] if grid is not None else None
            measured = _measure(rep[name][s], y, split, picks, g, shape, squash)
            rows.append({**head, "layer": name, "position": pos, **measured})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def write_table(df: pd.DataFrame, path) -> None:
    write_tsv(df, path)


def read_table(path) -> pd.DataFrame:
    return read_tsv(path)


def analyze_run_layers(store_path, table_out, max_snapshots: int | None = MAX_SNAPSHOTS) -> pd.DataFrame:
    """A run's layer table into `table_out`. The analysis jobs write it with `run_id` first into
    the run's table folder (topolearn.analysis). Its per-run figures: topolearn.figures.layers.run_layer_figures."""
    df = layer_table(store_path, max_snapshots)
    write_table(df, table_out)
    return df


# ---------------------------------------------------------------- summary columns

SUMMARY_METRICS = {"separability": "float64", "b0": "float64", "b1": "float64", "folded_fraction": "float64"}


def summary_columns(table) -> dict:
    """{layer{i}_{metric}: value at the last measured snapshot} for summary.tsv (SUMMARY_METRICS), from
    a run's layer table (a frame, or the path of one)."""
    df = table if isinstance(table, pd.DataFrame) else read_table(table)
    if df.empty:
        return {}
    last = df[(df["snapshot"] == df["snapshot"].max()) & (df["layer"] != "input")]
    return {f"{row.layer}_{m}": getattr(row, m) for row in last.itertuples() for m in SUMMARY_METRICS}
