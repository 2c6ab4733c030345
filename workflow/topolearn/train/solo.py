"""Train one sweep point and record its snapshots into a store (the contract: topolearn.store.snapshots).

The store grows under a scratch folder in blocks of `chunk` snapshots; after each block a resume
checkpoint is written atomically. A killed run restarts from its last checkpoint and finishes with
a store equal, array for array and bit for bit (CPU, same threads), to an uninterrupted run's.
Only a finished store is moved to its final path. This is the reference trainer; topolearn.train.loop
trains many networks as one batched computation with the same store, checkpoint and snapshot code.
"""

import functools
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import zarr
from tqdm import tqdm

from ..sweep.points import normalize_point, run_id
from ..data.builtin import load_dataset
from ..data.registry import dataset_info
from .models import model_for_point, weight_layers
from ..data.declared import dataset_fingerprint, use_config
from ..store.runlock import Guard, Stopped, adopt_finished, discard_finished, keep_finished, run_lock, stop_message
from ..sweep.schedule import snapshot_steps, updates_per_epoch
from ..store.snapshots import create_store, finalize_store, library_versions, move_into_place, write_rows
from ..data.toy import TOY_DATASETS

from .representations import record as record_representations  # 2-D data: each layer's view of it

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


def symmetry_context(device: torch.device, threads: int) -> dict:
    """What floating-point results (and so the breaking of exact symmetries) depend on."""
    info = [line.strip() for line in torch.__config__.parallel_info().splitlines()]
    blas = [x.split("=", 1)[1] for x in torch.__config__.show().replace(",", " ").split() if x.startswith("BLAS_INFO=")]
    return {"threads": int(threads), "torch": torch.__version__, "device": _device_name(device),
            "blas": blas[0] if blas else "unknown",
            "parallel": "; ".join(x for x in info if x and not x.startswith(("ATen/Parallel", "Environment")))}


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


def score(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss and accuracy per network of `logits` (P, N, C) on labels y (N,): two (P,) float64."""
    P, N, C = logits.shape
    # per-sample losses summed in float64: a float32 sum overflows long before any loss does
    loss = F.cross_entropy(logits.reshape(P * N, C), y.repeat(P), reduction="none").view(P, N)
    return loss.double().mean(1), (logits.argmax(2) == y).double().mean(1)


def _score(logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    loss, acc = score(logits.unsqueeze(0), y)
    return loss.item(), acc.item()


def snapshots_from(weights: list, biases: list, train_logits, test_logits, ev: "EvalSets") -> list[dict | None]:
    """One snapshot per network from stacked weights [(P, out, in)] and biases [(P, out)] (numpy),
    and logits (P, N, C) on the eval sets; None for a network with anything non-finite (divergence)."""
    train_loss, train_acc = (t.tolist() for t in score(train_logits, ev.y_train))
    test_loss, test_acc = (t.tolist() for t in score(test_logits[:, :ev.n_test], ev.y_test[:ev.n_test]))
    probs = torch.softmax(test_logits[:, :ev.n_probe], dim=2).cpu().numpy().astype(np.float32)
    finite = np.ones(len(probs), bool)
    for a in weights + biases:
        finite &= np.isfinite(a.reshape(len(a), -1)).all(1)
    out = []
    for i in range(len(probs)):
        if not (finite[i] and math.isfinite(train_loss[i]) and math.isfinite(test_loss[i])):
            out.append(None)
            continue
        out.append({"weights": [w[i].copy() for w in weights], "biases": [b[i].copy() for b in biases],
                    "train_loss": train_loss[i], "train_acc": train_acc[i], "test_loss": test_loss[i],
                    "test_acc": test_acc[i], "probs": probs[i]})
    return out


def take_snapshot(model, ev: EvalSets) -> dict | None:
    """Weights, metrics and probe probabilities now; None if anything is not finite (divergence)."""
    layers = weight_layers(model)
    weights = [layer.weight.detach().cpu().numpy()[None] for layer in layers]
    biases = [layer.bias.detach().cpu().numpy()[None] for layer in layers if layer.bias is not None]
    return snapshots_from(weights, biases, _logits(model, ev.X_train)[None], _logits(model, ev.X_test)[None], ev)[0]


@dataclass
class Block:
    """Snapshots recorded since the last flush; written to the store as one chunk."""

    start: int
    rows: list = field(default_factory=list)

    def add(self, step: int, epoch: float, snap: dict) -> None:
        self.rows.append((step, epoch, snap))

    def flush(self, root: zarr.Group) -> int:
        """Write the rows at [start, start + len) and return the next start."""
        if self.rows:
            write_rows(root, *self.take())
        return self.start

    def take(self) -> tuple[int, dict]:
        """(start, {array path: rows}) of the rows recorded since the last flush, which they leave."""
        steps, epochs, snaps = zip(*self.rows)
        out = {"step": np.array(steps, np.int64), "epoch": np.array(epochs, np.float64),
               "probs": np.stack([s["probs"] for s in snaps])}
        for name in ("train_loss", "train_acc", "test_loss", "test_acc"):
            out[name] = np.array([s[name] for s in snaps], np.float64)
        for i in range(len(snaps[0]["weights"])):
            out[f"weights/layer{i}"] = np.stack([s["weights"][i] for s in snaps])
        for i in range(len(snaps[0]["biases"])):
            out[f"biases/layer{i}"] = np.stack([s["biases"][i] for s in snaps])
        start = self.start
        self.start += len(self.rows)
        self.rows = []
        return start, out


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


# ---------------------------------------------------------------- shared by the solo and packed trainers


@dataclass
class TrainData:
    """A point's training data on the device, its update schedule and its eval sets."""

    X: torch.Tensor
    y: torch.Tensor
    X_test: np.ndarray  # full test set (final evaluation)
    y_test: np.ndarray
    n_classes: int
    n: int
    bs: int
    upe: int
    total: int
    steps: list
    ev: EvalSets


def load_train_data(point: dict, data_root, dev: torch.device) -> TrainData:
    X_train, y_train, X_test, y_test = load_dataset(point["dataset"], data_root, point=point)
    if point["train_size"]:
        X_train, y_train = X_train[:point["train_size"]], y_train[:point["train_size"]]
    n, bs = len(y_train), point["batch_size"]
    upe = updates_per_epoch(n, bs)
    total = point["epochs"] * upe
    steps = snapshot_steps(total, point["snapshots"], point["snapshot_spacing"]).tolist()
    X, y = torch.as_tensor(X_train).to(dev), torch.as_tensor(y_train).to(dev)
    ev = make_eval_sets(point, X, y, X_test, y_test, dev)  # shares X unless eval_size
    return TrainData(X, y, X_test, y_test, dataset_info(point).n_classes, n, bs, upe, total, steps, ev)


def new_store(scratch: Path, rid: str, shapes: list, point: dict, data: TrainData, chunk: int) -> zarr.Group:
    """The empty partial store of a run that starts from scratch (its finished copy is dropped)."""
    discard_finished(scratch)
    ev = data.ev
    return create_store(scratch / PARTIAL_STORE, layer_shapes=shapes, bias=point["bias"],
                        n_snapshots=len(data.steps), probe_labels=ev.y_test[:ev.n_probe].cpu().numpy(),
                        n_classes=data.n_classes, chunk=chunk, attrs={"run_id": rid})


def run_attrs(point: dict, rid: str, dev: torch.device, threads: int, data: TrainData, *, wall_time_s: float,
              resumed_from: list, diverged_at: int | None, final_eval: dict | None, timing: dict) -> dict:
    """The attrs of a finished store (the contract: docs/store.md)."""
    return {
        "run_id": rid, "params": point, "versions": library_versions(), "device": _device_name(dev),
        "threads": int(threads), "hostname": platform.node(), "slurm_job_id": os.environ.get("SLURM_JOB_ID") or None,
        "wall_time_s": wall_time_s, "resumed_from": resumed_from, "diverged": diverged_at is not None,
        "diverged_at_step": diverged_at, "probe_index": data.ev.probe_index.tolist(),
        "eval_samples": {"train": len(data.ev.y_train), "test": data.ev.n_test},
        "final_eval": final_eval, "timing": timing, "symmetry_context": symmetry_context(dev, threads)}


@functools.lru_cache(maxsize=8)
def data_fingerprint(name: str, data_root: str) -> dict:
    """{path: sha256} of the files a run's data were read from: what identifies a user's own data,
    which carries no published checksum (none for the bundled digits and the generated toy data)."""
    if name == "digits" or name in TOY_DATASETS:
        return {}
    return dataset_fingerprint(name, data_root)


def publish(scratch: Path, store_path, n_recorded: int, attrs: dict, data_root) -> None:
    """Finalize the partial store, keep a hard-linked finished copy in scratch, move it into place."""
    partial = scratch / PARTIAL_STORE
    attrs = {**attrs, "data_files": data_fingerprint(attrs["params"]["dataset"], str(use_config(data_root)))}
    record_representations(zarr.open_group(str(partial), mode="r+"), attrs["params"], data_root)
    finalize_store(partial, n_recorded, attrs)
    keep_finished(partial, scratch)
    move_into_place(partial, store_path)
    for name in (CHECKPOINT, CHECKPOINT + ".tmp"):
        (scratch / name).unlink(missing_ok=True)


def log_done(log, rid: str, diverged_at, k: int, wall: float, store_path) -> None:
    status = "done" if diverged_at is None else f"DIVERGED at step {diverged_at}"
    log.write(f"run {rid}: {status}, {k} snapshots, {wall:.1f} s -> {store_path}\n")
    log.flush()


# ---------------------------------------------------------------- the run


def _first_nonfinite(losses: list) -> int | None:
    if not losses:
        return None
    bad = ~torch.isfinite(torch.stack(losses))
    return int(bad.nonzero()[0, 0]) if bool(bad.any()) else None


class Run:
    """One training attempt of a point: fresh, or resumed from the scratch folder's checkpoint."""

    def __init__(self, point: dict, scratch_dir, data_root, device: str, threads: int, chunk: int, log,
                 guard: Guard | None = None):
        self.t_start = time.perf_counter()
        self.log, self.chunk, self.threads, self.data_root = log, chunk, threads, data_root
        self.guard = guard
        self.point = p = normalize_point(point)
        self.rid = run_id(p)
        self.dev = resolve_device(device)
        _deterministic(self.dev, threads)
        self.data = d = load_train_data(p, data_root, self.dev)
        self.X, self.y, self.ev, self.X_test, self.y_test = d.X, d.y, d.ev, d.X_test, d.y_test
        self.n, self.bs, self.upe, self.total, self.steps = d.n, d.bs, d.upe, d.total, d.steps
        self.model = model_for_point(p, d.X.shape[1], d.n_classes).to(self.dev)
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

    def _start_or_resume(self) -> None:
        state = load_checkpoint(self.scratch, self.rid, self.chunk, np.array(self.steps), self.log)
        if state is None:
            shapes = [tuple(layer.weight.shape) for layer in weight_layers(self.model)]
            self.root = new_store(self.scratch, self.rid, shapes, self.point, self.data, self.chunk)
            self.step, self.k, self.resumed_from, self.prior_s = 0, 0, [], 0.0
            return
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
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
            "resumed_from": self.resumed_from, "wall_time_s": self.wall_time()})

    def stop_if_asked(self, at_snapshot: bool) -> None:
        """Checkpoint and exit (status 1) on SIGTERM/SIGINT, or at a snapshot once Snakemake is gone."""
        reason = self.guard.reason(at_snapshot) if self.guard else None
        if reason is None:
            return
        self.block.flush(self.root)
        self.checkpoint()
        message = stop_message(reason, self.step)
        self.log.write(message + "\n")
        self.log.flush()
        raise Stopped(message)

    def snapshot(self) -> bool:
        """Record the snapshot due now; False (and `diverged_at` set) if the run diverged."""
        self.stop_if_asked(at_snapshot=True)
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
        guard = self.guard
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
            if guard is not None and guard.signal is not None:
                self.stop_if_asked(at_snapshot=False)
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
        """Finalize the store and move it to `store_path` (a finished copy stays in scratch); its attrs."""
        attrs = run_attrs(self.point, self.rid, self.dev, self.threads, self.data, wall_time_s=self.wall_time(),
                          resumed_from=self.resumed_from, diverged_at=self.diverged_at,
                          final_eval=self.final_eval(), timing=self.timing)
        publish(self.scratch, store_path, self.k, attrs, self.data_root)
        log_done(self.log, self.rid, self.diverged_at, self.k, attrs["wall_time_s"], store_path)
        return attrs | {"n_snapshots": self.k}


def train_run(point: dict, store_path, scratch_dir, data_root="data", device: str = "cpu", threads: int = 1,
              chunk: int = 16, log=None) -> dict:
    """Train `point` and write its complete store to `store_path`; returns the store's attrs.

    The reference trainer (one network, nn.Module + torch.optim); topolearn.train.loop trains many.
    Resumes from `scratch_dir` if a previous attempt left a checkpoint there; holds the run's lock
    and adopts a finished copy left in scratch (topolearn.store.runlock). A diverging run (non-finite loss
    or weights) stops early, keeps its finite snapshots and is marked `diverged: true`; it still
    finishes normally so later analysis rules run.
    """
    log = log or sys.stderr
    rid = run_id(normalize_point(point))
    with run_lock(scratch_dir, rid, log), Guard() as guard:
        done = adopt_finished(scratch_dir, rid, store_path, log)
        if done is not None:
            return done
        run = Run(point, scratch_dir, data_root, device, threads, chunk, log, guard)
        run.train()
        return run.finish(store_path)
