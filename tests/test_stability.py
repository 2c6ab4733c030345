"""Stability scan of branch counts over Mapper parameters (topolearn.learning_graphs.stability)."""

import pandas as pd
import pytest

import learning_clouds as lc
from topolearn.sweep.mapper_settings import MAPPER_DEFAULTS
from topolearn.sweep.mapper_settings import SCAN_DEFAULTS, scan_grid
from topolearn.learning_graphs.mapper import learning_graph
from topolearn.learning_graphs.stability import SCAN_COLUMNS, read_scan, run_scan, scan, summarize, summary_table


@pytest.mark.parametrize("cloud", [lc.comb, lc.y_shape, lc.plateau_split, lc.loop])
@pytest.mark.parametrize("intervals", [10, 25])
def test_scan_at_the_base_parameters_matches_the_learning_graph(cloud, intervals):
    w, t = cloud()
    p = {**MAPPER_DEFAULTS, "intervals": intervals}
    doc, _, _ = learning_graph(w, t, p, 0.1)
    row = scan(w, t, p, [(intervals, p["overlap"], 1.0)]).iloc[0]
    assert (row["nodes"], row["branches"]) == (doc["metrics"]["nodes"], doc["metrics"]["branches"])
    assert row["base"]


def test_a_comb_of_four_branches_is_most_often_four():
    w, t = lc.comb((10.0, 20.0, 30.0))
    df = scan(w, t, dict(MAPPER_DEFAULTS), scan_grid(SCAN_DEFAULTS))
    s = summarize(df)
    assert s["grid_points"] == 27 and s["mode_branches"] == s["base_branches"] == 4
    assert s["mode_share"] > 0.5 and s["min_branches"] <= 4 <= s["max_branches"]


def test_summary_of_a_known_distribution():
    df = pd.DataFrame({"intervals": [10, 20, 30, 10, 20, 30], "overlap": 0.5, "eps_scale": 1.0,
                       "branches": [3, 3, 5, 2, 3, 5], "base": [False, True, False, False, False, False]})
    s = summarize(df)
    assert (s["mode_branches"], s["base_branches"], s["min_branches"], s["max_branches"]) == (3, 3, 2, 5)
    assert s["mode_share"] == pytest.approx(0.5)
    assert (s["mode_min_intervals"], s["mode_max_intervals"]) == (10, 20)
    assert s["counts"] == "2:1;3:3;5:2"


def test_run_scan_writes_one_row_per_layer_and_grid_point(tmp_path):
    w0, t = lc.comb(n_snapshots=41)
    w1, _ = lc.y_shape(n_snapshots=41, epochs=40.0)
    lc.write_store(tmp_path / "s.zarr", [w0, w1], t)
    grid = [(10, 0.4975, 1.0), (20, 0.3, 2.0)]
    out = tmp_path / "stability" / "0123456789ab.tsv"
    run_scan(tmp_path / "s.zarr", ["layer0", "layer1"], {"layer0": dict(MAPPER_DEFAULTS), "layer1": dict(MAPPER_DEFAULTS)},
             out, grid)
    df = read_scan(out)
    assert list(df.columns) == SCAN_COLUMNS and len(df) == 4
    assert set(df["run_id"]) == {"0123456789ab"} and df["branches"].dtype.kind == "i"
    assert list(summary_table(df)["layer"]) == ["layer0", "layer1"]


def test_a_degenerate_grid_point_is_refused():
    w, t = lc.y_shape()
    with pytest.raises(ValueError, match="degenerate cover"):
        scan(w, t, dict(MAPPER_DEFAULTS), [(2, 0.6, 1.0)])


def test_stability_figure_marks_the_base_and_says_when_there_is_no_scan(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from topolearn.figures.runs import load_run, plot_stability_scan

    w, t = lc.comb(n_snapshots=41)
    lc.write_store(tmp_path / "s.zarr", [w], t)
    grid = [(n, q, e) for n in (10, 20) for q in (0.3, 0.4975) for e in (1.0, 2.0)]
    run_scan(tmp_path / "s.zarr", ["layer0"], {"layer0": dict(MAPPER_DEFAULTS, intervals=20)}, tmp_path / "x.tsv", grid)
    run = load_run(tmp_path / "s.zarr")
    fig = plot_stability_scan(run, tmp_path / "x.tsv")
    assert len(fig.axes) == 2 and sum(len(ax.patches) for ax in fig.axes) == 1  # one outlined base cell
    assert "mode 4" in fig.axes[0].get_title(loc="left")
    fig = plot_stability_scan(run, None)
    assert "no stability scan" in fig.axes[0].texts[0].get_text()
