"""Intensive PCA (InPCA) of prediction trajectories (Mao et al. 2024; SCIENCE.md section C): the math.

A checkpoint is its softmax outputs on the run's fixed probe samples. Distances are Bhattacharyya
distances averaged over samples; the embedding double-centers the distance matrix (the distance
itself, not its square: the papers' definition) and keeps the eigenpairs of largest |lambda|,
negative ones included (time-like directions). Two landmarks are embedded with the checkpoints:
"ignorance" (uniform predictions) and "truth" (one-hot labels).

Scale: distances are computed in blocks of pairs and samples with torch (bounded temporaries); callers
that also need the square roots for progress and step lengths compute them once (`roots=True`); beyond
a few thousand checkpoints a landmark (Nystrom / landmark-MDS) embedding places every checkpoint
out of sample from its distances to a few thousand landmark checkpoints (`fit_landmarks`, `place`).
The sweep-level driver (groups, cache, tables) is `topolearn.inpca.sweep`.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from scipy.sparse.linalg import eigsh
from scipy.spatial import procrustes

BC_FLOOR = 1e-30  # Bhattacharyya coefficient floor: disjoint predictions get a finite distance
LOG_GROUP = 10  # coefficients multiplied before one log: BC_FLOOR**10 = 1e-300 still a normal float64
TILE = 128  # pair tile (rows and columns): a (LOG_GROUP, TILE, TILE) product stays in cache
MEMORY_MB = 1000  # default bound on the temporaries of one distance computation
PROGRESS = "product-sphere angle"  # the cost geodesic_progress minimizes (caches of placed progress name it)


# ---------------------------------------------------------------- distances


def sqrt_probs(p) -> np.ndarray:
    """sqrt of row-normalized, non-negative predictions (a, n, C) as float64, samples made contiguous
    per checkpoint."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0, None)
    return np.sqrt(p / p.sum(axis=-1, keepdims=True))


def _tile_sum(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """sum_n log BC_n for every pair of a tile: A (n, a, C), B (n, C, b) -> (a, b).

    Products of LOG_GROUP coefficients take one log (a tenth of the logs); the floor keeps them finite.
    Coefficients of float32 roots are multiplied and logged in float64 (a product of ten floored
    ones, 1e-300, is far below float32's range).
    """
    out = torch.zeros((A.shape[1], B.shape[2]), dtype=torch.float64)
    for k in range(0, A.shape[0], LOG_GROUP):
        bc = torch.bmm(A[k:k + LOG_GROUP], B[k:k + LOG_GROUP]).to(torch.float64).clamp_(BC_FLOOR, 1.0)
        out += torch.log(bc.prod(dim=0))
    return out


def _row_chunk(n_rows: int, n: int, C: int, memory_mb: float, itemsize: int = 8) -> int:
    """Rows of P (and of Q) whose transposed sqrt-probs (n, rows, C) fit a quarter of the budget."""
    return int(max(TILE, min(n_rows, memory_mb * 2**20 / 4 / (itemsize * n * C)) // TILE * TILE))


def bhattacharyya(P, Q=None, *, memory_mb: float = MEMORY_MB, threads: int = 1, roots: bool = False,
                  float32: bool = False) -> np.ndarray:
    """(a, b) matrix d(P_i, Q_j) = -(1/n) sum_n log sum_c sqrt(p_nc q_nc); P (a, n, C), Q (b, n, C).

    Exact zeros on the diagonal when Q is None (P against itself: upper triangle computed, mirrored),
    symmetric, never negative. Temporaries stay within about `memory_mb` (the (a, b) result apart);
    `threads` tiles run at once (torch releases the GIL). `roots`: P and Q are sqrt_probs already.
    `float32`: the sums over classes in float32 (1.5x faster; distances off by ~3e-8, for the
    landmark placement, whose own approximation error is orders larger); else float64 throughout.
    """
    P = np.asarray(P)
    same = Q is None
    Q = P if same else np.asarray(Q)
    a, n, C = P.shape
    out = np.zeros((a, len(Q)))
    if a == 0 or len(Q) == 0:
        return out
    dtype = np.float32 if float32 else np.float64

    def root(X, axes):  # a block's sqrt-probs, contiguous in the order the tiles read them
        X = np.asarray(X, dtype=dtype) if roots else sqrt_probs(X).astype(dtype, copy=False)
        return torch.from_numpy(np.ascontiguousarray(X.transpose(axes)))

    rows = _row_chunk(max(a, len(Q)), n, C, memory_mb, np.dtype(dtype).itemsize)
    for i0 in range(0, a, rows):
        A = root(P[i0:i0 + rows], (1, 0, 2))
        for j0 in range(i0 if same else 0, len(Q), rows):
            diagonal = same and j0 == i0
            B = A.transpose(1, 2) if diagonal else root(Q[j0:j0 + rows], (1, 2, 0))
            _fill(out, A, B, i0, j0, upper=diagonal, threads=threads)
    if same:
        out = np.triu(out, 1) + np.triu(out, 1).T
    out /= -n
    return np.maximum(out, 0.0)


def _fill(out, A, B, i0, j0, *, upper: bool, threads: int) -> None:
    """out[i0.., j0..] = sum_n log BC over every TILE x TILE tile of A (n, a, C) x B (n, C, b)."""
    tiles = [(i, j) for i in range(0, A.shape[1], TILE) for j in range(0, B.shape[2], TILE)
             if not upper or j + TILE > i]

    def one(ij):
        i, j = ij
        s = _tile_sum(A[:, i:i + TILE], B[:, :, j:j + TILE]).numpy()
        out[i0 + i:i0 + i + s.shape[0], j0 + j:j0 + j + s.shape[1]] = s

    torch.set_num_threads(1)  # parallel over tiles, one thread per tile
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, tiles))
    else:
        for ij in tiles:
            one(ij)


def step_lengths(P, roots: bool = False) -> np.ndarray:
    """Length of each step of a trajectory P (a, n, C) in the sphere metric: the root mean square over
    samples of the angle between consecutive sqrt-probability vectors (0 for the first checkpoint).

    Unlike the Bhattacharyya distance (quadratic at short range) it adds up along a path independently
    of how finely it is sampled; the ignorance-truth geodesic has length arccos(1/sqrt(C)).
    `roots`: P is sqrt_probs already.
    """
    if len(P) < 2:
        return np.zeros(len(P))
    s = np.asarray(P, dtype=np.float64) if roots else sqrt_probs(P)
    cos = np.clip((s[1:] * s[:-1]).sum(axis=2), -1.0, 1.0)
    return np.concatenate([[0.0], np.sqrt((np.arccos(cos) ** 2).mean(axis=1))])


# ---------------------------------------------------------------- embedding


def double_center(D) -> np.ndarray:
    """W = -1/2 L D L with L = I - 11^T/n."""
    D = np.asarray(D, dtype=np.float64)
    return -0.5 * (D - D.mean(axis=0) - D.mean(axis=1)[:, None] + D.mean())


def explained_stress(eigvals, fro2: float) -> np.ndarray:
    """Explained stress of the top k eigenpairs for every k: 1 - sqrt(1 - sum lambda^2/||W||_F^2)."""
    frac = np.cumsum(np.asarray(eigvals, dtype=np.float64) ** 2) / fro2 if fro2 > 0 else np.ones(len(eigvals))
    return 1.0 - np.sqrt(np.clip(1.0 - frac, 0.0, 1.0))


def top_eigenpairs(W, k: int | None = None):
    """The k eigenpairs of largest |lambda| of a symmetric W, sorted by |lambda|, signs fixed
    (largest-magnitude entry of each eigenvector positive) so that re-running gives the same picture.

    A dense solver for small W or k close to n, else ARPACK (eigsh, fixed start vector).
    """
    n = len(W)
    k = min(k or n, n)
    if n <= 600 or k >= n // 4:
        lam, V = np.linalg.eigh(W)
    else:
        lam, V = eigsh(W, k=k, which="LM", v0=np.ones(n) / np.sqrt(n), tol=1e-10)
    order = np.argsort(-np.abs(lam), kind="stable")[:k]
    lam, V = lam[order], V[:, order]
    V = V * np.sign(V[np.abs(V).argmax(axis=0), np.arange(V.shape[1])])
    return lam, V


def inpca(D, k: int | None = None):
    """Embed a distance matrix. Returns (eigenvalues, coordinates (n, k), explained stress (k,)).

    Eigenpairs are sorted by |lambda| (negative ones kept); coordinates are v * sqrt|lambda|, so
    D_ij = sum_k sign(lambda_k) (x_ik - x_jk)^2 when all dimensions are kept.
    """
    W = double_center(D)
    lam, V = top_eigenpairs(W, k)
    return lam, V * np.sqrt(np.abs(lam)), explained_stress(lam, float((W ** 2).sum()))


def fit_landmarks(D_landmarks, k: int):
    """Landmark embedding (landmark MDS, de Silva & Tenenbaum 2004; Nystrom) from the landmarks'
    distance matrix (m, m). Returns a dict `place` needs: eigenvalues, the projection (m, k) and the
    landmarks' column means, plus their coordinates and the explained stress of W_landmarks."""
    D = np.asarray(D_landmarks, dtype=np.float64)
    W = double_center(D)
    lam, V = top_eigenpairs(W, k)
    keep = np.abs(lam) > 1e-12 * max(np.abs(lam).max(initial=0.0), 1e-300)  # null directions place nothing
    proj = np.zeros_like(V)
    proj[:, keep] = -0.5 * V[:, keep] * (np.sign(lam[keep]) / np.sqrt(np.abs(lam[keep])))
    return {"eigenvalues": lam, "projection": proj, "mean": D.mean(axis=0), "coords": V * np.sqrt(np.abs(lam)),
            "stress": explained_stress(lam, float((W ** 2).sum()))}


def place(D_to_landmarks, fit: dict) -> np.ndarray:
    """Out-of-sample coordinates (a, k) of points from their distances to the landmarks (a, m):
    x_k = -1/2 sign(lambda_k) / sqrt|lambda_k| v_k . (delta - mean). For a landmark itself it gives
    back exactly its own coordinates v sqrt|lambda| (v is orthogonal to the constant vector)."""
    return (np.asarray(D_to_landmarks, dtype=np.float64) - fit["mean"]) @ fit["projection"]


def procrustes_error(reference, other, dims: int = 3) -> float:
    """Procrustes disparity (0 = same shape up to translation, rotation, reflection and scale; 1 = none)
    of the top `dims` coordinates of two embeddings of the same points."""
    return float(procrustes(np.asarray(reference)[:, :dims], np.asarray(other)[:, :dims])[2])


# ---------------------------------------------------------------- ignorance, truth and progress


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


def geodesic_progress(probs, labels, iters: int = 40, roots: bool = False) -> np.ndarray:
    """Progress in [0, 1] of each checkpoint (probs (a, n, C)) along the ignorance-truth geodesic.

    The projection of the prediction-manifold papers (Mao et al. 2024, `project` mode "prod"): the
    geodesic point closest on the product of the samples' spheres, i.e. the lambda minimizing the sum
    over samples of the angle arccos(clip(c, 0, 1)) between sqrt p and the geodesic point, where
    c = (sin((1-lambda)theta) a + sin(lambda theta) b) / sin(theta), a = sum_c sqrt(p_c/C),
    b = sqrt(p_label), theta = arccos(1/sqrt(C)); no sample's angle exceeds pi/2. Each angle is
    convex in lambda on [0, 1] (a > 0 and b >= 0 at the ends; docs/inpca.md), so a golden-section
    search finds the exact minimum. 40 steps narrow lambda to 5e-9. `roots`: probs is sqrt_probs already.
    """
    sp = np.asarray(probs, dtype=np.float64) if roots else sqrt_probs(probs)
    n_classes = sp.shape[2]
    labels = np.asarray(labels, dtype=int)
    theta = np.arccos(1.0 / np.sqrt(n_classes))
    a = sp.sum(axis=2) / (np.sqrt(n_classes) * np.sin(theta))  # (a, n), over sin(theta) once, not per step
    b = np.take_along_axis(sp, labels[None, :, None], axis=2)[..., 0] / np.sin(theta)
    c = np.empty_like(a)

    def cost(lam):  # lam (a,) -> mean over samples of the angle to the geodesic point (in place: 40 calls)
        np.multiply(np.sin((1 - lam) * theta)[:, None], a, out=c)
        np.add(c, np.sin(lam * theta)[:, None] * b, out=c)
        np.minimum(c, 1.0, out=c)
        np.maximum(c, 0.0, out=c)
        return np.arccos(c, out=c).mean(axis=1)

    g = (np.sqrt(5) - 1) / 2
    lo, hi = np.zeros(len(sp)), np.ones(len(sp))
    m1, m2 = hi - g * (hi - lo), lo + g * (hi - lo)
    c1, c2 = cost(m1), cost(m2)
    for _ in range(iters):  # golden-section search, vectorized over checkpoints: one new point a step
        left = c1 <= c2  # the minimum lies in [lo, m2]: m1 becomes the new m2
        hi, lo = np.where(left, m2, hi), np.where(left, lo, m1)
        new = np.where(left, hi - g * (hi - lo), lo + g * (hi - lo))
        c_new = cost(new)
        m1, m2, c1, c2 = (np.where(left, new, m2), np.where(left, m1, new),
                          np.where(left, c_new, c2), np.where(left, c1, c_new))
    return (lo + hi) / 2
