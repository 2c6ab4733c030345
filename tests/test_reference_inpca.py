"""topolearn's InPCA against a direct implementation of the reference's formulas (the prediction-manifold
papers' code, grasp-lyrl/low-dimensional-deepnets: Bhattacharyya distances, InPCA, explained stress,
and `project` in mode "prod" for the progress), written here from their definitions, on a small
synthetic sweep and on a sweep of stores."""

import numpy as np
import pandas as pd
import pytest
from fake_results import make_point, write_run
from scipy.optimize import minimize_scalar

from topolearn.inpca.embedding import bhattacharyya, landmarks
from topolearn.inpca.sweep import SETTINGS, embed_group, make_inpca
from topolearn.inpca.synthetic import synthetic_run

N_CLASSES = 10


# ---------------------------------------------------------------- the reference, from its definitions


def ref_distances(P: np.ndarray) -> np.ndarray:
    """d(P, Q) = -(1/n) sum_n log sum_c sqrt(p_nc q_nc), every pair."""
    s = np.sqrt(P)
    return -np.log(np.einsum("inc,jnc->ijn", s, s)).mean(axis=2)


def ref_inpca(D: np.ndarray, k: int):
    """W = -1/2 L D L, L = I - 11^T/N; eigenpairs by |lambda|; coordinates v sqrt|lambda|; explained
    stress of the top k: 1 - sqrt(1 - sum_{i<=k} lambda_i^2 / ||W||_F^2)."""
    L = np.eye(len(D)) - np.ones_like(D) / len(D)
    W = -0.5 * L @ D @ L
    lam, V = np.linalg.eigh(W)
    order = np.argsort(-np.abs(lam))[:k]
    lam, V = lam[order], V[:, order]
    stress = 1 - np.sqrt(1 - np.cumsum(lam ** 2) / np.sum(W ** 2))
    return lam, V * np.sqrt(np.abs(lam)), stress


def ref_project(probs: np.ndarray, labels: np.ndarray) -> float:
    """`project`, mode "prod": r = sqrt(probs), p = sqrt(uniform) (ignorance), q = sqrt(one-hot) (truth);
    the t in [0, 1] minimizing sum_n arccos(clip(coss_n(t), 0, 1)) along the geodesic p -> q."""
    r = np.sqrt(probs)
    p = np.sqrt(np.full_like(r, 1 / r.shape[1]))
    q = np.sqrt(np.eye(r.shape[1])[labels])
    theta = np.arccos(np.clip((p * q).sum(1), 0, 1))
    cost1, cost2 = np.clip((p * r).sum(1), 0, 1), np.clip((q * r).sum(1), 0, 1)
    moving = theta >= 1e-8  # a sample whose ignorance is its truth adds a constant

    def total_angle(t):
        th = theta[moving]
        coss = cost1[moving] * np.sin((1 - t) * th) / np.sin(th) + cost2[moving] * np.sin(t * th) / np.sin(th)
        return np.arccos(np.clip(coss, 0, 1)).sum() + np.arccos(cost1[~moving]).sum()

    return minimize_scalar(total_angle, bounds=(0, 1), method="bounded", options={"xatol": 1e-10}).x


# ---------------------------------------------------------------- comparisons


def _sweep():
    """Eight float64 synthetic runs on one probe set (float64: the formulas above take the stored
    probabilities as they are, topolearn renormalizes them)."""
    labels = np.random.default_rng(3).integers(0, N_CLASSES, size=40)
    return [synthetic_run(i, labels, N_CLASSES, 12, seed=3, dtype=np.float64) for i in range(8)]


@pytest.fixture(scope="module")
def embedded():
    runs = _sweep()
    coords, stress = embed_group("ref", runs, {**SETTINGS, "dims": 6, "spectrum": 20}, None, method="exact")
    probs = np.concatenate([r.load()[0] for r in runs] + [np.stack(landmarks(runs[0].labels, N_CLASSES))])
    return runs, coords, stress, probs


def test_distances_equal_the_reference(embedded):
    *_, probs = embedded
    np.testing.assert_allclose(bhattacharyya(probs), ref_distances(probs), rtol=0, atol=1e-10)


def test_embedding_and_stress_equal_the_reference(embedded):
    _, coords, stress, probs = embedded
    lam, X, ref_stress = ref_inpca(ref_distances(probs), 20)
    np.testing.assert_allclose(stress["eigenvalue"], lam, rtol=0, atol=1e-10)
    np.testing.assert_allclose(stress["explained_stress"], ref_stress, rtol=0, atol=1e-9)
    gaps = np.abs(np.diff(np.abs(lam[:7])))
    assert gaps.min() > 1e-6 * np.abs(lam[0]), "distinct eigenvalues: each axis defined up to its sign"
    ours = coords[[f"inpca{j + 1}" for j in range(6)]].to_numpy()
    for j in range(6):
        sign = np.sign(ours[:, j] @ X[:, j])
        np.testing.assert_allclose(ours[:, j], sign * X[:, j], rtol=0, atol=1e-9)


def test_progress_equals_the_reference_projection(embedded):
    runs, coords, *_ = embedded
    labels = runs[0].labels
    ck = coords[coords["kind"] == "checkpoint"]
    probs = np.concatenate([r.load()[0] for r in runs])
    ref = np.array([ref_project(p, labels) for p in probs])
    assert ref.min() < 0.05 and ref.max() > 0.6, "the sweep spans the geodesic"
    np.testing.assert_allclose(ck["progress"].to_numpy(float), ref, rtol=0, atol=1e-6)
    ends = coords.set_index("kind").loc[["ignorance", "truth"], "progress"]
    np.testing.assert_allclose(ends, [0, 1])


def test_stored_sweep_progress_equals_the_reference(tmp_path):
    """The whole path, stores to coords.tsv (8 significant digits), on float32 stored predictions."""
    import zarr

    res = tmp_path / "results"
    ids = [write_run(res, make_point(lr=lr, snapshots=9), seed=i) for i, lr in enumerate((0.05, 0.1, 0.5))]
    stores = [res / "runs" / r / "snapshots.zarr" for r in ids]
    make_inpca(stores, res / "coords.tsv", res / "stress.tsv")
    coords = pd.read_csv(res / "coords.tsv", sep="\t", keep_default_na=False, na_values=["NA"])
    for rid, store in zip(ids, stores):
        root = zarr.open_group(str(store), mode="r")
        probs, labels = root["probs"][:].astype(np.float64), root["probe_labels"][:]
        probs /= probs.sum(axis=2, keepdims=True)
        ref = [ref_project(p, labels) for p in probs]
        ours = coords.loc[coords["run_id"] == rid].sort_values("snapshot")["progress"].to_numpy(float)
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)
