"""InPCA: the math on cases with known answers, and the embedding of synthetic stores."""

import numpy as np
import pandas as pd
import pytest
from fake_results import make_point, write_run

from topolearn.inpca import (bhattacharyya, double_center, explained_stress, geodesic_point, geodesic_progress,
                             inpca, landmarks, make_inpca)


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


def test_small_blocks_give_the_same_matrix(rng, monkeypatch):
    P = rng.dirichlet(np.ones(5), size=(9, 7))
    full = bhattacharyya(P)
    monkeypatch.setattr("topolearn.inpca.BLOCK_ELEMENTS", 1)  # one row per block
    np.testing.assert_allclose(bhattacharyya(P), full, atol=1e-15)


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


def test_make_inpca_tables(tmp_path):
    res = tmp_path / "results"
    ok = write_run(res, make_point(snapshots=9), seed=0)
    bad = write_run(res, make_point(lr=1.0, snapshots=9), diverge_at=5, seed=1)
    other = write_run(res, make_point(probe_size=20, snapshots=9), seed=2)  # another probe set
    stores = [res / "runs" / r / "snapshots.zarr" for r in (ok, bad, other)]
    make_inpca(stores, res / "inpca/coords.tsv", res / "inpca/stress.tsv", max_points=12)
    coords = pd.read_csv(res / "inpca/coords.tsv", sep="\t", keep_default_na=False, na_values=["NA"])
    stress = pd.read_csv(res / "inpca/stress.tsv", sep="\t")
    assert coords["group"].nunique() == 2 and stress["group"].nunique() == 2
    main = coords[coords["group"] == coords.loc[coords["run_id"] == ok, "group"].iloc[0]]
    assert set(main["run_id"]) == {ok, bad, ""}
    assert (main.loc[main.run_id == bad, "snapshot"] <= 5).all(), "NaN predictions are never embedded"
    assert len(main[main["kind"] == "checkpoint"]) <= 12, "max_points thins the snapshots"
    lm = main.set_index("kind")
    assert lm.loc["ignorance", "progress"] == pytest.approx(0, abs=1e-6)
    assert lm.loc["truth", "progress"] == pytest.approx(1, abs=1e-6)
    assert {"inpca1", "inpca2", "inpca3", "epoch", "test_acc", "step"} <= set(coords.columns)
    s = stress[stress["group"] == main["group"].iloc[0]]
    assert s["explained_stress"].is_monotonic_increasing and s["explained_stress"].iloc[-1] <= 1 + 1e-9
