"""Figures: every figure function writes a non-empty image of the size its layout promises (pixel
sizes pinned below, at 50 dpi); diverged runs and empty graphs give notes, never exceptions; the
graph layout and helpers behave."""

import json

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from fake_results import make_point, write_run
from PIL import Image

from topolearn.sweep.points import run_id
from topolearn.analysis.tables import run_tables
from topolearn.figures import RUN_FIGURES, SWEEP_FIGURES, runs, sweep, theme
from topolearn.figures import inpca as inpca_figs
from topolearn.figures.graphs import load_graph, tree_layout
from topolearn.figures.timeaxis import PROGRESS_LABEL, time_axis
from topolearn.inpca.sweep import make_inpca
from topolearn.inpca.progress import epoch_to_progress, read_coords
from topolearn.learning_graphs import read_graphs
from topolearn.results.summary import make_summary, read_summary
from topolearn.sweep.table import write_sweep_table

DPI = 50


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A 3-run sweep: depth 2, diverged, empty first-layer graph; summary and InPCA tables."""
    res = tmp_path_factory.mktemp("figures") / "results"
    points = {"deep": make_point(depth=2), "diverged": make_point(lr=1.0), "empty": make_point(init="zero")}
    ids = {"deep": write_run(res, points["deep"], seed=0),
           "diverged": write_run(res, points["diverged"], diverge_at=5, seed=1),
           "empty": write_run(res, points["empty"], empty_layers=(0,), seed=2)}
    write_sweep_table({run_id(p): p for p in points.values()}, res / "sweep.tsv")
    rids = sorted(ids.values())
    stores = [res / "runs" / r / "snapshots.zarr" for r in rids]
    make_summary(res / "sweep.tsv", stores, res / "summary.tsv")
    make_inpca(stores, res / "inpca/coords.tsv", res / "inpca/stress.tsv")
    return res, ids, stores


def curve_of(res, rid):
    """The run's branching curve, where its analysis stamp says it is."""
    return run_tables(res, rid)["curve"]


def load(res, rid):
    return runs.load_run(res / "runs" / rid / "snapshots.zarr", curve_of(res, rid))


def mapper_graphs(res, rid):
    return list(read_graphs(res / "mapper" / rid).values())


# PNG (width, height) at DPI of each run figure of the three runs: a figure's size follows its
# panels (one per layer in several), so a layout change shows here first.
RUN_SIZES = {
    "learning_curves": {"deep": (360, 160), "diverged": (360, 160), "empty": (360, 160)},
    "weight_norms": {"deep": (360, 380), "diverged": (360, 260), "empty": (360, 260)},
    "learning_surfaces": {"deep": (380, 480), "diverged": (380, 320), "empty": (380, 320)},
    "weight_images": {"deep": (330, 155), "diverged": (330, 155), "empty": (330, 155)},
    "weight_images_pc1": {"deep": (290, 105), "diverged": (290, 105), "empty": (290, 105)},
    "mapper_graphs": {"deep": (530, 175), "diverged": (370, 175), "empty": (370, 175)},  # 3 or 2 layers side by side
    "stability_scan": {"deep": (200, 158), "diverged": (200, 158), "empty": (200, 158)},
}
SWEEP_SIZES = {
    "branches_vs_params": (670, 180), "branch_vs_jump": (240, 180), "accuracy_vs_branches": (500, 180),
    "counts_vs_baselines": (500, 500), "accuracy_curves": (430, 175), "inpca": (590, 175),
    "inpca_factors": (400, 495), "inpca_spectrum": (360, 160), "inpca_progress": (380, 160),
    "inpca_separation": (240, 160),
}


@pytest.fixture(scope="module")
def rendered(results, tmp_path_factory):
    """Every per-run figure of the three runs, each rendered once as PNG and SVG."""
    res, ids, _ = results
    out = {}
    for kind, rid in ids.items():
        outdir = tmp_path_factory.mktemp(kind)
        paths = runs.render_run_figures(res / "runs" / rid / "snapshots.zarr", curve_of(res, rid),
                                        mapper_graphs(res, rid), outdir, ["png", "svg"], DPI, image_epochs=[0, 2, 4])
        assert sorted(p.name for p in paths) == sorted(f"{n}.{f}" for n in RUN_FIGURES for f in ("png", "svg"))
        for name in RUN_FIGURES:
            out[kind, name] = (outdir / f"{name}.png", outdir / f"{name}.svg")
    return out


def test_every_figure_has_a_pinned_size():
    assert set(RUN_SIZES) == set(RUN_FIGURES) and set(SWEEP_SIZES) == set(SWEEP_FIGURES)


@pytest.mark.parametrize("kind", ["deep", "diverged", "empty"])
@pytest.mark.parametrize("name", RUN_FIGURES)
def test_run_figure_has_expected_size(rendered, kind, name):
    png, svg = rendered[kind, name]
    assert Image.open(png).size == RUN_SIZES[name][kind]
    assert png.stat().st_size > 1000 and svg.stat().st_size > 1000
    assert "epoch" in svg.read_text(), "time axes are labeled in epochs"


def test_run_figure_sizes_follow_the_layer_count():
    assert RUN_SIZES["weight_norms"]["deep"] == (360, round((0.75 * 3.2 * 3 + 0.4) * DPI))  # a row per layer


@pytest.mark.parametrize("kind, name, text", [
    ("diverged", "learning_curves", "run diverged at epoch 2.50"),
    ("diverged", "weight_norms", "diverged"),
    ("empty", "mapper_graphs", "empty graph"),
])
def test_bad_runs_are_drawn_with_a_note(rendered, kind, name, text):
    assert text in rendered[kind, name][1].read_text()


def test_diverged_run_is_loaded_as_such(results):
    res, ids, _ = results
    assert load(res, ids["diverged"]).diverged and not load(res, ids["deep"]).diverged


def test_every_configured_format_is_written(tmp_path):
    fig = theme.new_figure(2, 1.5)
    fig.add_subplot().plot([0, 1])
    paths = theme.save(fig, tmp_path, "f", ["png", "svg", "pdf"], DPI)
    assert [p.suffix for p in paths] == [".png", ".svg", ".pdf"] and all(p.stat().st_size > 0 for p in paths)
    assert paths[2].read_bytes().startswith(b"%PDF")


def test_weight_images_need_image_inputs():
    w = np.random.default_rng(0).normal(size=(4, 3, 5)).astype(np.float32)  # 5 inputs: no image
    m = pd.DataFrame({"step": range(4), "epoch": np.arange(4.0), "test_acc": 0.5, "train_acc": 0.5,
                      "train_loss": 1.0, "test_loss": 1.0})
    run = runs.Run("x", {"dataset": "digits"}, m, [w])
    assert runs.image_shape(run) is None
    for fig in (runs.plot_weight_images(run), runs.plot_weight_images_pc1(run)):
        assert "not image pixels" in fig.axes[0].texts[0].get_text()


def test_same_data_same_svg(results, tmp_path):
    res, ids, _ = results
    run = load(res, ids["deep"])
    a = theme.save(runs.plot_learning_curves(run), tmp_path / "a", "lc", ["svg"], DPI)[0].read_bytes()
    b = theme.save(runs.plot_learning_curves(run), tmp_path / "b", "lc", ["svg"], DPI)[0].read_bytes()
    assert a == b


# ---------------------------------------------------------------- sweep figures


def test_sweep_figures_have_expected_sizes_and_notes(results, tmp_path):
    res, _, stores = results
    paths = sweep.render_sweep_figures(res / "summary.tsv", res / "inpca/coords.tsv", res / "inpca/stress.tsv",
                                       stores, tmp_path, ["png", "svg"], DPI)
    assert sorted(p.name for p in paths) == sorted(f"{n}.{f}" for n in SWEEP_FIGURES for f in ("png", "svg"))
    svgs = {}
    for name in SWEEP_FIGURES:
        assert Image.open(tmp_path / f"{name}.png").size == SWEEP_SIZES[name], name
        svgs[name] = (tmp_path / f"{name}.svg").read_text()
    assert "1 diverged run(s) left out" in svgs["branches_vs_params"]
    assert "1 empty learning graph(s) left out" in svgs["branches_vs_params"]
    assert "batch_size (single value)" in svgs["branches_vs_params"]
    assert "(diverged)" in svgs["accuracy_curves"]
    assert "ignorance" in svgs["inpca"] and "truth" in svgs["inpca"]
    assert "epoch" in svgs["accuracy_curves"] and "epoch" in svgs["branch_vs_jump"]


def test_sweep_figures_survive_a_sweep_where_every_run_diverged(results, tmp_path):
    res, _, stores = results
    summary = read_summary(res / "summary.tsv").assign(diverged=True)
    summary["diverged"] = summary["diverged"].astype("boolean")
    empty = pd.DataFrame(columns=["group", "run_id", "kind", "epoch", "progress", "inpca1"])
    figs = {"branches_vs_params": sweep.plot_branches_vs_params(summary),
            "branch_vs_jump": sweep.plot_branch_vs_jump(summary),
            "accuracy_vs_branches": sweep.plot_accuracy_vs_branches(summary),  # one panel: nothing to plot
            "accuracy_curves": sweep.plot_accuracy_curves(summary, stores),
            "inpca": inpca_figs.plot_inpca(empty, pd.DataFrame(columns=["group", "dim", "eigenvalue",
                                                                        "explained_stress"]), summary)}
    for name, fig in figs.items():
        png = theme.save(fig, tmp_path, name, ["png"], DPI)[0]
        expected = (180, 180) if name == "accuracy_vs_branches" else SWEEP_SIZES[name]
        assert Image.open(png).size == expected, name


def test_run_labels_name_only_what_varies(results):
    res, ids, _ = results
    summary = read_summary(res / "summary.tsv")
    assert sweep.varied_fields(summary) == ["init", "lr", "depth"]  # init_std only varies by being NA
    labels = sweep.run_labels(summary)
    assert labels[ids["deep"]] == "init=normal, lr=0.5, depth=2"


# ---------------------------------------------------------------- graphs and helpers


def test_load_graph_reads_the_mapper_json_and_kmapper_links(tmp_path):
    doc = {"nodes": {"a": {"members": [[0, 0], [1, 0]], "mean_epoch": 0.0, "size": 2},
                     "b": {"members": [[0, 2], [1, 2]]}},  # no mean_epoch: from the members' snapshots
           "edges": [["a", "b"]], "metrics": {"branches": 1}}
    (tmp_path / "g.json").write_text(json.dumps(doc))
    g, info = load_graph(tmp_path / "g.json", epochs=np.array([0.0, 1.0, 3.0]))
    assert sorted(g.edges) == [("a", "b")] and info["branches"] == 1
    assert g.nodes["b"]["epoch"] == 3.0 and g.nodes["b"]["size"] == 2
    (tmp_path / "k.json").write_text(json.dumps({"nodes": {"x": [0, 1], "y": [1, 2]}, "links": {"x": ["y"]}}))
    g, _ = load_graph(tmp_path / "k.json")
    assert list(g.edges) == [("x", "y")] and g.nodes["x"]["size"] == 2


def test_a_results_folder_with_per_layer_graphs_draws_as_with_one_file(results, tmp_path):
    """A mapper folder of the older layout ({layer}.json per layer, no graphs.json) still reads, and
    the figure of its graphs is the one drawn from graphs.json; so does a list of per-layer paths."""
    res, ids, _ = results
    rid = ids["deep"]
    legacy = tmp_path / "mapper" / rid
    legacy.mkdir(parents=True)
    for layer, doc in read_graphs(res / "mapper" / rid).items():
        (legacy / f"{layer}.json").write_text(json.dumps(doc))
    assert read_graphs(legacy) == read_graphs(res / "mapper" / rid)
    run = load(res, rid)

    def titles(graphs):
        return [ax.get_title(loc="left") for ax in runs.plot_mapper_graphs(run, graphs).axes[:3]]

    expected = titles(mapper_graphs(res, rid))
    assert len(expected) == 3 and "branches" in expected[0]
    assert titles(list(read_graphs(legacy).values())) == expected
    assert titles(sorted(legacy.glob("layer*.json"))) == expected


def test_tree_layout_draws_a_y_as_a_tree():
    g = nx.Graph([("t0", "t1"), ("t1", "a"), ("t1", "b"), ("c0", "c1")])
    for n, e in {"t0": 0, "t1": 1, "a": 2, "b": 2.5, "c0": 0.5, "c1": 1.5}.items():
        g.nodes[n]["epoch"] = e
    pos = tree_layout(g)
    assert {n: x for n, (x, _) in pos.items()} == {"t0": 0, "t1": 1, "a": 2, "b": 2.5, "c0": 0.5, "c1": 1.5}
    assert pos["a"][1] != pos["b"][1], "branches on their own rows"
    assert pos["t1"][1] == pytest.approx((pos["a"][1] + pos["b"][1]) / 2), "a fork sits between its branches"
    assert pos["t0"][1] == pos["t1"][1]
    assert min(pos["c0"][1], pos["c1"][1]) > max(pos["a"][1], pos["b"][1]), "components do not overlap"


def test_tile_and_snapshot_choice():
    imgs = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    m = runs.tile(imgs)
    assert m.shape == (2 * 3 - 1, 3 * 3 - 1) and np.isnan(m[2]).all() and np.isnan(m[:, 2]).all()
    assert (m[3:5, 6:8] == imgs[1, 2]).all()
    epochs = np.array([0, 1, 2, 3, 4.0])
    ok = np.array([True, True, True, False, False])
    assert runs.snapshot_at_epochs(epochs, [0.2, 3.9, 1.1], ok) == [0, 2, 1]
    assert runs.snapshot_at_epochs(epochs, [], ok) == [0, 1, 2]  # default: evenly spaced, no repeats


def test_palette_is_colorblind_safe_and_sized():
    assert theme.palette(3) == theme.COLORBLIND[:3]
    assert len(theme.palette(25)) == 25 and len(set(theme.palette(25))) == 25


# ---------------------------------------------------------------- time axis: progress (figures.time_axis)


def progress_of(res, rid):
    return epoch_to_progress(read_coords(res / "inpca" / "coords.tsv"), rid)


def test_time_axis_is_progress_only_where_every_snapshot_has_one():
    epochs = np.array([0.0, 1.0, 2.0])
    t = time_axis(epochs, lambda e: e / 4)
    assert t.is_progress and t.label == PROGRESS_LABEL and list(t.values) == [0, 0.25, 0.5] and t.at(4.0) == 1.0
    late_nan = time_axis(epochs, lambda e: np.where(e < 2, e / 4, np.nan))
    assert not late_nan.is_progress and list(late_nan.values) == list(epochs)
    assert late_nan.label == "epoch (no progress: run diverged)"
    absent = time_axis(epochs, lambda e: np.full(len(e), np.nan))
    assert absent.node_label() == "mean epoch of node members (no progress: run not in the InPCA embedding)"
    assert time_axis(epochs).label == "epoch" and time_axis(epochs).at(1.5) == 1.5


def test_run_figures_are_drawn_against_progress(results):
    res, ids, _ = results
    rid = ids["deep"]
    f = progress_of(res, rid)
    run = runs.load_run(res / "runs" / rid / "snapshots.zarr", curve_of(res, rid), progress=f)
    p = f(run.epochs)
    assert np.isfinite(p).all() and p[-1] > p[0], "the fake run moves from ignorance towards truth"
    curves = runs.plot_learning_curves(run)
    for ax in curves.axes:
        assert ax.get_xlabel() == PROGRESS_LABEL
        assert np.allclose(ax.lines[0].get_xdata(), p)
    first_branch = run.events.sort_values("epoch")["epoch"].iloc[0]  # the dotted first-branch line
    assert any(np.allclose(line.get_xdata(), f(first_branch)) for line in curves.axes[0].lines[2:])
    norms = runs.plot_weight_norms(run)
    assert norms.axes[len(run.weights) - 1].get_xlabel() == PROGRESS_LABEL and np.allclose(norms.axes[0].lines[0].get_xdata(), p)
    graphs = runs.plot_mapper_graphs(run, mapper_graphs(res, rid))
    ax = graphs.axes[0]
    assert ax.get_xlabel() == "mean progress of node members"
    doc = mapper_graphs(res, rid)[0]
    expected = sorted(float(np.mean(p[[s for _, s in v["members"]]])) for v in doc["nodes"].values())
    assert np.allclose(sorted(ax.collections[1].get_offsets()[:, 0]), expected)


@pytest.mark.parametrize("kind, why", [("diverged", "run diverged"), ("empty", "run not in the InPCA embedding")])
def test_a_run_without_progress_is_drawn_against_epochs_with_a_note(results, kind, why):
    res, ids, _ = results
    rid = ids[kind]
    f = progress_of(res, rid) if kind == "diverged" else progress_of(res, "not-embedded")
    run = runs.load_run(res / "runs" / rid / "snapshots.zarr", curve_of(res, rid), progress=f)
    ax = runs.plot_learning_curves(run).axes[0]
    assert ax.get_xlabel() == f"epoch (no progress: {why})" and np.allclose(ax.lines[0].get_xdata(), run.epochs)
    assert runs.plot_weight_norms(run).axes[len(run.weights) - 1].get_xlabel() == f"epoch (no progress: {why})"


def test_learning_graph_picture_is_drawn_against_progress(monkeypatch, tmp_path):
    import matplotlib.pyplot as plt

    from topolearn.figures.graphs import write_png

    doc = {"empty": False, "epochs": [0.0, 1.0, 2.0, 3.0], "eps": 0.1, "branches": [],
           "nodes": {"a": {"members": [[0, 0], [0, 1]], "size": 2, "mean_epoch": 0.5, "branch": None},
                     "b": {"members": [[0, 2], [0, 3]], "size": 2, "mean_epoch": 2.5, "branch": None}},
           "edges": [["a", "b"]], "metrics": {"nodes": 2, "edges": 1, "branches": 0, "cycles": 0}}
    drawn = []
    monkeypatch.setattr(plt, "close", drawn.append)  # keep the figure to look at
    write_png(doc, tmp_path / "g.png", "t", dpi=30, progress=lambda e: np.asarray(e) ** 2 / 9)
    write_png(doc, tmp_path / "e.png", "t", dpi=30)
    on_progress, on_epochs = (fig.axes[0] for fig in drawn)
    assert on_progress.get_xlabel() == "mean progress of node members"
    assert np.allclose(sorted(on_progress.collections[-1].get_offsets()[:, 0]), [1 / 18, 13 / 18])
    assert on_epochs.get_xlabel() == "mean epoch of node members"
    assert np.allclose(sorted(on_epochs.collections[-1].get_offsets()[:, 0]), [0.5, 2.5])
    assert (tmp_path / "g.png").stat().st_size > 0


# ---------------------------------------------------------------- sweeps of thousands of runs


def many_runs(n, tmp_path, monkeypatch):
    """A summary and fake store paths of n runs (2 learning rates, 2 depths) whose accuracy curves
    the figure reads from memory: no zarr stores, no workflow."""
    rng = np.random.default_rng(0)
    ids = [f"run{i:05d}" for i in range(n)]
    summary = pd.DataFrame({"run_id": ids, "lr": np.tile([0.1, 0.5], n // 2), "depth": np.repeat([1, 2], n // 2),
                            "seed": np.arange(n), "diverged": [i == 3 for i in range(n)]})
    epochs = {rid: np.arange(0.0, 10 + i % 3) for i, rid in enumerate(ids)}  # runs of different lengths
    rate = dict(zip(ids, rng.uniform(0.1, 1.0, n)))
    curves = {rid: {"epoch": e, "train_acc": 1 - np.exp(-rate[rid] * e),
                    "test_acc": 0.95 * (1 - np.exp(-rate[rid] * e))} for rid, e in epochs.items()}
    monkeypatch.setattr(sweep, "_accuracy_curve", lambda store: curves[store.parent.name])
    return summary, [tmp_path / rid / "snapshots.zarr" for rid in ids], curves


def test_thousands_of_accuracy_curves_become_quantile_bands(tmp_path, monkeypatch):
    from matplotlib.collections import LineCollection, PolyCollection

    summary, stores, curves = many_runs(2000, tmp_path, monkeypatch)
    assert sweep.band_factor(summary) == "lr"  # 2 levels each: the first varied field
    fig = sweep.plot_accuracy_curves(summary, stores)
    ax_train, ax_test = fig.axes[:2]
    for ax in (ax_train, ax_test):
        assert not any(isinstance(c, LineCollection) and not isinstance(c, PolyCollection) for c in ax.collections)
        assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 2 * 2  # 2 bands x 2 lr groups
        assert len(ax.lines) == 2 * (1 + 3)  # per group: median and best, median, worst runs
    labels = [t.get_text() for t in ax_test.texts]
    final = {rid: c["test_acc"][-1] for rid, c in curves.items() if rid != "run00003"}  # run00003 diverged
    assert f"best {max(final, key=final.get)}" in labels and f"worst {min(final, key=final.get)}" in labels
    assert "2000 runs; 1 diverged left out" in labels
    assert sorted(t.get_text() for t in ax_test.get_legend().get_texts()) == ["lr=0.1 (n=1000)", "lr=0.5 (n=999)"]
    grid = np.linspace(0, 11, 101)  # the median of lr=0.5 (odd runs but the diverged one) on the common grid
    members = [r for i, r in enumerate(summary["run_id"]) if i % 2 == 1 and i != 3]
    expected = np.nanmedian(np.array([np.interp(grid, curves[r]["epoch"], curves[r]["test_acc"], right=np.nan)
                                      for r in members]), axis=0)
    assert np.allclose(ax_test.lines[4].get_ydata(), expected, equal_nan=True)
    png, svg = theme.save(fig, tmp_path, "accuracy_curves", ["png", "svg"], 120)
    assert png.stat().st_size < 200_000 and svg.stat().st_size < 200_000


def test_small_sweeps_keep_one_line_per_run(tmp_path, monkeypatch):
    from matplotlib.collections import LineCollection

    summary, stores, _ = many_runs(200, tmp_path, monkeypatch)
    ax = sweep.plot_accuracy_curves(summary, stores).axes[0]
    assert [len(c.get_segments()) for c in ax.collections if isinstance(c, LineCollection)] == [200]


def test_many_scatter_points_are_rasterized_and_faint():
    from topolearn.figures.bands import scatter_kws

    assert scatter_kws(100, s=18, alpha=0.8) == {"s": 18, "alpha": 0.8} and scatter_kws(100, s=30) == {"s": 30}
    many = scatter_kws(200_000, s=18, alpha=0.8)
    assert many["rasterized"] and many["s"] < 18 and 0.05 <= many["alpha"] < 0.8
    summary = pd.DataFrame({"run_id": [f"r{i}" for i in range(5000)], "n_layers": 2,
                            "layer0_first_split_progress": np.linspace(0, 1, 5000),
                            "layer1_first_split_progress": np.linspace(1, 0, 5000)})
    fig = inpca_figs.plot_inpca_progress(pd.DataFrame(columns=["kind"]), summary)
    assert fig.axes[0].collections[0].get_rasterized()
