"""One look for every topolearn figure: seaborn's paper theme, colorblind-safe palettes, fixed sizes.

Figures are saved with a fixed canvas (no tight bounding box) so that a figure's pixel size is
known in advance (`expected_size`): layout is left to matplotlib's constrained layout instead.
"""

import logging
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: rules run on cluster nodes without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

log = logging.getLogger(__name__)
logging.getLogger("matplotlib.category").setLevel(logging.WARNING)  # swept values as category labels are fine
EPOCH_CMAP = "viridis"  # perceptually uniform and colorblind-safe: time (epochs)
WEIGHT_CMAP = "RdBu_r"  # diverging ColorBrewer map, colorblind-safe: signed weights
PANEL = 3.2  # inches per panel side
NOTE_STYLE = dict(ha="center", va="center", fontsize=9, color="0.35", wrap=True)
# seaborn's "colorblind" palette (Wong 2011 based), written out so per-run figures need no seaborn
COLORBLIND = ["#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4", "#949494",
              "#ece133", "#56b4e9"]
# seaborn's set_theme(context="paper", style="ticks", palette="colorblind"), as plain rcParams:
# importing seaborn (and scipy.stats with it) costs seconds per figure job.
STYLE = {
    "axes.axisbelow": True, "axes.edgecolor": ".15", "axes.labelcolor": ".15", "axes.labelsize": 9.6,
    "axes.linewidth": 1.0, "axes.titlesize": 9.6, "axes.prop_cycle": plt.cycler(color=COLORBLIND),
    "axes.spines.top": False, "axes.spines.right": False, "font.size": 9.6, "grid.color": ".8",
    "image.cmap": EPOCH_CMAP, "legend.fontsize": 8.8, "legend.title_fontsize": 9.6, "lines.linewidth": 1.2,
    "lines.markersize": 4.8, "lines.solid_capstyle": "round", "patch.edgecolor": "w",
    "patch.force_edgecolor": True, "patch.linewidth": 0.8, "text.color": ".15",
    "xtick.color": ".15", "xtick.labelsize": 8.8, "xtick.major.size": 4.8, "xtick.major.width": 1.0,
    "xtick.minor.size": 3.2, "xtick.minor.width": 0.8, "ytick.color": ".15", "ytick.labelsize": 8.8,
    "ytick.major.size": 4.8, "ytick.major.width": 1.0, "ytick.minor.size": 3.2, "ytick.minor.width": 0.8,
    "svg.fonttype": "none",  # text stays text in SVG: smaller, searchable, editable
    "svg.hashsalt": "topolearn",  # stable element ids: same data, same SVG
}


def apply_theme() -> None:
    plt.rcParams.update(STYLE)


def palette(n: int) -> list:
    """n distinguishable colorblind-safe colors: the colorblind set, else viridis samples."""
    if n <= len(COLORBLIND):
        return COLORBLIND[:n]
    return [tuple(c) for c in plt.get_cmap(EPOCH_CMAP)(np.linspace(0, 0.95, n))]


def draw_lines(ax, lines: list, colors, lw: float = 1.0, styles=None, labels=None, rasterize_over: int = 50):
    """Many polylines ((k, 2) arrays, or (k, 3) on a 3-D axes) as one line collection.

    One artist for all of a sweep's runs: a thousand `ax.plot` calls dominated the sweep figures'
    time and made vector files of megabytes. With `labels`, legend proxies are attached."""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D
    from mpl_toolkits.mplot3d.art3d import Line3DCollection

    lines = [np.asarray(xy, dtype=float) for xy in lines]
    three = bool(lines) and lines[0].shape[1] == 3
    coll = (Line3DCollection if three else LineCollection)(lines, colors=colors, linewidths=lw,
                                                           linestyles=styles if styles is not None else "solid")
    coll.set_rasterized(len(lines) > rasterize_over)
    if three:
        ax.add_collection3d(coll)
        pts = np.concatenate(lines) if lines else np.zeros((1, 3))
        ax.auto_scale_xyz(pts[:, 0], pts[:, 1], pts[:, 2])
    else:
        ax.add_collection(coll)
        ax.autoscale_view()
    if labels is not None:
        coll.legend_proxies = [Line2D([], [], color=c, ls=st, lw=lw, label=lab)
                               for c, st, lab in zip(colors, styles or ["-"] * len(lines), labels)]
    return coll


def layer_colors(n: int) -> list:
    """Colors for layers, from the colorblind set minus blue (curves) and vermilion (divergence)."""
    picks = [COLORBLIND[i] for i in (1, 2, 4, 9, 5, 7, 6, 8)]
    return picks[:n] if n <= len(picks) else palette(n)


def new_figure(width: float, height: float, **kw):
    apply_theme()
    return plt.figure(figsize=(width, height), layout="constrained", **kw)


def add_3d(fig, *grid):
    """A 3-D subplot shrunk inside its cell: constrained layout does not see 3-D axis labels."""
    ax = fig.add_subplot(*grid, projection="3d")
    ax.set_box_aspect(None, zoom=0.82)
    ax.tick_params(labelsize=6)
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_major_locator(MaxNLocator(4))
    return ax


def expected_size(fig_or_size, dpi: int) -> tuple[int, int]:
    """(width, height) in pixels of a saved PNG."""
    w, h = fig_or_size.get_size_inches() if hasattr(fig_or_size, "get_size_inches") else fig_or_size
    return int(round(w * dpi)), int(round(h * dpi))


def note(ax, text: str) -> None:
    """Replace an empty panel's content by a short explanation (diverged run, empty graph...)."""
    put = getattr(ax, "text2D", ax.text)  # 3-D axes place axes-fraction text with text2D
    put(0.5, 0.5, text, transform=ax.transAxes, **NOTE_STYLE)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def epoch_colorbar(fig, mappable, ax, label: str = "epoch"):
    cb = fig.colorbar(mappable, ax=ax, shrink=0.85, pad=0.02)
    cb.set_label(label)
    return cb


def save(fig, outdir, name: str, formats, dpi: int) -> list[Path]:
    """Write `name.{fmt}` for every format; large scatter layers are rasterized in vector files."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = outdir / f"{name}.{fmt}"
        fig.savefig(path, dpi=dpi, format=fmt, metadata=_metadata(fmt))
        fig.set_layout_engine("none")  # keep the first layout: constrained layout is the slow part
        paths.append(path)
    plt.close(fig)
    return paths


def render_all(figs: dict, names, outdir, formats, dpi: int) -> list[Path]:
    """Draw and save every named figure (`figs[name]()` makes it), logging the time each took."""
    paths = []
    for name in names:
        t0 = time.perf_counter()
        paths += save(figs[name](), outdir, name, formats, dpi)
        log.info("%s: %.2f s", name, time.perf_counter() - t0)
    return paths


def _metadata(fmt: str) -> dict:
    # No creation dates: re-rendering the same data gives byte-identical vector files.
    return {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt, {})


def finite_rows(a: np.ndarray) -> np.ndarray:
    """Boolean mask over the first axis: rows without NaN/inf."""
    return np.isfinite(a.reshape(len(a), -1)).all(axis=1)
