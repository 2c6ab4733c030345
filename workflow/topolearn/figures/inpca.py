"""InPCA sweep figures: trajectories and landmarks (`inpca`), the embedding coloured by each swept
factor (`inpca_factors`), the spectrum and explained stress (`inpca_spectrum`), and weights against
predictions (`inpca_progress`: first splits of the learning graphs in progress units, accuracy
against `figures.time_axis`), and which swept factors move trajectories beyond the seed
(`inpca_separation`, from inpca/factors.tsv). Every other figure reads results/inpca/{coords,stress}.tsv
and summary.tsv.
"""

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba_array

from ..sweep.table import varied_fields
from . import bands, theme
from .labels import run_labels

FACTORS = ("init", "lr", "batch_size", "depth", "width", "optimizer", "seed")
LOG_FACTORS = ("lr", "batch_size", "width")
MAX_LEGEND_RUNS = 10
MAX_2D_POINTS, MAX_3D_POINTS = 200_000, 50_000
TIME_LABEL = {"epoch": "epoch", "progress": "progress ignorance \u2192 truth"}


def _groups(coords: pd.DataFrame) -> list:
    return list(pd.unique(coords["group"])) if len(coords) else []  # in order of first appearance


def _runs(pts: pd.DataFrame, order: str) -> dict:
    """{run id: its checkpoint rows sorted by `order`}, runs in order of first appearance."""
    # one stable sort of all rows, not one per run: the same rows, seconds faster with 10,000 runs
    by_run = dict(tuple(pts.sort_values(order, kind="stable").groupby("run_id", sort=False)))
    return {rid: by_run[rid] for rid in pd.unique(pts["run_id"])}


def _dim_label(j: int, ev: pd.Series) -> str:
    lam = ev.get(j, np.nan)
    return f"InPCA {j} ({'time-like, ' if lam < 0 else ''}\u03bb={lam:.2g})"


def _landmarks(ax2, ax3, c: pd.DataFrame, has3: bool) -> None:
    for kind, marker in (("ignorance", "X"), ("truth", "*")):
        lm = c[c["kind"] == kind]
        ax2.scatter(lm["inpca1"], lm["inpca2"], marker=marker, s=90, color="0.1", zorder=3)
        for _, row in lm.iterrows():
            ax2.annotate(kind, (row["inpca1"], row["inpca2"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
        if ax3 is not None:
            ax3.scatter(lm["inpca1"], lm["inpca2"], lm["inpca3"] if has3 else 0, marker=marker, s=60, color="0.1")


def plot_inpca(coords: pd.DataFrame, stress: pd.DataFrame, summary: pd.DataFrame):
    """Per group: trajectories in the top 2 and 3 dimensions, and progress against epoch."""
    groups = _groups(coords) or ["none"]
    fig = theme.new_figure(3 * theme.PANEL + 2.2, theme.PANEL * len(groups) + 0.3)
    labels = run_labels(summary) if len(summary) else {}
    for g, group in enumerate(groups):
        ax2 = fig.add_subplot(len(groups), 3, 3 * g + 1)
        axp = fig.add_subplot(len(groups), 3, 3 * g + 2)
        ax3 = theme.add_3d(fig, len(groups), 3, 3 * g + 3)
        c = coords[coords["group"] == group]
        pts = c[c["kind"] == "checkpoint"]
        if pts.empty or "inpca2" not in c:
            for ax in (ax2, ax3, axp):
                theme.note(ax, "no finite predictions to embed")
            continue
        has3 = "inpca3" in c
        by_run = _runs(pts, "epoch")
        runs = list(by_run)
        if len(runs) > bands.MANY_RUNS:
            _many_trajectories(fig, ax2, ax3, axp, pts, by_run, has3)
        else:
            colors = theme.palette(len(by_run))
            xy = [r[["inpca1", "inpca2"]].to_numpy() for r in by_run.values()]
            names = [labels.get(rid, rid) for rid in runs]
            coll = theme.draw_lines(ax2, xy, colors, lw=0.8, labels=names)
            ax2.scatter(*np.concatenate(xy).T, s=4, lw=0, rasterized=len(runs) > 50,
                        c=to_rgba_array(colors)[np.repeat(np.arange(len(xy)), [len(a) for a in xy])])
            theme.draw_lines(ax3, [np.column_stack([a, r["inpca3"] if has3 else np.zeros(len(a))])
                                   for a, r in zip(xy, by_run.values())], colors, lw=0.8)
            theme.draw_lines(axp, [r[["epoch", "progress"]].to_numpy() for r in by_run.values()], colors)
        _landmarks(ax2, ax3, c, has3)
        s = stress[stress["group"] == group].set_index("dim")["explained_stress"]
        ev = stress[stress["group"] == group].set_index("dim")["eigenvalue"]
        ax2.set(xlabel=_dim_label(1, ev), ylabel=_dim_label(2, ev))
        ax2.set_title(f"{group}: top 2 explain {100 * s.get(2, np.nan):.0f} % of stress", fontsize=9, loc="left")
        ax3.set(xlabel="InPCA 1", ylabel="InPCA 2", zlabel="InPCA 3")
        ax3.set_title(f"top 3: {100 * s.get(3, np.nan):.0f} % of stress", fontsize=9)
        axp.set(xlabel="epoch", ylabel=TIME_LABEL["progress"], ylim=(-0.02, 1.02))
        axp.set_title("progress along the geodesic", fontsize=9)
        if len(runs) <= MAX_LEGEND_RUNS:
            ax2.legend(handles=coll.legend_proxies, fontsize=6, frameon=False, loc="best")
    fig.suptitle("InPCA of prediction trajectories (Bhattacharyya distance on the probe set)", fontsize=10)
    return fig


def _many_trajectories(fig, ax2, ax3, axp, pts: pd.DataFrame, by_run: dict, has3: bool) -> None:
    """Many runs: checkpoint density (log-count hexbin, rasterized: the vector file stays small
    whatever the checkpoint count) with the runs of highest, median and lowest final progress drawn
    over it and labelled by run id; MANY_RUNS evenly chosen trajectories in 3-D; progress against
    epoch as quantile bands."""
    hb = ax2.hexbin(pts["inpca1"], pts["inpca2"], gridsize=60, bins="log", mincnt=1, cmap="Blues", linewidths=0)
    hb.set_rasterized(True)
    theme.epoch_colorbar(fig, hb, ax2, label="checkpoints")
    final = {rid: float(r["progress"].iloc[-1]) for rid, r in by_run.items()}
    for (how, rid), color in zip(bands.highlights(final).items(), theme.COLORBLIND[1:4]):
        r = by_run[rid]
        ax2.plot(r["inpca1"], r["inpca2"], color=color, lw=0.9)
        ax2.annotate(f"{how} {rid}", (r["inpca1"].iloc[-1], r["inpca2"].iloc[-1]), fontsize=5, color=color,
                     textcoords="offset points", xytext=(2, 0))
        axp.plot(r["epoch"], r["progress"], color=color, lw=0.6, ls=":")
    runs = list(by_run.values())
    shown = [runs[i] for i in np.linspace(0, len(runs) - 1, bands.MANY_RUNS).round().astype(int)]
    theme.draw_lines(ax3, [r[["inpca1", "inpca2"]].assign(z=r["inpca3"] if has3 else 0.0).to_numpy()
                           for r in shown], theme.palette(len(shown)), lw=0.5)
    ax3.text2D(0.0, 1.0, f"{len(shown)} of {len(runs)} runs", transform=ax3.transAxes, fontsize=6)
    curves = [(r["epoch"], r["progress"]) for r in runs]
    grid = bands.common_grid(curves)
    bands.draw_bands(axp, grid, bands.on_grid(curves, grid), theme.COLORBLIND[0])
    ax2.text(0.98, 0.02, f"{len(runs)} runs, {len(pts)} checkpoints", transform=ax2.transAxes, ha="right", fontsize=6)


def swept_factors(summary: pd.DataFrame) -> list[str]:
    """The factors of FACTORS that the sweep varies (more than one value)."""
    return varied_fields(summary, FACTORS)


def _factor_colors(values: pd.Series, factor: str):
    """(colors per point, legend handles or a colorbar mappable) for one factor."""
    import matplotlib as mpl

    levels = sorted(values.dropna().unique(), key=lambda v: (isinstance(v, str), v))
    numeric = factor not in ("init", "optimizer") and len(levels) > 6
    if numeric:
        norm = (mpl.colors.LogNorm if factor in LOG_FACTORS and min(levels) > 0 else mpl.colors.Normalize)(
            min(levels), max(levels))
        sm = mpl.cm.ScalarMappable(norm=norm, cmap=theme.EPOCH_CMAP)
        v = pd.to_numeric(values, errors="coerce").to_numpy(float)
        rgba = sm.to_rgba(np.where(np.isnan(v), min(levels), v))
        rgba[np.isnan(v)] = (0.6, 0.6, 0.6, 1)
        return rgba, sm
    cmap = dict(zip(levels, theme.palette(len(levels))))
    handles = [mpl.lines.Line2D([], [], ls="", marker="o", color=c, label=f"{v:g}" if isinstance(v, float) else str(v))
               for v, c in cmap.items()]
    return [cmap.get(v, "0.6") for v in values], handles


def plot_inpca_factors(coords: pd.DataFrame, stress: pd.DataFrame, summary: pd.DataFrame):
    """The largest group's checkpoints in 2-D and 3-D, one row per swept factor, coloured by it."""
    factors = swept_factors(summary) if len(summary) else []
    rows = max(len(factors), 1)
    fig = theme.new_figure(2 * theme.PANEL + 1.6, theme.PANEL * rows + 0.3)
    pts = coords[coords["kind"] == "checkpoint"] if len(coords) else coords
    group = pts["group"].value_counts().index[0] if len(pts) else None
    if group is None or "inpca2" not in coords or not factors:
        theme.note(fig.add_subplot(1, 1, 1), "no embedded checkpoints" if group is None or "inpca2" not in coords
                   else "the sweep varies none of: " + ", ".join(FACTORS))
        return fig
    c = coords[coords["group"] == group]
    p = c[c["kind"] == "checkpoint"].merge(summary[["run_id", *factors]].astype({"run_id": str}), on="run_id",
                                           how="left")
    has3 = "inpca3" in p
    # An even sample of checkpoints keeps a million of them to seconds (the Agg markers, and the
    # 3-D depth sort on every draw, cost time by the point; at panel size more points only saturate)
    in2, in3 = (np.unique(np.linspace(0, len(p) - 1, min(len(p), m)).round().astype(int))
                for m in (MAX_2D_POINTS, MAX_3D_POINTS))
    for i, f in enumerate(factors):
        ax2 = fig.add_subplot(rows, 2, 2 * i + 1)
        ax3 = theme.add_3d(fig, rows, 2, 2 * i + 2)
        colors, key = _factor_colors(p[f], f)
        q2, q3 = p.iloc[in2], p.iloc[in3]
        ax2.scatter(q2["inpca1"], q2["inpca2"], c=np.asarray(colors)[in2], s=3, lw=0, rasterized=True)
        ax3.scatter(q3["inpca1"], q3["inpca2"], q3["inpca3"] if has3 else 0, c=np.asarray(colors)[in3], s=2, lw=0,
                    rasterized=True)
        for ax, shown in ((ax2, in2), (ax3, in3)):
            if len(shown) < len(p):
                getattr(ax, "text2D", ax.text)(0.0, 1.0, f"{len(shown)} of {len(p)} checkpoints (even sample)",
                                               transform=ax.transAxes, fontsize=6)
        _landmarks(ax2, ax3, c, has3)
        ax2.set(xlabel="InPCA 1", ylabel="InPCA 2")
        ax2.set_title(f"coloured by {f}", fontsize=9, loc="left")
        ax3.set(xlabel="InPCA 1", ylabel="InPCA 2", zlabel="InPCA 3")
        if isinstance(key, list):
            ax2.legend(handles=key, title=f, fontsize=6, title_fontsize=7, frameon=False,
                       loc="best" if len(in2) <= 20_000 else "upper right")  # "best" costs seconds per 100k points
        else:
            theme.epoch_colorbar(fig, key, ax3, label=f)
    fig.suptitle(f"InPCA embedding of {group} by swept factor ({len(p)} checkpoints)", fontsize=10)
    return fig


def plot_inpca_spectrum(stress: pd.DataFrame):
    """Per group: |eigenvalue| against rank (negative, time-like ones in red) and explained stress
    against the number of dimensions k."""
    groups = list(dict.fromkeys(stress["group"])) if len(stress) else []
    fig = theme.new_figure(2 * theme.PANEL + 0.8, theme.PANEL)
    ax_l, ax_s = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    if not groups:
        for ax in (ax_l, ax_s):
            theme.note(ax, "no embedding")
        return fig
    for group, color in zip(groups, theme.palette(len(groups))):
        s = stress[stress["group"] == group]
        neg = s["eigenvalue"] < 0
        ax_l.plot(s["dim"], s["eigenvalue"].abs(), "-", color=color, lw=1, label=group)
        ax_l.scatter(s.loc[~neg, "dim"], s.loc[~neg, "eigenvalue"].abs(), s=10, color=color, zorder=3)
        ax_l.scatter(s.loc[neg, "dim"], s.loc[neg, "eigenvalue"].abs(), s=16, marker="v", color="C3", zorder=4,
                     label="negative (time-like)" if group == groups[0] else None)
        ax_s.plot(s["dim"], s["explained_stress"], "-o", ms=2, color=color, lw=1,
                  label=f"{group} ({s['method'].iloc[0] if 'method' in s else 'exact'})")
    ax_l.set(yscale="log", xlabel="rank k (by |\u03bb|)", ylabel="|\u03bb|", title="eigenvalue spectrum")
    ax_s.set(xlabel="dimensions k", ylabel="explained stress", ylim=(0, 1.02), title="explained stress of the top k")
    ax_l.legend(fontsize=6, frameon=False)
    ax_s.legend(fontsize=6, frameon=False, loc="lower right")
    return fig


def plot_inpca_progress(coords: pd.DataFrame, summary: pd.DataFrame, time_axis: str = "epoch"):
    """Weights against predictions: the progress at each run's first output-layer split against the
    first hidden-layer split (summary's layer{i}_first_split_progress), and every run's test accuracy
    against `time_axis` with its first splits marked."""
    fig = theme.new_figure(2 * theme.PANEL + 1.2, theme.PANEL)
    ax_s, ax_a = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    splits = _first_splits(summary)
    if splits.empty or splits[["hidden", "output"]].isna().all().all():
        theme.note(ax_s, "no branching events in progress units\n(summary without InPCA columns, or no splits)")
    else:
        ax_s.scatter(splits["hidden"], splits["output"], color=theme.palette(1)[0],
                     **bands.scatter_kws(len(splits), s=14))
        ax_s.plot([0, 1], [0, 1], ":", color="0.5", lw=0.8)
        ax_s.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
    ax_s.set(xlabel="first hidden-layer split (progress)", ylabel="first output-layer split (progress)",
             title="where the learning graphs branch")
    pts = coords[coords["kind"] == "checkpoint"] if len(coords) else coords
    if pts.empty:
        theme.note(ax_a, "no embedded checkpoints")
        return fig
    by_run = _runs(pts, "snapshot")
    if len(by_run) > bands.MANY_RUNS:  # splits of thousands of runs would hide the bands: left out
        curves = [(r[time_axis], r["test_acc"]) for r in by_run.values()]
        grid = bands.common_grid(curves)
        bands.draw_bands(ax_a, grid, bands.on_grid(curves, grid), theme.COLORBLIND[0])
        ax_a.set(xlabel=TIME_LABEL[time_axis], ylabel="test accuracy", ylim=(0, 1.02),
                 title=f"accuracy of {len(by_run)} runs: median, 25-75 %, 5-95 %")
        fig.suptitle("Weights and predictions on one clock: geodesic progress ignorance \u2192 truth", fontsize=10)
        return fig
    colors = theme.palette(len(by_run))
    theme.draw_lines(ax_a, [r[[time_axis, "test_acc"]].to_numpy() for r in by_run.values()], colors, lw=0.8)
    for (rid, r), color in zip(by_run.items(), colors):
        s = splits.loc[rid] if rid in splits.index else None
        if s is not None and time_axis == "progress":
            for col, marker in (("hidden", "o"), ("output", "s")):
                if pd.notna(s[col]):
                    ax_a.plot(s[col], np.interp(s[col], r["progress"], r["test_acc"]), marker, color=color, ms=4,
                              mfc="none")
    ax_a.set(xlabel=TIME_LABEL[time_axis], ylabel="test accuracy", ylim=(0, 1.02),
             title="accuracy (splits: \u25cb hidden, \u25a1 output)" if time_axis == "progress" else "accuracy")
    fig.suptitle("Weights and predictions on one clock: geodesic progress ignorance \u2192 truth", fontsize=10)
    return fig


def _first_splits(summary: pd.DataFrame) -> pd.DataFrame:
    """Per run: progress at the first split of the output layer and of the earliest hidden layer."""
    if summary is None or summary.empty or "n_layers" not in summary:
        return pd.DataFrame(columns=["hidden", "output"])
    rows = {}
    for _, r in summary.iterrows():
        n = r["n_layers"]
        if pd.isna(n):
            continue
        col = [r.get(f"layer{i}_first_split_progress", np.nan) for i in range(int(n))]
        hidden = pd.Series(col[:-1], dtype=float).min() if len(col) > 1 else np.nan
        rows[r["run_id"]] = {"hidden": hidden, "output": float(pd.to_numeric(col[-1], errors="coerce"))}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["hidden", "output"])


def plot_inpca_separation(factors: pd.DataFrame | None):
    """Per swept factor (and probe group): between-level over between-seed trajectory distance at
    matched progress, with its bootstrap interval over seeds, on a log axis with a line at 1."""
    fig = theme.new_figure(theme.PANEL + 1.6, theme.PANEL)
    ax = fig.add_subplot()
    d = factors.dropna(subset=["ratio"]) if factors is not None and len(factors) else pd.DataFrame()
    d = d[d["ratio"] > 0] if len(d) else d
    if d.empty:
        theme.note(ax, "no factor separation table" if factors is None else
                   "no ratio: no factor varies alone\nwith more than one seed per level")
        return fig
    groups = list(dict.fromkeys(d["group"]))
    label = (lambda r: r["factor"]) if len(groups) == 1 else (lambda r: f"{r['factor']} ({r['group']})")
    y = np.arange(len(d))[::-1]
    colors = theme.palette(max(len(groups), 1))
    for yi, (_, r) in zip(y, d.iterrows()):
        c = colors[groups.index(r["group"])]
        lo, hi = r["ci_low"], r["ci_high"]
        if np.isfinite(lo) and np.isfinite(hi) and lo > 0:
            ax.plot([lo, hi], [yi, yi], "-", color=c, lw=1.5)
        ax.plot(r["ratio"], yi, "o", color=c, ms=5)
    ax.axvline(1, color="0.5", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(y, [f"{label(r)}: {int(r['n_levels'])} levels" for _, r in d.iterrows()], fontsize=7)
    ax.set(xlabel="between-level / between-seed distance (matched progress)", ylim=(-0.7, len(d) - 0.3))
    ax.set_title("which factors move trajectories (95 % bootstrap over seeds)", fontsize=9, loc="left")
    return fig


def inpca_figures(coords: pd.DataFrame, stress: pd.DataFrame, summary: pd.DataFrame, time_axis: str = "epoch",
                  factors: pd.DataFrame | None = None) -> dict:
    """{figure name: draw()} of the InPCA sweep figures, for theme.render_all (`factors`:
    inpca/factors.tsv; None: the separation figure says it is missing)."""
    return {"inpca": lambda: plot_inpca(coords, stress, summary),
            "inpca_factors": lambda: plot_inpca_factors(coords, stress, summary),
            "inpca_spectrum": lambda: plot_inpca_spectrum(stress),
            "inpca_progress": lambda: plot_inpca_progress(coords, summary, time_axis),
            "inpca_separation": lambda: plot_inpca_separation(factors)}
