"""Recorded layer representations equal the manual affine + activation computation."""

import numpy as np
import pytest
import zarr

from topolearn.data import load_dataset
from topolearn.train.representations import input_grid, record
from topolearn.store.snapshots import open_store, read_all_arrays
from toy_runs import train_toy


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return train_toy(tmp_path_factory.mktemp("toy_repr"))


def _manual(x, weights, biases, activation):
    """Layer by layer in numpy: h = act(h W^T + b), the last layer without activation."""
    act = {"tanh": np.tanh, "relu": lambda a: np.maximum(a, 0)}[activation]
    out, h = [], x.astype(np.float64)
    for i, (w, b) in enumerate(zip(weights, biases)):
        h = h @ w.T.astype(np.float64) + b
        h = act(h) if i < len(weights) - 1 else h
        out.append(h)
    return out


def test_recorded_representation_equals_manual_forward(toy):
    point, path = toy
    a = read_all_arrays(path)
    X_train, y_train, _, _ = load_dataset("spirals", point=point)
    np.testing.assert_array_equal(a["repr/input"], X_train[:60])
    np.testing.assert_array_equal(a["repr/labels"], y_train[:60])
    grid, _ = input_grid(X_train, 8)
    np.testing.assert_array_equal(a["grid/input"], grid)
    for s in (0, 3, 6):
        w = [a[f"weights/layer{i}"][s] for i in range(3)]
        b = [a[f"biases/layer{i}"][s] for i in range(3)]
        for name, x in (("repr", a["repr/input"]), ("grid", a["grid/input"])):
            for i, h in enumerate(_manual(x, w, b, "tanh")):
                np.testing.assert_allclose(a[f"{name}/layer{i}"][s], h, rtol=1e-5, atol=1e-5)


def test_arrays_have_dimension_names_and_the_store_stays_sound(toy):
    _, path = toy
    root = open_store(path)  # the manifest covers the new arrays (deep CRC check)
    assert root["repr/layer1"].metadata.dimension_names == ("snapshot", "point", "unit_layer1")
    assert root["grid/layer2"].metadata.dimension_names == ("snapshot", "grid_point", "unit_layer2")
    assert root["repr/layer1"].shape == (7, 60, 3) and root["grid/layer2"].shape == (7, 64, 2)
    assert root["grid"].attrs["shape"] == [8, 8]


def test_grid_covers_the_data_with_a_margin():
    X = np.array([[0, 0], [1, 2]], np.float32)
    pts, bounds = input_grid(X, 5)
    assert pts.shape == (25, 2)
    np.testing.assert_allclose(bounds, [[-0.1, 1.1], [-0.2, 2.2]], rtol=1e-6)
    assert pts[1, 0] > pts[0, 0] and pts[1, 1] == pts[0, 1]  # row-major: x varies fastest


def test_non_toy_runs_record_nothing(tmp_path, tiny_point):
    root = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    assert record(root, tiny_point) is False
    assert list(root.keys()) == []
