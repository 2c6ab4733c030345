"""Intensive PCA (InPCA) of prediction trajectories (Mao et al. 2024; SCIENCE.md section C).

A checkpoint is its softmax outputs on the run's fixed probe samples. Distances are Bhattacharyya
distances averaged over samples; the embedding double-centers the distance matrix and keeps the
eigenpairs of largest |lambda|, negative ones included (time-like directions). Two landmarks are
embedded with the checkpoints: "ignorance" (uniform predictions) and "truth" (one-hot labels).
"""

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from .store import read_metrics
from .summary import open_checked

BC_FLOOR = 1e-30  # Bhattacharyya coefficient floor: disjoint predictions get a finite distance
BLOCK_ELEMENTS = 4_000_000  # pair x sample products computed at once (memory bound)


# ---------------------------------------------------------------- the math


def _sqrt_probs(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 0, None)
    return np.sqrt(p / p.sum(axis=-1, keepdims=True))


def bhattacharyya(P, Q=None) -> np.ndarray:
    """(a, b) matrix d(P_i, Q_j) = -(1/n) sum_n log sum_c sqrt(p_nc q_nc); P (a, n, C), Q (b, n, C).

    Exact zeros on the diagonal when Q is None (P against itself), symmetric, never negative.
    """
    sp = _sqrt_probs(P)
    sq = sp if Q is None else _sqrt_probs(Q)
    a, n, _ = sp.shape
    out = np.empty((a, len(sq)))
    step = max(1, BLOCK_ELEMENTS // max(len(sq) * n, 1))
    for i in range(0, a, step):
        j0 = i if Q is None else 0  # self-distances: upper triangle only, mirrored below
        bc = np.einsum("isc,jsc->ijs", sp[i:i + step], sq[j0:], optimize=True)
        out[i:i + step, j0:] = -np.log(np.clip(bc, BC_FLOOR, 1.0)).mean(axis=2)
    if Q is None:
        out = np.triu(out) + np.triu(out, 1).T
        np.fill_diagonal(out, 0.0)
    return np.maximum(out, 0.0)


def double_center(D) -> np.ndarray:
    """W = -1/2 L D L with L = I - 11^T/n."""
    D = np.asarray(D, dtype=np.float64)
    return -0.5 * (D - D.mean(axis=0) - D.mean(axis=1)[:, None] + D.mean())


def explained_stress(eigvals, fro2: float) -> np.ndarray:
    """Explained stress of the top k eigenpairs for every k: 1 - sqrt(1 - sum lambda^2/||W||_F^2)."""
    frac = np.cumsum(np.asarray(eigvals, dtype=np.float64) ** 2) / fro2 if fro2 > 0 else np.ones(len(eigvals))
    return 1.0 - np.sqrt(np.clip(1.0 - frac, 0.0, 1.0))


def inpca(D, k: int | None = None):
    """Embed a distance matrix. Returns (eigenvalues, coordinates (n, k), explained stress (k,)).

    Eigenpairs are sorted by |lambda| (negative ones kept); coordinates are v * sqrt|lambda|, so
    D_ij = sum_k sign(lambda_k) (x_ik - x_jk)^2 when all dimensions are kept. Each eigenvector's sign
    is fixed (largest-magnitude entry positive) so that re-running gives the same picture.
    """
    W = double_center(D)
    lam, V = np.linalg.eigh(W)
    order = np.argsort(-np.abs(lam), kind="stable")[: k or len(lam)]
    lam, V = lam[order], V[:, order]
    V *= np.sign(V[np.abs(V).argmax(axis=0), np.arange(V.shape[1])])
    coords = V * np.sqrt(np.abs(lam))
    return lam, coords, explained_stress(lam, float((W ** 2).sum()))


def landmarks(labels, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Ignorance (uniform) and truth (one-hot labels) predictions, each (n_samples, n_classes)."""
    labels = np.asarray(labels, dtype=int)
    ignorance = np.full((len(labels), n_classes), 1.0 / n_classes)
    truth = np.eye(n_classes)[labels]
    return ignorance, truth


def geodesic_point(labels, n_classes: int, lam: float) -> np.ndarray:
    """Predictions at fraction `lam` of the geodesic from ignorance to truth (sqrt-prob sphere)."""
    u, t = (np.sqrt(x) for x in landmarks(labels, n_classes))
    theta = np.arccos(1.0 / np.sqrt(n_classes))
    g = (np.sin((1 - lam) * theta) * u + np.sin(lam * theta) * t) / np.sin(theta)
    return g ** 2


def geodesic_progress(probs, labels, iters: int = 60) -> np.ndarray:
    """Progress in [0, 1] of each checkpoint (probs (a, n, C)) along the ignorance-truth geodesic.

    The closest geodesic point in Bhattacharyya distance: per sample the coefficient with point
    lambda is (sin((1-lambda)theta) a + sin(lambda theta) b) / sin(theta), a = sum_c sqrt(p_c/C),
    b = sqrt(p_label); its -log is convex in lambda, so a golden-section search is exact.
    """
    sp = _sqrt_probs(probs)
    n_classes = sp.shape[2]
    labels = np.asarray(labels, dtype=int)
    a = sp.sum(axis=2) / np.sqrt(n_classes)  # (a, n)
    b = np.take_along_axis(sp, labels[None, :, None], axis=2)[..., 0]
    theta = np.arccos(1.0 / np.sqrt(n_classes))

    def cost(lam):  # lam (a,) -> mean over samples of -log coefficient
        bc = (np.sin((1 - lam[:, None]) * theta) * a + np.sin(lam[:, None] * theta) * b) / np.sin(theta)
        return -np.log(np.clip(bc, BC_FLOOR, None)).mean(axis=1)

    lo, hi = np.zeros(len(sp)), np.ones(len(sp))
    g = (np.sqrt(5) - 1) / 2
    for _ in range(iters):  # golden-section search, vectorized over checkpoints
        m1, m2 = hi - g * (hi - lo), lo + g * (hi - lo)
        left = cost(m1) <= cost(m2)
        hi = np.where(left, m2, hi)
        lo = np.where(left, lo, m1)
    return (lo + hi) / 2


# ---------------------------------------------------------------- the sweep's checkpoints


def _even(n: int, k: int) -> np.ndarray:
    return np.arange(n) if n <= k else np.unique(np.linspace(0, n - 1, k).round().astype(int))


def load_checkpoints(stores, max_points: int) -> list[dict]:
    """Per probe set (dataset + probe labels): the runs' finite checkpoints, evenly thinned so the
    group holds at most `max_points` checkpoints."""
    groups: dict[tuple, list] = {}
    for path in stores:
        root = open_checked(path)
        attrs = dict(root.attrs)
        probs = root["probs"][:]
        labels = root["probe_labels"][:]
        m = read_metrics(root)
        ok = np.flatnonzero(np.isfinite(probs.reshape(len(probs), -1)).all(axis=1))
        key = (attrs.get("params", {}).get("dataset", "?"), hashlib.sha1(labels.tobytes()).hexdigest()[:8])
        groups.setdefault(key, []).append(dict(run_id=attrs.get("run_id", Path(path).parent.name), probs=probs,
                                               labels=labels, metrics=m, ok=ok))
    out = []
    for (dataset, h), runs in sorted(groups.items()):
        per_run = max(2, max_points // len(runs))
        for r in runs:
            r["keep"] = r["ok"][_even(len(r["ok"]), per_run)]
        name = f"{dataset}-probe{len(runs[0]['labels'])}" + (f"-{h}" if len(groups) > 1 else "")
        out.append(dict(group=name, runs=runs))
    return out


def embed_group(group: dict, dims: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """coords (one row per checkpoint and landmark) and stress (one row per dimension) of one group."""
    runs = group["runs"]
    labels = runs[0]["labels"]
    n_classes = runs[0]["probs"].shape[2]
    ign, truth = landmarks(labels, n_classes)
    P = np.concatenate([r["probs"][r["keep"]] for r in runs] + [ign[None], truth[None]])
    rows = []
    for r in runs:
        m = r["metrics"].iloc[r["keep"]]
        rows.append(pd.DataFrame({"run_id": r["run_id"], "kind": "checkpoint", "snapshot": r["keep"],
                                  "step": m["step"].to_numpy(), "epoch": m["epoch"].to_numpy(),
                                  "test_acc": m["test_acc"].to_numpy()}))
    rows.append(pd.DataFrame({"run_id": ["", ""], "kind": ["ignorance", "truth"]}))
    meta = pd.concat(rows, ignore_index=True)
    lam, coords, stress = inpca(bhattacharyya(P), k=min(dims, len(P)))
    meta.insert(0, "group", group["group"])
    meta["progress"] = geodesic_progress(P, labels)
    for j in range(coords.shape[1]):
        meta[f"inpca{j + 1}"] = coords[:, j]
    stress_df = pd.DataFrame({"group": group["group"], "dim": np.arange(1, len(lam) + 1), "eigenvalue": lam,
                              "explained_stress": stress})
    return meta, stress_df


def make_inpca(stores, coords_out, stress_out, max_points: int = 1500, dims: int = 10) -> None:
    """The rule's entry point: results/inpca/coords.tsv and results/inpca/stress.tsv."""
    parts = [embed_group(g, dims) for g in load_checkpoints(stores, max_points)]
    coords = pd.concat([p[0] for p in parts], ignore_index=True)
    stress = pd.concat([p[1] for p in parts], ignore_index=True)
    for df, out in ((coords, coords_out), (stress, stress_out)):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(out, sep="\t", index=False, na_rep="NA", float_format="%.8g")
