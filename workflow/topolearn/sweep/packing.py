"""How a sweep's runs become jobs: training packs, analysis batches and figure selection.

Light on purpose (no torch, no zarr): the workflow calls it for every run while it parses.

The contract that keeps sweeps granular although jobs hold many runs:
- Only runs with work left are grouped. A run whose store is finished never shares a job with one
  that must train, so a neighbour's change never deletes or rewrites it (Snakemake deletes all of
  a job's outputs before it runs the job).
- Finished runs belong to the per-run rules (`train`, `analyze_run`): `--forcerun` of one store
  retrains that run alone, and everything made from it follows through its own per-run jobs.
- Packs are an execution detail: nothing about a run (its id, its store, its numbers) depends on
  the pack it trained in, beyond floating-point tolerance (see docs/training.md).
"""

import hashlib
import json
import math
import os

from ..store.checks import RUN_PRODUCTS

# Fields a network of a pack may have of its own; every other field must be equal within a pack
# (same data, shapes, batch schedule, snapshot schedule and optimizer kind: one batched computation).
PER_NET_FIELDS = frozenset({"init", "init_std", "init_noise", "seed", "lr", "momentum", "weight_decay"})
STAMP = "analysis.json"  # written last into a run's mapper folder: its analysis is complete
TIMESTAMP = ".snakemake_timestamp"


def pack_key(point: dict) -> str:
    """Points with equal keys can train together as one batched computation."""
    return json.dumps({k: v for k, v in point.items() if k not in PER_NET_FIELDS}, sort_keys=True)


def group_id(members) -> str:
    """A short stable name of a group of runs (its rule's name and log file)."""
    return hashlib.sha256("\n".join(sorted(members)).encode()).hexdigest()[:10]


def chunk_evenly(ids: list, size: int) -> list[list]:
    """`ids` in order, cut into the fewest chunks of at most `size`, their sizes differing by <= 1."""
    if not ids:
        return []
    n = math.ceil(len(ids) / size)
    q, r = divmod(len(ids), n)
    out, start = [], 0
    for i in range(n):
        end = start + q + (i < r)
        out.append(ids[start:end])
        start = end
    return out


def form_packs(points: dict, pending, size: int) -> list[list[str]]:
    """Training packs: the pending runs grouped by pack_key, each group cut evenly into packs of at
    most `size` runs (sorted run ids within a group, so the same pending set gives the same packs)."""
    groups: dict[str, list[str]] = {}
    for rid in sorted(pending):
        groups.setdefault(pack_key(points[rid]), []).append(rid)
    return sorted((p for key in sorted(groups) for p in chunk_evenly(groups[key], size)), key=lambda p: p[0])


def form_batches(packs: list[list[str]], pending, size: int) -> list[list[str]]:
    """Analysis batches: each pack's runs (analysed as soon as their pack is trained), cut to at most
    `size`; then the other pending runs (stores already there) in batches of at most `size`."""
    pending = set(pending)
    batches = [b for p in packs for b in chunk_evenly([r for r in p if r in pending], size)]
    in_packs = {r for p in packs for r in p}
    batches += chunk_evenly(sorted(pending - in_packs), size)
    return batches


def _mtime(path: str) -> float | None:
    """Modification time as Snakemake sees it: a directory output's timestamp file, else the path."""
    for p in (os.path.join(path, TIMESTAMP), path):
        try:
            return os.stat(p).st_mtime
        except OSError:
            continue
    return None


def store_present(store: str) -> bool:
    """A store is there (the parse-time check has already moved damaged ones aside)."""
    return os.path.isfile(os.path.join(store, "zarr.json"))


def analysis_done(store: str, outputs: list[str], stamp: str, fingerprint: str) -> bool:
    """A product made from a run's store is finished and current: its store is there, every output
    exists and is not older than the store, and the stamp records the settings in force now."""
    return _stamp_current(store, outputs, stamp, fingerprint) is not None


def _stamp_current(store: str, outputs: list[str], stamp: str, fingerprint: str) -> dict | None:
    """analysis_done's test; the stamp's document when it passes, else None."""
    t_store = _mtime(store) if store_present(store) else None
    if t_store is None:
        return None
    for out in outputs:
        t = _mtime(out)
        if t is None or t < t_store:
            return None
    try:
        with open(stamp) as fh:
            doc = json.load(fh)
        return doc if doc.get("settings") == fingerprint else None
    except (OSError, ValueError, AttributeError):
        return None


def run_analysis_done(results: str, run_id: str, fingerprint: str) -> bool:
    """A run's analysis is finished and current: analysis_done of its mapper folder, and the folder
    holding its table rows (the stamp's `tables`) exists and is not older than its store. A batch
    folder deleted, or a stamp from before tables were kept per batch: the run is analysed again."""
    store = f"{results}/runs/{run_id}/snapshots.zarr"
    mapper = f"{results}/{RUN_PRODUCTS['mapper'].format(run_id=run_id)}"
    doc = _stamp_current(store, [mapper], f"{mapper}/{STAMP}", fingerprint)
    tables = doc.get("tables") if doc else None
    if not isinstance(tables, str) or not _safe_relative(tables):
        return False
    t = _mtime(f"{results}/{tables}")
    return t is not None and t >= _mtime(store)


def _safe_relative(path: str) -> bool:
    """A stamp's `tables`: a folder inside the results folder (tables/{gid} or mapper/{run_id})."""
    return not os.path.isabs(path) and ".." not in path.split("/")


def canonical(settings: dict) -> dict:
    """Settings with every mapping's keys sorted: Snakemake compares params by their repr, and the
    order keys were written in a config file must not count as a change."""
    return json.loads(json.dumps(settings, sort_keys=True))


def analysis_settings(cfg: dict) -> dict:
    """The settings every run's analysis depends on (the analysis jobs' params, the stamp's fingerprint)."""
    return canonical({"mapper": cfg["mapper"], "branching": cfg["branching"]})


def fingerprint(settings: dict) -> str:
    """A hash of the analysis settings: a run analysed under other settings is analysed again."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def figure_runs(selection, run_ids: list[str]) -> list[str]:
    """Runs that get per-run figures: `all`, `none`, a count (spread evenly over the sweep in its
    order, so every part of a grid is shown) or a list of run ids (unknown ids refused earlier)."""
    if selection == "all":
        return list(run_ids)
    if selection == "none" or selection == 0:
        return []
    if isinstance(selection, int):
        n = len(run_ids)
        if selection >= n:
            return list(run_ids)
        return [run_ids[round(i * (n - 1) / max(selection - 1, 1))] for i in range(selection)]
    wanted = set(selection)
    return [r for r in run_ids if r in wanted]


def run_product(results: str, kind: str, run_id: str) -> str:
    """The path of one product of a run (store.checks.RUN_PRODUCTS: quarantine moves the same)."""
    return f"{results}/{RUN_PRODUCTS[kind].format(run_id=run_id)}"


def stability_path(results: str, run_id: str) -> str:
    """Branch counts over a grid of Mapper settings: made with a run's figures (the scan costs ten
    times the run's own learning graphs, so it is done for the runs one looks at closely)."""
    return run_product(results, "stability", run_id)


# The five analysis tables (docs/tables.md) by kind, and their file names. An analysis batch writes
# one set for all its runs in tables/{gid} (rows of every run, `run_id` first); a run analysed alone
# (`analyze_run`) writes its own set inside its mapper folder. Each run's stamp names the folder.
TABLE_FILES = {"branches": "branches.tsv", "curve": "branching.tsv", "events": "events.tsv",
               "symmetry": "symmetry.tsv", "layers": "layers.tsv"}
TABLES_DIR = "tables"


def tables_dir(results: str, members) -> str:
    """The table folder of an analysis batch of `members`."""
    return f"{results}/{TABLES_DIR}/{group_id(members)}"
