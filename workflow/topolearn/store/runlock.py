"""Hard-kill safety of training: one trainer per run, finished stores kept, and
trainers that stop with the Snakemake that started them.

Local jobs outlive a killed Snakemake. Without care, a rerun starts a second trainer of the same run
while the orphan writes, and Snakemake deletes stores the orphan finished because its own
incomplete marker survived. So:
- a run is trained under an exclusive `flock` on `scratch/lock` (a second trainer waits);
- a finished store is also hard-linked as `scratch/finished.zarr` (no extra bytes); a trainer that
  finds a sound one for its run links it to the output and trains nothing;
- once Snakemake has registered the store, that copy becomes `scratch/kept.zarr`, which no trainer
  adopts (a --forcerun retrains) but which outlives Snakemake deleting the store for a retrain: it
  is dropped when the replacement is complete, and set aside under `superseded/` when the store is
  missing without one (the retrain failed or was killed);
- at every snapshot a trainer checks that its Snakemake is alive; when it is gone, or on SIGTERM or
  SIGINT, the trainer checkpoints and exits with status 1.
"""

import errno
import fcntl
import os
import shutil
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from .checks import check_store, root_attrs

LOCK = "lock"
FINISHED = "finished.zarr"
KEPT = "kept.zarr"
ADOPTING = "adopting.zarr"


class Stopped(SystemExit):
    """Training stopped on purpose after a checkpoint: exit status 1 with a one-line message."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# ---------------------------------------------------------------- one trainer per run


def _lock_holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "?"
    except OSError:
        return "?"


@contextmanager
def run_lock(scratch, rid: str, log):
    """Hold the run's lock for the block; waits (with one log line) while another process holds it."""
    scratch = Path(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / LOCK
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.write(f"run {rid} is being trained by PID {_lock_holder(path)}; waiting\n")
            log.flush()
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:  # the lock file may have been removed while we waited: lock the current one
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    try:
        yield
    finally:
        os.close(fd)  # releases the lock (so does any death of this process)


def drop_lock_file(scratch) -> None:
    """Remove the lock file of a published run while still holding its lock (a finished run leaves
    only its kept copy in scratch). A trainer waiting on it finds it gone and locks a new one
    (run_lock), then adopts the finished copy."""
    (Path(scratch) / LOCK).unlink(missing_ok=True)


# ---------------------------------------------------------------- finished stores are kept


def link_tree(src, dst) -> None:
    """Copy the directory `src` to `dst` by hard links (a plain copy across filesystems)."""
    src, dst = Path(src), Path(dst)
    for d, _, files in os.walk(src):
        out = dst / Path(d).relative_to(src)
        out.mkdir(parents=True, exist_ok=True)
        for name in files:
            try:
                os.link(os.path.join(d, name), out / name)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                    raise
                shutil.copy2(os.path.join(d, name), out / name)


def keep_finished(store, scratch) -> None:
    """Record the finalized `store` (still in scratch) as the run's finished copy."""
    fin, tmp = Path(scratch) / FINISHED, Path(scratch) / (FINISHED + ".tmp")
    for p in (fin, tmp):
        shutil.rmtree(p, ignore_errors=True)
    link_tree(store, tmp)
    os.replace(tmp, fin)


def discard_finished(scratch) -> None:
    """A run that trains from scratch no longer needs its finished copy."""
    shutil.rmtree(Path(scratch) / FINISHED, ignore_errors=True)


def release_registered(store, scratch) -> bool:
    """Turn the finished copy into the kept copy once Snakemake has registered the store (its
    timestamp file is inside: Snakemake writes it when the job succeeded). The finished copy only
    guards a store finished behind a dead Snakemake's back; after registration a rerun is deliberate
    (--forcerun) and must train anew, but Snakemake deletes the store before that job runs, so the
    kept copy (hard links, no extra bytes) holds it until the replacement is complete.
    Called while the workflow is parsed, in the main process of a real run; whether it changed one."""
    if not os.path.exists(os.path.join(store, ".snakemake_timestamp")):
        return False
    fin, kept = Path(scratch) / FINISHED, Path(scratch) / KEPT
    if fin.is_dir():
        shutil.rmtree(kept, ignore_errors=True)
        os.replace(fin, kept)
        return True
    if not kept.is_dir():  # registered before kept copies existed
        tmp = Path(scratch) / (KEPT + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        link_tree(store, tmp)
        os.replace(tmp, kept)
        return True
    return False


def discard_kept(scratch) -> None:
    """The replacement store is complete (or the store was moved aside with the same files)."""
    shutil.rmtree(Path(scratch) / KEPT, ignore_errors=True)


def set_aside_kept(store, scratch, folder) -> str | None:
    """A run whose store is gone while its kept copy remains: Snakemake deleted the store for a
    retrain that did not complete. Move the copy to `{folder}/{run_id}-{time}/runs/{run_id}/
    snapshots.zarr` (REASON.txt says why) so the next run trains anew and nothing finished is lost.
    A copy that fails the deep check shares the files of a store found damaged: dropped.
    Returns the line to log, or None when there was nothing to do."""
    kept = Path(scratch) / KEPT
    if os.path.exists(store) or not kept.is_dir():
        return None
    rid = Path(store).parent.name
    reason = check_store(kept, deep=True)
    if reason is not None:
        discard_kept(scratch)
        return None
    dest = Path(folder) / f"{rid}-{time.strftime('%Y%m%dT%H%M%S')}"
    while dest.exists():
        dest = dest.with_name(dest.name + "-1")
    target = dest / "runs" / rid / "snapshots.zarr"
    target.parent.mkdir(parents=True)
    os.replace(kept, target)
    (dest / "REASON.txt").write_text(f"run {rid}: the finished store, deleted by Snakemake for a retrain "
                                     "(e.g. --forcerun) that did not complete\n")
    return (f"run {rid}: its store was deleted for a retrain that did not complete; the finished store "
            f"is kept in {target} and the run trains again")


def adopt_finished(scratch, rid: str, store_path, log) -> dict | None:
    """If scratch holds a sound finished store of `rid`, put it at `store_path`; its attrs, else None."""
    from .snapshots import move_into_place  # zarr: runlock is imported while the workflow plans

    fin = Path(scratch) / FINISHED
    if not fin.is_dir():
        return None
    reason = check_store(fin, deep=True)
    attrs = root_attrs(fin) if reason is None else {}
    if reason or attrs.get("run_id") != rid:
        log.write(f"run {rid}: finished copy in {fin} not usable ({reason or 'another run'}); training\n")
        discard_finished(scratch)
        return None
    tmp = Path(scratch) / ADOPTING
    shutil.rmtree(tmp, ignore_errors=True)
    link_tree(fin, tmp)
    move_into_place(tmp, store_path)
    log.write(f"run {rid}: already finished (by an earlier trainer); its store is linked to {store_path}\n")
    log.flush()
    return attrs


# ---------------------------------------------------------------- stop with Snakemake


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] == b"Z":  # a zombie is dead, only not yet reaped
        return None
    return int(fields[1]), int(fields[19])


def _is_snakemake(pid: int) -> bool:
    try:
        argv = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
    except OSError:
        return False
    return is_snakemake_argv(argv)


def is_snakemake_argv(argv: list[str]) -> bool:
    """Snakemake itself (`snakemake ...`, `python .../snakemake ...`, `python -m snakemake ...`),
    not a shell or job script whose arguments merely mention a .snakemake path."""
    if any(os.path.basename(a).startswith("snakemake") for a in argv[:2]):
        return True
    return any(a == "-m" and b.startswith("snakemake") for a, b in zip(argv, argv[1:]))


def snakemake_ancestor() -> tuple[int, int] | None:
    """(pid, start time) of the nearest ancestor process that is Snakemake, or None."""
    pid = os.getppid()
    while pid > 1:
        st = _proc_stat(pid)
        if st is None:
            return None
        if _is_snakemake(pid):
            return pid, st[1]
        pid = st[0]
    return None


class Guard:
    """Why training must stop now (a signal, or Snakemake gone), checked at safe points.

    Use as a context manager: SIGTERM and SIGINT only set a flag while it is active (main thread).
    """

    def __init__(self):
        self.parent = snakemake_ancestor()
        self.signal: int | None = None
        self._old: dict = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old = {}

    def _on_signal(self, signum, frame):
        self.signal = signum

    def reason(self, at_snapshot: bool = True) -> str | None:
        """None to go on; else what stopped us ("received SIGTERM", "snakemake (PID N) is gone")."""
        if self.signal is not None:
            return f"received {signal.Signals(self.signal).name}"
        if at_snapshot and self.parent is not None:
            st = _proc_stat(self.parent[0])
            if st is None or st[1] != self.parent[1]:
                return f"snakemake (PID {self.parent[0]}) is gone"
        return None


def stop_message(reason: str, step: int) -> str:
    return f"topolearn: {reason}; checkpointed at step {step}, the next run resumes"
