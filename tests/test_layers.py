"""Layer metrics (separability, Betti numbers, folds), the per-run table and figures."""

import numpy as np
import pytest
from PIL import Image

from topolearn.figures.layers import FRAMES_PER_PHASE, load_layers, run_layer_figures, training_frames, transform_frames
from topolearn.layers.measures import (TABLE_COLUMNS, analyze_run_layers, betti_numbers, folded_fraction, layer_table,
                              read_table, separability, summary_columns)
from topolearn.train.representations import input_grid
from toy_runs import train_toy

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return train_toy(tmp_path_factory.mktemp("toy_layers"))


def test_separability_of_separable_and_non_separable_sets():
    X = RNG.normal(size=(200, 2))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    assert separability(X, y) == 1.0
    xor = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(np.int64)
    assert separability(X, xor) < 0.75
    assert np.isnan(separability(np.full((10, 2), np.nan), y[:10]))
    assert np.isnan(separability(X[:10], np.zeros(10, np.int64)))  # one class: nothing to separate


def test_betti_numbers_of_a_circle_and_two_blobs():
    a = RNG.uniform(0, 2 * np.pi, 128)
    circle = np.c_[np.cos(a), np.sin(a)] + RNG.normal(0, 0.02, (128, 2))
    assert betti_numbers(circle) == (1.0, 1.0)
    blobs = np.r_[RNG.normal(0, 0.1, (60, 2)), RNG.normal(3, 0.1, (60, 2))]
    assert betti_numbers(blobs) == (2.0, 0.0)
    assert betti_numbers(np.c_[circle, np.zeros(128)])[1] == 1.0  # embedded in 3-D: still one loop


@pytest.mark.parametrize("cloud", [np.ones((10, 2)), np.zeros((0, 2)), np.array([[0, 0], [1, np.inf]] * 4)])
def test_degenerate_clouds_give_nan(cloud):
    b0, b1 = betti_numbers(cloud)
    assert np.isnan(b0) and np.isnan(b1)


def _grid(n=15):
    return input_grid(np.array([[-2, -2], [2, 2]], np.float32), n)[0].astype(np.float64)


def test_a_2_unit_tanh_layer_keeps_every_cell_orientation():
    W, b = np.array([[1.5, -0.7], [0.4, -2.0]]), np.array([0.3, -0.2])  # det < 0: reversed, consistently
    assert folded_fraction(np.tanh(_grid() @ W.T + b), (15, 15)) == 0.0
    saturated = np.tanh(40 * (_grid() @ W.T + b)).astype(np.float32)  # float32: cells squashed to corners
    assert folded_fraction(saturated, (15, 15), False) < 0.1 * folded_fraction(saturated, (15, 15))


def test_a_folding_relu_layer_is_detected():
    h = np.maximum(_grid() @ np.array([[1.0, 0.2], [-0.3, 1.0]]).T, 0)
    assert 0.2 < folded_fraction(h, (15, 15)) < 1.0
    fold = _grid() * [1, 1]  # (x, y) -> (|x|, y): a genuine fold along x = 0
    fold[:, 0] = np.abs(fold[:, 0])
    assert 0.3 < folded_fraction(fold, (15, 15)) < 0.7
    assert np.isnan(folded_fraction(np.zeros((225, 3)), (15, 15)))  # not a 2-unit layer


def test_layer_table_of_a_trained_run(toy, tmp_path):
    _, path = toy
    df = analyze_run_layers(path, tmp_path / "t.tsv", max_snapshots=3)
    assert list(df.columns) == TABLE_COLUMNS
    assert sorted(set(df["snapshot"])) == [0, 3, 6]
    assert list(df[df.snapshot == 6]["layer"]) == ["input", "layer0", "layer1", "layer2"]
    assert df["folded_fraction"].isna().tolist() == [False, True, True, False] * 3  # 2-D: input, logits
    assert df["separability"].between(0, 1).all()
    back = read_table(tmp_path / "t.tsv")
    assert back.shape == df.shape
    cols = summary_columns(tmp_path / "t.tsv")
    assert cols["layer2_separability"] == df.iloc[-1]["separability"] and "layer0_b0" in cols


def test_non_toy_runs_get_an_empty_table(tiny_store, tmp_path):
    assert layer_table(tiny_store).empty
    df = analyze_run_layers(tiny_store, tmp_path / "e.tsv")
    assert df.empty and read_table(tmp_path / "e.tsv").columns.tolist() == TABLE_COLUMNS
    assert run_layer_figures(tiny_store, tmp_path / "figs") == [] and not (tmp_path / "figs").exists()
    assert summary_columns(tmp_path / "e.tsv") == {}


def test_per_run_figures_and_gif_frame_counts(toy, tmp_path):
    _, path = toy
    L = load_layers(path)
    frames = transform_frames(L)
    assert len(frames) == 1 + 2 * 2 * FRAMES_PER_PHASE  # input + (affine, tanh) per hidden layer
    np.testing.assert_allclose(frames[-1][0][:, :3], L["data"][2][-1], atol=1e-5)  # ends at layer1's output
    analyze_run_layers(path, tmp_path / "t.tsv", max_snapshots=2)
    run_layer_figures(path, tmp_path / "figs", formats=("png",), dpi=50)
    assert (tmp_path / "figs" / "layers_final.png").stat().st_size > 0
    with Image.open(tmp_path / "figs" / "layers_transform.gif") as gif:
        assert gif.n_frames == len(frames)
    with Image.open(tmp_path / "figs" / "layers_training.gif") as gif:
        assert gif.n_frames == len(training_frames(L)) == 7


def test_sweep_figures_from_layer_tables(toy, tmp_path):
    from pathlib import Path

    from topolearn.sweep.points import run_id
    from topolearn.figures.layers import SWEEP_LAYER_FIGURES, render_layer_sweep
    from topolearn.sweep.table import write_sweep_table

    point, path = toy
    points = {run_id(point): point, run_id({**point, "activation": "relu"}): {**point, "activation": "relu"}}
    tables = {}
    for rid in points:
        tables[rid] = tmp_path / f"{rid}.tsv"
        analyze_run_layers(path, tables[rid], max_snapshots=2)
    write_sweep_table(points, tmp_path / "sweep.tsv")
    paths = render_layer_sweep(tables, tmp_path / "sweep.tsv", tmp_path / "figs", ("png",), 50)
    assert [p.stem for p in paths] == list(SWEEP_LAYER_FIGURES) and all(p.stat().st_size for p in paths)
    smk = (Path(__file__).parents[1] / "workflow/rules/layers.smk").read_text()
    assert "LAYER_SWEEP_NAMES = " + repr(SWEEP_LAYER_FIGURES).replace("'", "\"") in smk  # the rule declares the same files
