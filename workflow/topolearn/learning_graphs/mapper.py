"""Learning graphs: KeplerMapper graphs of one layer's weight history (Gabella et al. 2019).

Every neuron at every snapshot is a point (its incoming weights); the layer's history is a cloud of
n_snapshots x n_neurons points. Optional PCA, a 1-D lens, a KeplerMapper cover of the lens range and
DBSCAN in each interval give the nodes; nodes sharing points are joined.
"""

import json
import logging
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import kmapper as km
import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import DBSCAN
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import cdist, pdist
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

from .cover import cover_geometry
from ..sweep.mapper_settings import cover_overlap, degenerate, degenerate_message
from ..sweep.points import layer_index
from .graphs import analyze_graph
from ..utils.offline import inline_scripts
from ..store.snapshots import open_store, read_metrics, read_weights

log = logging.getLogger(__name__)

LINKAGE_MAX_CELLS = 4000  # their condensed distances: 64 MB; beyond, a KD-tree
DIRECT_MAX_POINTS = 400  # up to here all pairs of points cost less than grouping them into cells
DIRECT_MIN_CELLS = 32  # ... unless cells hold most points; below this, cells are not worth looking for
MEMBER_PAIR_CHUNK = 1 << 20  # member pairs compared at once (x dims x 8 bytes)
LENSES = ("l2norm_pca", "l2norm", "epoch", "pc1")
SCHEMA = "topolearn.mapper/1"


@dataclass
class Cloud:
    """A layer's history as points: row p is neuron `neuron[p]` at snapshot `snapshot[p]`."""

    points: np.ndarray  # (S*N, D)
    neuron: np.ndarray  # (S*N,)
    snapshot: np.ndarray  # (S*N,)
    epoch: np.ndarray  # (S*N,)
    n_neurons: int
    n_snapshots: int


def layer_cloud(weights: np.ndarray, epochs: np.ndarray) -> Cloud:
    """(S, N, D) weights and (S,) epochs -> S*N points, snapshot-major (point = s * N + n)."""
    s, n, d = weights.shape
    snapshot = np.repeat(np.arange(s), n)
    return Cloud(points=weights.reshape(s * n, d), neuron=np.tile(np.arange(n), s), snapshot=snapshot,
                 epoch=np.asarray(epochs, dtype=float)[snapshot], n_neurons=n, n_snapshots=s)


def reduce(points: np.ndarray, n_components: int | None) -> tuple[np.ndarray, dict]:
    """PCA to at most `n_components` dims (clouds are centered by PCA); None keeps the raw weights."""
    if n_components is None:
        return points, {"pca_components": None, "pca_explained_variance": None}
    k = max(1, min(n_components, points.shape[0], points.shape[1]))
    pca = PCA(n_components=k, random_state=0)
    with np.errstate(invalid="ignore", divide="ignore"):  # a cloud without variance: ratio 0/0
        coords = pca.fit_transform(points)
    return coords, {"pca_components": int(k),
                    "pca_explained_variance": float(np.nan_to_num(pca.explained_variance_ratio_.sum()))}


def compute_lens(kind: str, cloud: Cloud, coords: np.ndarray, pca_used: bool) -> np.ndarray:
    """The 1-D filter. l2norm_pca is the paper's: distance from the cloud mean in PCA coordinates."""
    if kind == "l2norm_pca":
        centered = coords if pca_used else coords - coords.mean(axis=0)
        return np.linalg.norm(centered, axis=1)
    if kind == "l2norm":
        return np.linalg.norm(cloud.points, axis=1)
    if kind == "epoch":
        return cloud.epoch.copy()
    if kind == "pc1":
        if pca_used:
            return np.asarray(coords[:, 0], dtype=float)
        return PCA(n_components=1, random_state=0).fit_transform(cloud.points)[:, 0]
    raise ValueError(f"unknown lens {kind!r}; allowed: {', '.join(LENSES)}")


def auto_eps(coords: np.ndarray, n_neurons: int, percentile: float) -> float:
    """DBSCAN eps from the data: a percentile of the distances every neuron moves between
    consecutive snapshots (in the clustering space).

    With eps at least a step, DBSCAN chains each neuron's trajectory within a cover interval
    instead of shattering it into noise; the paper's hand-set eps (0.1/0.2/0.5) are close to the
    largest steps of its runs. Steps of 0 (neurons at rest) are ignored.
    """
    x = np.asarray(coords, dtype=np.float64).reshape(-1, n_neurons, coords.shape[1])
    steps = exact_distance(x[1:], x[:-1]).ravel()
    steps = steps[steps > 0]
    return float(np.percentile(steps, percentile)) if len(steps) else 1e-12


def exact_distance(a, b) -> np.ndarray:
    """Euclidean distance as the square root of the sum of squared differences in float64, along the
    last axis. auto_eps measures steps with the same operations, so a pair exactly eps apart is
    exactly eps apart here too (the expanded form |a|^2 + |b|^2 - 2ab can round it either way)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return np.sqrt(np.add.reduce(d * d, axis=-1))


class CompactDBSCAN(BaseEstimator, ClusterMixin):
    """DBSCAN(eps, min_samples) for learning clouds, clusters numbered as sklearn.cluster.DBSCAN's.

    Learning clouds are clumpy (all neurons together for many snapshots after a zero or tiny
    init): plain DBSCAN then lists ~n^2 neighbours and is slow and memory-hungry. Both paths first
    group the points into grid cells of diameter delta = eps * resolution.

    min_samples <= 2, exact (`eps_components`): DBSCAN has no border points; its clusters are the
    components of the graph joining every pair at exact distance <= eps (single linkage cut at
    eps), the rest is noise. Cells only save work: pairs of cells are decided from their
    representatives where that is certain, else from their members' distances.

    min_samples > 2, sklearn's DBSCAN on one point per cell (its first), sample_weight = the cell's
    count: a pair's distance and its representatives' differ by at most 2 delta, so only pairs with
    eps - 2 delta < distance <= eps + 2 delta can be decided differently from DBSCAN on the points
    (and border points, which DBSCAN gives to whichever neighbouring cluster reaches them first).
    """

    def __init__(self, eps: float = 0.5, min_samples: int = 2, resolution: float = 1e-2):
        self.eps = eps
        self.min_samples = min_samples
        self.resolution = resolution

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        if self.min_samples <= 2:
            self.labels_ = eps_components(X, self.eps, self.min_samples, self.resolution)
            return self
        first, inverse, count, _ = grid_cells(X, self.eps * self.resolution)
        db = DBSCAN(eps=self.eps, min_samples=self.min_samples).fit(X[first], sample_weight=count)
        self.labels_ = _renumbered(db.labels_, db.core_sample_indices_, first)[inverse]
        return self


def _renumbered(labels: np.ndarray, core: np.ndarray, first: np.ndarray) -> np.ndarray:
    """DBSCAN labels of cells renumbered by each cluster's smallest core point index (first: each
    cell's smallest point), the order in which sklearn's DBSCAN on the points would find them."""
    if labels.max(initial=-1) < 0:
        return labels
    low = np.full(labels.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(low, labels[core], first[core])
    rank = np.empty(len(low), dtype=np.int64)
    rank[np.argsort(low)] = np.arange(len(low))
    return np.where(labels >= 0, rank[np.maximum(labels, 0)], -1)


def grid_cells(X: np.ndarray, diameter: float):
    """Points grouped into cells of a grid whose cells have the given diameter: (first, inverse,
    count, radius). Cell c's representative is its first (smallest-index) point first[c]; inverse
    maps point -> cell; radius bounds every member's distance to its representative. Where the grid
    is too fine to index (a tiny or zero diameter against the coordinates): cells of identical
    points, radius 0."""
    n = len(X)
    side = diameter / np.sqrt(max(X.shape[1], 1))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scaled = X / side if n else X
    # Below 2^40 sides from the origin, X / side rounds by under 2^-12 of a side: two points with
    # one key are within (1 + 2^-12) diameters, hence the radius's margin.
    if n and side > 0 and np.isfinite(scaled).all() and np.abs(scaled).max() < 2.0**40:
        keys, radius = np.floor(scaled).astype(np.int64), diameter * (1 + 1e-3)
    else:
        keys, radius = X, 0.0
    _, first, inverse, count = np.unique(keys, axis=0, return_index=True, return_inverse=True, return_counts=True)
    return first, inverse.ravel(), count, radius


def eps_components(X: np.ndarray, eps: float, min_samples: int = 2, resolution: float = 1e-2) -> np.ndarray:
    """sklearn DBSCAN(eps, min_samples)'s labels for min_samples <= 2, on exact distances.

    With min_samples <= 2 every point with another point within eps is a core point and there are
    no border points: the clusters are the connected components of the graph that joins every pair
    at `exact_distance` <= eps (DBSCAN's neighbourhood, eps included), i.e. single linkage cut at
    eps; with min_samples 2 a point alone in its component is noise (-1). Clusters are numbered by
    their smallest point index, as sklearn numbers them.

    Exact at any resolution < 1: the points of a cell (diameter delta = eps * resolution) are within
    eps of each other; two cells whose representatives are within eps - 2 delta are joined, two
    farther apart than eps + 2 delta are not, and the pairs between are decided by their members.
    """
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    if n < 2:
        return np.where(np.full(n, min_samples <= 1), 0, -1)
    direct = n <= DIRECT_MAX_POINTS
    cells = None if direct and n <= DIRECT_MIN_CELLS else hashed_cells(X, eps * resolution)
    if direct and (cells is None or len(cells[0]) > n // 2):  # few repeated points: no cells
        return _dbscan_numbering(_pair_components(X, float(eps)), np.arange(n), np.ones(n), min_samples)
    first, inverse, count, radius = cells
    pairs = _linkage_pairs if len(first) <= LINKAGE_MAX_CELLS else _tree_pairs
    group, a, b = pairs(X, cells, float(eps))
    # group: cells known to be connected; (a, b): further connected cell pairs, few.
    if len(a):
        m = group.max() + 1
        graph = sparse.coo_matrix((np.ones(len(a), dtype=np.int8), (group[a], group[b])), shape=(m, m))
        group = connected_components(graph, directed=False)[1][group]
    return _dbscan_numbering(group, first, count, min_samples)[inverse]


def hashed_cells(X: np.ndarray, diameter: float):
    """grid_cells, the cells in another order: rows of cell keys told apart by a hash of each row
    (one 1-D unique instead of a row-wise one), checked against the keys themselves. Where two cells
    share a hash: grid_cells."""
    n = len(X)
    side = diameter / np.sqrt(max(X.shape[1], 1))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scaled = X / side if n else X
    if not (n and side > 0 and np.isfinite(scaled).all() and np.abs(scaled).max() < 2.0**40):
        return grid_cells(X, diameter)
    keys = np.floor(scaled).astype(np.int64)
    # int64 products wrap: a multiplicative hash of the row, exact rows compared below
    code = keys @ _HASH[:keys.shape[1]] if keys.shape[1] <= len(_HASH) else None
    if code is None:
        return grid_cells(X, diameter)
    _, first, inverse, count = np.unique(code, return_index=True, return_inverse=True, return_counts=True)
    if not np.array_equal(keys[first][inverse], keys):
        return grid_cells(X, diameter)
    return first, inverse.ravel(), count, diameter * (1 + 1e-3)


_HASH = np.random.default_rng(0).integers(1, 2**62, size=4096, dtype=np.int64) | 1


def _pair_components(X: np.ndarray, eps: float) -> np.ndarray:
    """Per point, a component id of the graph joining every pair at exact_distance <= eps: single
    linkage of all pairs (scipy's pdist, the pairs within rounding of eps measured again exactly)."""
    dist = pdist(X)
    near = np.flatnonzero(np.abs(dist - eps) <= _tolerance(eps))
    if len(near):
        a, b = _condensed_pairs(near, len(X))
        dist[near] = exact_distance(X[a], X[b])
    return _cut(linkage(dist, method="single"), eps)


def _cut(Z: np.ndarray, t: float) -> np.ndarray:
    """Per point, the root of its tree in single linkage Z cut at height t (merges at <= t kept):
    fcluster(Z, t, "distance")'s partition, without its validation of Z."""
    n = len(Z) + 1
    parent = np.arange(2 * n - 1)
    k = np.flatnonzero(Z[:, 2] <= t)
    parent[Z[k, :2].astype(np.int64)] = (n + k)[:, None]
    while True:  # pointer jumping: log2(tree depth) rounds
        up = parent[parent]
        if np.array_equal(up, parent):
            return parent[:n]
        parent = up


def _dbscan_numbering(group: np.ndarray, first: np.ndarray, count: np.ndarray, min_samples: int) -> np.ndarray:
    """Cell labels from cell components (group): numbered by each component's smallest point index
    (first: each cell's), as sklearn's DBSCAN numbers its clusters; with min_samples 2, a component
    of one point is noise (-1)."""
    m = group.max() + 1
    low = np.full(m, np.iinfo(np.int64).max)
    np.minimum.at(low, group, first)
    present = np.flatnonzero(low < np.iinfo(np.int64).max)
    if min_samples >= 2:
        present = present[np.bincount(group, weights=count, minlength=m)[present] >= 2]
    rank = np.full(m, -1)
    rank[present[np.argsort(low[present])]] = np.arange(len(present))
    return rank[group]


def _tolerance(eps: float) -> float:
    """Margin for decisions made from representatives: far above the float error of these distances
    (relative ~1e-15), far below any gap that matters; pairs inside it are decided exactly."""
    return 1e-9 * eps


def _linkage_pairs(X, cells, eps: float):
    """(group, a, b) from single linkage of the representatives (scipy's, on their pdist): cells
    within eps - 2 radius of each other are connected (one group); pairs of cells of different
    groups up to eps + 2 radius apart are decided by their members."""
    first, _, _, r = cells
    if len(first) < 2:
        return np.zeros(len(first), dtype=np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    tol = _tolerance(eps)
    dist = pdist(X[first])
    sure = eps - 2 * r - tol
    if sure >= 0:
        group = _cut(linkage(dist, method="single"), sure)
    else:
        group, sure = np.arange(len(first)), -1.0
    band = np.flatnonzero((dist > sure) & (dist <= eps + 2 * r + tol))  # closer pairs share a group
    a, b = _condensed_pairs(band, len(first))
    apart = group[a] != group[b]
    a, b = a[apart], b[apart]
    joined = _members_within(X, cells, a, b, eps)
    return group, a[joined], b[joined]


def _condensed_pairs(k: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns (i < j) of entries k of a condensed distance matrix of n points."""
    i = np.arange(n - 1)
    start = n * i - i * (i + 1) // 2  # condensed index of (i, i + 1)
    row = np.searchsorted(start, k, side="right") - 1
    return row, k - start[row] + row + 1


def _tree_pairs(X, cells, eps: float):
    """(group, a, b) from a KD-tree of the representatives: every cell its own group, and the cell
    pairs holding some pair of points within eps."""
    first, _, _, r = cells
    tol = _tolerance(eps)
    reps = X[first]
    pairs = cKDTree(reps).query_pairs((eps + 2 * r) * (1 + 1e-9) + tol, output_type="ndarray")
    a, b = pairs[:, 0], pairs[:, 1]
    near = exact_distance(reps[a], reps[b]) <= eps - 2 * r - tol  # every member pair within eps
    joined = near.copy()
    joined[~near] = _members_within(X, cells, a[~near], b[~near], eps)
    return np.arange(len(first)), a[joined], b[joined]


def _members_within(X, cells, a, b, eps: float) -> np.ndarray:
    """Per cell pair (a[k], b[k]): whether some member of a and some member of b are within eps
    (exact_distance). A member farther than eps + r from the other cell's representative cannot be
    within eps of that cell; one within eps - r is within eps of all of it."""
    found = np.zeros(len(a), dtype=bool)
    if not len(a):
        return found
    first, inverse, count, r = cells
    tol = _tolerance(eps)
    order = np.argsort(inverse, kind="stable")
    start = np.cumsum(count) - count
    sides = []
    for mine, other in ((a, b), (b, a)):
        k = np.repeat(np.arange(len(mine)), count[mine])
        p = order[np.arange(len(k)) - np.repeat(np.cumsum(count[mine]) - count[mine], count[mine])
                  + np.repeat(start[mine], count[mine])]
        dist = exact_distance(X[p], X[first[other[k]]])
        found[k[dist <= eps - r - tol]] = True
        close = dist <= eps + r + tol
        sides.append((k[close], p[close]))
    (ka, pa), (kb, pb) = sides
    ka, pa, kb, pb = ka[~found[ka]], pa[~found[ka]], kb[~found[kb]], pb[~found[kb]]
    nb = np.bincount(kb, minlength=len(a))  # kb is sorted: members are listed pair by pair
    sb = np.cumsum(nb) - nb
    reps_a = nb[ka]
    for lo, hi in _chunks(reps_a, MEMBER_PAIR_CHUNK):
        m = reps_a[lo:hi]
        i = np.repeat(np.arange(lo, hi), m)
        j = np.arange(m.sum()) - np.repeat(np.cumsum(m) - m, m) + np.repeat(sb[ka[lo:hi]], m)
        found[ka[i[exact_distance(X[pa[i]], X[pb[j]]) <= eps]]] = True
    return found


def _chunks(sizes: np.ndarray, budget: int):
    """Consecutive (lo, hi) index ranges of `sizes` summing to about `budget` each (at least one item)."""
    ends = np.cumsum(sizes)
    lo = 0
    while lo < len(sizes):
        base = ends[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(ends, base + budget, side="right")), lo + 1)
        yield lo, hi
        lo = hi


class PointIndexNerve(km.GraphNerve):
    """KeplerMapper's graph nerve built from a point -> nodes index.

    kmapper's own compares all node pairs (quadratic in nodes); here only nodes that share a point
    are ever compared, which is linear in (points x nodes per point).
    """

    def compute(self, nodes):
        names = list(nodes)
        m = len(names)
        sizes = [len(v) for v in nodes.values()]
        point = np.fromiter(chain.from_iterable(nodes.values()), dtype=np.int64, count=sum(sizes))
        # (point, node) memberships, each once, sorted by point then node
        held = np.unique(point * m + np.repeat(np.arange(m, dtype=np.int64), sizes))
        point, node = np.divmod(held, m)
        codes = []  # node pairs (i < j) sharing a point: memberships k apart of one point
        for k in range(1, len(held)):
            same = point[k:] == point[:-k]
            if not same.any():  # no point lies in k + 1 nodes
                break
            codes.append(node[:-k][same] * m + node[k:][same])
        pairs, count = np.unique(np.concatenate(codes) if codes else np.zeros(0, np.int64), return_counts=True)
        result: dict[str, list[str]] = {}
        first, second = np.divmod(pairs[count >= self.min_intersection], m)
        for i, j in zip(first.tolist(), second.tolist()):
            result.setdefault(names[i], []).append(names[j])
        edges = [[a, b] for a in result for b in result[a]]
        return result, [[n] for n in nodes] + edges


def _effective_intervals(lens: np.ndarray, intervals: int, warn: list) -> int:
    if np.ptp(lens) == 0 and intervals > 1:
        warn.append("lens is constant over the cloud: using a single interval")
        return 1
    return intervals


def _subtree(branch: int, children: dict) -> set:
    out, todo = set(), [branch]
    while todo:
        b = todo.pop()
        out.add(b)
        todo += children.get(b, [])
    return out


def split_epochs(branches: list[dict], final, coords: np.ndarray, eps: float, epochs) -> dict:
    """Per non-trunk branch, the epoch at which its member neurons separate from their parent's:
    the latest snapshot at which some neuron of the branch (its subtree) and some neuron of the
    rest of the parent's subtree are within DBSCAN's eps of each other (clustering space, same
    snapshot). NaN when they never are (apart from the first snapshot on).

    Neurons belong to the branch they end in (`final`). Node mean epochs are no date: a merge node
    spanning epoch 0 to the split has its mean halfway; "sharing a node" is no date
    either, since DBSCAN chains a neuron's own trajectory and so holds both groups together up to
    the end of the cover interval.
    """
    parent = {b["branch"]: b["parent"] for b in branches}
    children: dict = {}
    for k, p in parent.items():
        children.setdefault(p, []).append(k)
    final = np.asarray(final)
    out = {}
    for k, p in parent.items():
        if p is None:
            continue
        mine = _subtree(k, children)
        a = coords[:, np.isin(final, list(mine))]
        b = coords[:, np.isin(final, list(_subtree(p, children) - mine))]
        if not a.shape[1] or not b.shape[1]:
            out[k] = float("nan")
            continue
        gap = np.array([cdist(a_s, b_s).min() for a_s, b_s in zip(a, b)])  # per snapshot: closest pair
        together = np.flatnonzero(gap <= eps)
        out[k] = float(epochs[together[-1]]) if len(together) else float("nan")
    return out


def date_splits(analysis: dict, coords: np.ndarray, eps: float, epochs) -> None:
    """Member-neuron split dates into `analysis` (from graphs.analyze_graph): per branch `split_epoch`,
    `first_branch_epoch` = the earliest one; the node-mean estimate stays as `first_branch_epoch_nodes`."""
    split = split_epochs(analysis["branches"], analysis["neuron_final_branch"], coords, eps, epochs)
    for b in analysis["branches"]:
        b["split_epoch"] = split.get(b["branch"])
    m = analysis["metrics"]
    dated = [e for e in split.values() if np.isfinite(e)]
    m["first_branch_epoch_nodes"] = m["first_branch_epoch"]
    m["first_branch_epoch"] = min(dated) if dated else None


class NodeTable:
    """Per-node members and summaries of a KeplerMapper graph, computed over all nodes at once.

    Members are (neuron, snapshot) pairs; each node's mean epoch is numpy's mean of its points'
    epochs (the same sum, in the same order, as np.mean), min/max are exact in any order."""

    def __init__(self, graph_nodes: dict, names: list, cloud: Cloud, lens: np.ndarray):
        self.names = names
        sizes = np.fromiter((len(graph_nodes[n]) for n in names), dtype=np.int64, count=len(names))
        point = np.fromiter(chain.from_iterable(graph_nodes[n] for n in names), dtype=np.int64, count=int(sizes.sum()))
        self.sizes = sizes
        start = np.cumsum(sizes) - sizes
        bounds = start[1:]
        pairs = np.column_stack([cloud.neuron[point], cloud.snapshot[point]])
        self.pairs = np.split(pairs, bounds) if len(names) else []  # (np.split makes one piece of nothing)
        self._pair_lists = pairs.tolist()
        self._start = start.tolist()
        epoch = cloud.epoch[point]
        self.mean_epoch = [float(np.add.reduce(e) / len(e)) for e in np.split(epoch, bounds)] if len(names) else []
        if len(names):
            self.min_epoch, self.max_epoch = (np.minimum.reduceat(epoch, start).tolist(),
                                              np.maximum.reduceat(epoch, start).tolist())
            at = lens[point]
            self.lens_min, self.lens_max = np.minimum.reduceat(at, start).tolist(), np.maximum.reduceat(at, start).tolist()
        node = np.repeat(np.arange(len(names), dtype=np.int64), sizes)
        distinct = np.unique(node * max(cloud.n_neurons, 1) + cloud.neuron[point]) // max(cloud.n_neurons, 1)
        self.n_neurons = np.bincount(distinct, minlength=len(names)).tolist()

    def documents(self, node_branch: list) -> dict:
        """{name: node document} of the learning graph's JSON."""
        out = {}
        for i, name in enumerate(self.names):
            lo = self._start[i]
            out[name] = {"members": self._pair_lists[lo:lo + int(self.sizes[i])], "size": int(self.sizes[i]),
                         "mean_epoch": self.mean_epoch[i], "min_epoch": self.min_epoch[i],
                         "max_epoch": self.max_epoch[i], "lens_min": self.lens_min[i], "lens_max": self.lens_max[i],
                         "n_neurons": self.n_neurons[i], "branch": node_branch[i]}
        return out


def learning_graph(weights: np.ndarray, epochs: np.ndarray, params: dict, threshold: float):
    """The learning graph of one layer: (JSON document, KeplerMapper graph, cloud).

    params: pca, lens, intervals, overlap (KeplerMapper >= 1.2 perc_overlap) or overlap_perc
    (KeplerMapper <= 1.1, converted by topolearn.sweep.mapper_settings.legacy_overlap), eps (number or "auto"), eps_percentile,
    min_samples. threshold: branch significance, as a fraction of the run's epoch range (graphs.py).
    Raises ValueError for a degenerate cover (an interval as wide as the lens range).
    """
    warn: list[str] = []
    overlap = cover_overlap(params)
    if degenerate(params["intervals"], overlap):
        raise ValueError(f"degenerate Mapper cover: {degenerate_message(params['intervals'], overlap)}")
    cloud = layer_cloud(weights, epochs)
    coords, pca_info = reduce(cloud.points, params["pca"])
    lens = compute_lens(params["lens"], cloud, coords, params["pca"] is not None)
    eps = params["eps"]
    eps_used = auto_eps(coords, cloud.n_neurons, params["eps_percentile"]) if eps == "auto" else float(eps)
    intervals = _effective_intervals(lens, params["intervals"], warn)
    cover = km.Cover(n_cubes=intervals, perc_overlap=overlap)
    graph = km.KeplerMapper(verbose=0).map(
        lens[:, None], X=coords, clusterer=CompactDBSCAN(eps=eps_used, min_samples=params["min_samples"]),
        cover=cover, nerve=PointIndexNerve())
    names = list(graph["nodes"])
    table = NodeTable(graph["nodes"], names, cloud, lens)
    index = {n: i for i, n in enumerate(names)}
    edges = [(index[a], index[b]) for a, bs in graph["links"].items() for b in bs]
    if not names:
        warn.append(f"empty graph: no DBSCAN cluster with eps={eps_used:.4g}, min_samples="
                    f"{params['min_samples']} in any of {intervals} intervals; raise eps, lower "
                    f"min_samples or use fewer intervals")
    epochs = np.asarray(epochs, dtype=float)
    analysis = analyze_graph(table.pairs, table.mean_epoch, edges, cloud.n_neurons, float(np.ptp(epochs)), threshold)
    date_splits(analysis, coords.reshape(cloud.n_snapshots, cloud.n_neurons, -1), eps_used, epochs)
    nodes = table.documents(analysis["node_branch"])
    geometry = {**cover_geometry(lens, cover.centers_, float(np.ravel(cover.radius_)[0]), intervals, overlap),
                "kmapper": km.__version__} if len(lens) else {"kmapper": km.__version__}
    used = {**params, "overlap_used": overlap, "intervals_used": intervals, "eps_used": eps_used, **pca_info,
            "persistence_threshold": threshold, "min_persistence_epochs": analysis["min_persistence_epochs"],
            "engine": f"kmapper {km.__version__}", "clusterer": "CompactDBSCAN(resolution=0.01)",
            "nerve": "PointIndexNerve(min_intersection=1)"}
    doc = {"schema": SCHEMA, "n_snapshots": cloud.n_snapshots, "n_neurons": cloud.n_neurons,
           "n_inputs": int(weights.shape[2]), "epochs": epochs.tolist(), "params": used,
           "eps": eps_used, "empty": not names, "cover": geometry,
           "lens_range": [float(lens.min()), float(lens.max())] if len(lens) else None,
           "nodes": nodes, "edges": [[names[i], names[j]] for i, j in edges],
           "metrics": {**analysis["metrics"], "empty": not names},
           "branches": analysis["branches"], "neuron_final_branch": analysis["neuron_final_branch"],
           "persistence": analysis["persistence"], "warnings": warn}
    for w in warn:
        log.warning(w)
    return doc, graph, cloud


# ---------------------------------------------------------------- outputs


def write_html(graph: dict, cloud: Cloud, path, title: str) -> None:
    """KeplerMapper's interactive page, colored by epoch; each point's tooltip names neuron and epoch.
    Self-contained: the scripts the template loads from a CDN are inlined (topolearn.utils.offline)."""
    path = Path(path)
    if not graph["nodes"]:
        path.write_text(f"<!doctype html><title>{title}</title><p>{title}: empty learning graph "
                        "(no DBSCAN cluster in any interval; see the JSON's warnings).</p>\n")
        return
    tips = np.array([f"neuron {n}, epoch {e:.2f}" for n, e in zip(cloud.neuron, cloud.epoch)])
    html = km.KeplerMapper(verbose=0).visualize(graph, color_values=cloud.epoch, color_function_name="epoch",
                                                custom_tooltips=tips, title=title, save_file=False)
    path.write_text(inline_scripts(html), encoding="utf-8")  # d3 inlined: the page works offline


def _finite_snapshots(weights: np.ndarray, epochs: np.ndarray, warn: list):
    """Drop snapshots with non-finite weights (a diverged run keeps what it recorded)."""
    ok = np.isfinite(weights).all(axis=(1, 2)) & np.isfinite(epochs)
    if not ok.all():
        warn.append(f"dropped {int((~ok).sum())} snapshot(s) with non-finite weights")
    return weights[ok], epochs[ok]


def mapper_layer(store_path, layer: str, params: dict, threshold: float, json_path, html_path,
                 run_id: str = "", threads: int = 1) -> dict:
    """Learning graph of one layer of a complete store -> JSON and the interactive HTML page."""
    with threadpool_limits(threads):  # BLAS threads beyond the job's share only contend
        return _mapper_layer(store_path, layer, params, threshold, json_path, html_path, run_id)


def _mapper_layer(store_path, layer, params, threshold, json_path, html_path, run_id):
    root = open_store(store_path)  # raises StoreError for an incomplete or damaged store
    epochs = read_metrics(root)["epoch"].to_numpy()
    return layer_outputs(read_weights(root, layer), epochs, layer, params, threshold, json_path, html_path,
                         run_id or root.attrs.get("run_id", ""))


def layer_outputs(weights: np.ndarray, epochs: np.ndarray, layer: str, params: dict, threshold: float, json_path,
                  html_path, run_id: str) -> dict:
    """The learning graph of one layer's (S, N, D) weight history -> its document, and each of JSON and
    HTML that is given a path (the picture: topolearn.figures.graphs.write_png)."""
    warn: list[str] = []
    weights, epochs = _finite_snapshots(weights, epochs, warn)
    for w in warn:
        log.warning(w)
    doc, graph, cloud = learning_graph(weights, epochs, params, threshold)
    doc["warnings"] = warn + doc["warnings"]
    doc = {"run_id": run_id, "layer": layer, "layer_index": layer_index(layer), **doc}
    title = f"run {doc['run_id']} {layer}"
    if json_path:  # each output is optional: the analysis writes the JSON, the figure jobs the page
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(doc, separators=(",", ":")))
    if html_path:
        write_html(graph, cloud, html_path, title)
    m = doc["metrics"]
    log.info(f"{title}: {m['nodes']} nodes, {m['edges']} edges, {m['branches']} branches, "
             f"{m['final_branches']} final branches, first branch at epoch {m['first_branch_epoch']}, "
             f"eps {doc['eps']:.4g}")
    return doc
