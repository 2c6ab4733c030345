"""Soundness checks of snapshot stores that need no zarr: the workflow runs them on every store at
parse time (1,000 stores in a sweep), so they read the root `zarr.json` as plain JSON.

`topolearn.store.snapshots` re-exports StoreError and check_store; readers still go through
`store.open_store`, which adds the deep (CRC32) check.
"""

import itertools
import json
import os
import re
import stat
import time
import zlib
from pathlib import Path

TIMESTAMP_FILE = ".snakemake_timestamp"  # Snakemake drops this into directory() outputs


class StoreError(RuntimeError):
    """A store that must not be analyzed (missing, incomplete, or damaged)."""


def manifest_files(path: Path):
    """(relative path, file) of every data file the manifest covers: all but the root metadata."""
    for f in sorted(path.rglob("*")):
        if f.is_file() and f.name != TIMESTAMP_FILE and f.relative_to(path).as_posix() != "zarr.json":
            yield f.relative_to(path).as_posix(), f


def crc32(f: Path) -> int:
    return zlib.crc32(f.read_bytes())


def root_attrs(path: Path) -> dict:
    """The root group's attributes, read from zarr.json (zarr v3) without opening the group."""
    meta = json.loads((path / "zarr.json").read_bytes())
    if not isinstance(meta, dict) or meta.get("zarr_format") != 3 or meta.get("node_type") != "group":
        raise ValueError("not the metadata of a zarr v3 group")
    attrs = meta.get("attributes", {})
    if not isinstance(attrs, dict):
        raise ValueError("attributes are not a mapping")
    return attrs


def _deep_covers(rel: str, deep) -> bool:
    """Whether the deep check CRCs file `rel`: all files, or those of the named top-level arrays/groups."""
    if isinstance(deep, bool):
        return deep
    return rel.split("/", 1)[0] in deep


def check_store(path, deep: bool | tuple = False) -> str | None:
    """Why the store at `path` must not be used, or None if it is sound.

    Cheap by default (existence, `complete`, file sizes); `deep=True` also compares the CRC32 of
    every file, `deep=("step", "probs", ...)` only those of the named arrays (what a reader reads).
    """
    path = Path(path)
    if not (path / "zarr.json").is_file():
        return f"{path}: no zarr store here"
    try:
        attrs = root_attrs(path)
    except Exception as exc:  # unreadable root metadata
        return f"{path}: unreadable root metadata ({exc})"
    if attrs.get("complete") is not True:
        return f"{path}: store is incomplete (no complete=true attribute): the run was interrupted"
    manifest = attrs.get("manifest") or {}
    root = str(path)
    for rel, (size, crc) in manifest.items():
        f = os.path.join(root, rel)  # plain strings and one stat per file: dozens of files per store
        try:
            st = os.stat(f)
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            return f"{path}: missing file {rel}"
        if st.st_size != size:
            return f"{path}: truncated or altered file {rel} ({st.st_size} bytes, expected {size})"
        if _deep_covers(rel, deep) and crc32(Path(f)) != crc:
            return f"{path}: checksum mismatch in {rel}"
    return None


# ---------------------------------------------------------------- quarantine

# Every product made from one run's store, relative to {results}: the one list the rules take their
# per-run output paths from (topolearn.sweep.packing, rules/common/paths.smk) and that quarantine
# and archive move (with anything else named `{dir}/{run_id}` or `{dir}/{run_id}.*` in their folders).
# A run's table rows live in its analysis batch's tables/{gid} (shared with other runs: not moved;
# rows no stamp points to are never read) or in its own mapper folder when it was analysed alone.
RUN_PRODUCTS = {
    "mapper": "mapper/{run_id}",  # a folder: learning graphs, the analysis stamp, tables of a run analysed alone
    "stability": "stability/{run_id}.tsv",
    "figures": "figures/runs/{run_id}",  # a folder: the run's figures
}
DERIVED_DIRS = tuple(dict.fromkeys(t.rsplit("/", 1)[0] for t in RUN_PRODUCTS.values()))
_RUN_ID = re.compile(r"[0-9a-f]{12}")


def run_of(store_path) -> tuple[Path, str] | None:
    """(results folder, run id) of a store laid out as {results}/runs/{run_id}/snapshots.zarr, else None."""
    p = Path(store_path)
    if p.name == "snapshots.zarr" and p.parent.parent.name == "runs" and _RUN_ID.fullmatch(p.parent.name):
        return p.parent.parent.parent, p.parent.name
    return None


def derived_paths(store_path) -> list[Path]:
    """Every product of the run whose store this is (learning graphs, branch tables, figures...)."""
    found = run_of(store_path)
    if found is None:
        return []
    results, rid = found
    out = []
    for d in DERIVED_DIRS:
        out += sorted((results / d).glob(rid)) + sorted((results / d).glob(f"{rid}.*"))
    return out


def _move(src: Path, dest: Path) -> bool:
    """Move src to dest; False when src is gone already (another reader quarantined it first)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dest)
    except FileNotFoundError:
        return False
    return True


def move_run(store_path, folder_root, label: str) -> tuple[Path, int] | None:
    """Move a run's store and every product made from it into a new folder `{folder_root}/{run_id}-
    {time}/`, keeping their paths relative to {results}. Returns (that folder, products moved), or
    None when the store was gone already."""
    store_path = Path(store_path)
    found = run_of(store_path)
    results, rid = found if found else (store_path.parent, store_path.parent.name)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    dest = Path(folder_root) / f"{rid}-{stamp}"
    for i in itertools.count(1):
        if not dest.exists():
            break
        dest = Path(folder_root) / f"{rid}-{stamp}-{i}"
    rel = store_path.relative_to(results) if found else Path(store_path.name)
    derived = derived_paths(store_path)
    if not _move(store_path, dest / rel):
        return None
    moved = sum(_move(p, dest / p.relative_to(results)) for p in derived)
    (dest / "REASON.txt").write_text(label + "\n")
    return dest, moved


def quarantine_run(store_path, reason: str, quarantine_dir=None) -> str | None:
    """Move a damaged store and every product made from it into the quarantine (never deleted):
    the workflow then rebuilds the store and, as their input is new, everything made from it, so
    no number from the damaged store stays standing. Returns the message to show, or None when the
    store was gone already."""
    found = run_of(store_path)
    qdir = quarantine_dir if quarantine_dir is not None else (found[0] if found else Path(store_path).parent) / "quarantine"
    done = move_run(store_path, qdir, reason)
    if done is None:
        return None
    dest, moved = done
    extra = f" with {moved} product(s) made from it" if moved else ""
    return f"{reason}; moved to {dest}{extra}; the next run rebuilds it"


def check_stores(paths, quarantine_dir, deep: bool = False, move: bool = True) -> list[str]:
    """Check every existing store (cheap, or CRC32 of every file with `deep`) and quarantine the
    damaged ones with their products; with `move=False` (a dry run) only report them. Returns one
    message per damaged store.

    The workflow calls it at parse time (deep with `--config verify=full`); absent stores (not yet
    trained) are skipped.
    """
    out = []
    for path in map(Path, paths):
        if not path.exists():
            continue
        reason = check_store(path, deep=deep)
        if reason is None:
            continue
        if not move:
            out.append(f"{reason}; left in place (dry run): a real run or `python -m topolearn verify` moves it "
                       f"to {quarantine_dir}, then it is rebuilt")
        elif msg := quarantine_run(path, reason, quarantine_dir):
            out.append(msg)
    return out


def is_results_folder(results) -> bool:
    """Whether `results` is a topolearn results folder: it holds the sweep table the workflow writes
    (`sweep.tsv`, first column `run_id`), or a store under runs/ that topolearn wrote (its root
    attributes name its own run id and its point's params). Only there may verify move stores."""
    results = Path(results)
    try:
        with open(results / "sweep.tsv") as fh:
            if fh.readline().split("\t", 1)[0].strip() == "run_id":
                return True
    except OSError:
        pass
    for store in sorted(results.glob("runs/*/snapshots.zarr")):
        try:
            attrs = root_attrs(store)
        except Exception:  # damaged or foreign: look further
            continue
        if attrs.get("run_id") == store.parent.name and isinstance(attrs.get("params"), dict):
            return True
    return False
