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
    # per-sample losses summed in float64: a float32 sum overflows long before any loss does
    loss = F.cross_entropy(logits, y, reduction="none").double().mean().item()
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


class Run:
    """One training attempt of a point: fresh, or resumed from the scratch folder's checkpoint."""

    def __init__(self, point: dict, scratch_dir, data_root, device: str, threads: int, chunk: int, log):
        self.t_start = time.perf_counter()
        self.log, self.chunk, self.threads = log, chunk, threads
        self.point = p = normalize_point(point)
        self.rid = run_id(p)
        self.dev = resolve_device(device)
        _deterministic(self.dev, threads)
        self._load_data(data_root)
        self.model = model_for_point(p, self.info.n_features, self.info.n_classes).to(self.dev)
        self.opt = make_optimizer(self.model, p)
        self.scratch = Path(scratch_dir)
        self.scratch.mkdir(parents=True, exist_ok=True)
        self._start_or_resume()
        self.block = Block(start=self.k)
        self.losses: list[torch.Tensor] = []  # this epoch's per-update losses, checked lazily (no sync per step)
        self.diverged_at: int | None = None
        self.last_test_acc = float("nan")
        # seconds of this attempt: setup, snapshots (evaluation and recording), store writes + checkpoints
        self.timing = {"setup_s": time.perf_counter() - self.t_start, "snapshot_s": 0.0, "write_s": 0.0}

    def _load_data(self, data_root) -> None:
        p = self.point
        X_train, y_train, X_test, y_test = load_dataset(p["dataset"], data_root)
        if p["train_size"]:
            X_train, y_train = X_train[:p["train_size"]], y_train[:p["train_size"]]
        self.info = DATASETS[p["dataset"]]
        self.n, self.bs = len(y_train), p["batch_size"]
        self.upe = updates_per_epoch(self.n, self.bs)
        self.total = p["epochs"] * self.upe
        self.steps = snapshot_steps(self.total, p["snapshots"], p["snapshot_spacing"]).tolist()
        self.X, self.y = torch.as_tensor(X_train).to(self.dev), torch.as_tensor(y_train).to(self.dev)
        self.ev = make_eval_sets(p, self.X, self.y, X_test, y_test, self.dev)  # shares X unless eval_size
        self.X_test, self.y_test = X_test, y_test

    def _start_or_resume(self) -> None:
        state = load_checkpoint(self.scratch, self.rid, self.chunk, np.array(self.steps), self.log)
        if state is None:
            shapes = [tuple(layer.weight.shape) for layer in weight_layers(self.model)]
            self.root = create_store(self.scratch / PARTIAL_STORE, layer_shapes=shapes, bias=self.point["bias"],
                                     n_snapshots=len(self.steps), probe_labels=self.ev.y_test[:self.ev.n_probe].cpu().numpy(),
                                     n_classes=self.info.n_classes, chunk=self.chunk, attrs={"run_id": self.rid})
            self.step, self.k, self.resumed_from, self.prior_s = 0, 0, [], 0.0
            return
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        self.root, self.step, self.k = state["root"], state["step"], state["snapshot_index"]
        self.resumed_from, self.prior_s = state["resumed_from"] + [self.step], state["wall_time_s"]
        self.log.write(f"resuming {self.rid} from step {self.step} (snapshot {self.k} of {len(self.steps)})\n")

    def wall_time(self) -> float:
        return self.prior_s + time.perf_counter() - self.t_start

    # ------------------------------------------------------------ snapshots and checkpoints

    def checkpoint(self) -> None:
        save_checkpoint(self.scratch / CHECKPOINT, {
            "run_id": self.rid, "chunk": self.chunk, "step": self.step, "snapshot_index": self.k,
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
            "torch_rng": torch.get_rng_state(), "resumed_from": self.resumed_from, "wall_time_s": self.wall_time()})

    def snapshot(self) -> bool:
        """Record the snapshot due now; False (and `diverged_at` set) if the run diverged."""
        t0 = time.perf_counter()
        bad = _first_nonfinite(self.losses)
        snap = None if bad is not None else take_snapshot(self.model, self.ev)
        self.timing["snapshot_s"] += time.perf_counter() - t0
        if snap is None:
            self.diverged_at = self.step - len(self.losses) + bad if bad is not None else self.step
            return False
        self.block.add(self.step, self.step / self.upe, snap)
        self.last_test_acc = snap["test_acc"]
        self.k += 1
        if len(self.block.rows) == self.chunk or self.k == len(self.steps):
            t0 = time.perf_counter()
            self.block.flush(self.root)
            if self.k < len(self.steps):
                self.checkpoint()
            self.timing["write_s"] += time.perf_counter() - t0
        return True

    # ------------------------------------------------------------ training

    def train_epoch(self, epoch: int) -> bool:
        """The rest of one epoch (all of it unless resumed mid-epoch); False once diverged."""
        order = epoch_order(self.point["seed"], epoch, self.n).to(self.dev)
        model, opt, X, y, bs, steps = self.model, self.opt, self.X, self.y, self.bs, self.steps
        self.losses.clear()
        for b in range(self.step - epoch * self.upe, self.upe):
            if self.step == steps[self.k] and not self.snapshot():
                return False
            idx = order[b * bs:(b + 1) * bs]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
            self.losses.append(loss.detach())
            self.step += 1
        mean_loss = torch.stack(self.losses).mean().item() if self.losses else float("nan")
        self._log_epoch(epoch, mean_loss)
        if not math.isfinite(mean_loss):  # stop now: nothing later could be recorded
            self.diverged_at = self.step - len(self.losses) + _first_nonfinite(self.losses)
            return False
        return True

    def _log_epoch(self, epoch: int, mean_loss: float) -> None:
        # one line per epoch (a log file is no terminal): tqdm's bar, then the epoch's metrics
        bar = tqdm.format_meter(self.step, self.total, time.perf_counter() - self.t_loop, ncols=70, unit="upd",
                                ascii=True)
        self.log.write(f"{bar} | epoch {epoch + 1}/{self.point['epochs']} train loss (epoch mean) "
                       f"{mean_loss:.4f}, test acc (last snapshot) {self.last_test_acc:.4f}\n")
        self.log.flush()

    def train(self) -> None:
        self.log.write(f"run {self.rid}: {self.point['epochs']} epochs x {self.upe} updates, "
                       f"{len(self.steps)} snapshots, device {_device_name(self.dev)}, {self.threads} thread(s)\n")
        self.t_loop = time.perf_counter()
        for epoch in range(self.step // self.upe, self.point["epochs"]):
            if not self.train_epoch(epoch):
                break
        else:
            self.snapshot()  # the final one, at step == total
        self.block.flush(self.root)  # what a diverged run recorded since the last flush
        self.timing["train_s"] = (time.perf_counter() - self.t_loop - self.timing["snapshot_s"]
                                  - self.timing["write_s"])

    def final_eval(self) -> dict | None:
        """The final model on the full training and test sets (snapshot rows use `eval_size`)."""
        if self.diverged_at is not None:
            return None
        out = {}
        for split, X, y in (("train", self.X, self.y), ("test", self.X_test, self.y_test)):
            X, y = torch.as_tensor(X).to(self.dev), torch.as_tensor(y).to(self.dev)
            out[f"{split}_loss"], out[f"{split}_acc"] = _score(_logits(self.model, X), y)
        return out

    def finish(self, store_path) -> dict:
        """Finalize the store, move it to `store_path`, drop the scratch folder; returns the attrs."""
        attrs = {
            "run_id": self.rid, "params": self.point, "versions": library_versions(),
            "device": _device_name(self.dev), "threads": int(self.threads), "hostname": platform.node(),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID") or None, "wall_time_s": self.wall_time(),
            "resumed_from": self.resumed_from, "diverged": self.diverged_at is not None,
            "diverged_at_step": self.diverged_at, "probe_index": self.ev.probe_index.tolist(),
            "eval_samples": {"train": len(self.ev.y_train), "test": self.ev.n_test},
            "final_eval": self.final_eval(), "timing": self.timing}
        finalize_store(self.scratch / PARTIAL_STORE, self.k, attrs)
        move_into_place(self.scratch / PARTIAL_STORE, store_path)
        shutil.rmtree(self.scratch, ignore_errors=True)
        status = "done" if self.diverged_at is None else f"DIVERGED at step {self.diverged_at}"
        self.log.write(f"run {self.rid}: {status}, {self.k} snapshots, {attrs['wall_time_s']:.1f} s -> {store_path}\n")
        self.log.flush()
        return attrs | {"n_snapshots": self.k}


def train_run(point: dict, store_path, scratch_dir, data_root="data", device: str = "cpu", threads: int = 1,
              chunk: int = 16, log=None) -> dict:
    """Train `point` and write its complete store to `store_path`; returns the store's attrs.

    Resumes from `scratch_dir` if a previous attempt left a checkpoint there. A diverging run
    (non-finite loss or weights) stops early, keeps its finite snapshots and is marked
    `diverged: true`; it still finishes normally so later analysis rules run.
    """
    run = Run(point, scratch_dir, data_root, device, threads, chunk, log or sys.stderr)
    run.train()
    return run.finish(store_path)
