"""Learning graphs: KeplerMapper graphs of one layer's weight history (Gabella et al. 2019).

Every neuron at every snapshot is a point (its incoming weights); the layer's history is a cloud of
n_snapshots x n_neurons points. Optional PCA, a 1-D lens, a KeplerMapper cover of the lens range and
DBSCAN in each interval give the nodes; nodes sharing points are joined.
"""

import json
import logging
from collections import Counter
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import kmapper as km
import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import DBSCAN
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import cdist, pdist
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

from .cover import cover_geometry
from ..sweep.mapper_settings import cover_overlap, degenerate, degenerate_message
from .graphs import analyze_graph
from ..utils.offline import inline_scripts
from ..store.snapshots import open_store, read_metrics, read_weights

log = logging.getLogger(__name__)

LINKAGE_MAX_POINTS = 4000  # its condensed distances: 64 MB; beyond, sklearn's neighbour lists
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
    steps = np.linalg.norm(np.diff(x, axis=0), axis=2).ravel()
    steps = steps[steps > 0]
    return float(np.percentile(steps, percentile)) if len(steps) else 1e-12


class CompactDBSCAN(BaseEstimator, ClusterMixin):
    """sklearn's DBSCAN(eps, min_samples) on a cloud compacted to cells of diameter eps * resolution.

    Learning clouds are clumpy (all neurons together for many snapshots after a zero or tiny
    init): plain DBSCAN then lists ~n^2 neighbours and is slow and memory-hungry. Points sharing
    a cell are replaced by one weighted point (DBSCAN's sample_weight counts them as neighbours),
    which changes the result only for pairs whose distance is within 2 * resolution * eps of eps.
    """

    def __init__(self, eps: float = 0.5, min_samples: int = 2, resolution: float = 1e-2):
        self.eps = eps
        self.min_samples = min_samples
        self.resolution = resolution

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        side = self.eps * self.resolution / np.sqrt(X.shape[1])
        scaled = X / side if len(X) else X
        if len(X) and np.isfinite(scaled).all() and np.abs(scaled).max() < 2.0**62:
            _, first, inverse, counts = np.unique(np.floor(scaled).astype(np.int64), axis=0, return_index=True,
                                                  return_inverse=True, return_counts=True)
        else:  # cells too fine to index: cluster the points as they are
            first, inverse, counts = np.arange(len(X)), np.arange(len(X)), np.ones(len(X), dtype=int)
        if self.min_samples <= 2 and len(first) <= LINKAGE_MAX_POINTS:
            labels = linkage_dbscan(X[first], counts, self.eps, self.min_samples)
        else:
            labels = DBSCAN(eps=self.eps, min_samples=self.min_samples).fit(X[first], sample_weight=counts).labels_
        self.labels_ = labels[inverse.ravel()]
        return self


def linkage_dbscan(X: np.ndarray, weight: np.ndarray, eps: float, min_samples: int) -> np.ndarray:
    """sklearn DBSCAN's labels for min_samples <= 2, from scipy's single linkage.

    With min_samples <= 2 every point with a neighbour within eps (or a weight of 2) is a core
    point, so DBSCAN has no border points: its clusters are the components of the eps-graph, that
    is single linkage cut at eps, and the rest is noise (-1). Clusters are numbered by their first
    point, as sklearn numbers them. Here because sklearn's neighbour lists cost 2-3x more on these
    clouds (one DBSCAN per cover interval, 20 per layer): the analysis's largest single cost.
    """
    n = len(X)
    if n < 2:
        return np.where(weight >= min_samples, 0, -1)[:n]
    comp = fcluster(linkage(pdist(X), method="single"), t=eps, criterion="distance")
    core = (np.bincount(comp)[comp] > 1) | (weight >= min_samples)
    labels = np.full(n, -1)
    firsts = np.unique(comp[core], return_index=True)[1]
    order = np.full(comp.max() + 1, -1)
    order[comp[core][np.sort(firsts)]] = np.arange(len(firsts))
    labels[core] = order[comp[core]]
    return labels


class PointIndexNerve(km.GraphNerve):
    """KeplerMapper's graph nerve built from a point -> nodes index.

    kmapper's own compares all node pairs (quadratic in nodes); here only nodes that share a point
    are ever compared, which is linear in (points x nodes per point).
    """

    def compute(self, nodes):
        names = list(nodes)
        holders: dict[int, list[int]] = {}
        for i, name in enumerate(names):
            for p in set(nodes[name]):
                holders.setdefault(p, []).append(i)
        shared = Counter(pair for h in holders.values() if len(h) > 1 for pair in combinations(sorted(h), 2))
        result: dict[str, list[str]] = {}
        for (i, j), count in sorted(shared.items()):
            if count >= self.min_intersection:
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
    members = [np.asarray(graph["nodes"][n], dtype=np.int64) for n in names]
    index = {n: i for i, n in enumerate(names)}
    edges = [(index[a], index[b]) for a, bs in graph["links"].items() for b in bs]
    if not names:
        warn.append(f"empty graph: no DBSCAN cluster with eps={eps_used:.4g}, min_samples="
                    f"{params['min_samples']} in any of {intervals} intervals; raise eps, lower "
                    f"min_samples or use fewer intervals")
    epochs = np.asarray(epochs, dtype=float)
    node_epoch = [float(cloud.epoch[m].mean()) for m in members]
    pairs = [np.column_stack([cloud.neuron[m], cloud.snapshot[m]]) for m in members]
    analysis = analyze_graph(pairs, node_epoch, edges, cloud.n_neurons, float(np.ptp(epochs)), threshold)
    date_splits(analysis, coords.reshape(cloud.n_snapshots, cloud.n_neurons, -1), eps_used, epochs)
    nodes = {}
    for i, (name, m) in enumerate(zip(names, members)):
        nodes[name] = {"members": pairs[i].tolist(), "size": int(len(m)), "mean_epoch": node_epoch[i],
                       "min_epoch": float(cloud.epoch[m].min()), "max_epoch": float(cloud.epoch[m].max()),
                       "lens_min": float(lens[m].min()), "lens_max": float(lens[m].max()),
                       "n_neurons": int(len(np.unique(cloud.neuron[m]))),
                       "branch": analysis["node_branch"][i]}
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
    doc = {"run_id": run_id, "layer": layer, "layer_index": int(layer[5:]), **doc}
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
