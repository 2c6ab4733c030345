"""Figures of layer representations on toy data (docs/layers.md): per run and over a sweep.

Per run (from the store's repr/ and grid/ arrays): the final model's representation after every
layer, a GIF of the continuous transformation through the layers (Olah's essay: the affine map
interpolated, then the nonlinearity) and a GIF of the last hidden representation over training.
Representations with more than 3 units are shown through PCA (2 components), and say so.
"""

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.collections import LineCollection

from ..layers.measures import read_table
from ..store.snapshots import open_store, read_metric_series
from ..sweep.table import read_sweep_table
from .theme import COLORBLIND, PANEL, add_3d, new_figure, note, save

LAYER_FIGURES = ("layers_final",)  # static, in every configured format
LAYER_ANIMATIONS = ("layers_transform", "layers_training")  # GIF only
FRAMES_PER_PHASE = 4  # frames per affine or nonlinear phase of a layer
TRAINING_FRAMES = 20  # most frames of the training animation (snapshots evenly thinned)
GRID_LINES = 13  # grid lines drawn per direction
CLASS_COLORS = COLORBLIND[:2]


# ---------------------------------------------------------------- data


def load_layers(store_path) -> dict:
    """The store's recorded representations and what the figures need besides."""
    root = open_store(store_path)
    params = dict(root.attrs["params"])
    n = len(list(root["weights"].array_keys()))
    grid = root["grid"] if "grid" in root else None
    return {
        "params": params, "labels": root["repr/labels"][:], "n_layers": n,
        "data": [root["repr/input"][:]] + [root[f"repr/layer{i}"][:] for i in range(n)],
        "grid": None if grid is None else [grid["input"][:]] + [grid[f"layer{i}"][:] for i in range(n)],
        "grid_shape": None if grid is None else tuple(grid.attrs["shape"]),
        "weights": [root[f"weights/layer{i}"][-1] for i in range(n)],
        "biases": [root[f"biases/layer{i}"][-1] for i in range(n)] if "biases" in root else None,
        **read_metric_series(root, ("epoch", "test_acc")),
    }


def projector(cloud: np.ndarray):
    """A map to <= 3 display dims: identity for up to 3 units (1 unit gets a zero y), else PCA(2)
    fitted on `cloud`; returns (function, label)."""
    d = cloud.shape[-1]
    if d == 1:
        return (lambda h: np.c_[h, np.zeros(len(h))]), "1 unit (y = 0)"
    if d <= 3:
        return (lambda h: h), f"{d} units"
    return pca2(cloud), f"PCA of {d} units"


def pca2(cloud: np.ndarray):
    """Projection on the first two principal components of `cloud`."""
    c = np.nan_to_num(cloud.astype(np.float64))
    mean = c.mean(0)
    _, _, vt = np.linalg.svd(c - mean, full_matrices=False)
    return lambda h: (np.nan_to_num(h) - mean) @ vt[:2].T


def grid_segments(points: np.ndarray, shape) -> list:
    """Polylines along the rows and columns of a mapped grid (every few lines)."""
    G = points.reshape(*shape, points.shape[-1])
    step = max(1, shape[0] // GRID_LINES)
    return [G[i, :, :2] for i in range(0, shape[0], step)] + [G[:, j, :2] for j in range(0, shape[1], step)]


# ---------------------------------------------------------------- the final model, layer by layer


def _panel(fig, spec, data, labels, grid, shape, title):
    proj, desc = projector(data)
    D = proj(data)
    if D.shape[1] == 3:
        ax = add_3d(fig, *spec)
        for c in (0, 1):
            ax.scatter(*D[labels == c].T, s=3, color=CLASS_COLORS[c], depthshade=False)
    else:
        ax = fig.add_subplot(*spec)
        if grid is not None:
            ax.add_collection(LineCollection(grid_segments(proj(grid), shape), colors="0.7", linewidths=0.5))
        for c in (0, 1):
            ax.scatter(*D[labels == c].T, s=3, color=CLASS_COLORS[c], label=f"class {c}")
        ax.autoscale_view()
    ax.set_title(f"{title}\n{desc}")
    return ax


def _decision_panel(fig, spec, L):
    ax = fig.add_subplot(*spec)
    X, y, shape = L["data"][0], L["labels"], L["grid_shape"]
    if L["grid"] is None:
        note(ax, "3-D input: no input-plane grid recorded")
        return ax
    logits = L["grid"][-1][-1]
    prob = np.exp(logits[:, 1] - np.logaddexp(logits[:, 0], logits[:, 1])).reshape(shape)
    gx, gy = (L["grid"][0][:, d].reshape(shape) for d in (0, 1))
    ax.contourf(gx, gy, prob, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.35)
    if np.isfinite(prob).all() and prob.min() < 0.5 < prob.max():
        ax.contour(gx, gy, prob, levels=[0.5], colors="k", linewidths=1)
    for c in (0, 1):
        ax.scatter(*X[y == c].T, s=3, color=CLASS_COLORS[c])
    ax.set_title("input: decision boundary\n(p(class 1) = 0.5)")
    return ax


def plot_layers_final(L: dict):
    """Input plane with the decision boundary, then the data and grid after every layer."""
    n = L["n_layers"]
    fig = new_figure(PANEL * (n + 1), PANEL + 0.3)
    _decision_panel(fig, (1, n + 1, 1), L)
    for i in range(n):
        grid = L["grid"][i + 1][-1] if L["grid"] is not None else None
        title = f"layer{i} ({'logits' if i == n - 1 else L['params']['activation']})"
        _panel(fig, (1, n + 1, i + 2), L["data"][i + 1][-1], L["labels"], grid, L["grid_shape"], title)
    p = L["params"]
    fig.suptitle(f"{p['dataset']}, width {p['width']}, {p['activation']}: final model, test acc "
                 f"{L['test_acc'][-1]:.3f}")
    return fig


# ---------------------------------------------------------------- animations


def transform_frames(L: dict, frames_per_phase: int = FRAMES_PER_PHASE) -> list:
    """States of the continuous transformation through the hidden layers of the final model:
    [(points, grid points or None, caption, transition)], one per frame: the input, then per hidden
    layer frames_per_phase steps of the affine map, then as many of the nonlinearity. A transition's
    states are zero-padded to its larger width (the essay's view of a change of dimension)."""
    from ..train.models import ACTIVATIONS
    import torch

    act = ACTIVATIONS[L["params"]["activation"]]() if L["params"]["activation"] else None
    state = [L["data"][0].astype(np.float64)] + ([L["grid"][0].astype(np.float64)] if L["grid"] is not None else [])
    frames = [(state[0], state[1] if len(state) > 1 else None, "input", 0)]
    ts = np.arange(1, frames_per_phase + 1) / frames_per_phase
    for i in range(L["n_layers"] - 1):
        W = L["weights"][i].astype(np.float64)
        b = L["biases"][i].astype(np.float64) if L["biases"] is not None else 0.0
        aff = [h @ W.T + b for h in state]
        out = [act(torch.as_tensor(a)).numpy() for a in aff]
        width = max(W.shape)
        pad = lambda h: np.pad(h, ((0, 0), (0, width - h.shape[1])))  # noqa: E731
        for phase, (start, end) in (("affine", (state, aff)), (L["params"]["activation"], (aff, out))):
            for t in ts:
                hs = [(1 - t) * pad(s) + t * pad(e) for s, e in zip(start, end)]
                frames.append((hs[0], hs[1] if len(hs) > 1 else None, f"layer{i}: {phase} {t:.0%}", i + 1))
        state = out
    return frames


def _animate(fig, ax, frames, draw, path, fps: int) -> Path:
    anim = FuncAnimation(fig, lambda k: draw(ax, frames[k]), frames=len(frames), blit=False)
    anim.save(path, writer=PillowWriter(fps=fps), dpi=fig.dpi)
    return Path(path)


def _draw_state(labels, shape, projections):
    def draw(ax, frame):
        pts, grid, caption, transition = frame[:4]
        proj, desc = projections[transition]
        ax.clear()
        if grid is not None:
            ax.add_collection(LineCollection(grid_segments(proj(grid), shape), colors="0.7", linewidths=0.5))
        D = proj(pts)
        for c in (0, 1):
            ax.scatter(D[labels == c, 0], D[labels == c, 1], s=3, color=CLASS_COLORS[c])
        ax.autoscale_view()
        ax.set_title(f"{caption}\n{desc}", fontsize=8)
    return draw


def _fixed_projection(clouds: list):
    """One 2-D view for a transition: identity for <= 2 dims, else PCA of its states together."""
    d = clouds[0].shape[1]
    if d <= 2:
        return (lambda h: np.c_[h, np.zeros((len(h), 2 - h.shape[1]))]), f"{d} units"
    return pca2(np.concatenate(clouds)), f"PCA of {d} dims"


def animate_transform(L: dict, path, dpi: int = 80, frames_per_phase: int = FRAMES_PER_PHASE) -> Path:
    frames = transform_frames(L, frames_per_phase)
    projections = {k: _fixed_projection([f[0] for f in frames if f[3] == k]) for k in {f[3] for f in frames}}
    fig = new_figure(PANEL * 1.2, PANEL * 1.2, dpi=dpi)
    fig.set_layout_engine("none")
    ax = fig.add_subplot(1, 1, 1)
    return _animate(fig, ax, frames, _draw_state(L["labels"], L["grid_shape"], projections), path, fps=6)


def training_frames(L: dict, max_frames: int = TRAINING_FRAMES) -> list:
    """Snapshot indices of the training animation: evenly spaced, first and last included."""
    n = len(L["epoch"])
    return list(np.unique(np.linspace(0, n - 1, min(n, max_frames)).round().astype(int)))


def animate_training(L: dict, path, dpi: int = 80, max_frames: int = TRAINING_FRAMES) -> Path:
    """The last hidden layer (the logits for depth 0) over training, in the final snapshot's view."""
    i = max(0, L["n_layers"] - 2) + 1  # index in L["data"]: input is 0
    data, grid = L["data"][i], (L["grid"][i] if L["grid"] is not None else None)
    proj2, desc = _fixed_projection([data[-1]])
    frames = [(data[s], None if grid is None else grid[s],
               f"layer{i - 1}, epoch {L['epoch'][s]:.1f}, test acc {L['test_acc'][s]:.2f}", 0)
              for s in training_frames(L, max_frames)]
    fig = new_figure(PANEL * 1.2, PANEL * 1.2, dpi=dpi)
    fig.set_layout_engine("none")
    ax = fig.add_subplot(1, 1, 1)
    return _animate(fig, ax, frames, _draw_state(L["labels"], L["grid_shape"], {0: (proj2, desc)}), path, fps=5)


def run_layer_figures(store_path, outdir, formats=("png",), dpi: int = 120) -> list[Path]:
    """Every per-run layer figure of a toy run into `outdir`; [] for runs without representations."""
    if "repr" not in open_store(store_path, deep=False):
        return []
    L = load_layers(store_path)
    outdir = Path(outdir)
    paths = save(plot_layers_final(L), outdir, "layers_final", formats, dpi)
    paths.append(animate_transform(L, outdir / "layers_transform.gif"))
    paths.append(animate_training(L, outdir / "layers_training.gif"))
    return paths


# ---------------------------------------------------------------- sweep figures

SWEEP_LAYER_FIGURES = ("layers_success", "layers_betti", "layers_separability")


def sweep_layer_frame(tables: dict, sweep_tsv):
    """All runs' layer tables in one frame with each run's dataset label, width and activation.

    tables: {run_id: the run's layer table (a frame: topolearn.analysis.tables, or a path)}. `data`
    labels spirals by their turns.
    """
    sweep = read_sweep_table(sweep_tsv).set_index("run_id")
    parts = []
    for rid, table in tables.items():
        df = table if isinstance(table, pd.DataFrame) else read_table(table)
        if df.empty or rid not in sweep.index:
            continue
        p = sweep.loc[rid]
        data = f"spirals, {p['turns']:g} turns" if p["dataset"] == "spirals" else str(p["dataset"])
        parts.append(df.assign(run_id=rid, data=data, width=p["width"], activation=p["activation"],
                               final=df["snapshot"] == df["snapshot"].max()))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _datasets(df) -> list:
    return sorted(df["data"].unique())


def plot_success(df):
    """Final test accuracy over width x data, one panel per activation: where narrow nets fail."""
    acts = sorted(df["activation"].dropna().unique())
    fig = new_figure(PANEL * 1.3 * len(acts), PANEL)
    last = df[df["final"] & (df["layer"] == "input")]
    for k, act in enumerate(acts):
        ax = fig.add_subplot(1, len(acts), k + 1)
        t = last[last["activation"] == act].pivot_table(index="width", columns="data", values="test_acc")
        t = t.reindex(columns=_datasets(df))
        im = ax.imshow(t.to_numpy(float), vmin=0.5, vmax=1.0, cmap="viridis", aspect="auto")
        ax.set_xticks(range(t.shape[1]), t.columns, rotation=30, ha="right")
        ax.set_yticks(range(t.shape[0]), [str(int(w)) for w in t.index])
        for (r, c), v in np.ndenumerate(t.to_numpy(float)):
            if np.isfinite(v):
                ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=7, color="w" if v < 0.8 else "k")
        ax.set_ylabel("width")
        ax.set_title(f"{act}: final test accuracy")
    fig.colorbar(im, ax=fig.axes, shrink=0.8, label="test accuracy")
    return fig


def _by_position(df, value: str):
    """Mean of `value` per (data, activation, position) at the final snapshot."""
    return df[df["final"]].groupby(["data", "activation", "position"])[value].mean().reset_index()


def plot_betti(df):
    """b0 and b1 (summed over classes) through the layers of the final models, tanh vs relu."""
    data = _datasets(df)
    fig = new_figure(PANEL * len(data), PANEL * 1.6)
    for row, value in enumerate(("b0", "b1")):
        m = _by_position(df, value)
        for col, d in enumerate(data):
            ax = fig.add_subplot(2, len(data), row * len(data) + col + 1)
            for k, (act, g) in enumerate(m[m["data"] == d].groupby("activation")):
                ax.plot(g["position"], g[value], marker="o", color=COLORBLIND[k + 2], label=act)
            ax.set_xlabel("layer position (0 = input)")
            ax.set_ylabel(f"{value} (both classes)")
            ax.set_title(d)
            if row == 0 and col == 0:
                ax.legend()
    fig.suptitle("Betti numbers of the class clouds through the layers (final models, mean over runs)")
    return fig


def plot_separability(df):
    """Linear separability of each layer of the final models, per width, one panel per activation x data."""
    data, acts = _datasets(df), sorted(df["activation"].dropna().unique())
    fig = new_figure(PANEL * len(data), PANEL * len(acts))
    widths = sorted(df["width"].dropna().unique())
    colors = dict(zip(widths, COLORBLIND[2:] + COLORBLIND[:2]))
    last = df[df["final"]]
    for r, act in enumerate(acts):
        for c, d in enumerate(data):
            ax = fig.add_subplot(len(acts), len(data), r * len(data) + c + 1)
            sel = last[(last["activation"] == act) & (last["data"] == d)]
            for w, g in sel.groupby("width"):
                g = g.groupby("position")["separability"].mean()
                ax.plot(g.index, g.to_numpy(), marker="o", color=colors[w], label=f"width {int(w)}")
            ax.set_ylim(0.4, 1.02)
            ax.set_title(f"{d}, {act}")
            ax.set_xlabel("layer position (0 = input)")
            ax.set_ylabel("separability")
            if r == 0 and c == 0:
                ax.legend(fontsize=7)
    return fig


def render_layer_sweep(tables: dict, sweep_tsv, outdir, formats=("png",), dpi: int = 120) -> list[Path]:
    """SWEEP_LAYER_FIGURES into `outdir`; a figure with a note when no run has a layer table."""
    df = sweep_layer_frame(tables, sweep_tsv)
    paths = []
    for name, plot in zip(SWEEP_LAYER_FIGURES, (plot_success, plot_betti, plot_separability)):
        if df.empty:
            fig = new_figure(PANEL, PANEL)
            note(fig.add_subplot(1, 1, 1), "no toy-data runs in this sweep")
        else:
            fig = plot(df)
        paths += save(fig, outdir, name, formats, dpi)
    return paths
