"""Stability of a branch count: one layer's learning-graph branch count over a grid of Mapper
parameters (intervals x overlap x eps scale), and its summary (distribution, mode, range).

A count from one parameter choice means little unless nearby choices give about the same count.
The scan rebuilds the graph for every grid point with the work shared across the grid: the PCA,
the lens and the auto eps once per layer; per eps the cloud compacted to cells of diameter
eps / 100 (as mapper.CompactDBSCAN does) and the eps-neighbour graph of those cells; per cover
interval DBSCAN is then a few sparse operations on that graph (core cells, connected components,
border cells), and the nerve one sparse product. Branches are counted by graphs.analyze_graph,
the same persistence rule as the learning graphs. At the base parameters the count equals
mapper.learning_graph's (tests/test_stability.py), up to DBSCAN's border-point ties.
"""

import logging

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from ..sweep.mapper_settings import cover_overlap, degenerate, degenerate_message
from .cover import kmapper_cover
from .graphs import analyze_graph
from .mapper import auto_eps, compute_lens, layer_cloud, reduce
from ..store.snapshots import open_store, read_metrics, read_weights
from ..utils.tables import read_tsv, write_tsv

log = logging.getLogger(__name__)

SCAN_COLUMNS = ["run_id", "layer", "intervals", "overlap", "eps_scale", "eps", "nodes", "branches",
                "final_branches", "base"]
SUMMARY_COLUMNS = ["run_id", "layer", "grid_points", "base_branches", "mode_branches", "mode_share",
                   "min_branches", "max_branches", "mode_min_intervals", "mode_max_intervals", "counts"]


class CellGraph:
    """A cloud compacted to cells of diameter eps * resolution and the eps-neighbour graph of the cells."""

    def __init__(self, coords: np.ndarray, eps: float, lens: np.ndarray | None = None, resolution: float = 1e-2):
        side = eps * resolution / np.sqrt(coords.shape[1])
        scaled = coords / side
        if np.isfinite(scaled).all() and np.abs(scaled).max(initial=0) < 2.0**62:
            _, first, cell = np.unique(np.floor(scaled).astype(np.int64), axis=0, return_index=True,
                                       return_inverse=True)
            cell = cell.ravel()
        else:
            first, cell = np.arange(len(coords)), np.arange(len(coords))
        # Cells numbered in lens order (by their smallest lens value): an interval's cells are then
        # (nearly) a contiguous block and its edges a block of the adjacency, found by bisection.
        low = np.full(len(first), np.inf)
        np.minimum.at(low, cell, np.zeros(len(cell)) if lens is None else np.asarray(lens, dtype=float))
        order = np.argsort(low, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        self.cell = rank[cell]
        reps = coords[first[order]]
        adj = NearestNeighbors(radius=eps).fit(reps).radius_neighbors_graph(reps, mode="connectivity").tocsr()
        adj.sort_indices()
        self.n = len(reps)
        self.indptr, self.indices = adj.indptr, adj.indices.astype(np.int64)
        self.key = np.repeat(np.arange(self.n, dtype=np.int64), np.diff(adj.indptr)) * self.n + self.indices
        self.where = np.full(len(reps), -1)  # cell -> position among the cells of the current interval

    def dbscan(self, points: np.ndarray, min_samples: int) -> np.ndarray:
        """DBSCAN labels (-1 = noise) of the given point indices, on their cells weighted by count."""
        cells, inv, weight = np.unique(self.cell[points], return_inverse=True, return_counts=True)
        self.where[cells] = np.arange(len(cells))
        r, c = self._edges(cells)
        core = np.bincount(r, weights=weight[c], minlength=len(cells)) >= min_samples  # self included
        label = np.full(len(cells), -1)
        if core.any():
            cc = core[r] & core[c]
            k = np.flatnonzero(core)
            pos = np.cumsum(core) - 1  # cell -> index among core cells
            g = sparse.csr_matrix((np.ones(int(cc.sum())), (pos[r[cc]], pos[c[cc]])), shape=(len(k), len(k)))
            label[k] = connected_components(g, directed=False)[1]
            bc = ~core[r] & core[c]  # a border cell joins a core neighbour's cluster (the highest label: a tie rule)
            np.maximum.at(label, r[bc], label[c[bc]])
        return label[inv.ravel()]

    def _edges(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Neighbour pairs (as positions in `cells`) among the given cells, self-pairs included:
        the adjacency block of rows and columns cells[0]..cells[-1], then the cells' own pairs."""
        lo, hi = int(cells[0]), int(cells[-1]) + 1
        rows = np.arange(lo, hi, dtype=np.int64)
        start = np.searchsorted(self.key, rows * self.n + lo)
        stop = np.searchsorted(self.key, rows * self.n + hi)
        n = stop - start
        at = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n) + np.repeat(start, n)
        row = self.where[np.repeat(rows, n)]
        col = self.where[self.indices[at]]
        self.where[cells] = -1
        keep = (row >= 0) & (col >= 0)
        return row[keep], col[keep]


def mapper_nodes(lens, graph: CellGraph, intervals: int, overlap: float, min_samples: int) -> list[np.ndarray]:
    """Point indices of every node (cluster of an interval's preimage), in KeplerMapper's cover."""
    if np.ptp(lens) == 0:
        intervals = 1
    centers, radius = kmapper_cover(lens, intervals, overlap)
    nodes = []
    for c in centers:
        pts = np.flatnonzero(np.abs(lens - c) <= radius)
        if len(pts) < min_samples:
            continue
        labels = graph.dbscan(pts, min_samples)
        for lab in np.unique(labels[labels >= 0]):
            nodes.append(pts[labels == lab])
    return nodes


def nerve_edges(nodes: list[np.ndarray], n_points: int) -> list[tuple[int, int]]:
    """Node pairs sharing a point (the 1-skeleton of the nerve)."""
    if not nodes:
        return []
    rows = np.concatenate(nodes)
    cols = np.repeat(np.arange(len(nodes)), [len(m) for m in nodes])
    inc = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_points, len(nodes)))
    shared = sparse.triu(inc.T @ inc, k=1).tocoo()
    return list(zip(shared.row.tolist(), shared.col.tolist()))


def scan(weights: np.ndarray, epochs, base_params: dict, grid, threshold: float = 0.1) -> pd.DataFrame:
    """Branch counts of one layer over `grid` = [(intervals, overlap, eps_scale), ...].

    weights (S, N, D), epochs (S,), base_params a layer's Mapper parameters (mapper.learning_graph's);
    eps_scale multiplies its eps (auto or fixed). One row per grid point; `base` marks the point with
    the base parameters' intervals, overlap and eps_scale 1 (if the grid has it).
    """
    epochs = np.asarray(epochs, dtype=float)
    cloud = layer_cloud(weights, epochs)
    coords, _ = reduce(cloud.points, base_params["pca"])
    lens = compute_lens(base_params["lens"], cloud, coords, base_params["pca"] is not None)
    eps0 = base_params["eps"]
    eps0 = auto_eps(coords, cloud.n_neurons, base_params["eps_percentile"]) if eps0 == "auto" else float(eps0)
    base_q = cover_overlap(base_params)
    ms = base_params["min_samples"]
    pairs = np.column_stack([cloud.neuron, cloud.snapshot])
    rows = []
    for scale in sorted({g[2] for g in grid}):
        cells = CellGraph(np.asarray(coords, dtype=np.float64), eps0 * scale, lens)
        for n, q, s in grid:
            if s != scale:
                continue
            if degenerate(n, q):
                raise ValueError(f"mapper.scan: {degenerate_message(n, q)}")
            nodes = mapper_nodes(lens, cells, n, q, ms)
            a = analyze_graph([pairs[m] for m in nodes], [float(cloud.epoch[m].mean()) for m in nodes],
                              nerve_edges(nodes, len(lens)), cloud.n_neurons, float(np.ptp(epochs)), threshold)
            rows.append({"intervals": n, "overlap": q, "eps_scale": s, "eps": eps0 * s, "nodes": len(nodes),
                         "branches": a["metrics"]["branches"], "final_branches": a["metrics"]["final_branches"],
                         "base": bool(n == base_params["intervals"] and np.isclose(q, base_q) and s == 1.0)})
    return pd.DataFrame(rows, columns=SCAN_COLUMNS[2:])


def summarize(df: pd.DataFrame) -> dict:
    """The distribution of one layer's counts over the grid: the most frequent count (mode; ties: the
    smaller), its share of the grid, the range of all counts, the range of intervals giving the mode."""
    counts = df["branches"].value_counts().sort_index()
    if counts.empty:
        return {"grid_points": 0}
    mode = int(counts.idxmax())
    at_mode = df[df["branches"] == mode]
    base = df.loc[df["base"], "branches"]
    return {"grid_points": len(df), "base_branches": int(base.iloc[0]) if len(base) else np.nan,
            "mode_branches": mode, "mode_share": float(counts.max() / len(df)),
            "min_branches": int(df["branches"].min()), "max_branches": int(df["branches"].max()),
            "mode_min_intervals": int(at_mode["intervals"].min()), "mode_max_intervals": int(at_mode["intervals"].max()),
            "counts": ";".join(f"{k}:{v}" for k, v in counts.items())}


def run_scan(store_path, layers, params_by_layer: dict, out_tsv, grid, threshold: float = 0.1, run_id: str = "",
             threads: int = 1) -> pd.DataFrame:
    """Rule entry point: the scan of every layer of a run -> results/stability/{run_id}.tsv (one row per
    layer and grid point; its summary per layer is `summary_table` of the file)."""
    with threadpool_limits(threads):
        root = open_store(store_path)
        rid = run_id or str(root.attrs.get("run_id", ""))
        epochs = read_metrics(root)["epoch"].to_numpy()
        parts = []
        for layer in layers:
            w = read_weights(root, layer)
            ok = np.isfinite(w).all(axis=(1, 2)) & np.isfinite(epochs)  # a diverged run: what stayed finite
            df = scan(w[ok], epochs[ok], params_by_layer[layer], grid, threshold)
            parts.append(df.assign(run_id=rid, layer=layer))
            s = summarize(df)
            log.info(f"{rid} {layer}: branches over {s['grid_points']} Mapper settings: mode {s.get('mode_branches')} "
                     f"({100 * s.get('mode_share', 0):.0f} %), range {s.get('min_branches')}-{s.get('max_branches')}")
        out = pd.concat(parts, ignore_index=True)[SCAN_COLUMNS] if parts else pd.DataFrame(columns=SCAN_COLUMNS)
    write_tsv(out, out_tsv)
    return out


def summary_table(scan_df: pd.DataFrame) -> pd.DataFrame:
    """Per (run, layer) summary of a scan table (SUMMARY_COLUMNS)."""
    rows = [{"run_id": r, "layer": lay, **summarize(g)} for (r, lay), g in scan_df.groupby(["run_id", "layer"], sort=False)]
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def read_scan(path) -> pd.DataFrame:
    df = read_tsv(path)
    if "base" in df:
        df["base"] = df["base"].astype(str).str.lower().isin(["true", "1"])
    return df
