"""Data judged by content: has a run's training data changed since its store was made?

A finished store records the sha256 of every file its run was trained from (root attr `data_files`,
{path: sha256}, topolearn.data.load.dataset_fingerprint). A file's mtime says nothing about its
content (an interrupted copy is newer, a `cp -p` of other labels keeps the old time), so the
workflow declares data inputs `ancient()` and compares hashes instead: a run is stale when a file
it was trained from now hashes differently. Its store is then kept aside with everything made from
it (`{results}/superseded/{run_id}-{time}/`, REASON.txt inside) and the run trains again; a
finished store is never deleted.

Hashing stays cheap on every parse: each distinct file is hashed once per FileHashes (runs share
their dataset's files), and a small cache under the results folder keys each hash on the file's
(size, mtime_ns, ctime_ns, inode). ctime belongs in the key: a program can set mtime back
(`touch -r`, `cp -p`) but not ctime, which any write or time change moves to now.

JSON only, no zarr: this runs while the workflow is parsed.
"""

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from .checks import move_run, root_attrs
from .runlock import FINISHED, discard_finished, discard_kept

CACHE_FILE = ".data_hashes.json"  # under {results}
SUPERSEDED = "superseded"


class FileHashes:
    """sha256 of files, each computed at most once per instance; a cache file, if given, carries
    them to the next parse while the file's size, mtime, ctime and inode stay the same."""

    def __init__(self, cache_path=None):
        self.cache_path = Path(cache_path) if cache_path else None
        self._cache: dict[str, list] = {}
        if self.cache_path is not None:
            try:
                loaded = json.loads(self.cache_path.read_text())
                self._cache = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                pass  # no cache yet, or a damaged one: hash again
        self._now: dict[str, str | None] = {}
        self.hashed = 0  # files actually read (cache misses), for tests and benchmarks

    @staticmethod
    def _key(st: os.stat_result) -> list:
        return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]

    def sha256(self, path) -> str | None:
        """The file's sha256, or None when it does not exist (or cannot be read)."""
        path = os.path.abspath(path)
        if path in self._now:
            return self._now[path]
        digest = None
        try:
            st = os.stat(path)
            hit = self._cache.get(path)
            if hit and hit[:4] == self._key(st):
                digest = hit[4]
            else:
                with open(path, "rb") as fh:
                    digest = hashlib.file_digest(fh, "sha256").hexdigest()
                self.hashed += 1
                self._cache[path] = self._key(st) + [digest]  # stat before reading: a write meanwhile misses
        except OSError:
            digest = None
        self._now[path] = digest
        return digest

    def save(self) -> None:
        """Write the cache (atomically), keeping only files hashed or confirmed in this instance."""
        if self.cache_path is None or not self._now:
            return
        keep = {p: self._cache[p] for p, d in self._now.items() if d is not None and p in self._cache}
        tmp = self.cache_path.with_name(self.cache_path.name + f".{os.getpid()}.tmp")
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(keep))
            os.replace(tmp, self.cache_path)
        except OSError:
            tmp.unlink(missing_ok=True)  # a cache is an optimisation: never fail a run over it


def recorded_files(store) -> dict[str, str]:
    """{path: sha256} a store records of its training data; {} when it records none (digits, the
    generated sets) or its metadata is unreadable (a damaged store is check_stores' business)."""
    try:
        files = root_attrs(Path(store)).get("data_files")
    except Exception:
        return {}
    return files if isinstance(files, dict) else {}


def data_change(recorded: Mapping[str, str], now: Mapping[str, str | None]) -> str | None:
    """What differs between the recorded {path: sha256} and the files' hashes now, or None.

    A file missing now is not a change (it cannot be compared; fetching or the plan-time checks
    deal with it). When the paths are the same, file by file; when the dataset was moved (other
    paths, same files in the loader's order), by content in that order."""
    if set(recorded) == set(now):
        diff = [p for p, h in recorded.items() if now[p] is not None and now[p] != h]
        return "; ".join(f"{p} (sha256 {recorded[p][:12]}... recorded, {now[p][:12]}... now)" for p in diff) or None
    if any(h is None for h in now.values()):
        return None
    if list(recorded.values()) == list(now.values()):
        return None
    return f"its files are now {', '.join(now)} with other content than {', '.join(recorded)} it was trained on"


def changed_runs(stores: Mapping[str, str], hashes: FileHashes,
                 current: Mapping[str, list] | None = None, locate=None) -> dict[str, str]:
    """{run id: what changed} of each existing store whose data files differ from those it recorded.

    stores: {run id: store path}. current: {run id: the files the run would be trained from now}
    (the workflow's view; runs not in it are not checked); None compares the recorded paths
    themselves (verify, which has no config), each read where `locate(path)` says (default: as is)."""
    locate = locate or (lambda p: p)
    out = {}
    for rid, store in stores.items():
        if current is not None and not current.get(rid):
            continue
        if not os.path.isfile(os.path.join(store, "zarr.json")):
            continue
        recorded = recorded_files(store)
        if not recorded:
            continue
        files = list(recorded) if current is None else [str(p) for p in current[rid]]
        change = data_change(recorded, {f: hashes.sha256(locate(f)) for f in files})
        if change:
            out[rid] = change
    return out


def summary_line(changed: Mapping[str, str]) -> str:
    """'data changed for N runs: <ids...>' (the first ten ids, then a count)."""
    ids = sorted(changed)
    shown = " ".join(ids[:10]) + (f" (+{len(ids) - 10} more)" if len(ids) > 10 else "")
    return f"data changed for {len(ids)} run{'s' if len(ids) != 1 else ''}: {shown}"


def supersede(rid: str, store, scratch, results, change: str) -> str | None:
    """Move run `rid`'s store (or its finished copy in scratch, when that is what was judged),
    trained on data that have since changed, with its products to
    `{results}/superseded/{run_id}-{time}/` (REASON.txt says why), and drop the finished copy (the
    same files, hard-linked: a trainer must not adopt it). Returns the log line, or None when the
    store was gone already."""
    done = move_run(store, Path(results) / SUPERSEDED, f"data changed since run {rid} was trained: {change}")
    discard_finished(scratch)
    discard_kept(scratch)
    if done is None:
        return None
    dest, moved = done
    extra = f" with {moved} product(s) made from it" if moved else ""
    return f"run {rid}: store moved to {dest}{extra}; it trains again on the data as they are now"


def check_data(stores: Mapping[str, str], current: Mapping[str, list], scratch: Mapping[str, str], results,
               act: bool) -> list[str]:
    """The workflow's check at parse time: the lines to log. With `act` (a real run, main process)
    stale stores are superseded and the hash cache is updated; otherwise (a dry run) only reported.

    A run without a store may still have a finished copy in scratch (finished behind a dead
    Snakemake's back, topolearn.store.runlock) that a trainer would adopt: it is judged the same way."""
    hashes = FileHashes(Path(results) / CACHE_FILE)
    fin = {r: Path(scratch[r]) / FINISHED for r in stores}
    judged = {r: s if os.path.exists(s) or not fin[r].is_dir() else fin[r] for r, s in stores.items()}
    changed = changed_runs(judged, hashes, current)
    if act:
        hashes.save()
    if not changed:
        return []
    if not act:
        return [summary_line(changed) + f"; a real run moves their stores to {Path(results) / SUPERSEDED} "
                                        "and trains them again"]
    lines = [summary_line(changed)]
    for rid, change in sorted(changed.items()):
        line = supersede(rid, judged[rid], scratch[rid], results, change)
        if line:
            lines.append(line)
    return lines


def verify_data(stores) -> tuple[list[str], int]:
    """(lines to print, runs whose data changed) for `python -m topolearn verify`: each store's
    recorded data files against the same paths now. Relative paths are relative to where Snakemake
    ran: here, else the results folder's parent (the usual `results: results`)."""
    stores = {Path(s).parent.name: s for s in stores}
    hashes = FileHashes()

    def locate(path):
        beside = Path(stores[next(iter(stores))]).parents[2].parent / path
        return path if Path(path).is_absolute() or os.path.exists(path) or not beside.exists() else beside

    changed = changed_runs(stores, hashes, locate=locate) if stores else {}
    unseen = sorted(r for r, s in stores.items() if any(hashes.sha256(locate(p)) is None for p in recorded_files(s)))
    lines = []
    if changed:
        lines.append(summary_line(changed) + "; the next snakemake run moves their stores to "
                                             f"{SUPERSEDED}/ and trains them again")
        lines += [f"run {rid}: {change}" for rid, change in sorted(changed.items())]
    if unseen:
        lines.append(f"data of {len(unseen)} run(s) not compared, files not found from here: {' '.join(unseen[:10])}"
                     + (" ..." if len(unseen) > 10 else ""))
    return lines, len(changed)
