"""Which swept factors move trajectories on the prediction manifold (Mao et al. 2024; SCIENCE.md C:
architecture separates trajectories, optimizer and regularization barely do, wider nets follow the
same path faster), measured on any sweep: results/inpca/factors.tsv and stress_top.tsv.

Matched progress: each run's trajectory is resampled at the progress levels GRID, at the first
crossing of each level (progress need not be monotone), by interpolating the sqrt-probabilities of
the two checkpoints around it and renormalizing each sample (a chord of the sample's sphere, close
to its geodesic when checkpoints are close). A level a run never reaches (or had passed before its
first checkpoint) is missing for that run. The distance between two runs is the mean over the
levels both reach of the Bhattacharyya distance of their resampled points; a pair sharing no level
has none (counted as `n_unmatched`), so a factor level that never learns is compared only where
it got to.

For a factor F: between pairs differ in F and the seed and nothing else (fields that F determines,
such as init_std beside init, go with F); within pairs, in the same cells, differ in the seed alone.
Both kinds thus pair different seeds: two runs of one seed share their init and data order and
would sit closer than any within pair (same-seed pairs count only in a sweep of one seed, which has
no ratio). ratio = mean between / mean within: about 1 when F does not move the
path beyond seed noise, >> 1 when it does. The interval resamples seed values with replacement
(BOOTSTRAP times, seeded): a pair's weight is the product of its two seeds' multiplicities. Pairs
are sampled (uniformly, seeded) beyond MAX_PAIRS per factor and kind, so a 10,000-run sweep costs
at most 2 x MAX_PAIRS pair distances per factor; each run reads two snapshots per level.
"""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from ..store.fastread import array_shape, read_arrays
from ..sweep.table import read_sweep_table, varied_fields
from ..utils.tables import read_tsv, write_tsv
from .embedding import BC_FLOOR, sqrt_probs

GRID = np.round(np.arange(1, 10) / 10, 10)  # progress levels 0.1 .. 0.9
BOOTSTRAP = 1000
MAX_PAIRS = 20000  # per factor and kind (between, within), per probe group
SEED = 0
PAIR_CHUNK = 64  # pairs per distance block: 64 x 9 levels x 1,000 samples x 10 classes float32 = 23 MB
MEMORY_MB = 1000  # resampled trajectories beyond this live in a memory-mapped temporary file
STRESS_K = (1, 3, 50)
COLUMNS = ["group", "factor", "levels", "n_levels", "n_between", "n_within", "n_unmatched", "between", "within",
           "ratio", "ci_low", "ci_high", "n_boot"]
STRESS_TOP_COLUMNS = ["group", "method", "n_checkpoints", *(f"stress_top{k}" for k in STRESS_K)]


# ---------------------------------------------------------------- matched progress


def crossings(progress, grid=GRID):
    """Per level g: (lo, hi, w, ok), the first checkpoints lo = hi - 1 with progress[lo] < g <= progress[hi]
    and the weight w of hi at g; ok False where the run never reaches g or started beyond it."""
    t = np.asarray(progress, dtype=float)
    grid = np.asarray(grid, dtype=float)
    if len(t) < 2:
        z = np.zeros(len(grid), dtype=int)
        return z, z, np.zeros(len(grid)), np.zeros(len(grid), dtype=bool)
    above = t[None, :] >= grid[:, None]
    hi = np.where(above.any(axis=1), above.argmax(axis=1), 0)
    ok = hi > 0
    hi = np.where(ok, hi, 1)
    lo = hi - 1
    w = np.where(ok, (grid - t[lo]) / np.maximum(t[hi] - t[lo], 1e-300), 0.0)
    return lo, hi, np.clip(w, 0, 1), ok


def resample(progress, snapshots, load, grid=GRID):
    """(levels, n, C) float32 sqrt-probabilities of a run at each level (zeros where not reached) and
    the reached mask; `load(rows)` gives the probabilities of store snapshots `rows` (increasing)."""
    lo, hi, w, ok = crossings(progress, grid)
    snapshots = np.asarray(snapshots)
    rows = np.unique(np.concatenate([snapshots[lo[ok]], snapshots[hi[ok]]])).astype(int)
    if not len(rows):
        return None, ok
    r = sqrt_probs(load(rows))
    pos = {s: i for i, s in enumerate(rows)}
    a = np.stack([r[pos[s]] if k else np.zeros_like(r[0]) for s, k in zip(snapshots[lo], ok)])
    b = np.stack([r[pos[s]] if k else np.zeros_like(r[0]) for s, k in zip(snapshots[hi], ok)])
    x = (1 - w)[:, None, None] * a + w[:, None, None] * b
    x /= np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-300)
    return x.astype(np.float32), ok


def pair_distances(R, ok, a, b, threads: int = 1) -> np.ndarray:
    """Mean Bhattacharyya distance of runs a[i] and b[i] over the levels both reach (NaN: none)."""
    def block(s):
        ia, ib = a[s:s + PAIR_CHUNK], b[s:s + PAIR_CHUNK]
        bc = np.einsum("pgnc,pgnc->pgn", R[ia], R[ib]).astype(np.float64)
        d = -np.log(np.clip(bc, BC_FLOOR, 1.0)).mean(axis=2)
        m = ok[ia] & ok[ib]
        n = m.sum(axis=1)
        return np.where(n > 0, (d * m).sum(axis=1) / np.maximum(n, 1), np.nan)

    starts = range(0, len(a), PAIR_CHUNK)
    with ThreadPoolExecutor(max(1, threads)) as pool:
        parts = list(pool.map(block, starts))
    return np.concatenate(parts) if parts else np.zeros(0)


# ---------------------------------------------------------------- pairs


def _keys(frame: pd.DataFrame, fields: list[str]) -> pd.DataFrame:
    """Field values as comparable strings, NA for a field that does not apply."""
    return pd.DataFrame({f: ["NA" if pd.isna(v) else repr(v) for v in frame[f]] for f in fields}, index=frame.index)


def factor_strata(frame: pd.DataFrame, factor: str, fields: list[str]):
    """(between strata, within strata, levels): strata are (run positions A, run positions B, same)
    whose pairs differ in `factor` alone (A, B: two of its levels in one cell of the other fields) or
    in the seed alone (A = B: one level of a cell). Fields `factor` determines are left out of the cells."""
    keys = _keys(frame.reset_index(drop=True), fields)
    others = [g for g in fields if g != factor and keys.groupby(factor)[g].nunique().max() > 1]
    between, within, levels = [], [], set()
    cells = keys.groupby(others, sort=True).indices.values() if others else [np.arange(len(keys))]
    for cell in cells:
        by_level = keys.iloc[cell].groupby(factor, sort=True).indices
        if len(by_level) < 2:
            continue
        groups = [np.asarray(cell)[i] for i in by_level.values()]
        levels |= set(by_level)
        between += [(groups[i], groups[j], False) for i in range(len(groups)) for j in range(i + 1, len(groups))]
        within += [(g, g, True) for g in groups if len(g) > 1]
    return between, within, sorted(levels)


def sample_pairs(strata, max_pairs: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of the strata, or max_pairs drawn uniformly over them (with replacement) when more."""
    counts = np.array([len(A) * (len(A) - 1) // 2 if same else len(A) * len(B) for A, B, same in strata], dtype=float)
    if not len(strata) or counts.sum() == 0:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    a, b = [], []
    if counts.sum() <= max_pairs:
        for A, B, same in strata:
            i, j = np.triu_indices(len(A), 1) if same else np.meshgrid(np.arange(len(A)), np.arange(len(B)),
                                                                        indexing="ij")
            a.append(A[i.ravel()])
            b.append(B[j.ravel()])
    else:
        draws = np.bincount(rng.choice(len(strata), size=max_pairs, p=counts / counts.sum()), minlength=len(strata))
        for (A, B, same), m in zip(strata, draws):
            if not m:
                continue
            i = rng.integers(0, len(A), m)
            if same:  # a uniform pair of distinct runs
                j = rng.integers(0, len(A) - 1, m)
                j += j >= i
            else:
                j = rng.integers(0, len(B), m)
            a.append(A[i])
            b.append(B[j])
    return np.concatenate(a), np.concatenate(b)


# ---------------------------------------------------------------- ratio and bootstrap


def bootstrap_ratio(d_between, seeds_between, d_within, seeds_within, n_seeds: int, n_boot: int = BOOTSTRAP,
                    seed: int = SEED):
    """(ratio, ci_low, ci_high, valid resamples): mean between / mean within distance, and its 95 %
    percentile interval over resamples of the seed values with replacement (a pair weighs the
    product of its seeds' multiplicities; resamples left without a between or within pair drop out).
    seeds_*: (pairs, 2) seed indices in [0, n_seeds)."""
    d_between, d_within = np.asarray(d_between, float), np.asarray(d_within, float)
    if not len(d_between) or not len(d_within):
        return np.nan, np.nan, np.nan, 0
    ratio = d_between.mean() / d_within.mean()
    rng = np.random.default_rng(seed)
    M = rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=n_boot).astype(float)

    def means(d, s):
        key, inv = np.unique(np.asarray(s), axis=0, return_inverse=True)  # pairs summed per seed pair
        tot, cnt = np.bincount(inv.ravel(), d, len(key)), np.bincount(inv.ravel(), minlength=len(key))
        w = M[:, key[:, 0]] * M[:, key[:, 1]]
        with np.errstate(invalid="ignore", divide="ignore"):
            return (w @ tot) / (w @ cnt)

    boot = means(d_between, seeds_between) / means(d_within, seeds_within)
    boot = boot[np.isfinite(boot)]
    if not len(boot):
        return ratio, np.nan, np.nan, 0
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return ratio, lo, hi, len(boot)


# ---------------------------------------------------------------- a group, a sweep


def factor_table(group: str, frame: pd.DataFrame, R, ok, *, threads: int = 1, max_pairs: int = MAX_PAIRS,
                 n_boot: int = BOOTSTRAP, seed: int = SEED) -> pd.DataFrame:
    """Rows of factors.tsv for one probe group: `frame` has one row per run (its point fields) in the
    order of R (runs, levels, n, C) and ok (runs, levels)."""
    frame = frame.reset_index(drop=True)
    fields = [f for f in varied_fields(frame, include_seed=False)]
    seeds = pd.factorize(frame["seed"] if "seed" in frame else pd.Series(0, index=frame.index))[0]
    n_seeds = max(int(seeds.max()) + 1, 1) if len(seeds) else 1
    rng = np.random.default_rng(seed)
    plans = []
    for f in fields:
        between, within, levels = factor_strata(frame, f, fields)
        if not between:
            print(f"inpca factors: {group}: {f}: no two runs differ in {f} alone: no row")
            continue
        ba, bb = sample_pairs(between, max_pairs, rng)
        if n_seeds > 1:  # one seed shares its init and data order: such pairs would look closer than within ones
            ba, bb = ba[seeds[ba] != seeds[bb]], bb[seeds[ba] != seeds[bb]]
        plans.append((f, levels, (ba, bb), sample_pairs(within, max_pairs, rng)))
    # each distinct pair once, whichever factors share it
    allp = [p for _, _, bw, wi in plans for p in (bw, wi)]
    a = np.concatenate([p[0] for p in allp]) if allp else np.zeros(0, int)
    b = np.concatenate([p[1] for p in allp]) if allp else np.zeros(0, int)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    code, inv = np.unique(lo * len(frame) + hi, return_inverse=True)
    d = pair_distances(R, ok, code // len(frame), code % len(frame), threads)[inv] if len(code) else np.zeros(0)
    rows, k = [], 0
    for f, levels, (ba, bb), (wa, wb) in plans:
        db, dw = d[k:k + len(ba)], d[k + len(ba):k + len(ba) + len(wa)]
        k += len(ba) + len(wa)
        mb, mw = np.isfinite(db), np.isfinite(dw)
        ratio, ci_lo, ci_hi, n_valid = bootstrap_ratio(
            db[mb], np.column_stack([seeds[ba], seeds[bb]])[mb], dw[mw], np.column_stack([seeds[wa], seeds[wb]])[mw],
            n_seeds, n_boot, seed)
        if not mw.any():
            print(f"inpca factors: {group}: {f}: no two runs differ in the seed alone: no ratio")
        rows.append({"group": group, "factor": f, "levels": ",".join(_label(v) for v in levels),
                     "n_levels": len(levels), "n_between": int(mb.sum()), "n_within": int(mw.sum()),
                     "n_unmatched": int((~mb).sum() + (~mw).sum()),
                     "between": db[mb].mean() if mb.any() else np.nan, "within": dw[mw].mean() if mw.any() else np.nan,
                     "ratio": ratio, "ci_low": ci_lo, "ci_high": ci_hi, "n_boot": n_valid})
        print(f"inpca factors: {group}: {f} ({len(levels)} levels): ratio {ratio:.3g} [{ci_lo:.3g}, {ci_hi:.3g}] "
              f"from {int(mb.sum())} between and {int(mw.sum())} within pairs")
    return pd.DataFrame(rows, columns=COLUMNS)


def _label(key: str) -> str:
    return key.strip("'\"")


def stress_top(stress: pd.DataFrame) -> pd.DataFrame:
    """Explained stress of the top 1, 3 and 50 dimensions per embedding (NA beyond its spectrum)."""
    rows = []
    for (group, method), s in stress.groupby(["group", "method"], sort=False):
        by_dim = s.set_index("dim")["explained_stress"]
        rows.append({"group": group, "method": method, "n_checkpoints": int(s["n_checkpoints"].iloc[0]),
                     **{f"stress_top{k}": by_dim.get(k, np.nan) for k in STRESS_K}})
    return pd.DataFrame(rows, columns=STRESS_TOP_COLUMNS)


def _trajectories(runs: list[str], coords: pd.DataFrame, stores: dict, tmpdir: Path, threads: int):
    """R (runs, levels, n, C) and ok (runs, levels), in RAM or memory-mapped beyond MEMORY_MB."""
    pts = coords.sort_values(["run_id", "snapshot"])
    by_run = dict(tuple(pts.groupby("run_id", sort=False)))
    n, C = array_shape(stores[runs[0]], "probs")[1:] if runs else (1, 1)
    shape = (len(runs), len(GRID), n, C)
    R = (np.lib.format.open_memmap(tmpdir / "trajectories.npy", mode="w+", dtype=np.float32, shape=shape)
         if np.prod(shape) * 4 > MEMORY_MB * 2**20 else np.zeros(shape, np.float32))
    ok = np.zeros(shape[:2], dtype=bool)

    def one(i):
        c = by_run[runs[i]]
        probs = read_arrays(stores[runs[i]], ("probs",))[1]["probs"]  # checked as read (store.fastread)
        x, ok[i] = resample(c["progress"].to_numpy(float), c["snapshot"].to_numpy(int), lambda rows: probs[rows])
        if x is not None:
            R[i] = x

    with ThreadPoolExecutor(max(1, threads)) as pool:
        list(pool.map(one, range(len(runs))))
    return R, ok


def make_factors(sweep_tsv, coords_tsv, stress_tsv, stores, factors_out, stress_top_out, *, threads: int = 1,
                 max_pairs: int = MAX_PAIRS, n_boot: int = BOOTSTRAP) -> None:
    """The rule's entry point: results/inpca/factors.tsv and stress_top.tsv."""
    import tempfile

    sweep = read_sweep_table(sweep_tsv).astype({"run_id": str})
    coords = read_tsv(coords_tsv, dtype={"run_id": str})
    coords = coords[coords["kind"] == "checkpoint"]
    paths = {Path(s).parent.name: s for s in stores}
    parts = []
    for group, c in coords.groupby("group", sort=False):
        runs = [r for r in dict.fromkeys(c["run_id"]) if r in paths and r in set(sweep["run_id"])]
        frame = sweep.set_index("run_id").loc[runs].reset_index()
        Path(factors_out).parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=Path(factors_out).parent) as tmp:
            R, ok = _trajectories(runs, c, paths, Path(tmp), threads)
            never = [r for r, k in zip(runs, ok) if not k.any()]
            if never:
                print(f"inpca factors: {group}: {len(never)} run(s) reach no progress level "
                      f"{GRID[0]:g}-{GRID[-1]:g} and pair with none: " + ", ".join(never[:10]))
            parts.append(factor_table(group, frame, R, ok, threads=threads, max_pairs=max_pairs, n_boot=n_boot))
            del R
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    if table.empty:
        print("inpca factors: no factor with runs differing in it alone")
    write_tsv(table, factors_out, float_format="%.6g")
    write_tsv(stress_top(read_tsv(stress_tsv)), stress_top_out, float_format="%.6g")
