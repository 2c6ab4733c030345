"""Soundness checks of snapshot stores that need no zarr: the workflow runs them on every store at
parse time (1,000 stores in a sweep), so they read the root `zarr.json` as plain JSON.

`topolearn.store` re-exports StoreError and check_store; readers still go through
`store.open_store`, which adds the deep (CRC32) check.
"""

import json
import os
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


def check_store(path, deep: bool = False) -> str | None:
    """Why the store at `path` must not be used, or None if it is sound.

    Cheap by default (existence, `complete`, file sizes); `deep` also compares CRC32 checksums.
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
        if deep and crc32(Path(f)) != crc:
            return f"{path}: checksum mismatch in {rel}"
    return None


def quarantine_bad_stores(paths, quarantine_dir) -> list[str]:
    """Move aside finished stores that fail the cheap check so the workflow rebuilds them.

    Runs when the workflow is parsed; the damaged store is kept (never deleted) for inspection.
    Returns one message per store moved.
    """
    moved = []
    for path in map(Path, paths):
        if not path.exists():
            continue
        reason = check_store(path)
        if reason is None:
            continue
        dest = Path(quarantine_dir) / f"{path.parent.name}-{time.strftime('%Y%m%dT%H%M%S')}.zarr"
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, dest)
        moved.append(f"{reason}; moved to {dest}, it will be rebuilt")
    return moved
