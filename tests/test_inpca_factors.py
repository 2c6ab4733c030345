"""Factor separation on the prediction manifold (topolearn.inpca.factors): between-level against
between-seed distances of trajectories at matched progress."""

import numpy as np
import pandas as pd
import pytest

from topolearn.inpca.embedding import geodesic_progress
from topolearn.inpca.factors import (COLUMNS, bootstrap_ratio, crossings, factor_strata, factor_table, resample,
                                     sample_pairs, stress_top)
from topolearn.inpca.synthetic import factor_run

LABELS = np.random.default_rng(0).integers(0, 10, size=60)


def _sweep(points: list[dict], snapshots: int = 25):
    """(frame, R, ok) of synthetic runs: `path` moves the trajectory, `speed` only its pace."""
    frame = pd.DataFrame(points)
    R, ok = [], []
    for i, p in frame.iterrows():
        run = factor_run(f"r{i}", LABELS, 10, snapshots, path=int(p["path"]), speed=float(p["speed"]),
                         seed=int(p["seed"]))
        probs, _ = run.load()
        x, k = resample(geodesic_progress(probs, LABELS), np.arange(snapshots), lambda rows: probs[rows])
        R.append(x)
        ok.append(k)
    return frame, np.stack(R), np.stack(ok)


@pytest.fixture(scope="module")
def grid_sweep():
    pts = [{"path": a, "speed": s, "width": 8, "seed": seed}
           for a in (0, 1) for s in (1.0, 2.0) for seed in range(6)]
    return _sweep(pts)


def test_a_factor_that_moves_the_path_separates_and_one_that_sets_the_pace_does_not(grid_sweep):
    frame, R, ok = grid_sweep
    t = factor_table("g", frame, R, ok)
    assert list(t.columns) == COLUMNS
    t = t.set_index("factor")
    assert set(t.index) == {"path", "speed"}, "width has one level: no row"
    assert t.loc["path", "ratio"] > 5, t
    assert t.loc["speed", "ratio"] == pytest.approx(1, abs=0.25), t
    # the bootstrap interval holds the estimate, and for the pace the null value 1
    for f in ("path", "speed"):
        assert t.loc[f, "ci_low"] <= t.loc[f, "ratio"] <= t.loc[f, "ci_high"]
    assert t.loc["speed", "ci_low"] <= 1 <= t.loc["speed", "ci_high"]
    assert t.loc["path", "ci_low"] > 2
    # 2 paths x 2 speeds x 6 seeds: per cell of the other factor 6 x 5 between (different seeds) and 2 x 15 within
    assert t.loc["path", "n_between"] == 2 * 30 and t.loc["path", "n_within"] == 2 * 2 * 15
    assert t.loc["path", "levels"] == "0,1" and t.loc["speed", "levels"] == "1.0,2.0"
    assert (t["n_boot"] > 900).all()


def test_pair_sampling_bounds_the_pairs_and_keeps_the_picture(grid_sweep):
    frame, R, ok = grid_sweep
    t = factor_table("g", frame, R, ok, max_pairs=30).set_index("factor")
    assert (t["n_between"] <= 30).all() and (t["n_within"] <= 30).all()
    assert t.loc["path", "ratio"] > 5 and t.loc["speed", "ratio"] < 1.5


def test_fields_a_factor_determines_go_with_it():
    # init sets init_std (zero init: 0): init still has pairs; init_std varies only with init: none
    frame = pd.DataFrame({"init": ["normal", "normal", "uniform", "uniform", "zero", "zero"],
                          "init_std": [0.1, 0.1, 0.1, 0.1, 0.0, 0.0], "seed": [0, 1, 0, 1, 0, 1]})
    between, within, levels = factor_strata(frame, "init", ["init", "init_std"])
    assert levels == ["'normal'", "'uniform'", "'zero'"] and len(between) == 3 and len(within) == 3
    assert factor_strata(frame, "init_std", ["init", "init_std"])[0] == []


def test_crossings_first_passage_and_unreached_levels():
    lo, hi, w, ok = crossings([0.0, 0.2, 0.15, 0.5], grid=[0.1, 0.2, 0.3, 0.9])
    assert ok.tolist() == [True, True, True, False], "0.9 never reached"
    assert (lo[:3].tolist(), hi[:3].tolist()) == ([0, 0, 2], [1, 1, 3]), "first crossing, not a later one"
    np.testing.assert_allclose(w[:3], [0.5, 1.0, (0.3 - 0.15) / 0.35])
    assert not crossings([0.4, 0.6], grid=[0.3])[3].any(), "passed before the first checkpoint"


def test_resampled_points_are_unit_sqrt_probabilities():
    p = np.random.default_rng(1).dirichlet(np.ones(4), size=(5, 7))
    x, ok = resample(np.linspace(0, 1, 5), np.arange(5), lambda rows: p[rows], grid=[0.1, 0.5])
    np.testing.assert_allclose(np.linalg.norm(x, axis=-1), 1, rtol=1e-6)
    np.testing.assert_allclose(x[1] ** 2, p[2], rtol=1e-5)  # exactly on a checkpoint


def test_sample_pairs_enumerates_or_draws_distinct_runs():
    A, B = np.arange(4), np.arange(4, 7)
    a, b = sample_pairs([(A, A, True), (A, B, False)], 100, np.random.default_rng(0))
    assert len(a) == 6 + 12 and len(set(zip(a, b))) == 18
    a, b = sample_pairs([(A, A, True), (A, B, False)], 10, np.random.default_rng(0))
    assert len(a) == 10 and (a != b).all()


def test_bootstrap_ratio_without_seed_pairs_is_missing():
    assert np.isnan(bootstrap_ratio([1.0], [[0, 1]], [], np.zeros((0, 2), int), 2)[0])


def test_stress_top_table():
    stress = pd.DataFrame({"group": "g", "method": "exact", "n_checkpoints": 10, "dim": [1, 2, 3],
                           "explained_stress": [0.5, 0.7, 0.8]})
    row = stress_top(stress).iloc[0]
    assert (row["stress_top1"], row["stress_top3"]) == (0.5, 0.8) and np.isnan(row["stress_top50"])


def test_separation_figure(grid_sweep, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from topolearn.figures.inpca import plot_inpca_separation

    frame, R, ok = grid_sweep
    fig = plot_inpca_separation(factor_table("g", frame, R, ok))
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and [t.get_text() for t in ax.get_yticklabels()] == \
        ["path: 2 levels", "speed: 2 levels"]
    assert any(list(line.get_xdata()) == [1, 1] for line in ax.lines), "the line at 1"
    fig.savefig(tmp_path / "sep.png")
    for missing in (None, pd.DataFrame(columns=COLUMNS)):  # no table, no rows: a note instead
        assert plot_inpca_separation(missing).axes[0].texts[0].get_text().startswith("no ")


def test_make_factors_from_stores(tmp_path):
    from fake_results import make_point, write_run

    from topolearn.inpca.factors import STRESS_TOP_COLUMNS, make_factors
    from topolearn.inpca.sweep import make_inpca
    from topolearn.sweep.table import write_sweep_table
    from topolearn.utils.tables import read_tsv

    res = tmp_path / "results"
    points = {}
    for i, (lr, seed) in enumerate((lr, s) for lr in (0.5, 1.0) for s in (0, 1, 2)):
        p = make_point(lr=lr, seed=seed, snapshots=9)
        points[write_run(res, p, seed=i)] = p
    write_sweep_table(points, res / "sweep.tsv")
    stores = [res / "runs" / r / "snapshots.zarr" for r in points]
    make_inpca(stores, res / "inpca/coords.tsv", res / "inpca/stress.tsv")
    make_factors(res / "sweep.tsv", res / "inpca/coords.tsv", res / "inpca/stress.tsv", stores,
                 res / "inpca/factors.tsv", res / "inpca/stress_top.tsv", n_boot=50)
    t = read_tsv(res / "inpca/factors.tsv")
    assert list(t.columns) == COLUMNS and t["factor"].tolist() == ["lr"], "seed is no factor; nothing else varies"
    row = t.iloc[0]
    assert row["levels"] == "0.5,1.0" and row["n_within"] + row["n_unmatched"] <= 2 * 3
    s = read_tsv(res / "inpca/stress_top.tsv")
    assert list(s.columns) == STRESS_TOP_COLUMNS and len(s) == 1 and 0 < s["stress_top3"].iloc[0] <= 1
    assert list(res.joinpath("inpca").glob("tmp*")) == [], "the temporary folder is gone"
