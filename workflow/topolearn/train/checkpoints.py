"""A run's scratch folder: its partial store, its resume checkpoint, and publishing the finished store.

The store grows under the scratch folder in blocks of `chunk` snapshots; after each block a resume
checkpoint is written atomically (torch's formats: the model's state_dict, torch.optim's
state_dict, so any pack, of any size, resumes it). Only a finished store is moved to its final path.
"""

import os
import platform
from pathlib import Path

import numpy as np
import torch
import zarr

from ..data.toy import is_toy
from ..store.runlock import discard_finished, discard_kept, keep_finished
from ..store.snapshots import create_store, finalize_store, library_versions, move_into_place, read_metric_series
from .device import device_name, symmetry_context
from .representations import record as record_representations  # 2-D data: each layer's view of it
from .trainset import TrainData

CHECKPOINT = "checkpoint.pt"
PARTIAL_STORE = "snapshots.zarr"


def save_checkpoint(path: Path, state: dict) -> None:
    """Atomic: a kill leaves either the previous checkpoint or this one, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        torch.save(state, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_checkpoint(scratch: Path, rid: str, chunk: int, steps: np.ndarray, log) -> dict | None:
    """The checkpoint of this run with its partial store, or None (then training starts over)."""
    path = scratch / CHECKPOINT
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        root = zarr.open_group(str(scratch / PARTIAL_STORE), mode="r+")
        k = state["snapshot_index"]
        ok = (state["run_id"] == rid and state["chunk"] == chunk and root.attrs.get("run_id") == rid
              and len(recorded := read_metric_series(root, ("step",))["step"]) == len(steps)
              and np.array_equal(recorded[:k], steps[:k]))
    except Exception as exc:  # unreadable checkpoint or partial store
        log.write(f"checkpoint {path} unusable ({type(exc).__name__}: {exc}); starting over\n")
        return None
    if not ok:
        log.write(f"checkpoint {path} does not match this run or its partial store; starting over\n")
        return None
    state["root"] = root
    return state


def new_store(scratch: Path, rid: str, shapes: list, point: dict, data: TrainData, chunk: int,
              conv_shapes: list = ()) -> zarr.Group:
    """The empty partial store of a run that starts from scratch (its finished copy is dropped).
    shapes: the dense layers' (out, in); conv_shapes: a CNN's (filters, in_channels, k, k)."""
    discard_finished(scratch)
    ev = data.ev
    return create_store(scratch / PARTIAL_STORE, layer_shapes=shapes, conv_shapes=conv_shapes, bias=point["bias"],
                        n_snapshots=len(data.steps), probe_labels=ev.y_test[:ev.n_probe].cpu().numpy(),
                        n_classes=data.n_classes, chunk=chunk, attrs={"run_id": rid})


def run_attrs(point: dict, rid: str, dev: torch.device, threads: int, data: TrainData, *, wall_time_s: float,
              resumed_from: list, diverged_at: int | None, final_eval: dict | None, timing: dict) -> dict:
    """The attrs of a finished store (the contract: docs/store.md)."""
    return {
        "run_id": rid, "params": point, "versions": library_versions(), "device": device_name(dev),
        "threads": int(threads), "hostname": platform.node(), "slurm_job_id": os.environ.get("SLURM_JOB_ID") or None,
        "wall_time_s": wall_time_s, "resumed_from": resumed_from, "diverged": diverged_at is not None,
        "diverged_at_step": diverged_at, "probe_index": data.ev.probe_index.tolist(),
        "eval_samples": {"train": len(data.ev.y_train), "test": data.ev.n_test},
        "final_eval": final_eval, "timing": timing, "symmetry_context": symmetry_context(dev, threads)}


def publish(scratch: Path, store_path, n_recorded: int, attrs: dict, data_root) -> None:
    """Finalize the partial store, keep a hard-linked finished copy in scratch, move it into place.
    `attrs` (run_attrs and `data_files`, topolearn.data.dataset_fingerprint) become the store's."""
    partial = scratch / PARTIAL_STORE
    if is_toy(attrs["params"]["dataset"]):  # only toy runs record layer representations
        record_representations(zarr.open_group(str(partial), mode="r+"), attrs["params"], data_root)
    finalize_store(partial, n_recorded, attrs)
    keep_finished(partial, scratch)
    move_into_place(partial, store_path)
    discard_kept(scratch)  # the store it guarded is replaced
    for name in (CHECKPOINT, CHECKPOINT + ".tmp"):
        (scratch / name).unlink(missing_ok=True)


def log_done(log, rid: str, diverged_at, k: int, wall: float, store_path) -> None:
    status = "done" if diverged_at is None else f"DIVERGED at step {diverged_at}"
    log.write(f"run {rid}: {status}, {k} snapshots, {wall:.1f} s -> {store_path}\n")
    log.flush()
