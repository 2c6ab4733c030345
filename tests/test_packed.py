"""Packed training: update rules vs torch.optim, a pack vs each network trained alone by a plain torch.optim
loop (tests/reference_trainer.py), kill-and-resume, divergence of one net."""

import io

import numpy as np
import pytest
import torch

from conftest import TINY_CHUNK, TINY_POINT
from reference_trainer import train_reference
from topolearn.store.snapshots import open_store, read_all_arrays, read_metrics
from topolearn.sweep.points import normalize_point, run_id
from topolearn.train import CHECKPOINT, PARTIAL_STORE, StackedOptimizer, train_pack
from topolearn.train import loop as packed

LR = {"sgd": 2.0, "momentum": 0.3, "adam": 0.01}  # each learns the tiny point in 10 epochs
# measured max |w_pack - w_alone| over all snapshots was <= 3e-5 (docs/training.md); allow 10x
WEIGHT_ATOL = 3e-4


def pack_points(optimizer="sgd", **extra):
    """Three networks of one pack: own seed, lr, weight decay (and init for the third)."""
    base = TINY_POINT | {"optimizer": optimizer} | extra
    lr = LR[optimizer]
    return [normalize_point(base | over) for over in (
        {"lr": lr, "seed": 42},
        {"lr": lr / 2, "seed": 7, "weight_decay": 1e-3},
        {"lr": lr * 1.5, "seed": 9, "init": "xavier"})]


def run_pack(points, tmp_path, name="pack", **kw):
    stores = [tmp_path / name / f"net{i}" / "snapshots.zarr" for i in range(len(points))]
    scratch = [tmp_path / name / f"net{i}" / "scratch" for i in range(len(points))]
    log = io.StringIO()
    attrs = train_pack(points, stores, scratch, chunk=TINY_CHUNK, log=log, **kw)
    return stores, scratch, attrs, log.getvalue()


def assert_bitwise_equal(a, b):
    A, B = read_all_arrays(a), read_all_arrays(b)
    assert sorted(A) == sorted(B)
    for name in A:
        assert A[name].tobytes() == B[name].tobytes(), f"{name} differs"


# ---------------------------------------------------------------- update rules


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
def test_stacked_updates_match_torch_optim(kind):
    """Per-network lr, momentum and weight decay, same gradients: the stacked rule equals torch's."""
    gen = torch.Generator().manual_seed(0)
    P, shapes, steps = 3, [(5, 4), (5,)], 6
    lr, mom, wd = [0.1, 0.02, 0.5], [0.9, 0.5, 0.0], [0.0, 1e-2, 1e-3]
    init = [torch.randn((P,) + s, generator=gen) for s in shapes]
    grads = [[torch.randn((P,) + s, generator=gen) for s in shapes] for _ in range(steps)]
    stacked = [t.clone().requires_grad_() for t in init]
    opt = StackedOptimizer(kind, stacked, lr, mom, wd)
    solo = [[t[i].clone().requires_grad_() for t in init] for i in range(P)]
    torch_opts = []
    for i in range(P):
        if kind == "adam":
            torch_opts.append(torch.optim.Adam(solo[i], lr=lr[i], weight_decay=wd[i]))
        else:
            torch_opts.append(torch.optim.SGD(solo[i], lr=lr[i], weight_decay=wd[i],
                                              momentum=mom[i] if kind == "momentum" else 0))
    for g in grads:
        for p, gp in zip(stacked, g):
            p.grad = gp.clone()
        opt.step()
        for i in range(P):
            for p, gp in zip(solo[i], g):
                p.grad = gp[i].clone()
            torch_opts[i].step()
    for i in range(P):
        for p, q in zip(stacked, solo[i]):
            torch.testing.assert_close(p[i].detach(), q.detach(), rtol=1e-6, atol=1e-7)
    # the per-network state is torch's own format: it loads into torch.optim
    for i in range(P):
        mine, theirs = opt.member_state(i), torch_opts[i].state_dict()["state"]
        assert mine.keys() == theirs.keys()
        for j in mine:
            assert mine[j].keys() == theirs[j].keys()
            for k in mine[j]:
                torch.testing.assert_close(mine[j][k], theirs[j][k], rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- a pack vs each network alone


def params_of(arrays: dict) -> list[str]:
    return sorted(n for n in arrays if n.startswith(("weights/", "biases/")))


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_pack_matches_networks_trained_alone(tmp_path, optimizer):
    points = pack_points(optimizer)
    stores, scratch, attrs, log = run_pack(points, tmp_path)
    ids = sorted(run_id(p) for p in points)
    for i, p in enumerate(points):
        ref = train_reference(p)
        root = open_store(stores[i])  # complete, manifest verified
        a = dict(root.attrs)
        assert a["run_id"] == run_id(p) and a["params"] == p and a["pack"] == ids
        assert a["symmetry_context"]["threads"] == 1 and a["symmetry_context"]["torch"] == torch.__version__
        assert attrs[i]["run_id"] == run_id(p) and a["diverged"] is False
        assert abs(a["final_eval"]["test_acc"] - ref["final_eval"]["test_acc"]) <= 1e-3
        assert abs(a["final_eval"]["train_acc"] - ref["final_eval"]["train_acc"]) <= 1e-3
        A = read_all_arrays(stores[i])
        assert params_of(A) == params_of(ref)
        for name in params_of(A):
            assert A[name].shape == ref[name].shape and A[name].dtype == ref[name].dtype, name
            np.testing.assert_array_equal(A[name][0], ref[name][0])  # its own init, exactly
            np.testing.assert_allclose(A[name], ref[name], rtol=0, atol=WEIGHT_ATOL, err_msg=name)
        np.testing.assert_array_equal(A["step"], ref["step"])
        assert not (scratch[i] / CHECKPOINT).exists() and (scratch[i] / "finished.zarr").is_dir()
    # networks really differ: own seed (data order), lr and init
    w = [read_all_arrays(s)["weights/layer0"] for s in stores]
    assert not np.array_equal(w[0][-1], w[1][-1]) and not np.array_equal(w[0][0], w[2][0])


def test_pack_of_biased_relu_nets_with_eval_subsets(tmp_path):
    points = pack_points("momentum", depth=1, width=6, activation="relu", bias=True, eval_size=100,
                         train_size=500, snapshot_spacing="log", epochs=3, snapshots=7, lr=0.1)
    points = [normalize_point(p | {"lr": 0.1 * (i + 1)}) for i, p in enumerate(points)]
    stores, _, attrs, _ = run_pack(points, tmp_path)
    for i, p in enumerate(points):
        ref = train_reference(p)
        A = read_all_arrays(stores[i])
        assert params_of(A) == params_of(ref) and "biases/layer1" in A
        for name in params_of(A) + ["step", "test_acc"]:
            np.testing.assert_allclose(A[name], ref[name], rtol=0, atol=WEIGHT_ATOL, err_msg=name)
        assert attrs[i]["eval_samples"] == {"train": 100, "test": 100}


def test_pack_refuses_points_that_cannot_share_a_computation(tmp_path):
    points = [normalize_point(TINY_POINT), normalize_point(TINY_POINT | {"width": 9})]
    with pytest.raises(ValueError, match=r"differ in \['width'\]"):
        run_pack(points, tmp_path)


# ---------------------------------------------------------------- kill and resume


class Killed(Exception):
    pass


def kill_after_checkpoints(monkeypatch, n):
    real, count = packed.save_checkpoint, [0]

    def save(path, state):
        real(path, state)
        count[0] += 1
        if count[0] == n:
            raise Killed(f"after checkpoint {n}")
    monkeypatch.setattr(packed, "save_checkpoint", save)


def test_killed_pack_resumes_bit_identical_and_when_repacked_close(tmp_path, monkeypatch):
    points = pack_points("adam")
    ref, _, _, _ = run_pack(points, tmp_path, "ref")

    # killed after a round of checkpoints (step 131), resumed as the same pack: bit-identical
    kill_after_checkpoints(monkeypatch, 3)
    with pytest.raises(Killed):
        run_pack(points, tmp_path, "again")
    monkeypatch.undo()
    stores, _, attrs, _ = run_pack(points, tmp_path, "again")
    assert [a["resumed_from"] for a in attrs] == [[131]] * 3
    for a, b in zip(ref, stores):
        assert_bitwise_equal(a, b)

    # killed inside the second round (after net0's checkpoint at 281; the others' are at 131): each
    # network resumes from its own checkpoint, in two groups. Batches of another size may round
    # differently (vectorized loop tails), so equal within the pack-vs-alone tolerance.
    kill_after_checkpoints(monkeypatch, 4)
    with pytest.raises(Killed):
        run_pack(points, tmp_path, "killed")
    monkeypatch.undo()
    scratch = [tmp_path / "killed" / f"net{i}" / "scratch" for i in range(3)]
    assert all((s / CHECKPOINT).is_file() and (s / PARTIAL_STORE).is_dir() for s in scratch)
    stores, _, attrs, log = run_pack(points, tmp_path, "killed")
    assert [a["resumed_from"] for a in attrs] == [[281], [131], [131]]
    assert "in 2 group(s)" in log
    for a, b in zip(ref, stores):
        A, B = read_all_arrays(a), read_all_arrays(b)
        for name in A:
            np.testing.assert_allclose(A[name], B[name], rtol=0, atol=WEIGHT_ATOL, err_msg=name)


def test_finished_networks_are_adopted_not_retrained(tmp_path):
    points = pack_points("sgd", epochs=2, snapshots=5)
    stores, _, first, _ = run_pack(points, tmp_path)
    for s in stores:  # Snakemake deleted the outputs (its incomplete marker survived a kill)
        import shutil
        shutil.rmtree(s)
    stores, _, again, log = run_pack(points, tmp_path)
    assert log.count("already finished") == 3 and "pack of 3 nets (0 to train" in log
    assert [a["wall_time_s"] for a in again] == [a["wall_time_s"] for a in first]
    for s in stores:
        open_store(s)


# ---------------------------------------------------------------- divergence


def test_one_diverging_network_stops_alone(tmp_path):
    points = pack_points("sgd")
    points[1] = normalize_point(points[1] | {"lr": 1e37})  # float32 weights overflow within a few updates
    stores, scratch, attrs, log = run_pack(points, tmp_path)
    bad = open_store(stores[1])
    assert attrs[1]["diverged"] is True and attrs[1]["final_eval"] is None
    assert bad.attrs["diverged"] is True and 1 <= bad.attrs["n_snapshots"] < 25
    for values in read_all_arrays(stores[1]).values():
        assert np.isfinite(values).all()
    assert f"run {run_id(points[1])}: DIVERGED" in log
    for i in (0, 2):  # the others finish as if trained alone
        root = open_store(stores[i])
        assert root.attrs["diverged"] is False and root.attrs["n_snapshots"] == 25
        ref = train_reference(points[i])
        assert abs(attrs[i]["final_eval"]["test_acc"] - ref["final_eval"]["test_acc"]) <= 1e-3
        np.testing.assert_allclose(read_metrics(root).test_acc, ref["test_acc"], atol=1e-2)


# ---------------------------------------------------------------- benchmark smoke test


def test_training_benchmark_runs_in_quick_mode():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_train.py"
    out = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("RATIO 1") == 2 and "RATIO 2" in out.stdout and "% of matmul" in out.stdout


def unfinished_arrays(path) -> dict:
    """Every array of a store still being written (no manifest yet, so not through open_store)."""
    import zarr

    root = zarr.open_group(str(path), mode="r")
    return {name: a[:] for name, a in root.members(max_depth=None) if isinstance(a, zarr.Array)}


def test_batched_store_writes_equal_one_store_at_a_time(tmp_path):
    """write_blocks (a pack's flush: every store in one batch of zarr writes) writes what write_rows
    writes store by store."""
    from topolearn.store.snapshots import create_store, store_arrays, write_blocks, write_rows

    rng = np.random.default_rng(0)
    spec = dict(layer_shapes=[(3, 4), (2, 3)], bias=True, n_snapshots=5, probe_labels=[0, 1, 1], n_classes=2,
                chunk=2, attrs={"run_id": "x"})
    rows = [{"metrics": rng.random((3, 6)), "probs": rng.random((3, 3, 2)).astype(np.float32),
             "weights/layer0": rng.random((3, 3, 4)).astype(np.float32),
             "biases/layer1": rng.random((3, 2)).astype(np.float32)} for _ in range(2)]
    one = [create_store(tmp_path / f"one{i}", **spec) for i in range(2)]
    for root, r in zip(one, rows):
        write_rows(root, 1, r)
    many = [create_store(tmp_path / f"many{i}", **spec) for i in range(2)]
    write_blocks([(store_arrays(root), 1, r) for root, r in zip(many, rows)])
    for i in range(2):
        a, b = unfinished_arrays(tmp_path / f"one{i}"), unfinished_arrays(tmp_path / f"many{i}")
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


def test_store_writes_work_inside_a_running_event_loop(tmp_path):
    """A notebook runs an event loop: writes then take zarr's synchronous path, same content."""
    import asyncio

    from topolearn.store.snapshots import create_store, write_rows

    spec = dict(layer_shapes=[(3, 4)], bias=False, n_snapshots=4, probe_labels=[0, 1], n_classes=2, chunk=2,
                attrs={"run_id": "x"})
    rows = {"metrics": np.ones((2, 6)), "weights/layer0": np.ones((2, 3, 4), np.float32)}
    write_rows(create_store(tmp_path / "plain", **spec), 0, rows)

    async def in_a_loop():
        write_rows(create_store(tmp_path / "loop", **spec), 0, rows)

    asyncio.run(in_a_loop())
    a, b = unfinished_arrays(tmp_path / "plain"), unfinished_arrays(tmp_path / "loop")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
