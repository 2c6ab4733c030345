"""Toy datasets: deterministic generation, point fields, validation."""

import numpy as np
import pytest

from topolearn.sweep.schema import ConfigError
from topolearn.sweep.points import normalize_point, run_id
from topolearn.sweep.config import validate_config
from topolearn.data import load_dataset
from topolearn.data.registry import dataset_info
from topolearn.data.toy import TOY_DATASETS, generate


@pytest.mark.parametrize("name", sorted(TOY_DATASETS))
def test_generated_data_have_the_promised_form(name):
    point = normalize_point({"dataset": name, "n_samples": 40})
    X, y, Xt, yt = load_dataset(name, point=point)
    assert X.shape == (40, TOY_DATASETS[name]) and Xt.shape == (10, TOY_DATASETS[name])
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [20, 20]
    assert set(y[:6]) == {0, 1}  # shuffled: a prefix (train_size) holds both classes
    again = load_dataset(name, point=normalize_point({"dataset": name, "n_samples": 40, "seed": 7}))
    np.testing.assert_array_equal(X, again[0])  # the run's seed does not change the data
    other = load_dataset(name, point=normalize_point({"dataset": name, "n_samples": 40, "data_seed": 1}))
    assert not np.array_equal(X, other[0])


def test_spiral_turns_and_noise():
    tight = generate("spirals", 200, noise=0.0, turns=2.0, seed=0, stream=0)[0]
    loose = generate("spirals", 200, noise=0.0, turns=0.5, seed=0, stream=0)[0]
    np.testing.assert_allclose(np.linalg.norm(tight, axis=1), np.linalg.norm(loose, axis=1), rtol=1e-6)  # same radii
    assert not np.allclose(tight, loose)
    noisy = generate("circles", 200, noise=0.1, turns=None, seed=0, stream=0)[0]
    r = np.linalg.norm(noisy, axis=1)
    assert 0.02 < np.std(r - np.where(r < 0.75, 0.5, 1.0)) < 0.2


def test_toy_fields_normalize_per_dataset():
    p = normalize_point({"dataset": "circles"})
    assert (p["noise"], p["n_samples"], p["turns"], p["grid_size"]) == (0.05, 1000, None, 25)
    assert normalize_point({"dataset": "rings"})["grid_size"] is None  # 3-D input: no grid
    d = normalize_point({"dataset": "digits"})
    assert all(d[k] is None for k in ("noise", "n_samples", "turns", "data_seed", "grid_size", "repr_size"))
    assert run_id({"dataset": "circles", "turns": 3}) == run_id({"dataset": "circles"})
    assert dataset_info(normalize_point({"dataset": "spirals", "n_samples": 80})).n_train == 80
    assert dataset_info(normalize_point({"dataset": "spirals", "n_samples": 80})).n_test == 20


def test_existing_run_ids_are_unchanged():
    assert run_id({}) == "e0f380977543"  # the default digits point's id before toy fields existed


@pytest.mark.parametrize("point, message", [
    ({"noise": 0.1}, "sweep.base.noise: 0.1 is invalid for dataset digits; noise applies only to the toy"),
    ({"dataset": "mnist", "turns": 2}, "sweep.base.turns: 2.0 is invalid for dataset mnist"),
    ({"dataset": "spirals", "grid_size": 1000, "width": 50}, "recorded representations need"),
    ({"dataset": "spirals", "n_samples": 2}, "sweep.base.n_samples: 2 is invalid"),
    ({"dataset": "spirals", "turns": 0}, "sweep.base.turns: 0.0 is invalid"),
    ({"dataset": "spirals", "n_samples": 100, "batch_size": 200}, "larger than the 100 training samples"),
    # a toy field the toy dataset does not use, and more recorded points than training points
    ({"dataset": "circles", "turns": 2}, "sweep.base.turns: 2.0 is invalid for dataset circles; circles uses noise, "
                                         "n_samples, data_seed, grid_size, repr_size"),
    ({"dataset": "rings", "grid_size": 10}, "sweep.base.grid_size: 10 is invalid for dataset rings; rings uses noise, "
                                            "n_samples, data_seed, repr_size"),
    ({"dataset": "spirals", "n_samples": 400, "repr_size": 600},
     "sweep.base.repr_size: 600 is invalid; more than the 400 training points of this point (allowed: 1..400)"),
    ({"dataset": "spirals", "train_size": 50, "repr_size": 60}, "more than the 50 training points"),
])
def test_bad_toy_input_is_refused_in_one_line(point, message):
    with pytest.raises(ConfigError) as err:
        validate_config({"sweep": {"base": point}})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_sweep_over_toy_datasets_validates():
    base = {"epochs": 2, "snapshots": 3, "depth": 2}
    # turns applies to spirals only: crossed with curves it is refused, linked to spirals it is not
    with pytest.raises(ConfigError, match=r"turns: 0.5 is invalid for dataset curves; curves uses noise"):
        validate_config({"sweep": {"base": base, "grid": {"dataset": ["spirals", "curves"], "turns": [0.5, 2.0]}}})
    spirals = [{"dataset": "spirals", "turns": t} for t in (0.5, 2.0)]
    cfg = validate_config({"sweep": {"base": base, "grid": {"dataset": [*spirals, "curves"]}}})
    assert sorted(p["dataset"] for p in cfg["points"].values()) == ["curves", "spirals", "spirals"]
    assert normalize_point({"dataset": "spirals", "n_samples": 100})["repr_size"] == 500  # the default: capped when recorded
