"""The circle of edge filters (Gabrielsson & Carlsson, arXiv 1810.03234; Carlsson et al. 2008):
persistent H1 of a first conv layer's spatial filters, pooled over the seeds of one sweep cell, at
every snapshot, and the date from which one long bar (the primary circle) stays.

Per snapshot: every filter's kernel of each input channel (k x k weights: a point in R^(k k)) of
every run of the cell; each mean-centred and scaled to unit norm (a constant kernel has no
direction and is dropped); density-filtered (each point's distance to its k-th nearest neighbour,
k = k_fraction x the cloud's size; the fraction p with the smallest distances kept); then the
Vietoris-Rips H1 diagram (ripser) of what is kept. The longest and second-longest H1 lifetimes are
recorded; the circle is dated at the first snapshot from which, at every later snapshot, the
longest lifetime is at least `threshold` and at least `ratio` x the second.

Distances are between unit vectors (0 to 2): a planar great circle through the cloud's sphere
gives a bar of lifetime about sqrt(3) (its Rips H1 dies at the side of the inscribed equilateral
triangle); isotropic noise gives bars far below 0.5 (tests/test_circle.py).
"""

import numpy as np
import pandas as pd

from ..utils.tables import read_tsv

CIRCLE_DEFAULTS = {"enabled": False, "layer": "conv0", "p": 0.3, "k_fraction": 0.05, "threshold": 0.5, "ratio": 2.0,
                   "max_points": 2000}
TABLE_COLUMNS = ["cell", "snapshot", "step", "epoch", "test_acc", "n_runs", "n_points", "k", "n_kept", "longest",
                 "second", "circle"]
RUN_COLUMNS = ["run_id", "cell", "circle_step", "circle_epoch", "circle_final_longest"]


def kernels(w: np.ndarray, kernel_shape) -> np.ndarray:
    """(filter, in_channels k k) in torch's order -> (filter x in_channels, k k): one point per
    input channel's kernel."""
    _, c, kh, kw = (int(v) for v in kernel_shape)
    return w.reshape(-1, kh * kw)


def normalize(points: np.ndarray) -> np.ndarray:
    """Each row mean-centred and scaled to unit norm; rows that are (nearly) constant are dropped."""
    x = points.astype(np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(x, axis=1)
    keep = np.isfinite(norm) & (norm > 1e-8 * max(1.0, float(np.nanmax(np.abs(points), initial=0.0))))
    return x[keep] / norm[keep, None]


def density_filter(x: np.ndarray, k: int, p: float) -> np.ndarray:
    """The fraction p of rows with the smallest distance to their k-th nearest neighbour (the
    densest part of the cloud; Carlsson et al. 2008's X(k, p))."""
    from scipy.spatial import cKDTree

    n = len(x)
    if n <= k:
        return x
    dist, _ = cKDTree(x).query(x, k=k + 1)  # the first neighbour is the point itself
    keep = max(1, int(round(p * n)))
    return x[np.argsort(dist[:, -1], kind="stable")[:keep]]


def h1_lifetimes(x: np.ndarray) -> np.ndarray:
    """Lifetimes of the Vietoris-Rips H1 bars of the rows of x, longest first."""
    if len(x) < 3:
        return np.zeros(0)
    from ripser import ripser

    dgm = ripser(x, maxdim=1)["dgms"][1]
    life = dgm[:, 1] - dgm[:, 0] if len(dgm) else np.zeros(0)
    return np.sort(life[np.isfinite(life)])[::-1]


def filtered_cloud(clouds: list[np.ndarray], settings: dict, rng=None) -> tuple[np.ndarray, int, int]:
    """The normalized, density-filtered pool of several runs' kernels at one snapshot: (points, size
    of the pool before filtering, k used). Pools beyond `max_points` are subsampled (seeded) first."""
    x = normalize(np.concatenate(clouds)) if clouds else np.zeros((0, 0))
    cap = int(settings["max_points"])
    if len(x) > cap:
        rng = rng or np.random.default_rng(0)
        x = x[np.sort(rng.choice(len(x), cap, replace=False))]
    k = max(2, int(round(settings["k_fraction"] * len(x))))
    return density_filter(x, k, settings["p"]), len(x), k


def snapshot_row(clouds: list[np.ndarray], settings: dict) -> dict:
    kept, n, k = filtered_cloud(clouds, settings)
    life = h1_lifetimes(kept)
    longest = float(life[0]) if len(life) else 0.0
    second = float(life[1]) if len(life) > 1 else 0.0
    return {"n_points": n, "k": k, "n_kept": len(kept), "longest": longest, "second": second,
            "circle": bool(longest >= settings["threshold"] and longest >= settings["ratio"] * second)}


def circle_date(table: pd.DataFrame) -> int | None:
    """Row position of the first snapshot from which every later one has the circle, or None."""
    has = table["circle"].to_numpy(bool)
    if not len(has) or not has[-1]:
        return None
    gone = np.flatnonzero(~has)
    return int(gone[-1] + 1) if len(gone) else 0


def cell_table(cell: str, runs: list[tuple[np.ndarray, list, pd.DataFrame]], settings: dict) -> pd.DataFrame:
    """One row per snapshot of a cell from its runs' (weights (snapshot, filter, in k k), kernel
    shape, metrics). Snapshots are matched by position (a cell's runs share their schedule); a run's
    non-finite snapshot is left out of the pool."""
    n_snap = min(len(w) for w, _, _ in runs) if runs else 0
    rows = []
    for s in range(n_snap):
        clouds = [kernels(w[s], shape) for w, shape, _ in runs if np.isfinite(w[s]).all()]
        m = pd.DataFrame([r.iloc[s] for _, _, r in runs if s < len(r)])
        rows.append({"cell": cell, "snapshot": s, "step": int(m["step"].iloc[0]), "epoch": float(m["epoch"].iloc[0]),
                     "test_acc": float(m["test_acc"].mean()), "n_runs": len(clouds), **snapshot_row(clouds, settings)})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def run_rows(cell: str, run_ids: list[str], table: pd.DataFrame) -> pd.DataFrame:
    """The summary's circle columns for each run of the cell: the circle's date (step, epoch; NA when
    it never settles) and the final longest H1 lifetime."""
    at = circle_date(table)
    step = table["step"].iloc[at] if at is not None else pd.NA
    epoch = table["epoch"].iloc[at] if at is not None else np.nan
    final = float(table["longest"].iloc[-1]) if len(table) else np.nan
    return pd.DataFrame([{"run_id": r, "cell": cell, "circle_step": step, "circle_epoch": epoch,
                          "circle_final_longest": final} for r in run_ids], columns=RUN_COLUMNS)


def load_runs(stores, layer: str) -> list[tuple[np.ndarray, list, pd.DataFrame]]:
    from ..store.snapshots import open_store, read_metrics, read_weights

    out = []
    for path in stores:
        root = open_store(path)
        out.append((read_weights(root, layer), list(root[f"weights/{layer}"].attrs["kernel_shape"]), read_metrics(root)))
    return out


def read_run_rows(paths) -> dict:
    """{run_id: {circle column: value}} from the cells' per-run tables."""
    out = {}
    for p in paths:
        df = read_tsv(p)
        for _, r in df.iterrows():
            out[str(r["run_id"])] = {c: r[c] for c in RUN_COLUMNS[2:]}
    return out
