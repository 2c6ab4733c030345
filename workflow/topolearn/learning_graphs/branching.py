"""Time-resolved branching: how many distinct groups a layer's neurons form at every snapshot.

At each snapshot the layer's N weight vectors are clustered by single linkage cut at
`group_threshold * scale`, where `scale` is the layer's typical neuron norm (the median over
neurons, at the snapshot where that median is largest). One scale per layer and run keeps the
curve comparable across time: a tiny init (all norms ~1e-6) reads as one group, not as N groups
of noise. The branching curve is the group count per snapshot; a branching event is a snapshot
where the count exceeds every earlier count (flickers around the threshold do not re-count).

Baselines beside the count (Girrbach et al. 2023: topological summaries of weights can be mostly
weight variance): per snapshot the spread (std) of the per-neuron L2 norms and the variance of all
the layer's weights; the group count itself is the third.

Symmetry: the max pairwise distance between the neurons' weight vectors (0 = all identical),
computed exactly (no Gram-matrix shortcut, which would hide float32-level differences). After an
exactly zero init without biases, hidden neurons stay identical in exact arithmetic; whether and
when they separate in floating point depends on the platform's kernels (accumulation order).
"""

import logging

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import pdist, squareform
from threadpoolctl import threadpool_limits

from ..store.snapshots import open_store, read_metrics, read_weights
from ..utils.tables import write_tsv

log = logging.getLogger(__name__)

SYMMETRY_RTOL = 1e-6  # deviations below this fraction of the layer scale are float32 rounding noise
CURVE_COLUMNS = ["run_id", "layer", "snapshot", "step", "epoch", "groups", "max_deviation", "norm_spread",
                 "weight_variance", "test_acc", "event"]
EVENT_COLUMNS = ["run_id", "layer", "branch_epoch", "groups_before", "groups_after", "jump_epoch", "jump_size",
                 "lag_epochs"]
SYMMETRY_COLUMNS = ["run_id", "layer", "n_neurons", "scale", "first_difference_epoch", "symmetry_break_epoch",
                    "final_max_deviation", "final_groups", "context"]


def layer_scale(weights: np.ndarray) -> float:
    """Typical neuron norm of a layer: max over snapshots of the median neuron norm."""
    norms = np.linalg.norm(np.asarray(weights, dtype=np.float64), axis=2)
    return float(np.nanmax(np.median(norms, axis=1))) if norms.size else 0.0


def snapshot_distances(weights: np.ndarray, resolve: float = 0.0) -> np.ndarray:
    """(S, N, N) pairwise distances of every snapshot's neurons.

    Fast Gram-matrix form; for a snapshot where it cannot be trusted (distances below 1e-4 of the
    norms, where cancellation blurs float32-level differences, or a `resolve` scale that small) the
    exact difference-based pdist, so identical neurons give exactly 0.
    """
    w = np.asarray(weights, dtype=np.float64)
    sq = np.einsum("snd,snd->sn", w, w)
    d = np.sqrt(np.clip(sq[:, :, None] + sq[:, None, :] - 2 * (w @ w.transpose(0, 2, 1)), 0, None))
    diag = np.arange(w.shape[1])
    d[:, diag, diag] = 0.0
    floor = 1e-4 * np.sqrt(sq.max(axis=1))
    exact = (d.max(axis=(1, 2)) <= floor) | (resolve <= floor)
    identical = (w == w[:, :1]).all(axis=(1, 2))  # all neurons equal (a symmetric init): exactly 0
    d[exact & identical] = 0.0
    for s in np.flatnonzero(exact & ~identical):
        d[s] = squareform(pdist(w[s]))
    return d


def snapshot_group_counts(weights: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Per snapshot of (S, N, D) weights: single-linkage groups at `threshold` and max pairwise
    distance. Single-linkage clusters cut at t are the connected components of the graph joining
    neurons at distance <= t (what fcluster's "distance" criterion keeps together), so all snapshots
    are one block-diagonal graph and one connected_components call."""
    S, N = weights.shape[:2]
    if N < 2 or S == 0:
        return np.full(S, N, dtype=int), np.zeros(S)
    d = snapshot_distances(weights, resolve=threshold)
    s, i, j = np.nonzero(np.triu(d <= threshold, k=1))
    graph = coo_matrix((np.ones(len(s), np.int8), (s * N + i, s * N + j)), shape=(S * N, S * N))
    labels = np.sort(connected_components(graph, directed=False)[1].reshape(S, N), axis=1)
    return 1 + (np.diff(labels, axis=1) != 0).sum(axis=1), d.max(axis=(1, 2))


def branching_curve(weights: np.ndarray, group_threshold: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Per snapshot: group count and max pairwise deviation; plus the layer scale used."""
    scale = layer_scale(weights)
    groups, dev = snapshot_group_counts(np.asarray(weights), group_threshold * scale)
    return groups.astype(int), dev, scale


def branching_events(groups: np.ndarray) -> np.ndarray:
    """Snapshots where the group count rises above every earlier count."""
    record = np.maximum.accumulate(groups)
    return np.flatnonzero(np.r_[False, groups[1:] > record[:-1]])


def accuracy_jumps(epochs: np.ndarray, test_acc: np.ndarray, min_rise: float) -> pd.DataFrame:
    """Jumps in accuracy: the best test accuracy so far rising by >= min_rise from one snapshot to
    the next. Consecutive rising snapshots form one jump: its epoch is that of the largest single
    rise, its size the total rise. Using the best-so-far ignores noise (a dip and its recovery).
    """
    acc = np.fmax.accumulate(np.nan_to_num(np.asarray(test_acc, dtype=float), nan=-np.inf))
    rise = np.diff(acc, prepend=acc[:1]) if len(acc) else acc
    rise = np.where(np.isfinite(rise), rise, 0.0)
    hit = rise >= min_rise
    jumps = []
    s = 0
    while s < len(hit):
        if not hit[s]:
            s += 1
            continue
        e = s
        while e + 1 < len(hit) and hit[e + 1]:
            e += 1
        peak = s + int(np.argmax(rise[s:e + 1]))
        jumps.append({"jump_epoch": float(epochs[peak]), "jump_size": float(acc[e] - acc[s - 1])})
        s = e + 1
    return pd.DataFrame(jumps, columns=["jump_epoch", "jump_size"])


def pair_events(branch_epochs, before, after, jumps: pd.DataFrame) -> list[dict]:
    """Each branching event with its nearest accuracy jump; lag = jump epoch - branch epoch."""
    rows = []
    for e, b, a in zip(branch_epochs, before, after):
        row = {"branch_epoch": float(e), "groups_before": int(b), "groups_after": int(a),
               "jump_epoch": np.nan, "jump_size": np.nan, "lag_epochs": np.nan}
        if len(jumps):
            j = jumps.iloc[int(np.argmin(np.abs(jumps["jump_epoch"].to_numpy() - e)))]
            row.update(jump_epoch=float(j.jump_epoch), jump_size=float(j.jump_size),
                       lag_epochs=float(j.jump_epoch - e))
        rows.append(row)
    return rows


def first_epoch(epochs: np.ndarray, mask: np.ndarray) -> float:
    idx = np.flatnonzero(mask)
    return float(epochs[idx[0]]) if len(idx) else np.nan


def layer_branching(weights, metrics: pd.DataFrame, layer: str, run_id: str, group_threshold: float,
                    accuracy_jump: float) -> tuple[pd.DataFrame, list[dict], dict]:
    """Curve rows, paired events and the symmetry summary of one layer."""
    ok = np.isfinite(weights).all(axis=(1, 2))  # a diverged run: analyze what stayed finite
    weights, metrics = weights[ok], metrics[ok].reset_index(drop=True)
    groups, dev, scale = branching_curve(weights, group_threshold)
    epochs = metrics["epoch"].to_numpy()
    ev = branching_events(groups)
    w64 = np.asarray(weights, dtype=np.float64)
    curve = pd.DataFrame({"run_id": run_id, "layer": layer, "snapshot": np.flatnonzero(ok),
                          "step": metrics["step"].to_numpy(), "epoch": epochs, "groups": groups,
                          "max_deviation": dev, "norm_spread": np.linalg.norm(w64, axis=2).std(axis=1),
                          "weight_variance": w64.reshape(len(w64), -1).var(axis=1),
                          "test_acc": metrics["test_acc"].to_numpy(), "event": ""})
    curve.loc[ev, "event"] = "branching"
    jumps = accuracy_jumps(epochs, metrics["test_acc"].to_numpy(), accuracy_jump)
    events = [{"run_id": run_id, "layer": layer, **r}
              for r in pair_events(epochs[ev], groups[ev - 1], groups[ev], jumps)]
    sym = {"run_id": run_id, "layer": layer, "n_neurons": int(weights.shape[1]), "scale": scale,
           "first_difference_epoch": first_epoch(epochs, dev > 0),
           "symmetry_break_epoch": first_epoch(epochs, dev > SYMMETRY_RTOL * scale),
           "final_max_deviation": float(dev[-1]) if len(dev) else np.nan,
           "final_groups": int(groups[-1]) if len(groups) else 0}
    return curve, events, sym


def symmetry_context(attrs: dict) -> str:
    """What decides whether identical neurons separate in floating point: the store's
    `symmetry_context` attr if the trainer wrote one, else its threads, device and torch version."""
    ctx = attrs.get("symmetry_context")
    if not isinstance(ctx, dict):
        ctx = {"threads": attrs.get("threads"), "device": attrs.get("device"),
               "torch": (attrs.get("versions") or {}).get("torch")}
    return "; ".join(f"{k}={v}" for k, v in ctx.items())


def run_branching(store_path, layers, run_id: str, group_threshold: float, accuracy_jump: float,
                  curve_path, events_path, symmetry_path, threads: int = 1) -> None:
    """Rule entry point: branching curve, paired events and symmetry summary of every layer."""
    with threadpool_limits(threads):
        _run_branching(store_path, layers, run_id, group_threshold, accuracy_jump, curve_path, events_path,
                       symmetry_path)


def _run_branching(store_path, layers, run_id, group_threshold, accuracy_jump, curve_path, events_path,
                   symmetry_path):
    root = open_store(store_path)  # raises StoreError for an incomplete or damaged store
    branching_tables({layer: read_weights(root, layer) for layer in layers}, read_metrics(root), dict(root.attrs),
                     run_id, group_threshold, accuracy_jump, curve_path, events_path, symmetry_path)


def branching_tables(weights: dict, metrics: pd.DataFrame, attrs: dict, run_id: str, group_threshold: float,
                     accuracy_jump: float, curve_path, events_path, symmetry_path) -> pd.DataFrame:
    """Curve, events and symmetry tables of a run's layers ({layer: (S, N, D) weights}, the store's
    metrics and attrs) written to their paths; returns the curve."""
    context = symmetry_context(attrs)
    curves, events, syms = [], [], []
    for layer, w in weights.items():
        c, e, s = layer_branching(w, metrics, layer, run_id, group_threshold, accuracy_jump)
        curves.append(c)
        events += e
        syms.append({**s, "context": context})
        log.info(f"{run_id} {layer}: final groups {s['final_groups']}, {len(e)} branching event(s), "
                 f"symmetry broken at epoch {s['symmetry_break_epoch']} (first difference at "
                 f"{s['first_difference_epoch']}), final max deviation {s['final_max_deviation']:.3g}")
    curve = pd.concat(curves, ignore_index=True)[CURVE_COLUMNS]
    write_tsv(curve, curve_path)
    write_tsv(pd.DataFrame(events, columns=EVENT_COLUMNS), events_path)
    write_tsv(pd.DataFrame(syms, columns=SYMMETRY_COLUMNS), symmetry_path)
    return curve
