"""Train one sweep point and record its snapshots into a store (the contract: topolearn.store).

The store grows under a scratch folder in blocks of `chunk` snapshots; after each block a resume
checkpoint is written atomically. A killed run restarts from its last checkpoint and finishes with
a store equal, array for array and bit for bit (CPU, same threads), to an uninterrupted run's.
Only a finished store is moved to its final path.
"""

import math
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import zarr
from tqdm import tqdm

from .config import normalize_point, run_id
from .data import load_dataset
from .datasets import DATASETS
from .models import model_for_point, weight_layers
from .schedule import snapshot_steps, updates_per_epoch
from .store import create_store, finalize_store, library_versions, move_into_place, write_rows

CHECKPOINT = "checkpoint.pt"
PARTIAL_STORE = "snapshots.zarr"
EVAL_SEED = 20190208  # fixed, not the run's seed: every run of a sweep is probed on the same samples
EVAL_BATCH = 16384  # large no-grad batches: evaluation costs little next to batch-100 training


# ---------------------------------------------------------------- setup


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no CUDA device (use cpu or auto)")
    return torch.device(device)


def _deterministic(device: torch.device, threads: int) -> None:
    """The CPU kernels used here are deterministic for a fixed thread count; on CUDA, ask for it.

    (torch.use_deterministic_algorithms imports torch's compiler stack, seconds per job: CUDA only.)
    """
    torch.set_num_threads(threads)
    if device.type == "cuda":  # cuBLAS needs a fixed workspace for reproducible matmuls
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"


def _seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (run seed, epoch, ...)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The sample order of one epoch: a function of (seed, epoch) only, so a resume reproduces it."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(_seed(seed, epoch)))


@dataclass
class EvalSets:
    """Fixed samples evaluated at every snapshot (on the training device)."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor  # the first n_test rows score test metrics, the first n_probe give probs
    y_test: torch.Tensor
    n_test: int
    n_probe: int
    probe_index: np.ndarray  # indices into the test set


def make_eval_sets(point: dict, X_train, y_train, X_test, y_test, device) -> EvalSets:
    """A fixed seeded permutation of the test set: its first `probe_size` samples are the probe,
    its first `eval_size` (or all) score the test metrics; `eval_size` training samples likewise."""
    gen = np.random.default_rng(EVAL_SEED)
    test_order = gen.permutation(len(y_test))
    train_order = gen.permutation(len(y_train))
    eval_size = point["eval_size"]
    n_test = min(eval_size or len(y_test), len(y_test))
    n_train = min(eval_size or len(y_train), len(y_train))
    n_probe = point["probe_size"]
    test_rows = test_order[:max(n_test, n_probe)]
    t = lambda a: torch.as_tensor(a).to(device)  # noqa: E731
    if n_train < len(y_train):
        rows = np.sort(train_order[:n_train])
        X_train, y_train = X_train[rows], y_train[rows]
    return EvalSets(t(X_train), t(y_train), t(X_test[test_rows]), t(y_test[test_rows]), n_test, n_probe,
                    test_order[:n_probe].astype(np.int64))


def make_optimizer(model: torch.nn.Module, point: dict) -> torch.optim.Optimizer:
    params, lr, wd = model.parameters(), point["lr"], point["weight_decay"]
    if point["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if point["optimizer"] == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=point["momentum"], weight_decay=wd)
    if point["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    raise ValueError(f"unknown optimizer {point['optimizer']!r} (allowed: sgd, momentum, adam)")


# ---------------------------------------------------------------- snapshots


@torch.no_grad()
def _logits(model, X: torch.Tensor) -> torch.Tensor:
    return torch.cat([model(X[i:i + EVAL_BATCH]) for i in range(0, len(X), EVAL_BATCH)])


def _score(logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    loss = F.cross_entropy(logits, y, reduction="sum").item() / len(y)
    acc = (logits.argmax(1) == y).double().mean().item()
    return loss, acc


def take_snapshot(model, ev: EvalSets) -> dict | None:
    """Weights, metrics and probe probabilities now; None if anything is not finite (divergence)."""
    weights = [layer.weight.detach().cpu().numpy().copy() for layer in weight_layers(model)]
    biases = [layer.bias.detach().cpu().numpy().copy() for layer in weight_layers(model)
              if layer.bias is not None]
    train_loss, train_acc = _score(_logits(model, ev.X_train), ev.y_train)
    test_logits = _logits(model, ev.X_test)
    test_loss, test_acc = _score(test_logits[:ev.n_test], ev.y_test[:ev.n_test])
    probs = torch.softmax(test_logits[:ev.n_probe], dim=1).cpu().numpy().astype(np.float32)
    if not (math.isfinite(train_loss) and math.isfinite(test_loss)
            and all(np.isfinite(w).all() for w in weights + biases)):
        return None
    return {"weights": weights, "biases": biases, "train_loss": train_loss, "train_acc": train_acc,
            "test_loss": test_loss, "test_acc": test_acc, "probs": probs}


@dataclass
class Block:
    """Snapshots recorded since the last flush; written to the store as one chunk."""

    start: int
    rows: list = field(default_factory=list)

    def add(self, step: int, epoch: float, snap: dict) -> None:
        self.rows.append((step, epoch, snap))

    def flush(self, root: zarr.Group) -> int:
        """Write the rows at [start, start + len) and return the next start."""
        if not self.rows:
            return self.start
        steps, epochs, snaps = zip(*self.rows)
        out = {"step": np.array(steps, np.int64), "epoch": np.array(epochs, np.float64),
               "probs": np.stack([s["probs"] for s in snaps])}
        for name in ("train_loss", "train_acc", "test_loss", "test_acc"):
            out[name] = np.array([s[name] for s in snaps], np.float64)
        for i in range(len(snaps[0]["weights"])):
            out[f"weights/layer{i}"] = np.stack([s["weights"][i] for s in snaps])
        for i in range(len(snaps[0]["biases"])):
            out[f"biases/layer{i}"] = np.stack([s["biases"][i] for s in snaps])
        write_rows(root, self.start, out)
        self.start += len(self.rows)
        self.rows = []
        return self.start


# ---------------------------------------------------------------- checkpoints


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
              and root["step"].shape[0] == len(steps) and np.array_equal(root["step"][:k], steps[:k]))
    except Exception as exc:  # unreadable checkpoint or partial store
        log.write(f"checkpoint {path} unusable ({type(exc).__name__}: {exc}); starting over\n")
        return None
    if not ok:
        log.write(f"checkpoint {path} does not match this run or its partial store; starting over\n")
        return None
    state["root"] = root
    return state


# ---------------------------------------------------------------- the run


def _first_nonfinite(losses: list) -> int | None:
    if not losses:
        return None
    bad = ~torch.isfinite(torch.stack(losses))
    return int(bad.nonzero()[0, 0]) if bool(bad.any()) else None


def _attrs(point, rid, device, threads) -> dict:
    return {"run_id": rid, "params": point, "versions": library_versions(), "device": _device_name(device),
            "threads": int(threads), "hostname": platform.node(),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID") or None}


def train_run(point: dict, store_path, scratch_dir, data_root="data", device: str = "cpu", threads: int = 1,
              chunk: int = 16, log=None) -> dict:
    """Train `point`, write its complete store to `store_path`; returns the store's attrs.

    Resumes from `scratch_dir` if a previous attempt left a checkpoint there. A diverging run
    (non-finite loss or weights) stops early, keeps its finite snapshots and is marked
    `diverged: true`; it still finishes normally so later analysis rules run.
    """
    t_start = time.perf_counter()
    log = log or sys.stderr
    point = normalize_point(point)
    rid = run_id(point)
    dev = resolve_device(device)
    _deterministic(dev, threads)

    X_train, y_train, X_test, y_test = load_dataset(point["dataset"], data_root)
    if point["train_size"]:
        X_train, y_train = X_train[:point["train_size"]], y_train[:point["train_size"]]
    info = DATASETS[point["dataset"]]
    n, bs = len(y_train), point["batch_size"]
    upe = updates_per_epoch(n, bs)
    total = point["epochs"] * upe
    steps = snapshot_steps(total, point["snapshots"], point["snapshot_spacing"])
    Xd, yd = torch.as_tensor(X_train).to(dev), torch.as_tensor(y_train).to(dev)
    ev = make_eval_sets(point, Xd, yd, X_test, y_test, dev)  # shares Xd unless eval_size subsamples

    model = model_for_point(point, info.n_features, info.n_classes).to(dev)
    opt = make_optimizer(model, point)
    scratch = Path(scratch_dir)
    scratch.mkdir(parents=True, exist_ok=True)
    state = load_checkpoint(scratch, rid, chunk, steps, log)
    if state is None:
        root = create_store(scratch / PARTIAL_STORE, layer_shapes=[tuple(l.weight.shape) for l in weight_layers(model)],
                            bias=point["bias"], n_snapshots=len(steps), probe_labels=ev.y_test[:ev.n_probe].cpu().numpy(),
                            n_classes=info.n_classes, chunk=chunk, attrs={"run_id": rid})
        step, k, resumed_from, prior_s = 0, 0, [], 0.0
    else:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        root, step, k = state["root"], state["step"], state["snapshot_index"]
        resumed_from, prior_s = state["resumed_from"] + [step], state["wall_time_s"]
        log.write(f"resuming {rid} from step {step} (snapshot {k} of {len(steps)})\n")
    # seconds of this attempt: setup, snapshots (evaluation and recording), store writes + checkpoints
    timing = {"setup_s": time.perf_counter() - t_start, "snapshot_s": 0.0, "write_s": 0.0}

    block = Block(start=k)
    diverged_at = None
    losses: list[torch.Tensor] = []  # this epoch's per-update losses, checked lazily (no sync per step)
    last = {"test_acc": float("nan")}
    log.write(f"run {rid}: {point['epochs']} epochs x {upe} updates, {len(steps)} snapshots, "
              f"device {_device_name(dev)}, {threads} thread(s)\n")

    def checkpoint():
        save_checkpoint(scratch / CHECKPOINT, {
            "run_id": rid, "chunk": chunk, "step": step, "snapshot_index": k, "model": model.state_dict(),
            "optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state(), "resumed_from": resumed_from,
            "wall_time_s": prior_s + time.perf_counter() - t_start})

    def snapshot() -> bool:
        """Record the snapshot due at `step`; False if the run diverged."""
        nonlocal k, diverged_at
        t0 = time.perf_counter()
        bad = _first_nonfinite(losses)
        snap = None if bad is not None else take_snapshot(model, ev)
        timing["snapshot_s"] += time.perf_counter() - t0
        if snap is None:
            diverged_at = (step - len(losses) + bad) if bad is not None else step
            return False
        block.add(step, step / upe, snap)
        last.update(test_acc=snap["test_acc"], train_loss=snap["train_loss"])
        k += 1
        if len(block.rows) == chunk or k == len(steps):
            t0 = time.perf_counter()
            block.flush(root)
            if k < len(steps):
                checkpoint()
            timing["write_s"] += time.perf_counter() - t0
        return True

    t_loop = time.perf_counter()
    for epoch in range(step // upe, point["epochs"]):
        order = epoch_order(point["seed"], epoch, n).to(dev)
        losses.clear()
        for b in range(step - epoch * upe, upe):
            if step == steps[k] and not snapshot():
                break
            idx = order[b * bs:(b + 1) * bs]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(Xd[idx]), yd[idx])
            loss.backward()
            opt.step()
            losses.append(loss.detach())
            step += 1
        if diverged_at is not None:
            break
        mean_loss = torch.stack(losses).mean().item() if losses else float("nan")
        # one line per epoch (a log file is no terminal): tqdm's bar, then the epoch's metrics
        bar = tqdm.format_meter(step, total, time.perf_counter() - t_loop, ncols=70, unit="upd", ascii=True)
        log.write(f"{bar} | epoch {epoch + 1}/{point['epochs']} train loss (epoch mean) {mean_loss:.4f}, "
                  f"test acc (last snapshot) {last['test_acc']:.4f}\n")
        log.flush()
        if not math.isfinite(mean_loss):  # stop now; the next snapshot records nothing finite
            diverged_at = step - len(losses) + _first_nonfinite(losses)
            break
    if diverged_at is None:
        snapshot()  # the final snapshot, at step == total
    block.flush(root)
    loop_s = time.perf_counter() - t_loop
    timing["train_s"] = loop_s - timing["snapshot_s"] - timing["write_s"]

    attrs = _attrs(point, rid, dev, threads) | {
        "wall_time_s": prior_s + time.perf_counter() - t_start, "resumed_from": resumed_from,
        "diverged": diverged_at is not None, "diverged_at_step": diverged_at,
        "probe_index": ev.probe_index.tolist(), "eval_samples": {"train": len(ev.y_train), "test": ev.n_test},
        "timing": timing}
    finalize_store(scratch / PARTIAL_STORE, k, attrs)
    move_into_place(scratch / PARTIAL_STORE, store_path)
    shutil.rmtree(scratch, ignore_errors=True)
    status = f"DIVERGED at step {diverged_at}" if diverged_at is not None else "done"
    log.write(f"run {rid}: {status}, {k} snapshots, {attrs['wall_time_s']:.1f} s -> {store_path}\n")
    log.flush()
    return attrs | {"n_snapshots": k}
