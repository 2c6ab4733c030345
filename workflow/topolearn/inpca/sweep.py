"""InPCA of a whole sweep: runs grouped by probe set, an exact or a landmark embedding per group, an
on-disk cache that makes adding runs cheap, and the tables results/inpca/{coords,stress}.tsv.

Contracts (docs/inpca.md): a group holds the runs sharing dataset, probe size and probe labels (never
mixed); checkpoints with non-finite predictions are left out with a note, and so are whole runs
without a snapshot or diverged beyond topolearn.store.health's bound (their predictions are one-hot
noise); a group of fewer than 2 checkpoints gives no rows and a message. Up to `exact_max` checkpoints a group is embedded exactly
(its distance matrix cached as zarr, rows keyed by run id + store CRC, so only new runs' rows are
computed); beyond, `landmarks` landmark checkpoints spread over all trajectories (plus ignorance and
truth) define the embedding and every checkpoint is placed out of sample; added runs are placed into
the cached embedding without recomputing it unless `recompute`.
"""

import hashlib
import json
import pickle
import shutil
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..store.fastread import array_shape, read_arrays
from ..store.health import assess
from ..utils.tables import write_tsv
from .embedding import (PROGRESS, bhattacharyya, fit_landmarks, geodesic_progress, inpca, landmarks, place,
                        procrustes_error, sqrt_probs, step_lengths)

SETTINGS = {"exact_max": 8000, "landmarks": 500, "dims": 10, "spectrum": 50, "memory_mb": 1000,
            "recompute": False, "check_points": 2000}
META = ["group", "run_id", "kind", "snapshot", "step", "epoch", "test_acc", "progress", "step_length", "landmark"]
GOLDEN = (np.sqrt(5) - 1) / 2
PLACE_CHUNK = 16  # runs placed together (about 1,600 checkpoints of the default sweep)


@dataclass
class Run:
    """One run's predictions: `load(rows)` gives probs (rows, n, C) and metrics (step, epoch, test_acc)
    of the snapshots `rows` (None: all)."""
    run_id: str
    key: str  # store identity: run id + manifest CRC (a changed store is a new key)
    dataset: str
    labels: np.ndarray
    n_classes: int
    n_snapshots: int
    load: Callable
    health: tuple = ("ok", "")  # topolearn.store.health.assess of its metrics: (status, reason)

    @property
    def group_key(self) -> tuple:
        return self.dataset, len(self.labels), hashlib.sha1(np.asarray(self.labels, np.int64).tobytes()).hexdigest()[:8]


def store_run(path) -> Run:
    """A Run of a snapshot store: its labels and metrics read now, its predictions when loaded (each
    file checked as it is read: store.fastread)."""
    attrs, a = read_arrays(path, ("probe_labels", "step", "epoch", "test_acc", "train_loss", "test_loss"))
    rid = attrs.get("run_id", Path(path).parent.name)
    crc = zlib.crc32(json.dumps(attrs.get("manifest", {}), sort_keys=True).encode())
    metrics = pd.DataFrame({k: a[k] for k in ("step", "epoch", "test_acc")})

    def load(rows=None):
        probs = read_arrays(path, ("probs",))[1]["probs"]
        if rows is None:
            return probs, metrics
        rows = np.asarray(rows)
        return probs[rows], metrics.iloc[rows].reset_index(drop=True)

    losses = pd.DataFrame({k: a[k] for k in ("train_loss", "test_loss")})
    return Run(rid, f"{rid}-{crc:08x}", str(attrs.get("params", {}).get("dataset", "?")), a["probe_labels"],
               array_shape(path, "probs")[2], len(a["step"]), load, assess(losses, attrs))


def embeddable(runs: list[Run]) -> list[Run]:
    """The runs InPCA can place; each other one is named in the log with its reason (the summary's
    analysis_status says the same)."""
    out = []
    for r in runs:
        status, reason = r.health
        if r.n_snapshots == 0 or status == "diverged":
            print(f"inpca: run {r.run_id} left out: {status}: {reason}")
        else:
            out.append(r)
    return out


def group_runs(runs: list[Run]) -> list[tuple[str, str, list[Run]]]:
    """(group name, cache name, runs) per probe set, in a stable order."""
    groups: dict[tuple, list[Run]] = {}
    for r in runs:
        groups.setdefault(r.group_key, []).append(r)
    out = []
    for (dataset, n, h), rs in sorted(groups.items()):
        name = f"{dataset}-probe{n}" + (f"-{h}" if len(groups) > 1 else "")
        out.append((name, f"{dataset}-probe{n}-{h}", sorted(rs, key=lambda r: r.run_id)))
    return out


# ---------------------------------------------------------------- per-run pieces


def _finite(probs) -> np.ndarray:
    return np.isfinite(probs).all(axis=tuple(range(1, probs.ndim)))  # a reshape fails on 0 snapshots


def _run_table(run: Run, roots, m: pd.DataFrame, ok, progress: bool = True) -> pd.DataFrame:
    """Checkpoint rows of one run (finite snapshots only; `roots`: their sqrt_probs): metrics,
    progress (unless the caller computes it for many runs at once) and step length."""
    idx = np.flatnonzero(ok)
    return pd.DataFrame({"run_id": run.run_id, "kind": "checkpoint", "snapshot": idx,
                         "step": m["step"].to_numpy()[idx], "epoch": m["epoch"].to_numpy()[idx],
                         "test_acc": m["test_acc"].to_numpy()[idx],
                         "progress": geodesic_progress(roots, run.labels, roots=True) if progress and len(idx)
                         else np.nan,
                         "step_length": step_lengths(roots, roots=True), "landmark": False})


def _landmark_rows(runs: list[Run]) -> pd.DataFrame:
    return pd.DataFrame({"run_id": ["", ""], "kind": ["ignorance", "truth"], "progress": [0.0, 1.0],
                         "landmark": True})


def _note_dropped(run: Run, ok) -> None:
    if not ok.all():
        print(f"inpca: run {run.run_id}: {int((~ok).sum())} of {len(ok)} checkpoints have non-finite "
              "predictions (diverged) and are left out")


def _anchor_probs(run: Run) -> np.ndarray:
    return np.stack(landmarks(run.labels, run.n_classes))


def _landmark_snapshots(runs: list[Run], budget: int) -> list[np.ndarray]:
    """`budget` snapshots shared evenly over the runs (with more runs than budget, every few runs
    holds one), spread along each run and shifted by a golden-ratio offset from run to run, so that
    together they cover every stage of training."""
    per_run = budget / max(len(runs), 1)
    out = []
    for i, r in enumerate(runs):
        k = int((i + 1) * per_run) - int(i * per_run)
        f = (np.arange(k) + (i * GOLDEN) % 1.0) / max(k, 1)
        out.append(np.unique(np.round(f * (r.n_snapshots - 1)).astype(int)))
    return out


# ---------------------------------------------------------------- exact


def _exact(name: str, runs: list[Run], cfg: dict, cache: Path | None):
    tables, probs, keys = [], [], []
    for r in runs:
        p, m = r.load()
        ok = _finite(p)
        _note_dropped(r, ok)
        tables.append(_run_table(r, sqrt_probs(p[ok]), m, ok))
        probs.append(p[ok])
        keys += [f"{r.key}/{s}" for s in np.flatnonzero(ok)]
    anchors = _anchor_probs(runs[0])
    P = np.concatenate(probs + [anchors.astype(probs[0].dtype)])
    keys += ["ignorance", "truth"]
    meta = pd.concat(tables + [_landmark_rows(runs)], ignore_index=True)
    if len(P) - 2 < 2:
        return _empty(name, len(P) - 2)
    D = _cached_distances(P, keys, cfg, cache)
    lam, coords, stress = inpca(D, k=min(cfg["spectrum"], len(P)))
    meta["landmark"] = True
    return _tables(name, "exact", meta, coords[:, :cfg["dims"]], lam, stress, n_landmarks=len(P))


def _cached_distances(P, keys: list[str], cfg: dict, cache: Path | None) -> np.ndarray:
    """The distance matrix, reusing the cached rows of checkpoints already seen (same run and store)."""
    import zarr

    D = np.zeros((len(P), len(P)))
    old = {}
    if cache is not None and (cache / "exact.zarr").exists() and not cfg["recompute"]:
        z = zarr.open_group(str(cache / "exact.zarr"), mode="r")
        old = {k: i for i, k in enumerate(z.attrs["keys"])}
    have = np.array([k in old for k in keys])
    if have.any():
        pos = np.array([old[k] for k, h in zip(keys, have) if h])
        order = np.argsort(pos)  # zarr orthogonal indexing wants increasing indices
        sub = z["D"].oindex[pos[order], pos[order]]
        inv = np.empty_like(order)
        inv[order] = np.arange(len(order))
        D[np.ix_(have, have)] = sub[np.ix_(inv, inv)]
    new = np.flatnonzero(~have)
    if len(new):
        threads = cfg.get("threads", 1)
        D[np.ix_(new, new)] = bhattacharyya(P[new], memory_mb=cfg["memory_mb"], threads=threads)
        if have.any():
            cross = bhattacharyya(P[new], P[have], memory_mb=cfg["memory_mb"], threads=threads)
            D[np.ix_(new, np.flatnonzero(have))] = cross
            D[np.ix_(np.flatnonzero(have), new)] = cross.T
    print(f"inpca: distances of {len(P)} checkpoints: {int(have.sum())} reused from the cache, {len(new)} computed")
    if cache is not None and len(new):
        tmp = cache / "exact.zarr.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        z = zarr.open_group(str(tmp), mode="w")
        z.create_array("D", data=D, chunks=(min(len(D), 1024), min(len(D), 1024)))
        z.attrs["keys"] = keys
        shutil.rmtree(cache / "exact.zarr", ignore_errors=True)
        tmp.rename(cache / "exact.zarr")
    return D


# ---------------------------------------------------------------- landmark


def _fit(runs: list[Run], cfg: dict):
    """Landmark checkpoints (probs, keys) and the landmark embedding."""
    probs, keys = [], []
    for r, rows in zip(runs, _landmark_snapshots(runs, cfg["landmarks"])):
        if not len(rows):
            continue
        p, _ = r.load(rows)
        ok = _finite(p)
        probs.append(p[ok])
        keys += [f"{r.key}/{s}" for s in rows[ok]]
    L = np.concatenate(probs + [_anchor_probs(runs[0]).astype(probs[0].dtype)])
    keys += ["ignorance", "truth"]
    fit = fit_landmarks(bhattacharyya(L, memory_mb=cfg["memory_mb"], threads=cfg.get("threads", 1)), cfg["spectrum"])
    return {"probs": L, "keys": keys, "fit": fit, "runs": {r.key for r in runs}}


def _place_runs(runs: list[Run], state: dict, cfg: dict) -> pd.DataFrame:
    """Rows and out-of-sample coordinates of runs placed into a landmark embedding.

    Runs go in chunks of PLACE_CHUNK, `threads` chunks at a time: one distance computation and one
    progress search per chunk (per-run calls would be mostly overhead: the landmarks' square roots,
    thread pools and small arrays), and threads because file reads, blosc, torch and numpy's large
    loops all release the GIL."""
    from concurrent.futures import ThreadPoolExecutor

    if not runs:
        return pd.DataFrame()
    chunks = [runs[i:i + PLACE_CHUNK] for i in range(0, len(runs), PLACE_CHUNK)]
    landmark_roots = sqrt_probs(state["probs"]).astype(np.float32)  # once, not per chunk
    with ThreadPoolExecutor(max(1, cfg.get("threads", 1))) as pool:
        parts = list(pool.map(lambda c: _place_chunk(c, state, cfg, landmark_roots), chunks))
    return pd.concat(parts, ignore_index=True)


def _place_chunk(runs: list[Run], state: dict, cfg: dict, landmark_roots: np.ndarray) -> pd.DataFrame:
    """The square roots of a chunk's predictions serve progress, step lengths and the distances to
    the landmarks (float32 sums: bhattacharyya's `float32`); progress and steps stay float64."""
    tables, roots = [], []
    for run in runs:
        p, m = run.load()
        ok = _finite(p)
        _note_dropped(run, ok)
        s = sqrt_probs(p[ok])
        tables.append(_run_table(run, s, m, ok, progress=False).assign(key=run.key))
        roots.append(s)
    t = pd.concat(tables, ignore_index=True)
    S = np.concatenate(roots)
    t["progress"] = geodesic_progress(S, runs[0].labels, roots=True) if len(S) else []  # one probe set per group
    D = bhattacharyya(S, landmark_roots, roots=True, float32=True,
                      memory_mb=cfg["memory_mb"] / max(1, cfg.get("threads", 1)))
    x = place(D, state["fit"])[:, :cfg["dims"]]
    lm = set(state["keys"])
    t["landmark"] = [f"{k}/{s}" in lm for k, s in zip(t["key"], t["snapshot"])]
    return pd.concat([t, pd.DataFrame(x, columns=[f"inpca{j + 1}" for j in range(x.shape[1])])], axis=1)


def _landmark(name: str, runs: list[Run], cfg: dict, cache: Path | None):
    state_file = cache / "landmark.pkl" if cache is not None else None
    state, placed = None, pd.DataFrame()
    # placed checkpoints keep their progress: a cache placed under another progress definition is refit
    settings = {**{k: cfg[k] for k in ("landmarks", "dims", "spectrum")}, "progress": PROGRESS}
    if state_file is not None and state_file.exists() and not cfg["recompute"]:
        with open(state_file, "rb") as fh:
            state, placed = pickle.load(fh)
        landmark_runs = {k.rsplit("/", 1)[0] for k in state["keys"][:-2]}
        current = {r.key for r in runs}
        if state["settings"] != settings or not landmark_runs <= current:
            print("inpca: landmark runs changed or settings differ: recomputing the embedding")
            state, placed = None, pd.DataFrame()
    if state is None:
        state = {**_fit(runs, cfg), "settings": settings}
        if cfg["check_points"]:
            _check(runs, cfg)
    else:
        print(f"inpca: reusing the cached landmark embedding ({len(state['keys'])} landmarks)")
    keep = {r.key for r in runs}
    placed = placed[placed["key"].isin(keep)] if len(placed) else placed
    done = set(placed["key"]) if len(placed) else set()
    new = [r for r in runs if r.key not in done]
    placed = pd.concat([placed, _place_runs(new, state, cfg)], ignore_index=True)
    print(f"inpca: {len(new)} runs placed, {len(runs) - len(new)} reused")
    if state_file is not None and new:
        with open(state_file.with_suffix(".tmp"), "wb") as fh:
            pickle.dump((state, placed), fh, protocol=pickle.HIGHEST_PROTOCOL)
        state_file.with_suffix(".tmp").replace(state_file)
    fit = state["fit"]
    anchors = _landmark_rows(runs)
    ax = fit["coords"][-2:, :cfg["dims"]]
    anchors[[f"inpca{j + 1}" for j in range(ax.shape[1])]] = ax
    meta = pd.concat([placed.drop(columns="key"), anchors], ignore_index=True)
    if int((meta["kind"] == "checkpoint").sum()) < 2:
        return _empty(name, int((meta["kind"] == "checkpoint").sum()))
    coords = meta.filter(regex=r"^inpca\d+$").to_numpy()
    return _tables(name, "landmark", meta.drop(columns=meta.filter(regex=r"^inpca\d+$").columns), coords,
                   fit["eigenvalues"], fit["stress"], n_landmarks=len(state["keys"]))


# ---------------------------------------------------------------- tables


def _tables(name, method, meta, coords, lam, stress, n_landmarks):
    meta = meta.reindex(columns=META[1:]).copy()
    meta.insert(0, "group", name)
    for j in range(coords.shape[1]):
        meta[f"inpca{j + 1}"] = coords[:, j]
    n = int((meta["kind"] == "checkpoint").sum())
    stress_df = pd.DataFrame({"group": name, "method": method, "n_checkpoints": n, "n_landmarks": n_landmarks,
                              "dim": np.arange(1, len(lam) + 1), "eigenvalue": lam, "negative": lam < 0,
                              "explained_stress": stress})
    print(f"inpca: {name}: {method} embedding of {n} checkpoints ({n_landmarks} landmarks); explained stress "
          f"top 1/2/3: " + "/".join(f"{s:.3f}" for s in stress[:3]) + f"; {int((lam < 0).sum())} of {len(lam)} "
          "eigenvalues negative")
    return meta, stress_df


def _empty(name: str, n: int):
    print(f"inpca: {name}: only {n} checkpoint(s) with finite predictions; at least 2 are needed: "
          "the group has no embedding")
    return pd.DataFrame(columns=META), pd.DataFrame(columns=STRESS_COLUMNS)


STRESS_COLUMNS = ["group", "method", "n_checkpoints", "n_landmarks", "dim", "eigenvalue", "negative",
                  "explained_stress"]


def embed_group(name: str, runs: list[Run], cfg: dict, cache: Path | None = None, method: str | None = None):
    """(coords, stress) of one probe group; method None picks exact up to cfg['exact_max'] checkpoints."""
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    n = sum(r.n_snapshots for r in runs)
    method = method or ("exact" if n + 2 <= cfg["exact_max"] else "landmark")
    return (_exact if method == "exact" else _landmark)(name, runs, cfg, cache)


def compare_methods(runs: list[Run], cfg: dict, landmarks: int) -> dict:
    """Landmark against exact on the same runs (no cache): Procrustes error of the top 3 coordinates
    (0 = the same picture) and the difference of the top-3 explained stress."""
    ex, sx = _exact("check", runs, {**cfg, "recompute": True}, None)
    lm, sl = _landmark("check", runs, {**cfg, "landmarks": landmarks, "recompute": True, "check_points": 0}, None)
    key = ["run_id", "snapshot"]
    a = ex[ex.kind == "checkpoint"].merge(lm[lm.kind == "checkpoint"], on=key, suffixes=("", "_lm"))
    cols = ["inpca1", "inpca2", "inpca3"]
    err = procrustes_error(a[cols].to_numpy(float), a[[c + "_lm" for c in cols]].to_numpy(float))
    return {"checkpoints": len(a), "landmarks": int(sl["n_landmarks"].iloc[0]), "procrustes_top3": err,
            "stress_top3_exact": float(sx["explained_stress"].iloc[2]),
            "stress_top3_landmark": float(sl["explained_stress"].iloc[2]),
            "stress_top3_difference": float(sl["explained_stress"].iloc[2] - sx["explained_stress"].iloc[2])}


def _check(runs: list[Run], cfg: dict) -> None:
    """Log the landmark path's error on a subset of whole runs (at the same landmark density)."""
    total = sum(r.n_snapshots for r in runs)
    sub, n = [], 0
    for i in np.random.default_rng(0).permutation(len(runs)):
        if n + runs[i].n_snapshots > cfg["check_points"]:
            break
        sub.append(runs[i])
        n += runs[i].n_snapshots
    if len(sub) < 2:
        return
    m = max(len(sub), int(cfg["landmarks"] * n / total))
    t = time.perf_counter()
    c = compare_methods(sub, cfg, m)
    print(f"inpca: landmark vs exact on {c['checkpoints']} checkpoints of {len(sub)} runs ({c['landmarks']} "
          f"landmarks, the sweep's density): Procrustes error of the top 3 coordinates {c['procrustes_top3']:.4f}, "
          f"top-3 explained stress {c['stress_top3_landmark']:.4f} vs exact {c['stress_top3_exact']:.4f} "
          f"({time.perf_counter() - t:.1f} s)")


def make_inpca(stores, coords_out, stress_out, *, cache=None, threads: int = 1, **settings) -> None:
    """The rule's entry point: results/inpca/coords.tsv and stress.tsv (settings: SETTINGS keys;
    `cache`: a folder no rule declares, e.g. results/inpca/cache)."""
    import torch

    torch.set_num_threads(threads)
    cfg = {**SETTINGS, **{k: v for k, v in settings.items() if v is not None}, "threads": threads}
    parts = []
    for name, cache_name, runs in group_runs(embeddable([store_run(s) for s in stores])):
        t = time.perf_counter()
        coords, stress = embed_group(name, runs, cfg, Path(cache) / cache_name if cache else None)
        print(f"inpca: {name}: {time.perf_counter() - t:.1f} s")
        parts.append((coords, stress))
    if not parts:
        print("inpca: no runs to embed")
    coords = pd.concat([p[0] for p in parts] or [pd.DataFrame(columns=META)], ignore_index=True)
    stress = pd.concat([p[1] for p in parts] or [pd.DataFrame(columns=STRESS_COLUMNS)], ignore_index=True)
    for df, out in ((coords, coords_out), (stress, stress_out)):
        write_tsv(df, out, float_format="%.8g")
