"""Sweep figures: branch counts against the swept parameters, first branching against accuracy
jumps, final accuracy against branch counts, every run's accuracy curve; the InPCA figures are drawn
by figures/inpca.py.

Diverged runs and empty learning graphs are left out of the branch statistics with a note on the
figure; diverged runs' curves are drawn dashed.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from ..learning_graphs.baselines import BASELINES, correlations
from ..sweep.points import POINT_DEFAULTS
from ..store.fastread import read_arrays
from ..results.summary import read_summary, summary_long
from ..utils.tables import read_tsv
from . import SWEEP_FIGURES, bands, theme
from .inpca import inpca_figures
from .labels import run_labels, value_label, varied_fields

MAIN_AXES = ("lr", "batch_size", "depth", "init")  # always shown, even with a single value
MAX_LEGEND_RUNS = 10


def _role_order(long: pd.DataFrame) -> list[str]:
    hidden = sorted({r for r in long["layer_role"] if r != "output"}, key=lambda r: int(r.split()[-1]))
    return hidden + (["output"] if (long["layer_role"] == "output").any() else [])


def usable_layers(summary: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """(run, layer) rows fit for branch statistics, and a note on what was left out."""
    long = summary_long(summary)
    bad_run = long["diverged"].fillna(False).astype(bool)
    empty = long["empty"].fillna(False).astype(bool)
    keep = long[~bad_run & ~empty]
    notes = []
    if bad_run.any():
        notes.append(f"{long.loc[bad_run, 'run_id'].nunique()} diverged run(s) left out")
    if (empty & ~bad_run).any():
        notes.append(f"{int((empty & ~bad_run).sum())} empty learning graph(s) left out")
    return keep, "; ".join(notes)


def _footnote(fig, text: str) -> None:
    if text:  # supxlabel: constrained layout keeps room for it below the axes
        fig.supxlabel(text, fontsize=7, color="C3", x=0.01, ha="left")


# ---------------------------------------------------------------- branch statistics


def plot_branches_vs_params(summary: pd.DataFrame):
    axes_fields = list(MAIN_AXES) + [f for f in varied_fields(summary) if f not in MAIN_AXES]
    fig = theme.new_figure(theme.PANEL * len(axes_fields) + 0.6, theme.PANEL + 0.4)
    axes = np.atleast_1d(fig.subplots(1, len(axes_fields), sharey=True))
    data, left_out = usable_layers(summary)
    order = _role_order(data) if len(data) else []
    colors = dict(zip(order, theme.layer_colors(len(order))))
    for ax, field in zip(axes, axes_fields):
        d = data.dropna(subset=["branches"]).assign(_x=lambda x: x[field].map(value_label))
        if d.empty:
            theme.note(ax, "no branch counts\n(all runs diverged or graphs empty)")
            ax.set_title(field, fontsize=9)
            continue
        values = sorted(d[field].dropna().unique(), key=lambda v: (isinstance(v, str), v))
        x_order = [value_label(v) for v in values] + (["NA"] if d[field].isna().any() else [])
        sns.pointplot(d, x="_x", y="branches", hue="layer_role", order=x_order, hue_order=order, palette=colors,
                      errorbar=("ci", 95), seed=0, dodge=0.3 if len(order) > 1 else False, ax=ax,
                      markersize=4, linewidth=1, err_kws={"linewidth": 1}, legend=ax is axes[-1])
        single = summary[field].nunique(dropna=False) == 1
        ax.set(xlabel=field + (" (learning rate)" if field == "lr" else ""), ylabel="branches")
        ax.set_title(field + (" (single value)" if single else ""), fontsize=9)
    if axes[-1].get_legend():
        sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1, 1), title="layer", frameon=False, fontsize=7)
    fig.suptitle("Learning-graph branches per layer against the swept parameters (mean over runs and seeds, "
                 "95 % bootstrap CI: seaborn errorbar=('ci', 95), 1,000 resamples)", fontsize=10)
    _footnote(fig, left_out)
    return fig


def plot_branch_vs_jump(summary: pd.DataFrame):
    fig = theme.new_figure(theme.PANEL + 1.6, theme.PANEL + 0.4)
    ax = fig.add_subplot()
    data, left_out = usable_layers(summary)
    d = data.dropna(subset=["first_branch_epoch", "first_jump_epoch"])
    missing = len(data) - len(d)
    if d.empty:
        theme.note(ax, "no layer with both a branching event\nand a paired accuracy jump")
    else:
        order = _role_order(d)
        sns.scatterplot(d, x="first_branch_epoch", y="first_jump_epoch", hue="layer_role", hue_order=order,
                        palette=dict(zip(order, theme.layer_colors(len(order)))), style="layer_role", ax=ax,
                        **bands.scatter_kws(len(d), s=30))
        lo = float(np.nanmin(d[["first_branch_epoch", "first_jump_epoch"]].to_numpy()))
        hi = float(np.nanmax(d[["first_branch_epoch", "first_jump_epoch"]].to_numpy()))
        ax.plot([lo, hi], [lo, hi], color="0.5", lw=0.8, ls="--", label="same epoch")
        ax.legend(loc="upper left", bbox_to_anchor=(1, 1), frameon=False, fontsize=7, title="layer")
    ax.set(xlabel="first branching (epoch)", ylabel="paired accuracy jump (epoch)")
    fig.suptitle("Does branching coincide with accuracy jumps?", fontsize=10)
    notes = [left_out] + ([f"{missing} layer(s) without a branching event or jump"] if missing else [])
    _footnote(fig, "; ".join(n for n in notes if n))
    return fig


def plot_accuracy_vs_branches(summary: pd.DataFrame):
    data, left_out = usable_layers(summary)
    order = _role_order(data) if len(data) else ["output"]
    fig = theme.new_figure(theme.PANEL * len(order) + 0.4, theme.PANEL + 0.4)
    axes = np.atleast_1d(fig.subplots(1, len(order), sharey=True))
    for ax, role, color in zip(axes, order, theme.layer_colors(len(order))):
        d = data[data["layer_role"] == role].dropna(subset=["branches", "final_test_acc"])
        d = d.astype({"branches": float})
        if d.empty:
            theme.note(ax, "no runs to show")
        else:
            sns.regplot(d, x="branches", y="final_test_acc", ax=ax, color=color, fit_reg=d["branches"].nunique() > 1,
                        ci=None, scatter_kws=bands.scatter_kws(len(d), s=18, alpha=0.8), line_kws={"lw": 1})
            lo, hi = d["branches"].min(), d["branches"].max()
            ax.set_xlim(lo - 1, hi + 1)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(xlabel="branches of the learning graph", ylabel="final test accuracy", ylim=(0, 1.02))
        ax.set_title(role, fontsize=9)
    fig.suptitle("Final test accuracy against branch count", fontsize=10)
    _footnote(fig, left_out)
    return fig


def plot_counts_vs_baselines(summary: pd.DataFrame):
    """Final branch count against each baseline (baselines.py) per layer role, Spearman rho across runs
    in each panel: a count that moves with weight variance or norm spread adds little to them."""
    data, left_out = usable_layers(summary)
    order = _role_order(data) if len(data) else ["output"]
    fig = theme.new_figure(theme.PANEL * len(BASELINES) + 0.4, theme.PANEL * len(order) + 0.4)
    axes = np.atleast_2d(fig.subplots(len(order), len(BASELINES), squeeze=False))
    rho = correlations(data).set_index(["layer_role", "count", "baseline"]) if len(data) else None
    for row, role, color in zip(axes, order, theme.layer_colors(len(order))):
        d = data[data["layer_role"] == role]
        for ax, base in zip(row, BASELINES):
            dd = d.dropna(subset=["branches", base]) if base in d else d.iloc[:0]
            if dd.empty:
                theme.note(ax, f"no {base}\n(no branching tables in the summary)")
            else:
                ax.scatter(dd[base].astype(float), dd["branches"].astype(float), color=color,
                           **bands.scatter_kws(len(dd), s=14, alpha=0.8))
                r = rho.loc[(role, "branches", base)] if (role, "branches", base) in rho.index else None
                txt = "Spearman \u03c1 = NA" if r is None or np.isnan(r["spearman_rho"]) else \
                    f"Spearman \u03c1 = {r['spearman_rho']:.2f} (n={int(r['n_runs'])})"
                ax.set_title(f"{role}: {txt}", fontsize=8, loc="left")
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set(xlabel=base.replace("_", " "), ylabel="branches")
    fig.suptitle("What a branch count adds: final count against simple baselines, across runs", fontsize=10)
    _footnote(fig, left_out)
    return fig


# ---------------------------------------------------------------- curves of the whole sweep


def plot_accuracy_curves(summary: pd.DataFrame, stores):
    labels = run_labels(summary)
    diverged = dict(zip(summary["run_id"], summary["diverged"].fillna(False).astype(bool)))
    fig = theme.new_figure(2 * theme.PANEL + 2.2, theme.PANEL + 0.3)
    ax_train, ax_test = fig.subplots(1, 2, sharey=True)
    paths = {Path(s).parent.name: s for s in stores}
    ids = [r for r in summary["run_id"] if r in paths]
    curves = [_accuracy_curve(paths[rid]) for rid in ids]
    if len(ids) > bands.MANY_RUNS:
        _accuracy_bands((ax_train, ax_test), summary, ids, curves, diverged)
        return fig
    colors = theme.palette(max(len(ids), 1))[:len(ids)]
    styles = ["--" if diverged.get(rid) else "-" for rid in ids]
    names = [labels[rid] + (" (diverged)" if diverged.get(rid) else "") for rid in ids]
    for ax, split in ((ax_train, "train"), (ax_test, "test")):
        coll = theme.draw_lines(ax, [np.column_stack([c["epoch"], c[f"{split}_acc"]]) for c in curves], colors,
                                styles=styles, labels=names)
        ax.set(xlabel="epoch", ylabel="accuracy", title=f"{split} accuracy", ylim=(0, 1.02))
    if not ids:
        theme.note(ax_test, "no runs")
    elif len(ids) <= MAX_LEGEND_RUNS:
        ax_test.legend(handles=coll.legend_proxies, loc="upper left", bbox_to_anchor=(1, 1), frameon=False, fontsize=7)
    else:
        ax_test.text(0.98, 0.02, f"{len(ids)} runs", transform=ax_test.transAxes, ha="right", fontsize=7)
    fig.suptitle("Accuracy of every run of the sweep", fontsize=10)
    return fig


def band_factor(summary: pd.DataFrame, max_levels: int = 6) -> str | None:
    """The swept field that groups the bands: the varied field with the fewest levels (at most
    `max_levels`, more bands overlap into a blur); None: one group of all runs."""
    fields = [f for f in varied_fields(summary) if 1 < summary[f].nunique(dropna=False) <= max_levels]
    return min(fields, key=lambda f: summary[f].nunique(dropna=False)) if fields else None


def _accuracy_bands(axes, summary: pd.DataFrame, ids: list, curves: list, diverged: dict) -> None:
    """Many runs: per group of `band_factor`, the median and 25-75 % / 5-95 % bands of accuracy on a
    common epoch grid, and the best, median and worst run by final test accuracy labelled by run id.
    Diverged runs are left out of the bands (their accuracy after divergence means nothing)."""
    factor = band_factor(summary)
    level = summary.set_index("run_id")[factor].map(value_label) if factor else None
    keep = [i for i, rid in enumerate(ids) if not diverged.get(rid)]
    groups = {}
    for i in keep:
        groups.setdefault(f"{factor}={level[ids[i]]}" if factor else "all runs", []).append(i)
    groups = dict(sorted(groups.items()))
    colors = dict(zip(groups, theme.palette(max(len(groups), 1))))
    grid = bands.common_grid([(c["epoch"], c["test_acc"]) for c in curves])
    for ax, split in zip(axes, ("train", "test")):
        for g, members in groups.items():
            vals = bands.on_grid([(curves[i]["epoch"], curves[i][f"{split}_acc"]) for i in members], grid)
            bands.draw_bands(ax, grid, vals, colors[g], label=f"{g} (n={len(members)})")
            final = {ids[i]: _last_finite(curves[i]["test_acc"]) for i in members}
            for how, rid in bands.highlights(final).items():
                c = curves[ids.index(rid)]
                ax.plot(c["epoch"], c[f"{split}_acc"], color=colors[g], lw=0.6, ls=":")
                if split == "test":
                    ax.annotate(f"{how} {rid}", (c["epoch"][-1], c["test_acc"][-1]), fontsize=5, color=colors[g],
                                textcoords="offset points", xytext=(2, 0), va="center", annotation_clip=False)
        ax.set(xlabel="epoch", ylabel="accuracy", title=f"{split} accuracy", ylim=(0, 1.02))
    axes[1].legend(loc="upper left", bbox_to_anchor=(1.25, 1), frameon=False, fontsize=7,
                   title="median; bands 25-75 %, 5-95 %", title_fontsize=7)
    n_div = len(ids) - len(keep)
    axes[1].text(0.98, 0.02, f"{len(ids)} runs" + (f"; {n_div} diverged left out" if n_div else ""),
                 transform=axes[1].transAxes, ha="right", fontsize=7)
    axes[0].figure.suptitle(f"Accuracy of {len(ids)} runs by {factor or 'sweep'}: quantile bands; dotted: best, "
                            "median and worst final test accuracy", fontsize=10)


def _last_finite(a) -> float:
    a = np.asarray(a, float)
    ok = np.isfinite(a)
    return float(a[ok][-1]) if ok.any() else np.nan


def _accuracy_curve(store) -> dict:
    """epoch, train_acc and test_acc of a run (each file checked as read, store.fastread: a damaged
    store is quarantined)."""
    return read_arrays(store, ("epoch", "train_acc", "test_acc"))[1]


# ---------------------------------------------------------------- the rule's entry point


def render_sweep_figures(summary_tsv, coords_tsv, stress_tsv, stores, outdir, formats=("png", "svg"),
                         dpi=120, time_axis="epoch", factors_tsv=None) -> list[Path]:
    summary = read_summary(summary_tsv)
    coords, stress = read_tsv(coords_tsv, dtype={"run_id": str}), read_tsv(stress_tsv)
    factors = read_tsv(factors_tsv) if factors_tsv else None  # inpca/factors.tsv
    figs = {
        "branches_vs_params": lambda: plot_branches_vs_params(summary),
        "branch_vs_jump": lambda: plot_branch_vs_jump(summary),
        "accuracy_vs_branches": lambda: plot_accuracy_vs_branches(summary),
        "counts_vs_baselines": lambda: plot_counts_vs_baselines(summary),
        "accuracy_curves": lambda: plot_accuracy_curves(summary, stores),
        **inpca_figures(coords, stress, summary, time_axis, factors),
    }
    return theme.render_all(figs, SWEEP_FIGURES, outdir, formats, dpi)
