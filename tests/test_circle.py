"""The circle of edge filters: persistent H1 of a first conv layer's filters pooled over seeds."""

import numpy as np
import pandas as pd
import pytest

from topolearn.learning_graphs import circle

SETTINGS = dict(circle.CIRCLE_DEFAULTS)
YY, XX = np.mgrid[-1:2, -1:2]


def edge_filters(rng, n: int, noise: float) -> np.ndarray:
    """3x3 edge filters (linear ramps) at random orientations plus noise: a circle in R^9."""
    theta = rng.uniform(0, 2 * np.pi, n)
    f = np.cos(theta)[:, None] * XX.ravel() + np.sin(theta)[:, None] * YY.ravel()
    return f + noise * rng.normal(size=f.shape)


def test_rotated_edges_give_one_long_bar():
    rng = np.random.default_rng(0)
    row = circle.snapshot_row([edge_filters(rng, 300, 0.1), edge_filters(rng, 300, 0.1)], SETTINGS)
    assert row["n_points"] == 600 and row["k"] == 30 and row["n_kept"] == 180
    assert row["longest"] > 1.0 and row["longest"] > 5 * row["second"] and row["circle"]


def test_random_filters_give_none():
    rng = np.random.default_rng(1)
    for n in (60, 600):
        row = circle.snapshot_row([rng.normal(size=(n, 9))], SETTINGS)
        assert row["longest"] < 0.4 and not row["circle"], row


def test_normalize_centres_scales_and_drops_constant_kernels():
    x = np.array([[1.0] * 9, list(range(9)), [0.0] * 9])
    out = circle.normalize(x)
    assert out.shape == (1, 9)
    assert out.mean() == pytest.approx(0) and np.linalg.norm(out) == pytest.approx(1)


def test_kernels_are_one_point_per_input_channel():
    w = np.arange(4 * 2 * 9, dtype=np.float32).reshape(4, 18)  # 4 filters, 2 input channels, 3x3
    k = circle.kernels(w, [4, 2, 3, 3])
    assert k.shape == (8, 9) and (k[1] == w[0, 9:]).all()


def test_density_filter_keeps_the_dense_part():
    rng = np.random.default_rng(2)
    dense, sparse = 0.01 * rng.normal(size=(50, 3)), 10 * rng.normal(size=(50, 3))
    kept = circle.density_filter(np.concatenate([dense, sparse]), 5, 0.3)
    assert len(kept) == 30 and np.abs(kept).max() < 1


@pytest.mark.parametrize("has, date", [([False, True, False, True, True], 3), ([True, True], 0),
                                       ([True, True, False], None), ([], None)])
def test_circle_is_dated_where_it_stays(has, date):
    assert circle.circle_date(pd.DataFrame({"circle": has})) == date


def test_cell_table_dates_a_circle_that_emerges():
    """Three seeds whose filters move from noise to rotated edges: the circle appears and stays."""
    rng = np.random.default_rng(3)
    n_snap, n_filters = 6, 100
    runs = []
    for seed in range(3):
        start, end = rng.normal(size=(n_filters, 9)), edge_filters(rng, n_filters, 0.05)
        t = np.clip((np.arange(n_snap) - 1) / 2, 0, 1)[:, None, None]  # edges from snapshot 3 on
        w = ((1 - t) * start + t * end).astype(np.float32)
        m = pd.DataFrame({"step": np.arange(n_snap) * 10, "epoch": np.arange(n_snap) / 2.0,
                          "test_acc": np.linspace(0.1, 0.9, n_snap)})
        runs.append((w, [n_filters, 1, 3, 3], m))
    table = circle.cell_table("c1", runs, SETTINGS)
    assert list(table.columns) == circle.TABLE_COLUMNS and len(table) == n_snap
    assert table["n_runs"].eq(3).all() and table["n_points"].eq(300).all()
    assert not table["circle"].iloc[0] and table["circle"].iloc[3:].all()
    rows = circle.run_rows("c1", ["a", "b", "c"], table)
    at = circle.circle_date(table)
    assert at is not None and at <= 3
    assert list(rows["run_id"]) == ["a", "b", "c"] and (rows["circle_step"] == 10 * at).all()
    assert (rows["circle_final_longest"] >= SETTINGS["threshold"]).all()


def test_cells_pool_the_seeds_of_cnn_points():
    from topolearn.sweep.points import circle_cells, normalize_point, run_id

    base = {"dataset": "digits", "arch": "cnn", "channels": [4], "depth": 1, "width": 8}
    pts = [normalize_point(base | over) for over in ({"seed": 1}, {"seed": 2}, {"seed": 1, "lr": 0.1})]
    pts.append(normalize_point({"dataset": "digits", "depth": 1, "width": 8}))  # an MLP: no filters
    cells = circle_cells({run_id(p): p for p in pts})
    assert sorted(len(r) for r in cells.values()) == [1, 2]
    assert sorted(cells[max(cells, key=lambda c: len(cells[c]))]) == sorted(run_id(p) for p in pts[:2])


def test_cell_figures_draw(tmp_path):
    from topolearn.figures import circle as figs

    rng = np.random.default_rng(4)
    m = pd.DataFrame({"step": [0, 10, 20], "epoch": [0.0, 0.5, 1.0], "test_acc": [0.1, 0.5, 0.8]})
    runs = [(np.stack([rng.normal(size=(80, 9)), edge_filters(rng, 80, 0.3), edge_filters(rng, 80, 0.05)]),
             [80, 1, 3, 3], m) for _ in range(2)]
    table = circle.cell_table("c", runs, SETTINGS)
    fig = figs.plot_lifetimes("c", table, SETTINGS)
    assert fig.axes[0].get_ylabel().startswith("H1 lifetime")
    fig = figs.plot_cloud("c", runs, table, SETTINGS)
    assert len(fig.axes) == 3 and len(fig.axes[-1].images) >= 8  # kernels drawn around the last cloud


@pytest.mark.slow
def test_preset_adam_cell_shows_the_circle(tmp_path):
    """config/cnn.yaml's CNN/Adam cell, trained as the workflow does (one pack, 12 of its 45 epochs:
    276 updates), has the circle at its last snapshot and not at initialisation (docs/cnn.md,
    "Measured": the full preset dates it at update 138)."""
    import io
    from pathlib import Path

    from topolearn.sweep.config import load_config_file
    from topolearn.train import train_pack

    cfg = load_config_file(Path(__file__).resolve().parents[1] / "config" / "cnn.yaml")
    points = [p | {"epochs": 12, "snapshots": 3} for p in cfg["points"].values()
              if p["arch"] == "cnn" and p["optimizer"] == "adam"]
    assert len(points) >= 6  # the pool the bar needs (3 seeds x 64 filters left it at the threshold)
    stores = [tmp_path / f"net{i}" / "snapshots.zarr" for i in range(len(points))]
    train_pack(points, stores, [tmp_path / f"net{i}" / "scratch" for i in range(len(points))], log=io.StringIO())
    table = circle.cell_table("adam", circle.load_runs(stores, "conv0"), cfg["circle"])
    assert not table["circle"].iloc[0] and table["circle"].iloc[-1], table
