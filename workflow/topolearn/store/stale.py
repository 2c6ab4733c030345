"""Stale runs: stores under {results}/runs/ whose run id the current config no longer plans (a point
removed from the sweep, or a changed default). Listed on request; archived, never deleted."""

import re
import shutil
from pathlib import Path

from .checks import move_run, root_attrs
from .runlock import KEPT

_RUN_ID = re.compile(r"[0-9a-f]{12}")


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def stale_runs(results, run_ids) -> list[dict]:
    """One entry per store in {results}/runs/ not among `run_ids`: run_id, store path, the point's
    params (from the store's attributes; {} when unreadable) and size in bytes."""
    keep = set(run_ids)
    out = []
    for run_dir in sorted(Path(results, "runs").glob("*")):
        store = run_dir / "snapshots.zarr"
        if not _RUN_ID.fullmatch(run_dir.name) or run_dir.name in keep or not store.is_dir():
            continue
        try:
            params = root_attrs(store).get("params") or {}
        except Exception:  # an interrupted or damaged store is still stale
            params = {}
        out.append({"run_id": run_dir.name, "store": store, "params": params, "size": folder_size(store)})
    return out


def describe_params(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items() if v is not None) or "(params unreadable)"


def archive_runs(stale: list[dict], archive_dir) -> list[Path]:
    """Move each stale store and every product made from it to `{archive_dir}/{run_id}-{time}/`."""
    out = []
    for run in stale:
        done = move_run(run["store"], archive_dir, f"stale: run {run['run_id']} is not in the config")
        if done is not None:
            out.append(done[0])
            # the run's kept copy holds the same files (topolearn.store.runlock): not a second store
            shutil.rmtree(run["store"].parents[2] / "checkpoints" / run["run_id"] / KEPT, ignore_errors=True)
            try:
                run["store"].parent.rmdir()  # the now empty runs/{run_id}/
            except OSError:
                pass
    return out
