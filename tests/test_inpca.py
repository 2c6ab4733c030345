"""InPCA: the math on cases with known answers, and the embedding of synthetic stores."""

import numpy as np
import pandas as pd
import pytest
from fake_results import make_point, write_run

from topolearn.analysis.tables import run_tables
from topolearn.inpca.embedding import (bhattacharyya, double_center, explained_stress, fit_landmarks, geodesic_point,
                             geodesic_progress, inpca, landmarks, place, step_lengths)
from topolearn.inpca.sweep import SETTINGS, compare_methods, embed_group, make_inpca
from topolearn.inpca.synthetic import synthetic_sweep


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_bhattacharyya_is_a_symmetric_dissimilarity(rng):
    P = rng.dirichlet(np.ones(10), size=(12, 40))
    D = bhattacharyya(P)
    assert D.shape == (12, 12)
    assert np.all(np.diag(D) == 0)
    assert np.allclose(D, D.T)
    assert (D[~np.eye(12, dtype=bool)] > 0).all()
    np.testing.assert_allclose(bhattacharyya(P, P), D, atol=1e-12)  # the cross form agrees


def test_bhattacharyya_known_values():
    uniform = np.full((1, 3, 4), 0.25)
    onehot = np.zeros((1, 3, 4))
    onehot[..., 1] = 1.0
    # sum_c sqrt(1/4 * [c == 1]) = 1/2 for every sample: d = -log(1/2)
    np.testing.assert_allclose(bhattacharyya(uniform, onehot), [[np.log(2)]])
    # disjoint predictions: a large but finite distance (coefficient floored)
    other = np.zeros((1, 3, 4))
    other[..., 2] = 1.0
    assert np.isfinite(bhattacharyya(onehot, other)).all() and bhattacharyya(onehot, other)[0, 0] > 50


def _reference(P, Q):
    """The definition, unblocked: every pair and sample at once."""
    bc = np.einsum("isc,jsc->ijs", np.sqrt(P), np.sqrt(Q))
    return -np.log(np.clip(bc, 1e-30, 1.0)).mean(axis=2)


def test_blocked_equals_unblocked(rng):
    P = rng.dirichlet(np.ones(5), size=(300, 23))  # 300 rows: several 128-row tiles, a ragged last one
    P[:5, :, 0] = 0.0  # zero probabilities stay finite
    P[:5] /= P[:5].sum(axis=2, keepdims=True)
    ref = _reference(P, P)
    np.fill_diagonal(ref, 0.0)
    np.testing.assert_allclose(bhattacharyya(P), ref, atol=1e-13)
    tiny = bhattacharyya(P, memory_mb=0.001, threads=2)  # smallest row chunks, tiles in two threads
    np.testing.assert_allclose(tiny, ref, atol=1e-13)
    np.testing.assert_allclose(bhattacharyya(P[:70], P[40:], memory_mb=0.001), ref[:70, 40:], atol=1e-13)
    assert np.isfinite(tiny).all() and (tiny >= 0).all() and np.array_equal(tiny, tiny.T)


def test_euclidean_configuration_is_embedded_exactly(rng):
    X = rng.normal(size=(25, 2)) * [3.0, 1.0]
    D = ((X[:, None] - X[None]) ** 2).sum(-1)  # squared distances: W is the centered Gram matrix
    lam, coords, stress = inpca(D)
    assert lam[0] > lam[1] > 0 and np.allclose(lam[2:], 0, atol=1e-9)
    D2 = ((coords[:, None, :2] - coords[None, :, :2]) ** 2).sum(-1)
    np.testing.assert_allclose(D2, D, atol=1e-9)
    np.testing.assert_allclose(stress[1], 1.0)  # two dimensions explain everything
    np.testing.assert_allclose(coords[:, :2].var(axis=0) * len(X), lam[:2])  # v sqrt(lambda) scaling


def test_negative_eigenvalues_are_kept_and_reconstruct_distances(rng):
    A = rng.uniform(0.5, 2.0, size=(30, 30))
    D = np.triu(A, 1) + np.triu(A, 1).T  # a dissimilarity that no Euclidean configuration has
    lam, coords, stress = inpca(D)
    assert (lam < 0).any(), "negative eigenvalues (time-like directions) are kept"
    assert np.all(np.diff(np.abs(lam)) <= 1e-12), "sorted by |lambda|"
    rebuilt = (np.sign(lam) * (coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(rebuilt, D, atol=1e-10)
    np.testing.assert_allclose(stress[-1], 1.0)  # all dimensions: stress fully explained
    assert np.all(np.diff(stress) >= -1e-12) and 0 < stress[0] < 1


def test_explained_stress_formula():
    W = double_center(np.array([[0, 1, 4], [1, 0, 1], [4, 1, 0]], dtype=float))
    lam = np.linalg.eigvalsh(W)
    lam = lam[np.argsort(-np.abs(lam))]
    fro2 = float((W ** 2).sum())
    np.testing.assert_allclose(explained_stress(lam, fro2)[0], 1 - np.sqrt(1 - lam[0] ** 2 / fro2))
    np.testing.assert_allclose(explained_stress(lam, fro2)[-1], 1.0)
    assert np.allclose(double_center(np.zeros((3, 3))), 0)
    np.testing.assert_allclose(W.sum(axis=0), 0, atol=1e-12)  # double centering: rows and columns sum to 0


def test_geodesic_progress_of_landmarks_and_geodesic_points(rng):
    labels = rng.integers(0, 10, size=50)
    ign, truth = landmarks(labels, 10)
    assert np.allclose(ign.sum(1), 1) and np.allclose(truth.sum(1), 1) and (truth.argmax(1) == labels).all()
    lams = [0.0, 0.3, 0.8, 1.0]
    pts = np.stack([geodesic_point(labels, 10, t) for t in lams])
    np.testing.assert_allclose(pts.sum(axis=2), 1.0)
    np.testing.assert_allclose(geodesic_progress(pts, labels), lams, atol=1e-6)
    np.testing.assert_allclose(geodesic_progress(np.stack([ign, truth]), labels), [0, 1], atol=1e-6)
    # Bhattacharyya distance along the geodesic grows monotonically from ignorance
    d = bhattacharyya(ign[None], np.stack([geodesic_point(labels, 10, t) for t in np.linspace(0, 1, 6)]))[0]
    assert np.all(np.diff(d) > 0)


def _angles(P, labels, t):
    """Per-sample angle (a, n, T) between sqrt P and the geodesic point at each t, from the definition."""
    C = P.shape[2]
    u, v = (np.sqrt(x) for x in landmarks(labels, C))
    theta = np.arccos(1 / np.sqrt(C))
    g = (np.sin((1 - t)[:, None, None] * theta) * u + np.sin(t[:, None, None] * theta) * v) / np.sin(theta)
    return np.arccos(np.clip(np.einsum("anc,tnc->ant", np.sqrt(P), g), 0, 1))


def test_progress_is_the_exact_minimum_of_the_summed_angles(rng):
    """Each sample's angle is convex in t (so is their sum): on a dense grid, and the golden-section
    search lands on the grid's minimum, for clouds from near-uniform to near one-hot."""
    labels = rng.integers(0, 10, size=30)
    P = np.concatenate([rng.dirichlet(np.full(10, a), size=(6, 30)) for a in (0.05, 0.3, 1.0, 5.0)]
                       + [np.eye(10)[(labels + 1) % 10][None], np.eye(10)[labels][None]])
    t = np.linspace(0, 1, 2001)
    ang = _angles(P, labels, t)
    assert (ang <= np.pi / 2 + 1e-15).all(), "a sample's angle is capped at pi/2"
    assert (np.diff(ang, 2, axis=2) >= -1e-11).all(), "each per-sample angle is convex on [0, 1]"
    lam = geodesic_progress(P, labels)
    cost = ang.sum(axis=1)
    assert np.abs(lam - t[cost.argmin(axis=1)]).max() <= t[1], "the search finds the grid's minimum"
    at_lam = np.array([_angles(P[i:i + 1], labels, lam[i:i + 1]).sum() for i in range(len(P))])
    slack = 30 * np.arccos(1 / np.sqrt(10)) * 5e-9  # the search's final width in t x the steepest sum of angles
    assert (at_lam <= cost.min(axis=1) + slack).all(), "no grid point does better"
    np.testing.assert_allclose(lam[-2:], [0, 1], atol=1e-8)  # confidently wrong: no progress; right: all of it


def test_make_inpca_tables(tmp_path):
    res = tmp_path / "results"
    ok = write_run(res, make_point(snapshots=9), seed=0)
    bad = write_run(res, make_point(lr=1.0, snapshots=9), diverge_at=5, seed=1)
    other = write_run(res, make_point(probe_size=20, snapshots=9), seed=2)  # another probe set
    stores = [res / "runs" / r / "snapshots.zarr" for r in (ok, bad, other)]
    make_inpca(stores, res / "inpca/coords.tsv", res / "inpca/stress.tsv", cache=res / "inpca/cache")
    coords = pd.read_csv(res / "inpca/coords.tsv", sep="\t", keep_default_na=False, na_values=["NA"])
    stress = pd.read_csv(res / "inpca/stress.tsv", sep="\t")
    assert coords["group"].nunique() == 2 and stress["group"].nunique() == 2
    main = coords[coords["group"] == coords.loc[coords["run_id"] == ok, "group"].iloc[0]]
    assert set(main["run_id"]) == {ok, bad, ""}
    assert (main.loc[main.run_id == bad, "snapshot"] <= 5).all(), "NaN predictions are never embedded"
    assert len(main[main["kind"] == "checkpoint"]) == 9 + 6, "every finite checkpoint"
    lm = main.set_index("kind")
    assert lm.loc["ignorance", "progress"] == pytest.approx(0, abs=1e-6)
    assert lm.loc["truth", "progress"] == pytest.approx(1, abs=1e-6)
    assert {"inpca1", "inpca2", "inpca3", "epoch", "test_acc", "step", "step_length", "landmark"} <= set(coords.columns)
    assert {"method", "negative", "n_landmarks"} <= set(stress.columns)
    s = stress[stress["group"] == main["group"].iloc[0]]
    assert s["explained_stress"].is_monotonic_increasing and s["explained_stress"].iloc[-1] <= 1 + 1e-9


def test_geodesic_points_embed_on_a_curve(rng):
    labels = rng.integers(0, 10, size=80)
    P = np.stack([geodesic_point(labels, 10, t) for t in np.linspace(0, 1, 25)])
    lam, coords, stress = inpca(bhattacharyya(P), k=5)
    assert stress[0] > 0.9, "one dimension carries the geodesic"
    assert np.all(np.diff(coords[:, 0]) * np.sign(coords[-1, 0] - coords[0, 0]) > 0), "monotone along it"
    length = step_lengths(P).sum()
    np.testing.assert_allclose(length, np.arccos(1 / np.sqrt(10)), rtol=1e-6)  # the geodesic's own length


def test_landmark_points_are_placed_at_their_own_coordinates(rng):
    P = rng.dirichlet(np.ones(10) * 0.5, size=(40, 30))
    D = bhattacharyya(P)
    fit = fit_landmarks(D, k=8)
    np.testing.assert_allclose(place(D, fit), fit["coords"], atol=1e-10)
    lam, coords, _ = inpca(D, k=8)
    np.testing.assert_allclose(fit["eigenvalues"], lam, rtol=1e-9)  # all points landmarks: the exact embedding


CFG = {**SETTINGS, "check_points": 0, "dims": 5, "spectrum": 12}


def test_landmark_embedding_is_close_to_exact():
    runs = synthetic_sweep(8, 30, 40, seed=3)
    err = compare_methods(runs, CFG, landmarks=40)
    assert err["procrustes_top3"] < 0.02, err
    assert abs(err["stress_top3_difference"]) < 0.05, err


def test_added_runs_are_placed_into_the_cached_embedding(tmp_path):
    runs = synthetic_sweep(6, 12, 25, seed=1)
    more = runs + synthetic_sweep(2, 12, 25, seed=1, first=6)
    cfg = {**CFG, "landmarks": 20}
    first, s1 = embed_group("g", runs, cfg, tmp_path, method="landmark")
    both, s2 = embed_group("g", more, cfg, tmp_path, method="landmark")
    key = ["run_id", "snapshot", "kind"]
    old = both.merge(first, on=key, suffixes=("", "_first"))
    assert len(old) == len(first)
    np.testing.assert_allclose(old["inpca1"], old["inpca1_first"], atol=1e-12)  # nothing recomputed
    np.testing.assert_allclose(s2["eigenvalue"], s1["eigenvalue"])
    fresh, _ = embed_group("g", more, {**cfg, "recompute": True}, tmp_path, method="landmark")
    assert not np.allclose(fresh.sort_values(key)["inpca1"], both.sort_values(key)["inpca1"]), \
        "recompute: new landmarks from all runs"


def test_landmark_cache_of_another_progress_definition_is_refit(tmp_path, monkeypatch, capsys):
    import topolearn.inpca.sweep as mod

    runs = synthetic_sweep(4, 8, 20, seed=1)
    cfg = {**CFG, "landmarks": 12}
    monkeypatch.setattr(mod, "PROGRESS", "another definition")
    embed_group("g", runs, cfg, tmp_path, method="landmark")
    monkeypatch.undo()
    coords, _ = embed_group("g", runs, cfg, tmp_path, method="landmark")
    assert "recomputing the embedding" in capsys.readouterr().out, "placed progress is never reused across definitions"
    ck = coords[coords["kind"] == "checkpoint"].sort_values(["run_id", "snapshot"])
    expect = np.concatenate([geodesic_progress(r.load()[0], r.labels) for r in runs])
    np.testing.assert_allclose(ck["progress"], expect, atol=1e-12)


def test_exact_distances_are_reused(tmp_path, monkeypatch):
    runs = synthetic_sweep(4, 6, 20, seed=2)
    cold, _ = embed_group("g", runs[:3], CFG, tmp_path, method="exact")
    calls = []
    import topolearn.inpca.sweep as mod
    monkeypatch.setattr(mod, "bhattacharyya", lambda P, Q=None, **kw: calls.append(len(P)) or bhattacharyya(P, Q))
    warm, _ = embed_group("g", runs, CFG, tmp_path, method="exact")
    assert calls == [6, 6], "only the new run's rows are computed"
    scratch, _ = embed_group("g", runs, CFG, None, method="exact")
    np.testing.assert_allclose(warm.filter(like="inpca").abs(), scratch.filter(like="inpca").abs(), atol=1e-9)


def test_fewer_than_two_checkpoints_give_an_empty_result(capsys):
    coords, stress = embed_group("g", synthetic_sweep(1, 1, 10), CFG, None)
    assert coords.empty and stress.empty and "at least 2 are needed" in capsys.readouterr().out


@pytest.mark.slow
def test_benchmark_quick_mode_runs():
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_inpca.py"
    out = subprocess.run([sys.executable, str(bench), "--quick", "--threads", "1"], capture_output=True, text=True,
                         check=True).stdout
    assert "exact (6, 8, 30)" in out and "adding 2 runs" in out and "Procrustes error (top 3)" in out


def test_progress_columns_in_the_summary(tmp_path):
    from topolearn.inpca.progress import epoch_to_progress, read_coords
    from topolearn.results.summary import build_summary
    from topolearn.sweep.table import write_sweep_table

    res = tmp_path / "results"
    points = {}
    for i, lr in enumerate((0.5, 1.0)):
        p = make_point(lr=lr, snapshots=9)
        points[write_run(res, p, seed=i)] = p
    write_sweep_table(points, res / "sweep.tsv")
    stores = [res / "runs" / r / "snapshots.zarr" for r in points]
    make_inpca(stores, res / "inpca/coords.tsv", res / "inpca/stress.tsv")
    coords = read_coords(res / "inpca/coords.tsv")
    rid = next(iter(points))
    f = epoch_to_progress(coords, rid)
    mine = coords[(coords.run_id == rid) & (coords.kind == "checkpoint")]
    np.testing.assert_allclose(f(mine["epoch"]), mine["progress"])
    assert np.isnan(f(-1.0)) and np.all(np.diff(f(np.linspace(0, 4, 9))) > 0)
    df = build_summary(res / "sweep.tsv", stores, res / "inpca/coords.tsv", res / "inpca/stress.tsv")
    row = df.set_index("run_id").loc[rid]
    ev = run_tables(res, rid)["events"]
    out = ev[ev.layer == "layer1"].iloc[0]
    assert row["layer1_first_split_progress"] == pytest.approx(float(f(out["branch_epoch"])))
    assert 0 < row["layer1_first_split_progress"] < 1 and 0 < row["layer0_first_jump_progress"] < 1
    assert row["inpca_final_progress"] == pytest.approx(mine["progress"].iloc[-1])
    assert row["inpca_path_length"] == pytest.approx(mine["step_length"].sum())
    assert 0 < row["inpca_stress_top3"] <= 1


def test_inpca_figures_render(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from topolearn.figures.inpca import inpca_figures, swept_factors
    from topolearn.inpca.progress import read_coords
    from topolearn.results.summary import build_summary
    from topolearn.sweep.table import write_sweep_table

    res = tmp_path / "results"
    points = {}
    for i, (lr, depth) in enumerate(((0.5, 1), (1.0, 1), (0.5, 2))):
        p = make_point(lr=lr, depth=depth, snapshots=9)
        points[write_run(res, p, seed=i)] = p
    write_sweep_table(points, res / "sweep.tsv")
    stores = [res / "runs" / r / "snapshots.zarr" for r in points]
    make_inpca(stores, res / "inpca/coords.tsv", res / "inpca/stress.tsv")
    summary = build_summary(res / "sweep.tsv", stores, res / "inpca/coords.tsv", res / "inpca/stress.tsv")
    assert swept_factors(summary) == ["lr", "depth"]
    coords, stress = read_coords(res / "inpca/coords.tsv"), pd.read_csv(res / "inpca/stress.tsv", sep="\t")
    figs = inpca_figures(coords, stress, summary, time_axis="progress")
    assert set(figs) == {"inpca", "inpca_factors", "inpca_spectrum", "inpca_progress", "inpca_separation"}
    for name, draw in figs.items():
        fig = draw()
        assert len(fig.axes) >= (1 if name == "inpca_separation" else 2), name  # one panel of ratios
        fig.savefig(tmp_path / f"{name}.png")
        plt.close(fig)
    prog = figs["inpca_progress"]()
    assert prog.axes[1].get_xlabel().startswith("progress") and len(prog.axes[0].collections) == 1
    plt.close(prog)
    empty = inpca_figures(coords.iloc[:0], stress.iloc[:0], summary.iloc[:0])
    assert set(empty) == set(figs)
    for name, draw in empty.items():  # nothing embedded: each figure says so instead of failing
        fig = draw()
        notes = [t.get_text() for ax in fig.axes for t in ax.texts]
        plt.close(fig)
        assert any(n.startswith("no ") for n in notes), (name, notes)


def million_checkpoints(n_runs=10_000, per_run=100):
    """InPCA coords of n_runs synthetic trajectories of per_run checkpoints each (arcs from ignorance
    to truth at run-specific paces) with the two landmarks, and a summary sweeping lr."""
    rng = np.random.default_rng(0)
    t, run = np.tile(np.linspace(0, 1, per_run), n_runs), np.repeat(np.arange(n_runs), per_run)
    pace = rng.uniform(0.5, 1.5, n_runs)[run]
    pts = pd.DataFrame({"group": "probe", "run_id": np.char.add("r", run.astype(str)), "kind": "checkpoint",
                        "snapshot": np.tile(np.arange(per_run), n_runs), "epoch": 10 * t, "progress": t ** pace,
                        "inpca1": np.cos(np.pi * t ** pace) + rng.normal(0, 0.05, len(t)),
                        "inpca2": np.sin(np.pi * t ** pace), "inpca3": t * pace, "test_acc": 1 - np.exp(-3 * t * pace)})
    marks = pd.DataFrame({"group": "probe", "run_id": "", "kind": ["ignorance", "truth"], "inpca1": [1.0, -1.0],
                          "inpca2": 0.0, "inpca3": [0.0, 1.0]})
    stress = pd.DataFrame({"group": "probe", "dim": [1, 2, 3], "eigenvalue": [3.0, 1.0, -0.5],
                           "explained_stress": [0.5, 0.8, 0.9]})
    summary = pd.DataFrame({"run_id": [f"r{i}" for i in range(n_runs)], "lr": np.tile([0.1, 0.5], n_runs // 2)})
    return pd.concat([pts, marks], ignore_index=True), stress, summary


def test_inpca_figures_of_a_million_checkpoints_stay_small(tmp_path):
    """10,000 runs x 100 checkpoints: density instead of 10,000 lines, rasterized layers, so the SVG
    stays a few hundred kB (measured: inpca 140 kB, inpca_factors 120 kB; docs/inpca.md)."""
    from matplotlib.collections import PolyCollection

    from topolearn.figures import theme
    from topolearn.figures.inpca import plot_inpca, plot_inpca_factors, plot_inpca_progress

    coords, stress, summary = million_checkpoints()
    fig = plot_inpca(coords, stress, summary)
    hexbin = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    assert len(hexbin) == 1 and hexbin[0].get_rasterized() and hexbin[0].get_array().sum() == 1_000_000
    assert len(fig.axes[0].lines) == 3  # best, median and worst final progress
    ax3 = next(ax for ax in fig.axes if ax.name == "3d")
    assert [len(c.get_colors()) for c in ax3.collections if hasattr(c, "get_segments")] == [200]  # even sample
    sizes = {"inpca": theme.save(fig, tmp_path, "inpca", ["svg"], 120)[0].stat().st_size}
    fig = plot_inpca_factors(coords, stress, summary)
    assert "200000 of 1000000 checkpoints (even sample)" in [t.get_text() for t in fig.axes[0].texts]
    sizes["inpca_factors"] = theme.save(fig, tmp_path, "inpca_factors", ["svg"], 120)[0].stat().st_size
    fig = plot_inpca_progress(coords, summary)
    assert sum(isinstance(c, PolyCollection) for c in fig.axes[1].collections) == 2  # bands, not 10,000 lines
    sizes["inpca_progress"] = theme.save(fig, tmp_path, "inpca_progress", ["svg"], 120)[0].stat().st_size
    assert all(s < 400_000 for s in sizes.values()), sizes
