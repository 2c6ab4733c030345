"""Training into snapshot stores: the contract, determinism, kill-and-resume, divergence."""

import io
import json
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import xarray as xr

from conftest import TINY_CHUNK
from topolearn.sweep.points import normalize_point, run_id, total_updates
from topolearn.data import load_dataset
from topolearn.sweep.schedule import snapshot_steps, updates_per_epoch
from topolearn.store.snapshots import METRICS, open_dataset, open_store, read_all_arrays, read_metrics, read_weights
from topolearn.train import CHECKPOINT, PARTIAL_STORE, model_for_point, train_run


def assert_bitwise_equal(a, b):
    A, B = read_all_arrays(a), read_all_arrays(b)
    assert sorted(A) == sorted(B)
    for name in A:
        assert A[name].dtype == B[name].dtype and A[name].shape == B[name].shape, name
        assert A[name].tobytes() == B[name].tobytes(), f"{name} differs"


def run(point, tmp_path, name="run", **kw):
    store, scratch = tmp_path / name / "snapshots.zarr", tmp_path / name / "scratch"
    attrs = train_run(point, store, scratch, log=io.StringIO(), **kw)
    return store, scratch, attrs


# ---------------------------------------------------------------- the store contract


def test_store_satisfies_the_contract(tiny_store, tiny_point):
    root = open_store(tiny_store)  # complete, manifest verified
    attrs = dict(root.attrs)
    n = 25
    assert attrs["complete"] is True and attrs["n_snapshots"] == n
    assert attrs["run_id"] == run_id(tiny_point) and attrs["params"] == tiny_point
    assert {"torch", "numpy", "zarr", "python", "topolearn"} <= set(attrs["versions"])
    assert attrs["device"] == "cpu" and attrs["threads"] == 1 and attrs["hostname"]
    assert attrs["slurm_job_id"] is None and attrs["resumed_from"] == []
    assert attrs["diverged"] is False and attrs["diverged_at_step"] is None
    assert attrs["wall_time_s"] > 0
    final = read_metrics(root).iloc[-1]  # eval_size unset: the last row is the full-set evaluation
    assert attrs["final_eval"] == {k: final[k] for k in ("train_loss", "train_acc", "test_loss", "test_acc")}

    shapes = [(8, 64), (8, 8), (10, 8)]
    for i, shape in enumerate(shapes):
        w = root["weights"][f"layer{i}"]
        assert w.shape == (n, *shape) and w.dtype == np.float32
        assert list(w.metadata.dimension_names) == ["snapshot", f"neuron_layer{i}", f"input_layer{i}"]
        assert w.chunks == w.shape  # one chunk: one file per array
    assert "biases" not in root  # bias: false
    upe = updates_per_epoch(1437, 32)
    m = read_metrics(root)
    np.testing.assert_array_equal(m.step, snapshot_steps(total_updates(tiny_point), n))
    np.testing.assert_array_equal(m.epoch, m.step / upe)
    table = root["metrics"]  # the six series as the columns of one array: two files, not twelve
    assert table.shape == (n, 6) and table.dtype == np.float64 and table.attrs["columns"] == list(METRICS)
    assert list(table.metadata.dimension_names) == ["snapshot", "metric"] and table.chunks == table.shape
    assert m.step.dtype == np.int64 and all(m[k].dtype == np.float64 for k in METRICS[1:])
    assert np.isfinite(m.to_numpy()).all()
    assert m.test_acc.iloc[0] < 0.15 and m.test_acc.iloc[-1] > 0.5  # it learned

    probs, labels = root["probs"][:], root["probe_labels"][:]
    assert probs.shape == (n, 50, 10) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    _, _, X_test, y_test = load_dataset("digits")
    np.testing.assert_array_equal(labels, y_test[attrs["probe_index"]])
    # the last snapshot's probe accuracy is consistent with the stored weights
    model = model_for_point(tiny_point, 64)
    for layer, i in zip([model[0], model[2], model[4]], range(3)):
        layer.weight.data = torch.from_numpy(read_weights(root, i)[-1])
    with torch.no_grad():
        p = torch.softmax(model(torch.from_numpy(X_test[attrs["probe_index"]])), 1).numpy()
    np.testing.assert_allclose(p, probs[-1], atol=1e-6)


def test_first_snapshot_is_the_initial_model(tiny_store, tiny_point):
    root = open_store(tiny_store)
    init = model_for_point(tiny_point, 64)
    for i, layer in enumerate([init[0], init[2], init[4]]):
        np.testing.assert_array_equal(read_weights(root, i)[0], layer.weight.detach().numpy())


def test_xarray_gives_labeled_data(tiny_store):
    ds = xr.open_zarr(tiny_store, consolidated=False)
    assert ds["probs"].dims == ("snapshot", "sample", "class") and ds["metrics"].dims == ("snapshot", "metric")
    ds = open_dataset(tiny_store)  # the metric table's columns by name, step and epoch as coordinates
    assert ds["test_acc"].dims == ("snapshot",) and {"step", "epoch"} <= set(ds.coords)
    np.testing.assert_array_equal(ds["test_acc"].values, read_metrics(open_store(tiny_store)).test_acc)
    w = xr.open_zarr(tiny_store, group="weights", consolidated=False)
    assert w["layer1"].dims == ("snapshot", "neuron_layer1", "input_layer1")
    assert w["layer1"].sizes == {"snapshot": 25, "neuron_layer1": 8, "input_layer1": 8}


def test_options_biases_optimizers_subsets(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    base = {"dataset": "digits", "epochs": 3, "snapshots": 7, "probe_size": 30, "batch_size": 50}
    cases = [
        {"depth": 1, "width": 6, "activation": "relu", "bias": True, "optimizer": "adam", "lr": 0.01,
         "init": "kaiming", "eval_size": 100, "train_size": 500, "snapshot_spacing": "log"},
        {"depth": 0, "bias": True, "optimizer": "momentum", "momentum": 0.5, "lr": 0.1, "init": "zero",
         "weight_decay": 1e-3},
        {"depth": 3, "width": 4, "activation": "tanh", "optimizer": "sgd", "lr": 0.5, "init": "orthogonal",
         "init_noise": 1e-3},
    ]
    for j, case in enumerate(cases):
        p = normalize_point(base | case)
        store, scratch, attrs = run(p, tmp_path, f"case{j}")
        root = open_store(store)
        assert attrs["slurm_job_id"] == "4242" and not (scratch / CHECKPOINT).exists()
        n_layers = p["depth"] + 1
        assert sorted(root["weights"].array_keys()) == [f"layer{i}" for i in range(n_layers)]
        if p["bias"]:
            for i in range(n_layers):
                w, b = root["weights"][f"layer{i}"], root["biases"][f"layer{i}"]
                assert b.shape == w.shape[:2] and list(b.metadata.dimension_names) == ["snapshot", f"neuron_layer{i}"]
        m = read_metrics(root)
        np.testing.assert_array_equal(m.step, snapshot_steps(total_updates(p), 7, p["snapshot_spacing"]))
        assert m.train_loss.iloc[-1] < m.train_loss.iloc[0]
        assert root["probs"].shape == (7, 30, 10)
    assert attrs["eval_samples"] == {"train": 1437, "test": 360}
    first = dict(open_store(tmp_path / "case0" / "snapshots.zarr").attrs)
    assert first["eval_samples"] == {"train": 100, "test": 100}
    assert set(first["final_eval"]) == {"train_loss", "train_acc", "test_loss", "test_acc"}


# ---------------------------------------------------------------- determinism and resume


def test_two_runs_are_bitwise_equal_and_a_bad_checkpoint_is_ignored(tiny_store, tiny_point, tmp_path):
    scratch = tmp_path / "again" / "scratch"
    scratch.mkdir(parents=True)
    (scratch / CHECKPOINT).write_bytes(b"not a checkpoint")  # e.g. a disk-full leftover
    store, _, attrs = run(tiny_point, tmp_path, "again", chunk=TINY_CHUNK)
    assert attrs["resumed_from"] == []
    assert_bitwise_equal(tiny_store, store)


KILLER = textwrap.dedent("""
    import io, json, os, signal, sys
    import torch
    torch.set_num_threads(1)
    import topolearn.train.loop as T
    import topolearn.train.stacked as S
    mode, n, point, store, scratch, chunk = sys.argv[1:]
    count = [0]
    def die_after(fn):
        def wrapped(*a, **k):
            out = fn(*a, **k)
            count[0] += 1
            if count[0] == int(n):
                os.kill(os.getpid(), signal.SIGKILL)
            return out
        return wrapped
    if mode == "write":  # block written, its checkpoint not yet
        T.write_blocks = die_after(T.write_blocks)
    else:  # in the middle of an epoch, between two checkpoints
        S.StackedOptimizer.step = die_after(S.StackedOptimizer.step)
    T.train_run(json.loads(point), store, scratch, chunk=int(chunk), log=io.StringIO())
""")


@pytest.mark.parametrize("mode,n,resumed_at", [("write", 2, 131), ("step", 420, 281)])
def test_kill_and_resume_equals_an_uninterrupted_run(tiny_store, tiny_point, tmp_path, mode, n, resumed_at):
    store, scratch = tmp_path / "snapshots.zarr", tmp_path / "scratch"
    proc = subprocess.run([sys.executable, "-c", KILLER, mode, str(n), json.dumps(tiny_point), str(store),
                           str(scratch), str(TINY_CHUNK)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert (scratch / CHECKPOINT).is_file() and (scratch / PARTIAL_STORE).is_dir()
    assert not store.exists()  # nothing at the final path until complete
    log = io.StringIO()
    attrs = train_run(tiny_point, store, scratch, chunk=TINY_CHUNK, log=log)
    assert f"resuming {run_id(tiny_point)} from step {resumed_at}" in log.getvalue()
    assert attrs["resumed_from"] == [resumed_at]
    assert not (scratch / CHECKPOINT).exists() and not (scratch / PARTIAL_STORE).exists()
    assert_bitwise_equal(tiny_store, store)


# ---------------------------------------------------------------- divergence


def test_divergence_keeps_the_finite_snapshots_and_finishes(tmp_path):
    # lr 1e37: float32 weights overflow within a few updates; a snapshot after every update
    p = normalize_point({"dataset": "digits", "depth": 1, "width": 8, "init_std": 0.1, "lr": 1e37,
                         "batch_size": 32, "epochs": 3, "snapshots": 136, "probe_size": 20})
    store, scratch, attrs = run(p, tmp_path, chunk=2)
    assert attrs["diverged"] is True and attrs["final_eval"] is None and not (scratch / CHECKPOINT).exists()
    d = attrs["diverged_at_step"]
    root = open_store(store)  # complete and valid
    n = root.attrs["n_snapshots"]
    assert n >= 2 and n in (d, d + 1)  # every snapshot before the first non-finite loss, no later one
    m = read_metrics(root)
    assert len(m) == n and root["probs"].shape[0] == n and root["weights"]["layer0"].shape[0] == n
    np.testing.assert_array_equal(m.step, np.arange(n))
    for values in read_all_arrays(store).values():
        assert np.isfinite(values).all()


# ---------------------------------------------------------------- layer representations


def test_recording_a_finished_toy_store_again_changes_nothing(tmp_path):
    """The trainer records a toy run's representations; record_finished (for stores trained without
    them) writes the same arrays and renews the manifest."""
    from toy_runs import train_toy
    from topolearn.train import record_finished

    _, store = train_toy(tmp_path)
    before = read_all_arrays(store)
    assert {"repr/input", "repr/layer0", "grid/layer2"} <= set(before)
    assert record_finished(store) is True
    open_store(store)  # complete, manifest verified
    after = read_all_arrays(store)
    assert sorted(before) == sorted(after)
    for name in before:
        assert before[name].tobytes() == after[name].tobytes(), name
