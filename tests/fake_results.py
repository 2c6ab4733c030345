"""Synthetic results of one run, written through the real store API: a store whose neurons branch
at known epochs, the branch tables, the branching curve and events, and the Mapper documents
(mapper/{run_id}/graphs.json).

Used by the figure, summary and InPCA tests so they do not depend on training or Mapper.
"""

import json

import numpy as np
import pandas as pd

from topolearn.sweep.points import normalize_point, run_id
from topolearn.learning_graphs.graphs import BRANCH_COLUMNS, write_graphs
from topolearn.store.snapshots import create_store, finalize_store, write_rows
from topolearn.sweep.packing import STAMP, TABLE_FILES

BRANCH_EPOCH = 2.0


def make_point(**kw) -> dict:
    return normalize_point({"dataset": "digits", "depth": 1, "width": 6, "epochs": 4, "snapshots": 9,
                            "batch_size": 64, "probe_size": 30, "init": "normal", "lr": 0.5, **kw})


def _weights(rng, n_snap, n_out, n_in, epochs, k):
    """Neurons drift together, then split into k groups after BRANCH_EPOCH."""
    t = epochs[:, None, None]
    trunk = rng.normal(size=(1, 1, n_in))
    groups = rng.normal(size=(k, n_in))[np.arange(n_out) % k][None]
    w = 0.1 * t * trunk + np.clip(t - BRANCH_EPOCH, 0, None) * groups + 1e-3 * rng.normal(size=(n_snap, n_out, n_in))
    return w.astype(np.float32)


def write_run(results, point: dict | None = None, *, diverge_at: int | None = None, empty_layers=(),
              seed: int = 0, flag_diverged: bool = True) -> str:
    """Write results/{runs,mapper} of one synthetic run (its tables in its mapper folder, as a run
    analysed alone has them); returns its run id.

    diverge_at: losses NaN from that snapshot on (the last train loss inf), weights and predictions
    after it; flag_diverged=False leaves the store's `diverged` attr False all the same.
    """
    point = point or make_point()
    rid = run_id(point)
    rng = np.random.default_rng(seed)
    n = point["snapshots"]
    n_in, width, n_probe = 64, point["width"], point["probe_size"]
    widths = [n_in] + [width] * point["depth"] + [10]
    shapes = list(zip(widths[1:], widths[:-1]))  # (neurons, inputs) per layer
    epochs = np.linspace(0, point["epochs"], n)
    labels = np.arange(n_probe) % 10
    path = results / "runs" / rid / "snapshots.zarr"
    root = create_store(path, layer_shapes=shapes, bias=False, n_snapshots=n, probe_labels=labels, n_classes=10,
                        chunk=4, attrs={"run_id": rid, "params": point})
    acc = 0.1 + 0.8 / (1 + np.exp(-3 * (epochs - BRANCH_EPOCH)))
    logits = np.eye(10)[labels][None] * (3 * epochs[:, None, None])  # uniform at epoch 0, then sharper
    probs = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    rows = {"step": np.arange(n) * 10, "epoch": epochs, "train_acc": acc, "test_acc": acc * 0.95,
            "train_loss": -np.log(acc), "test_loss": -np.log(acc * 0.95), "probs": probs.astype(np.float32)}
    for i, (o, k) in enumerate(shapes):
        rows[f"weights/layer{i}"] = _weights(rng, n, o, k, epochs, 2 if i < len(shapes) - 1 else 10)
    if diverge_at is not None:  # losses and weights blow up from `diverge_at` on
        for name in ("train_loss", "test_loss"):
            rows[name] = rows[name].copy()
            rows[name][diverge_at:] = np.nan
        rows["train_loss"][-1] = np.inf
        for name in [k for k in rows if k.startswith("weights/")] + ["probs"]:
            rows[name] = rows[name].copy()
            rows[name][diverge_at + 1:] = np.nan
    write_rows(root, 0, rows)
    flagged = diverge_at is not None and flag_diverged
    finalize_store(path, n, {"diverged": flagged, "diverged_at_step": int(diverge_at * 10) if flagged else None,
                             "wall_time_s": 1.5})
    _write_tables(results, rid, shapes, epochs, acc, empty_layers, "diverged" if diverge_at is not None else "ok")
    return rid


def _write_tables(results, rid, shapes, epochs, acc, empty_layers, status):
    n_layers = len(shapes)
    branch_rows, curve, events, graphs = [], [], [], []
    for i, (n_neurons, _) in enumerate(shapes):
        empty = i in empty_layers
        k = 10 if i == n_layers - 1 else 2
        branch_rows.append({"run_id": rid, "layer": f"layer{i}", "layer_index": i, "n_neurons": n_neurons,
                            "n_snapshots": len(epochs), "nodes": 0 if empty else k + 3,
                            "edges": 0 if empty else k + 2, "components": 0 if empty else 1, "cycles": 0,
                            "leaves": 0 if empty else k + 1, "branch_points": 0 if empty else 1,
                            "branches": 0 if empty else k, "final_branches": k,
                            "first_branch_epoch": "NA" if empty else BRANCH_EPOCH, "eps": 0.25, "empty": empty})
        for s, e in enumerate(epochs):
            groups = 1 if e <= BRANCH_EPOCH else k
            curve.append({"run_id": rid, "layer": f"layer{i}", "snapshot": s, "step": s * 10, "epoch": e,
                          "groups": groups, "max_deviation": float(e), "test_acc": acc[s] * 0.95,
                          "event": "branching" if s and groups > (1 if epochs[s - 1] <= BRANCH_EPOCH else k) else ""})
        events.append({"run_id": rid, "layer": f"layer{i}", "branch_epoch": epochs[epochs > BRANCH_EPOCH][0],
                       "groups_before": 1, "groups_after": k, "jump_epoch": BRANCH_EPOCH, "jump_size": 0.3,
                       "lag_epochs": 0.5})
        graphs.append(_mapper_doc(epochs, n_neurons, k, empty, branch_rows[-1]))
    # a run analysed alone: its tables in its mapper folder, which its stamp names
    mdir = results / "mapper" / rid
    mdir.mkdir(parents=True, exist_ok=True)
    write_graphs(mdir, graphs)
    for kind, rows in (("branches", branch_rows), ("curve", curve), ("events", events)):
        pd.DataFrame(rows).to_csv(mdir / TABLE_FILES[kind], sep="\t", index=False, na_rep="NA")
    for kind in ("symmetry", "layers"):
        (mdir / TABLE_FILES[kind]).write_text("run_id\n")
    reason = "" if status == "ok" else "fake divergence"  # tables all the same: the figures' inputs
    (mdir / STAMP).write_text(json.dumps({"settings": "fake", "status": status, "reason": reason, "tables": f"mapper/{rid}"}))


def _mapper_doc(epochs, n_neurons, k, empty, row) -> dict:
    """A trunk of 3 nodes, then k branches of one node each (members as (neuron, snapshot)); the
    document's identity and metrics are those of its branches-table `row`."""
    nodes, edges = {}, []
    if not empty:
        early = [s for s, e in enumerate(epochs) if e <= BRANCH_EPOCH]
        late = [s for s, e in enumerate(epochs) if e > BRANCH_EPOCH]
        for j, chunk in enumerate(np.array_split(early, 3)):
            nodes[f"trunk{j}"] = {"members": [[n, int(s)] for s in chunk for n in range(n_neurons)],
                                  "mean_epoch": float(epochs[chunk].mean())}
            if j:
                edges.append([f"trunk{j - 1}", f"trunk{j}"])
        for b in range(k):
            nodes[f"branch{b}"] = {"members": [[n, int(s)] for s in late for n in range(b, n_neurons, k)]}
            edges.append(["trunk2", f"branch{b}"])
    metrics = {key: (None if row[key] == "NA" else row[key]) for key in BRANCH_COLUMNS[5:14]}
    ident = {key: row[key] for key in ("run_id", "layer", "layer_index", "n_neurons", "n_snapshots", "eps", "empty")}
    return {**ident, "nodes": nodes, "edges": edges, "params": {"eps": 0.25}, "metrics": {**metrics, "empty": empty}}
