"""The training loop: the networks of one pack (equal `topolearn.sweep.packing.pack_key`) trained as
one batched computation (topolearn.train.stacked), each into its own store; one network is a pack
of one (`train_run`).

Here, and only here, an update, a snapshot, a checkpoint and a resume happen. A killed run restarts
from its last checkpoint and finishes with a store equal, array for array and bit for bit (CPU,
same threads), to an uninterrupted run's. A killed pack resumes from its networks' checkpoints
even if the next invocation packs them differently: networks are grouped by the step they resume
from and each group trains as its own batch. Locks, adoption of finished stores and stopping with
Snakemake: topolearn.store.runlock.
"""

import functools
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import zarr
from tqdm import tqdm

from ..data import dataset_fingerprint
from ..store.runlock import Guard, Stopped, adopt_finished, drop_lock_file, run_lock, stop_message
from ..store.snapshots import store_arrays, write_blocks
from ..sweep.packing import pack_key
from ..sweep.points import normalize_point, run_id
from .checkpoints import CHECKPOINT, load_checkpoint, log_done, new_store, publish, run_attrs, save_checkpoint
from .device import device_name, resolve_device, set_deterministic
from .evaluation import Block, score, snapshots_from
from .models import conv_layers, model_for_point, weight_layers
from .stacked import StackedNet, StackedOptimizer, make_optimizer, packed_update
from .trainset import TrainData, epoch_order, load_train_data


# ---------------------------------------------------------------- one network of a pack


@dataclass
class Member:
    point: dict
    rid: str
    store_path: Path
    scratch: Path
    model: torch.nn.Module  # initial or resumed weights (CPU); the stack holds the live ones
    opt_state: dict
    root: zarr.Group
    step: int
    k: int
    resumed_from: list
    prior_s: float
    block: Block = None
    diverged_at: int | None = None
    last_test_acc: float = float("nan")
    attrs: dict = field(default_factory=dict)
    arrays: dict = field(init=False)  # array handles, looked up once

    def __post_init__(self):
        self.block = Block(start=self.k)
        self.arrays = store_arrays(self.root)

    @property
    def param_groups(self) -> list:
        """torch.optim's param_groups, for a checkpoint in its state_dict format. Made when a
        checkpoint is written: a process's first torch.optim optimizer costs about a second of imports."""
        return make_optimizer(self.model, self.point).state_dict()["param_groups"]


def _check_packable(points: list[dict]) -> None:
    keys = {pack_key(p) for p in points}
    if len(keys) > 1:
        differ = sorted(k for k in points[0] if len({repr(p.get(k)) for p in points}) > 1)
        raise ValueError(f"points of one pack must share pack_key; they differ in {differ}")
    ids = [run_id(p) for p in points]
    if len(set(ids)) < len(ids):
        raise ValueError("a pack lists the same run twice")


# ---------------------------------------------------------------- a group: members that resume at one step


class Group:
    """Members at the same step and snapshot, trained as one batch until each finishes or diverges."""

    def __init__(self, pack, members: list[Member]):
        self.pack, self.alive = pack, list(members)
        p0, dev = members[0].point, pack.dev
        self.stack = StackedNet.from_models([m.model for m in members], p0["activation"], dev)
        hp = lambda name: [m.point.get(name) or 0.0 for m in members]  # noqa: E731
        self.opt = StackedOptimizer(p0["optimizer"], self.stack.params, hp("lr"), hp("momentum"), hp("weight_decay"),
                                    [m.opt_state for m in members])
        self.step, self.k = members[0].step, members[0].k
        self.size = len(members)
        self.losses: list[torch.Tensor] = []  # this epoch's (P,) losses per update, checked lazily
        self.orders = None
        self.timing = {"snapshot_s": 0.0, "write_s": 0.0}

    # ------------------------------------------------------------ checkpoints, stopping, dropping

    @staticmethod
    def flush(members: list[Member]) -> None:
        """Write the members' recorded rows into their stores, all in one batch."""
        write_blocks([(m.arrays, *m.block.take()) for m in members if m.block.rows])

    def checkpoint(self, i: int) -> None:
        m = self.alive[i]
        model = dict(zip(m.model.state_dict().keys(), (p[i].detach().cpu().clone() for p in self.stack.params)))
        save_checkpoint(m.scratch / CHECKPOINT, {
            "run_id": m.rid, "chunk": self.pack.chunk, "step": self.step, "snapshot_index": m.k, "model": model,
            "optimizer": {"state": self.opt.member_state(i), "param_groups": m.param_groups},
            "resumed_from": m.resumed_from, "wall_time_s": self.pack.wall_time(m)})

    def stop_if_asked(self, at_snapshot: bool) -> None:
        reason = self.pack.guard.reason(at_snapshot)
        if reason is None:
            return
        self.flush(self.alive)
        for i in range(len(self.alive)):
            self.checkpoint(i)
        message = stop_message(reason, self.step)
        self.pack.log.write(message + "\n")
        self.pack.log.flush()
        raise Stopped(message)

    def drop(self, bad: list[int]) -> None:
        """Finish the diverged members now (their finite snapshots); the others go on."""
        if not bad:
            return
        self.flush([self.alive[i] for i in bad])
        for i in bad:
            self.pack.finish(self.alive[i], None, self)
        keep = [i for i in range(len(self.alive)) if i not in set(bad)]
        idx = torch.tensor(keep, dtype=torch.long, device=self.pack.dev)
        self.stack.select(idx)
        self.opt.select(idx, self.stack.params)
        self.alive = [self.alive[i] for i in keep]
        if self.orders is not None:
            self.orders = self.orders[idx]
        self.losses = [l[idx] for l in self.losses]

    def _first_nonfinite(self) -> tuple[list, list]:
        """Per member: did a loss of this epoch go non-finite, and at which update of it."""
        if not self.losses:
            return [False] * len(self.alive), [0] * len(self.alive)
        bad = ~torch.isfinite(torch.stack(self.losses))  # (updates, P)
        return bad.any(0).tolist(), bad.to(torch.uint8).argmax(0).tolist()

    # ------------------------------------------------------------ snapshots

    def snapshot(self) -> None:
        """Record the snapshot due now for every member; drop those that diverged."""
        self.stop_if_asked(at_snapshot=True)
        pack, t0 = self.pack, time.perf_counter()
        any_bad, first = self._first_nonfinite()
        st, ev = self.stack, pack.data.ev
        weights, biases = st.arrays()
        snaps = snapshots_from(weights, biases, st.logits(ev.X_train), st.logits(ev.X_test), ev)
        bad = []
        for i, m in enumerate(self.alive):
            if any_bad[i] or snaps[i] is None:
                m.diverged_at = self.step - len(self.losses) + first[i] if any_bad[i] else self.step
                bad.append(i)
                continue
            m.block.add(self.step, self.step / pack.data.upe, snaps[i])
            m.last_test_acc = snaps[i]["test_acc"]
            m.k += 1
        self.timing["snapshot_s"] += time.perf_counter() - t0
        self.drop(bad)
        if not self.alive:
            return
        self.k = self.alive[0].k
        t0 = time.perf_counter()
        if len(self.alive[0].block.rows) == pack.chunk or self.k == len(pack.data.steps):
            self.flush(self.alive)
            if self.k < len(pack.data.steps):
                for i in range(len(self.alive)):
                    self.checkpoint(i)
        self.timing["write_s"] += time.perf_counter() - t0

    # ------------------------------------------------------------ training

    def train_epoch(self, epoch: int) -> None:
        d, guard, steps = self.pack.data, self.pack.guard, self.pack.data.steps
        self.orders = torch.stack([epoch_order(m.point["seed"], epoch, d.n) for m in self.alive]).to(self.pack.dev)
        self.losses = []
        for b in range(self.step - epoch * d.upe, d.upe):
            if self.step == steps[self.k]:
                self.snapshot()
                if not self.alive:
                    return
            idx = self.orders[:, b * d.bs:(b + 1) * d.bs]  # (P, bs): each network's own batch
            self.losses.append(packed_update(self.stack, self.opt, d.X, d.y, idx))
            self.step += 1
            if guard.signal is not None:
                self.stop_if_asked(at_snapshot=False)
        means = torch.stack(self.losses).mean(0) if self.losses else None
        self._log_epoch(epoch, means)
        any_bad, first = self._first_nonfinite()
        bad = [i for i in range(len(self.alive)) if any_bad[i]]
        for i in bad:  # stop now: nothing later could be recorded
            self.alive[i].diverged_at = self.step - len(self.losses) + first[i]
        self.drop(bad)

    def _log_epoch(self, epoch: int, means) -> None:
        d, pack = self.pack.data, self.pack
        bar = tqdm.format_meter(self.step, d.total, time.perf_counter() - pack.t_loop, ncols=70, unit="upd",
                                ascii=True)
        loss = means[torch.isfinite(means)] if means is not None else torch.empty(0)
        acc = [m.last_test_acc for m in self.alive]
        pack.log.write(f"{bar} | epoch {epoch + 1}/{self.alive[0].point['epochs']}, {len(self.alive)} nets: "
                       f"train loss (epoch mean) median {loss.median().item() if len(loss) else float('nan'):.4f}, "
                       f"test acc (last snapshot) {min(acc):.4f}..{max(acc):.4f}\n")
        pack.log.flush()

    def train(self) -> None:
        epochs = self.alive[0].point["epochs"]
        for epoch in range(self.step // self.pack.data.upe, epochs):
            self.train_epoch(epoch)
            if not self.alive:
                return
        self.snapshot()  # the final one, at step == total
        if self.alive:
            final = self.final_eval()
            self.flush(self.alive)
            for i, m in enumerate(list(self.alive)):
                self.pack.finish(m, {k: v[i] for k, v in final.items()}, self)

    def final_eval(self) -> dict:
        """Every surviving network on the full training and test sets: name -> list per member."""
        d, out = self.pack.data, {}
        for split, X, y in (("train", d.X, d.y), ("test", d.X_test, d.y_test)):
            X, y = torch.as_tensor(X).to(self.pack.dev), torch.as_tensor(y).to(self.pack.dev)
            loss, acc = score(self.stack.logits(X), y)
            out[f"{split}_loss"], out[f"{split}_acc"] = loss.tolist(), acc.tolist()
        return out


# ---------------------------------------------------------------- the pack


class Pack:
    """One invocation: lock every run, adopt finished ones, resume or start the rest, group, train."""

    def __init__(self, points, store_paths, scratch_dirs, data_root, device, threads, chunk, log, guard):
        self.t_start = time.perf_counter()
        self.points = points  # normalized
        _check_packable(self.points)
        self.rids = [run_id(p) for p in self.points]
        self.ids = sorted(self.rids)
        self.store_paths, self.scratch = [Path(p) for p in store_paths], [Path(p) for p in scratch_dirs]
        self.data_root, self.threads, self.chunk, self.log, self.guard = data_root, threads, chunk, log, guard
        self.dev = resolve_device(device)
        set_deterministic(self.dev, threads)
        self.data: TrainData = load_train_data(self.points[0], data_root, self.dev)  # shared by all members
        self.results: dict[str, dict] = {}

    @functools.cached_property
    def data_files(self) -> dict:
        """The members' shared data files with their hashes, computed once."""
        return dataset_fingerprint(self.points[0]["dataset"], self.data_root)

    def wall_time(self, m: Member) -> float:
        return m.prior_s + time.perf_counter() - self.t_start

    def member(self, i: int) -> Member:
        p, rid, scratch = self.points[i], self.rids[i], self.scratch[i]
        scratch.mkdir(parents=True, exist_ok=True)
        d = self.data
        model = model_for_point(p, d.X.shape[1], d.n_classes, d.image_shape)
        state = load_checkpoint(scratch, rid, self.chunk, np.array(d.steps), self.log)
        if state is None:
            root = new_store(scratch, rid, [tuple(l.weight.shape) for l in weight_layers(model)], p, d, self.chunk,
                             [tuple(c.weight.shape) for c in conv_layers(model)])
            return Member(p, rid, self.store_paths[i], scratch, model, {}, root, 0, 0, [], 0.0)
        model.load_state_dict(state["model"])
        self.log.write(f"resuming {rid} from step {state['step']} (snapshot {state['snapshot_index']} "
                       f"of {len(d.steps)})\n")
        return Member(p, rid, self.store_paths[i], scratch, model, state["optimizer"]["state"], state["root"],
                      state["step"], state["snapshot_index"], state["resumed_from"] + [state["step"]],
                      state["wall_time_s"])

    def finish(self, m: Member, final_eval: dict | None, group: Group) -> None:
        share = 1 / group.size  # this network's share of its group's seconds
        timing = {"setup_s": self.setup_s * share, "snapshot_s": group.timing["snapshot_s"] * share,
                  "write_s": group.timing["write_s"] * share,
                  "train_s": (time.perf_counter() - self.t_loop - sum(group.timing.values())) * share}
        attrs = run_attrs(m.point, m.rid, self.dev, self.threads, self.data, wall_time_s=self.wall_time(m),
                          resumed_from=m.resumed_from, diverged_at=m.diverged_at, final_eval=final_eval,
                          timing=timing) | {"pack": self.ids}
        publish(m.scratch, m.store_path, m.k, attrs | {"data_files": self.data_files}, self.data_root)
        log_done(self.log, m.rid, m.diverged_at, m.k, attrs["wall_time_s"], m.store_path)
        self.results[m.rid] = attrs | {"n_snapshots": m.k}

    def run(self) -> list[dict]:
        pending = []
        for i, rid in enumerate(self.rids):
            done = adopt_finished(self.scratch[i], rid, self.store_paths[i], self.log)
            if done is not None:
                self.results[rid] = done
            else:
                pending.append(self.member(i))
        by_step: dict[int, list[Member]] = {}
        for m in pending:
            by_step.setdefault(m.step, []).append(m)
        self.setup_s = time.perf_counter() - self.t_start
        d = self.data
        self.log.write(f"pack of {len(self.rids)} nets ({len(pending)} to train, in {len(by_step)} group(s)): "
                       f"{self.points[0]['epochs']} epochs x {d.upe} updates, {len(d.steps)} snapshots, "
                       f"device {device_name(self.dev)}, {self.threads} thread(s)\n")
        for step in sorted(by_step):
            self.t_loop = time.perf_counter()
            Group(self, by_step[step]).train()
        return [self.results[rid] for rid in self.rids]


def train_pack(points: list[dict], store_paths, scratch_dirs, data_root="data", device: str = "cpu",
               threads: int = 1, chunk: int = 16, log=None) -> list[dict]:
    """Train `points` (one pack: equal pack_key) as one batched computation; point i's complete
    store goes to store_paths[i] (its scratch folder: scratch_dirs[i]). Returns each store's attrs,
    in the order of `points`.

    Holds every run's lock (in run-id order: two packs never deadlock), adopts finished copies left
    in scratch, resumes each network from its own checkpoint. A diverging network (non-finite loss
    or weights) stops alone, keeps its finite snapshots and is marked `diverged: true`; its store
    still finishes normally so later analysis rules run.
    """
    if not (len(points) == len(store_paths) == len(scratch_dirs)) or not points:
        raise ValueError(f"train_pack needs as many store paths and scratch dirs as points (got {len(points)}, "
                         f"{len(store_paths)}, {len(scratch_dirs)}; at least one)")
    log = log or sys.stderr
    points = [normalize_point(p) for p in points]  # a no-op on validated points; hand-written ones get defaults
    rids = [run_id(p) for p in points]
    with ExitStack() as locks:
        for rid, scratch in sorted(zip(rids, scratch_dirs)):
            locks.enter_context(run_lock(scratch, rid, log))
        guard = locks.enter_context(Guard())
        results = Pack(points, store_paths, scratch_dirs, data_root, device, threads, chunk, log, guard).run()
        for scratch in scratch_dirs:  # every run is published: its lock file is scratch no longer needed
            drop_lock_file(scratch)
        return results


def train_run(point: dict, store_path, scratch_dir, data_root="data", device: str = "cpu", threads: int = 1,
              chunk: int = 16, log=None) -> dict:
    """Train one point into its complete store at `store_path` (a pack of one); the store's attrs."""
    return train_pack([point], [store_path], [scratch_dir], data_root, device, threads, chunk, log)[0]
