"""Per-run figures: learning curves, weight norms (paper Fig. 8), learning surfaces (Fig. 6),
first-layer weight images (Fig. 7; a CNN: its first conv layer's filters) and the Mapper learning
graphs of every layer.

Every plot function takes a loaded `Run` and returns a figure of fixed size; bad input (a diverged
run, an empty graph, a layer that is not an image) gives a panel with a note, never an exception. A
run that was not analysed (`not_analysed`) gets only what its store shows (learning curves, weight
norms) and a note figure for the rest.
Learning curves, weight norms and learning graphs are drawn against the run's time axis: epochs, or
its InPCA progress when the run is loaded with one (`figures.time_axis: progress`, timeaxis.py).
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import colors as mcolors

from ..data.registry import DATASETS
from ..learning_graphs.stability import read_scan, summarize
from ..store.snapshots import layer_count, open_store, read_metrics, read_weights
from ..utils.tables import read_tsv
from . import RUN_FIGURES, theme
from .graphs import draw_graph, load_graph
from .timeaxis import TimeAxis, time_axis

MAX_IMAGE_NEURONS = 10  # columns of the weight-image grid
MAX_PC1_NEURONS = 50  # neurons shown ordered along PC1
MAX_SURFACE_POINTS = 20000  # points drawn per learning surface (PCA uses all of them)


@dataclass
class Run:
    run_id: str
    params: dict
    metrics: pd.DataFrame  # one row per snapshot
    weights: list  # per layer: (snapshot, neuron, input) float32
    diverged: bool = False
    diverged_epoch: float | None = None
    events: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["layer", "epoch"]))
    progress: Callable | None = None  # epochs -> InPCA progress (inpca_progress.epoch_to_progress)
    # a CNN's first conv layer: (snapshot, filter, k * (in_channels k)), each filter's kernels side by
    # side as one k x (in_channels k) image (filter_images), or None
    filters: np.ndarray | None = None
    filter_shape: tuple | None = None  # (k, in_channels k): one filter's image

    @property
    def epochs(self) -> np.ndarray:
        return self.metrics["epoch"].to_numpy(float)

    @property
    def time(self) -> TimeAxis:
        return time_axis(self.epochs, self.progress, self.diverged)

    def layer_label(self, i: int) -> str:
        n = len(self.weights)
        return f"layer{i} (output)" if i == n - 1 else f"layer{i} (hidden {i + 1})"


def load_run(store_path, branching_tsv=None, progress=None) -> Run:
    root = open_store(store_path)
    attrs = dict(root.attrs)
    metrics = read_metrics(root)
    weights = [read_weights(root, i) for i in range(layer_count(root))]
    filters, filter_shape = filter_images(read_weights(root, "conv0"), root["weights/conv0"].attrs["kernel_shape"]) \
        if "conv0" in root["weights"] else (None, None)
    bad = ~np.isfinite(metrics[["train_loss", "test_loss"]].to_numpy(float)).all(axis=1)
    diverged = bool(attrs.get("diverged")) or bool(bad.any())
    div_epoch = None
    if diverged and len(metrics):  # the attr's step if recorded, else the first non-finite loss, else the end
        step = attrs.get("diverged_at_step")
        at = (metrics["step"] >= step).to_numpy() if step is not None else bad
        div_epoch = float(metrics["epoch"].to_numpy()[at][0] if at.any() else metrics["epoch"].iloc[-1])
    return Run(run_id=str(attrs.get("run_id", Path(store_path).parent.name)), params=attrs.get("params", {}),
               metrics=metrics, weights=weights, diverged=diverged, diverged_epoch=div_epoch,
               events=read_branching_events(branching_tsv), progress=progress, filters=filters,
               filter_shape=filter_shape)


def filter_images(w: np.ndarray, kernel_shape) -> tuple[np.ndarray, tuple[int, int]]:
    """(snapshot, filter, in_channels k k) in torch's order -> (snapshot, filter, k (in_channels k)),
    each filter one image (its input channels' kernels side by side), and that image's shape."""
    _, c, kh, kw = (int(v) for v in kernel_shape)
    s, f, _ = w.shape
    return w.reshape(s, f, c, kh, kw).transpose(0, 1, 3, 2, 4).reshape(s, f, kh * c * kw), (kh, c * kw)


def read_branching_events(curve) -> pd.DataFrame:
    """(layer, epoch) of every branching event of the run's branching curve (its rows:
    topolearn.analysis.tables, or the path of a table)."""
    if isinstance(curve, pd.DataFrame):
        df = curve
    elif curve is None or not Path(curve).is_file() or Path(curve).stat().st_size == 0:
        return pd.DataFrame(columns=["layer", "epoch"])
    else:
        df = read_tsv(curve)
    if "event" not in df:
        return pd.DataFrame(columns=["layer", "epoch"])
    return df.loc[df["event"].astype(str) == "branching", ["layer", "epoch"]].reset_index(drop=True)


# ---------------------------------------------------------------- learning curves


def plot_learning_curves(run: Run):
    fig = theme.new_figure(2 * theme.PANEL + 0.8, theme.PANEL)
    ax_loss, ax_acc = fig.subplots(1, 2)
    t, m = run.time, run.metrics
    ep = t.values
    for split, style in (("train", "-"), ("test", "--")):
        loss = m[f"{split}_loss"].to_numpy(float)
        ax_loss.plot(ep, np.where(np.isfinite(loss), loss, np.nan), style, color="C0", label=split)
        ax_acc.plot(ep, m[f"{split}_acc"], style, color="C0", label=split)
    loss = m[["train_loss", "test_loss"]].to_numpy(float)
    if np.isfinite(loss).any() and (loss[np.isfinite(loss)] > 0).all():
        ax_loss.set_yscale("log")
    ax_loss.set(xlabel=t.label, ylabel="cross-entropy loss", title="Loss")
    ax_acc.set(xlabel=t.label, ylabel="accuracy", title="Accuracy", ylim=(0, 1.02))
    _mark_events(run, ax_loss, ax_acc)
    _mark_divergence(run, (ax_loss, ax_acc))
    ax_acc.legend(loc="center right", fontsize=7, frameon=False)
    fig.suptitle(f"Learning curves, run {run.run_id}", fontsize=10)
    return fig


def _mark_events(run: Run, ax_loss, ax_acc) -> None:
    """Branching events of each layer as a row of ticks along the bottom of the accuracy panel; the
    layer's first event also as a dotted line across both panels (its first-branch epoch)."""
    layers = sorted(run.events["layer"].unique(), key=_layer_index)
    t = run.time
    for k, (color, layer) in enumerate(zip(theme.layer_colors(len(layers)), layers)):
        epochs = np.sort(t.at(run.events.loc[run.events["layer"] == layer, "epoch"].astype(float).to_numpy()))
        ax_acc.plot(epochs, np.full(len(epochs), 0.03 + 0.05 * k), "|", color=color, ms=7, mew=1.2,
                    label=f"branching, {layer}")
        for ax in (ax_loss, ax_acc):
            ax.axvline(epochs[0], color=color, lw=0.9, ls=":")


def _mark_divergence(run: Run, axes) -> None:
    if not run.diverged:
        return
    for ax in axes:
        if run.diverged_epoch is not None:
            ax.axvline(float(run.time.at(run.diverged_epoch)), color="C3", lw=1.2, ls="-.", label="diverged")
    axes[0].text(0.02, 0.02, "run diverged" + (f" at epoch {run.diverged_epoch:.2f}" if run.diverged_epoch is not None
                 else ""), transform=axes[0].transAxes, color="C3", fontsize=8)


def _layer_index(name) -> int:
    digits = "".join(c for c in str(name) if c.isdigit())
    return int(digits) if digits else 0


# ---------------------------------------------------------------- weight norms (Fig. 8)


def plot_weight_norms(run: Run):
    n = len(run.weights)
    fig = theme.new_figure(2 * theme.PANEL + 0.8, 0.75 * theme.PANEL * n + 0.4)
    axes = np.atleast_1d(fig.subplots(n, 1, sharex=True))
    t = run.time
    ep = t.values
    for i, (ax, w) in enumerate(zip(axes, run.weights)):
        norms = np.linalg.norm(w.astype(np.float64), axis=2)  # (snapshot, neuron)
        norms[~np.isfinite(norms)] = np.nan
        if i == n - 1 and norms.shape[1] <= 10:
            for j, c in enumerate(theme.palette(norms.shape[1])):
                ax.plot(ep, norms[:, j], color=c, lw=1.0, label=f"class {j}")
            ax.legend(ncol=5, fontsize=6, frameon=False, loc="upper left", title="output neuron",
                      title_fontsize=6)
        else:
            ax.plot(ep, norms, color="C0", lw=0.6, alpha=0.5)
        ax.set_ylabel("weight norm")
        ax.set_title(f"{run.layer_label(i)}: {norms.shape[1]} neurons", fontsize=9, loc="left")
        twin = ax.twinx()
        twin.plot(ep, run.metrics["test_acc"], color="0.15", ls="--", lw=1.0)
        twin.set_ylim(0, 1.02)
        twin.set_ylabel("test accuracy (dashed)")
        twin.spines["right"].set_visible(True)
        if not np.isfinite(norms).any():
            theme.note(ax, "no finite weights (run diverged)")
    axes[-1].set_xlabel(t.label)
    _mark_divergence(run, list(axes))
    fig.suptitle(f"Weight norm of every neuron and test accuracy, run {run.run_id}", fontsize=10)
    return fig


# ---------------------------------------------------------------- learning surfaces (Fig. 6)


def pca(cloud: np.ndarray, k: int):
    """Top-k principal component scores and explained variance ratios of the rows of `cloud`.

    Through the smaller of the two Gram matrices: one BLAS product and a small eigh, much faster
    than an SVD of a 20,000 x 784 cloud (the paper's first layer) and exact for the top components.
    """
    x = cloud - cloud.mean(axis=0)
    total = float((x ** 2).sum())
    if x.shape[1] <= x.shape[0]:
        lam, v = np.linalg.eigh(x.T @ x)
        lam, v = lam[::-1][:k], v[:, ::-1][:, :k]
        scores = x @ v
    else:
        lam, u = np.linalg.eigh(x @ x.T)
        lam, u = lam[::-1][:k], u[:, ::-1][:, :k]
        scores = u * np.sqrt(np.clip(lam, 0, None))
    scores *= np.where(scores.sum(axis=0) < 0, -1.0, 1.0)  # a fixed sign: re-runs draw the same picture
    ratio = np.clip(lam, 0, None) / total if total > 0 else np.zeros(len(lam))
    return scores, ratio


def layer_pca(w: np.ndarray, k: int = 3):
    """PCA of one layer's trajectory cloud (all snapshots x neurons), finite snapshots only.

    Returns (scores (snapshot, neuron, k), explained variance ratio (k,), snapshot mask).
    """
    ok = theme.finite_rows(w)
    if not ok.any():
        return None, None, ok
    scores, ratio = pca(w[ok].reshape(-1, w.shape[2]).astype(np.float64), k)
    kk = scores.shape[1]
    if kk < k:  # pad degenerate clouds (fewer dims than k) with zeros
        scores = np.pad(scores, ((0, 0), (0, k - kk)))
        ratio = np.pad(ratio, (0, k - kk))
    return scores.reshape(int(ok.sum()), w.shape[1], k), ratio, ok


def plot_learning_surfaces(run: Run):
    n = len(run.weights)
    fig = theme.new_figure(2 * theme.PANEL + 1.2, theme.PANEL * n)
    ep = run.epochs
    norm = mcolors.Normalize(vmin=float(np.nanmin(ep)), vmax=max(float(np.nanmax(ep)), 1e-9))
    axes = []
    for i, w in enumerate(run.weights):
        ax2 = fig.add_subplot(n, 2, 2 * i + 1)
        ax3 = theme.add_3d(fig, n, 2, 2 * i + 2)
        axes += [ax2, ax3]
        scores, ratio, ok = layer_pca(w)
        if scores is None:
            theme.note(ax2, "no finite weights (run diverged)")
            theme.note(ax3, "")
            continue
        pts = scores.reshape(-1, 3)
        c = np.repeat(ep[ok], w.shape[1])
        sel = _subsample(len(pts), MAX_SURFACE_POINTS)
        ax2.scatter(pts[sel, 0], pts[sel, 1], c=c[sel], cmap=theme.EPOCH_CMAP, norm=norm, s=4,
                         lw=0, rasterized=True)
        ax2.set(xlabel=f"PC1 ({100 * ratio[0]:.0f} % var.)", ylabel=f"PC2 ({100 * ratio[1]:.0f} % var.)")
        ax2.set_title(f"{run.layer_label(i)}", fontsize=9, loc="left")
        ax3.scatter(pts[sel, 0], pts[sel, 1], pts[sel, 2], c=c[sel], cmap=theme.EPOCH_CMAP, norm=norm, s=3,
                    lw=0, rasterized=True)
        ax3.set(xlabel="PC1", ylabel="PC2", zlabel="PC3")
        ax3.set_title(f"first 3 PCs (PC3: {100 * ratio[2]:.0f} % var.)", fontsize=8)
    # one colorbar for all layers (they share the epoch scale), well clear of the 3-D z labels
    cb = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=theme.EPOCH_CMAP), ax=axes, shrink=0.5, pad=0.05)
    cb.set_label("epoch of snapshot")
    fig.suptitle(f"Learning surfaces: neuron weight vectors in principal components, run {run.run_id}",
                 fontsize=10)
    return fig


def _subsample(n: int, cap: int) -> np.ndarray:
    return np.arange(n) if n <= cap else np.linspace(0, n - 1, cap).round().astype(int)


# ---------------------------------------------------------------- weight images (Fig. 7)


def image_shape(run: Run, registry=DATASETS):
    """The input image shape of layer 0 (a CNN: of its first conv layer's filters, (k, in_channels k)),
    or None when its inputs are not the dataset's pixels (`registry`: the datasets known; the
    built-ins unless a config's registry is given)."""
    if run.filters is not None:
        return run.filter_shape
    info = registry.get(run.params.get("dataset"))
    if info is None or run.weights[0].shape[2] != info.n_features or run.params.get("arch") == "cnn":
        return None  # a CNN's layer0 sees conv features, not pixels
    # flat declared data and 2-D/3-D toy points are no images
    return info.image_shape if len(info.image_shape) == 2 and min(info.image_shape) > 1 else None


def image_weights(run: Run) -> tuple[np.ndarray, str]:
    """The layer drawn as images: a CNN's first conv layer, else layer 0; and its unit's name."""
    return (run.filters, "conv0 filter") if run.filters is not None else (run.weights[0], "first-layer neuron")


def snapshot_at_epochs(epochs: np.ndarray, wanted, ok: np.ndarray) -> list[int]:
    """Nearest recorded (finite) snapshot to each wanted epoch, without repeats."""
    idx = np.flatnonzero(ok)
    if not len(idx):
        return []
    if not wanted:
        wanted = np.linspace(epochs[idx[0]], epochs[idx[-1]], 6)
    out = [int(idx[np.abs(epochs[idx] - e).argmin()]) for e in wanted]
    return list(dict.fromkeys(out))


def pc1_order(run: Run):
    """Layer-0 neurons ordered along PC1 at the last finite snapshot, with their PC1 scores."""
    scores, _, ok = layer_pca(image_weights(run)[0], k=1)
    if scores is None:
        return None, None, ok
    last = scores[-1, :, 0]
    order = np.argsort(last, kind="stable")
    return order, last[order], ok


def tile(imgs: np.ndarray, gap: int = 1) -> np.ndarray:
    """(rows, cols, h, w) images -> one 2-D mosaic with NaN gaps (one imshow instead of many axes)."""
    rows, cols, h, w = imgs.shape
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan)
    for r in range(rows):
        for c in range(cols):
            out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = imgs[r, c]
    return out


def _mosaic(ax, mosaic, vmax: float):
    cmap = plt.get_cmap(theme.WEIGHT_CMAP).with_extremes(bad="white")
    im = ax.imshow(mosaic, cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest")
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    return im


def _no_images(fig, run: Run, shape):
    theme.note(fig.add_subplot(), "layer 0 inputs are not image pixels" if shape is None
               else "no finite weights (run diverged)")
    return fig


def plot_weight_images(run: Run, epochs=()):
    """Rows: chosen epochs; columns: neurons picked evenly along PC1. Each row is scaled by its own
    max |weight| (early weights are ~1e-6), given in the row label."""
    shape = image_shape(run)
    w0, unit = image_weights(run)
    order, _, ok = pc1_order(run)
    snaps = snapshot_at_epochs(run.epochs, list(epochs), ok) if shape else []
    n_neurons = w0.shape[1]
    cols = min(MAX_IMAGE_NEURONS, n_neurons)
    rows = max(len(snaps), 1)
    fig = theme.new_figure(0.7 * cols + 2.4, 0.7 * rows + 1.0)
    if not snaps:
        return _no_images(fig, run, shape)
    neurons = order[np.linspace(0, n_neurons - 1, cols).round().astype(int)]
    imgs = w0[np.ix_(snaps, neurons)].astype(np.float64)  # (rows, cols, pixels)
    row_max = np.abs(imgs).max(axis=(1, 2))
    imgs /= np.where(row_max > 0, row_max, 1.0)[:, None, None]
    ax = fig.add_subplot()
    im = _mosaic(ax, tile(imgs.reshape(rows, cols, *shape)), 1.0)
    h, w = shape
    ax.set_xticks(np.arange(cols) * (w + 1) + (w - 1) / 2, [f"n{j}" for j in neurons], fontsize=7)
    ax.set_yticks(np.arange(rows) * (h + 1) + (h - 1) / 2,
                  [f"epoch {run.epochs[s]:.1f}\n(max {m:.1e})" for s, m in zip(snaps, row_max)], fontsize=7)
    ax.tick_params(length=0)
    ax.set_xlabel(f"{unit} (ordered along PC1)")
    cb = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.01)
    cb.set_label("weight / row's max |weight|")
    what = "First conv layer's filters" if run.filters is not None else "First-layer weights"
    fig.suptitle(f"{what} as images over training, run {run.run_id}", fontsize=9)
    return fig


def plot_weight_images_pc1(run: Run):
    """Neurons at the last finite snapshot, ordered by PC1 score (row-major), one color scale."""
    shape = image_shape(run)
    w0, unit = image_weights(run)
    order, scores, ok = pc1_order(run)
    n = min(MAX_PC1_NEURONS, w0.shape[1])
    cols = min(10, n)
    rows = math.ceil(n / cols)
    fig = theme.new_figure(0.7 * cols + 1.6, 0.7 * rows + 1.4)
    if shape is None or order is None:
        return _no_images(fig, run, shape)
    pick = np.linspace(0, len(order) - 1, n).round().astype(int)
    last = int(np.flatnonzero(ok)[-1])
    imgs = np.full((rows * cols, shape[0] * shape[1]), np.nan)
    imgs[:n] = w0[last, order[pick]]
    vmax = float(np.nanmax(np.abs(imgs))) or 1.0
    ax = fig.add_subplot()
    h, w = shape
    gap = max(1, round(h / 5))  # room above each tile for its neuron label
    im = _mosaic(ax, tile(np.pad(imgs.reshape(rows, cols, *shape), ((0, 0), (0, 0), (gap - 1, 0), (0, 0)),
                                 constant_values=np.nan)), vmax)
    for k, j in enumerate(order[pick]):
        ax.text((k % cols) * (w + 1) - 0.5, (k // cols) * (h + gap) + gap - 1.5, f"n{j}", fontsize=5,
                va="bottom")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(f"PC1 score increasing left to right, top to bottom ({scores[pick][0]:.2g} to "
                  f"{scores[pick][-1]:.2g})")
    cb = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.01)
    cb.set_label("weight")
    fig.suptitle(f"{unit[0].upper() + unit[1:]}s at epoch {run.epochs[last]:.1f} ordered along the surface "
                 f"direction (PC1), run {run.run_id}", fontsize=9)
    return fig


# ---------------------------------------------------------------- Mapper graphs


def plot_mapper_graphs(run: Run, mapper_graphs):
    """mapper_graphs: the run's learning-graph documents (topolearn.learning_graphs.read_graphs), or
    paths of JSON files holding one each (named after their layer)."""
    docs = sorted(map(_graph_doc, mapper_graphs), key=lambda d: _layer_index(d["layer"]))
    n = max(len(docs), 1)
    fig = theme.new_figure(theme.PANEL * n + 1.0, theme.PANEL + 0.3)
    axes = np.atleast_1d(fig.subplots(1, n))
    t = run.time
    norm = mcolors.Normalize(vmin=float(np.nanmin(t.values)), vmax=max(float(np.nanmax(t.values)), 1e-9))
    mappable = None
    for ax, doc in zip(axes, docs):
        graph, info = load_graph(doc, run.epochs)
        if t.is_progress:
            _nodes_on_progress(graph, doc, t)
        i = _layer_index(doc["layer"])
        title = run.layer_label(i) if i < len(run.weights) else doc["layer"]
        if graph.number_of_nodes() == 0:
            theme.note(ax, "empty graph\n(no cluster at these Mapper parameters)")
            ax.set_title(title, fontsize=9, loc="left")
            continue
        mappable = draw_graph(ax, graph, norm)
        ax.set_xlabel(t.node_label())
        if np.isfinite([e for _, e in graph.nodes(data="epoch")]).all():  # the run's time range on every layer
            pad = 0.03 * (norm.vmax - norm.vmin)
            ax.set_xlim(norm.vmin - pad, norm.vmax + pad)
        branches = info.get("branches")
        ax.set_title(f"{title}: {graph.number_of_nodes()} nodes"
                     + (f", {branches} branches" if branches is not None else ""), fontsize=9, loc="left")
    if not docs:
        theme.note(axes[0], "no Mapper graphs for this run")
    if mappable is not None:
        theme.epoch_colorbar(fig, mappable, list(axes), t.node_label())
    fig.suptitle(f"Mapper learning graphs per layer, run {run.run_id}", fontsize=10)
    return fig


def _graph_doc(graph) -> dict:
    """A learning-graph document as given, or read from its JSON file (its layer: the file's name)."""
    if isinstance(graph, dict):
        return graph
    return {"layer": Path(graph).stem, **json.loads(Path(graph).read_text())}


def _nodes_on_progress(graph, doc: dict, t: TimeAxis) -> None:
    """Each node's time: the mean progress of its members' snapshots (the document's members are
    (neuron, snapshot) pairs indexing its `epochs`, the run's finite snapshots), in place of their
    mean epoch."""
    snap_progress = t.at(doc["epochs"]) if "epochs" in doc else t.values
    for name, node in (doc.get("nodes") or {}).items():
        snaps = [m[1] for m in node.get("members", [])] if isinstance(node, dict) else []
        if str(name) in graph and snaps:
            graph.nodes[str(name)]["epoch"] = float(np.mean(snap_progress[np.asarray(snaps, dtype=int)]))


# ---------------------------------------------------------------- stability of the counts


def plot_stability_scan(run: Run, stability_tsv=None):
    """Branch count of every layer over the Mapper parameter grid (stability.run_scan's table): one
    heatmap of intervals x overlap per eps scale and layer, the base parameters outlined."""
    df = read_scan(stability_tsv) if stability_tsv and Path(stability_tsv).is_file() else pd.DataFrame()
    layers = sorted(df["layer"].unique(), key=_layer_index) if len(df) else []
    scales = sorted(df["eps_scale"].unique()) if len(df) else [1.0]
    fig = theme.new_figure(theme.PANEL * len(scales) + 0.8, theme.PANEL * 0.8 * max(len(layers), 1) + 0.6)
    axes = np.atleast_2d(fig.subplots(max(len(layers), 1), len(scales), squeeze=False))
    if not layers:
        theme.note(axes[0, 0], "no stability scan for this run\n(mapper.scan: false)")
    vmax = float(df["branches"].max()) if len(df) else 1.0
    for row, layer in zip(axes, layers):
        d = df[df["layer"] == layer]
        s = summarize(d)
        for ax, scale in zip(row, scales):
            g = d[d["eps_scale"] == scale].pivot_table(index="overlap", columns="intervals", values="branches")
            ax.imshow(g.to_numpy(float), origin="lower", cmap="viridis", vmin=0, vmax=vmax, aspect="auto")
            for (i, j), v in np.ndenumerate(g.to_numpy(float)):
                ax.text(j, i, "" if np.isnan(v) else f"{v:.0f}", ha="center", va="center", fontsize=7, color="w")
            base = d[(d["eps_scale"] == scale) & d["base"]]
            for _, b in base.iterrows():
                ax.add_patch(plt.Rectangle((list(g.columns).index(b["intervals"]) - 0.5,
                                            list(g.index).index(b["overlap"]) - 0.5), 1, 1, fill=False, lw=1.5,
                                           ec="C3"))
            ax.set_xticks(range(len(g.columns)), [str(c) for c in g.columns])
            ax.set_yticks(range(len(g.index)), [f"{q:.3g}" for q in g.index])
            ax.set(xlabel="intervals", ylabel="overlap")
            ax.set_title(f"{run.layer_label(_layer_index(layer))}, eps x{scale:g}\nmode {s['mode_branches']} "
                         f"({100 * s['mode_share']:.0f} %), range {s['min_branches']}-{s['max_branches']}",
                         fontsize=8, loc="left")
    fig.suptitle(f"Branch count over the Mapper parameter grid (base outlined), run {run.run_id}", fontsize=10)
    ep = run.epochs
    fig.supxlabel(f"each cell: the layer's learning graph over epochs {np.nanmin(ep):g}-{np.nanmax(ep):g}, rebuilt "
                  "with that cover and eps" if len(ep) else "no snapshots (epoch range empty)", fontsize=7)
    return fig


# ---------------------------------------------------------------- the rule's entry point


def plot_note(run: Run, name: str, why: str):
    """A figure that could not be drawn: its name, the run and the reason, in place of the figure."""
    fig = theme.new_figure(2 * theme.PANEL + 0.8, theme.PANEL * 0.6)
    theme.note(fig.add_subplot(), f"{name.replace('_', ' ')} of run {run.run_id}: not drawn\n{why}")
    return fig


def render_run_figures(store, branching_tsv, mapper_graphs, outdir, formats=("png", "svg"), dpi=120,
                       image_epochs=(), stability_tsv=None, progress=None, not_analysed: str | None = None) -> list[Path]:
    """Every per-run figure as `outdir/{name}.{fmt}` (names in RUN_FIGURES); mapper_graphs: the run's
    learning-graph documents in analysis order (or paths of per-layer JSONs); stability_tsv:
    results/stability/{run_id}.tsv (stability.run_scan), or None for a note; progress: the run's
    epochs -> InPCA progress (figures.time_axis: progress), or None to draw against epochs;
    not_analysed: why the run's analysis was not done ("diverged: ..."), or None."""
    run = load_run(store, branching_tsv, progress)
    if not_analysed is not None:
        from_store = ("learning_curves", "weight_norms") if len(run.metrics) else ()
        why = f"run not analysed: {not_analysed}" if len(run.metrics) else "no snapshot recorded: " + not_analysed
        figs = {name: (lambda n=name: plot_note(run, n, why)) for name in RUN_FIGURES if name not in from_store}
        figs.update({"learning_curves": lambda: plot_learning_curves(run),
                     "weight_norms": lambda: plot_weight_norms(run)} if from_store else {})
        return theme.render_all(figs, RUN_FIGURES, outdir, formats, dpi)
    figs = {
        "learning_curves": lambda: plot_learning_curves(run),
        "weight_norms": lambda: plot_weight_norms(run),
        "learning_surfaces": lambda: plot_learning_surfaces(run),
        "weight_images": lambda: plot_weight_images(run, image_epochs),
        "weight_images_pc1": lambda: plot_weight_images_pc1(run),
        "mapper_graphs": lambda: plot_mapper_graphs(run, mapper_graphs),
        "stability_scan": lambda: plot_stability_scan(run, stability_tsv),
    }
    return theme.render_all(figs, RUN_FIGURES, outdir, formats, dpi)
