"""Figures of the circle of edge filters (topolearn.learning_graphs.circle), one cell at a time:
the H1 lifetimes over training beside test accuracy, and the filtered filter cloud in its first two
principal components at a few snapshots, with filter images drawn around it ordered by angle."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..learning_graphs import circle
from . import theme
from .runs import pca

CLOUD_SNAPSHOTS = 4  # panels of the cloud figure, spread over training (the last included)
RING = 12  # filter images drawn around each cloud


def plot_lifetimes(cell: str, table: pd.DataFrame, settings: dict):
    """Longest and second-longest H1 lifetime per snapshot, the threshold, the circle's date; the
    cell's mean test accuracy on a second axis."""
    fig = theme.new_figure(2 * theme.PANEL + 0.8, theme.PANEL)
    ax = fig.add_subplot()
    if table.empty:
        theme.note(ax, f"cell {cell}: no snapshot")
        return fig
    ax.plot(table["epoch"], table["longest"], "-o", ms=3, label="longest H1 bar")
    ax.plot(table["epoch"], table["second"], "-o", ms=3, color="0.6", label="second")
    ax.axhline(settings["threshold"], ls=":", color="0.3", lw=0.8, label=f"threshold {settings['threshold']:g}")
    at = circle.circle_date(table)
    if at is not None:
        ax.axvline(table["epoch"].iloc[at], color="C3", lw=1, label=f"circle from epoch {table['epoch'].iloc[at]:.2f}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("H1 lifetime (unit-norm filters)")
    acc = ax.twinx()
    acc.plot(table["epoch"], table["test_acc"], color="C2", lw=1, alpha=0.7)
    acc.set_ylabel("test accuracy (mean over seeds)", color="C2")
    acc.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="upper left", frameon=False)
    fig.suptitle(f"Circle of first-layer filters, cell {cell} ({int(table['n_runs'].max())} seeds)", fontsize=9)
    return fig


def cloud_snapshots(n: int, k: int = CLOUD_SNAPSHOTS) -> list[int]:
    return sorted(set(np.linspace(0, n - 1, min(k, n)).round().astype(int).tolist())) if n else []


def ring_picks(xy: np.ndarray, n: int = RING) -> list[int]:
    """Points nearest to n evenly spaced angles around the cloud's centre, in angle order."""
    if not len(xy):
        return []
    angle = np.arctan2(xy[:, 1], xy[:, 0])
    picks = [int(np.abs(np.angle(np.exp(1j * (angle - a)))).argmin()) for a in np.linspace(-np.pi, np.pi, n, endpoint=False)]
    return list(dict.fromkeys(picks))


def plot_cloud(cell: str, runs: list, table: pd.DataFrame, settings: dict):
    """The filtered cloud in its first two principal components at a few snapshots, each with the
    kernels nearest to evenly spaced angles drawn around it (a circle of edge filters shows edges
    turning once around)."""
    snaps = cloud_snapshots(len(table))
    fig = theme.new_figure(theme.PANEL * 1.2 * max(len(snaps), 1) + 0.4, theme.PANEL * 1.3)
    if not snaps:
        theme.note(fig.add_subplot(), f"cell {cell}: no snapshot")
        return fig
    axes = fig.subplots(1, len(snaps), squeeze=False)[0]
    for ax, s in zip(axes, snaps):
        clouds = [circle.kernels(w[s], shape) for w, shape, _ in runs if np.isfinite(w[s]).all()]
        kept, _, _ = circle.filtered_cloud(clouds, settings)
        row = table.iloc[s]
        ax.set_title(f"epoch {row['epoch']:.2f}\nH1 {row['longest']:.2f} / {row['second']:.2f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        if len(kept) < 3:
            theme.note(ax, "too few filters")
            continue
        xy, _ = pca(kept, 2)
        if xy.shape[1] < 2:
            xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
        r = float(np.abs(xy).max()) or 1.0
        ax.scatter(xy[:, 0], xy[:, 1], s=6, color="C0", alpha=0.6, lw=0)
        side = int(round(np.sqrt(kept.shape[1])))
        for j in ring_picks(xy):
            a = np.arctan2(xy[j, 1], xy[j, 0])
            cx, cy = 1.45 * r * np.cos(a), 1.45 * r * np.sin(a)
            img = kept[j].reshape(side, side) if side * side == kept.shape[1] else kept[j][None]
            vmax = float(np.abs(img).max()) or 1.0
            ax.imshow(img, cmap=theme.WEIGHT_CMAP, vmin=-vmax, vmax=vmax, interpolation="nearest",
                      extent=(cx - 0.2 * r, cx + 0.2 * r, cy - 0.2 * r, cy + 0.2 * r), zorder=3)
        ax.set_xlim(-1.75 * r, 1.75 * r)
        ax.set_ylim(-1.75 * r, 1.75 * r)
        ax.set_aspect("equal")
        ax.set_xlabel("PC1 (filtered cloud)", fontsize=7)
    fig.suptitle(f"First-layer filters pooled over seeds, cell {cell}: density-filtered cloud and kernels by angle",
                 fontsize=9)
    return fig


def render_cell(cell: str, stores, run_ids: list[str], settings: dict, table_out, runs_out, figdir,
                formats=("png",), dpi: int = 120) -> pd.DataFrame:
    """The circle rule's entry point: table, per-run rows and both figures of one cell."""
    settings = {**circle.CIRCLE_DEFAULTS, **settings}
    runs = circle.load_runs(stores, settings["layer"])
    table = circle.cell_table(cell, runs, settings)
    from ..utils.tables import write_tsv

    write_tsv(table, table_out)
    write_tsv(circle.run_rows(cell, run_ids, table), runs_out)
    figs = {"circle_lifetimes": lambda: plot_lifetimes(cell, table, settings),
            "circle_cloud": lambda: plot_cloud(cell, runs, table, settings)}
    theme.render_all(figs, list(figs), Path(figdir), formats, dpi)
    plt.close("all")
    return table
