"""Convolutional nets (`arch: cnn`): the model, the config's refusals, packed training against a
plain torch reference, the store layout, resume after a kill, and a small workflow run."""

import copy
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from reference_trainer import plain_cnn, train_reference
from topolearn.learning_graphs import read_graphs
from topolearn.store.snapshots import conv_count, layer_count, open_dataset, open_store, read_all_arrays
from topolearn.sweep import jobsize, limits
from topolearn.sweep.config import validate_config
from topolearn.sweep.points import normalize_point, run_id
from topolearn.sweep.schema import ConfigError
from topolearn.train import CHECKPOINT, build_cnn, conv_layers, model_for_point, stacked, train_pack, weight_layers
from topolearn.train import loop as packed

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
WEIGHT_ATOL = 3e-4  # tests/test_packed.py's pack-vs-alone tolerance
CHUNK = 2

# digits (8x8): conv 4 -> pool 4x4 -> conv 8 -> pool 2x2 -> 32 features -> dense 16 -> 10
CNN_POINT = {"dataset": "digits", "arch": "cnn", "channels": [4, 8], "depth": 1, "width": 16, "activation": "relu",
             "bias": True, "optimizer": "adam", "lr": 0.01, "batch_size": 32, "epochs": 2, "snapshots": 5,
             "init": "kaiming", "probe_size": 50, "seed": 1}


def cnn_pack(optimizer="adam", **extra):
    """Three CNNs of one pack: own seed (init and data order), lr, weight decay, and init. (SGD at
    lr 0.3 amplifies float rounding ~10x per 20 updates until a ReLU or max-pool decision flips: no
    two correct orders of summation then agree to WEIGHT_ATOL; at 0.15 they agree to ~1e-6.)"""
    lr = {"sgd": 0.1, "momentum": 0.05, "adam": 0.01}[optimizer]
    base = CNN_POINT | {"optimizer": optimizer} | extra
    return [normalize_point(base | over) for over in (
        {"lr": lr, "seed": 1}, {"lr": lr / 2, "seed": 2, "weight_decay": 1e-3},
        {"lr": lr * 1.5, "seed": 3, "init": "xavier"})]


def run_pack(points, tmp_path, name="pack"):
    stores = [tmp_path / name / f"net{i}" / "snapshots.zarr" for i in range(len(points))]
    scratch = [tmp_path / name / f"net{i}" / "scratch" for i in range(len(points))]
    log = io.StringIO()
    attrs = train_pack(points, stores, scratch, chunk=CHUNK, log=log)
    return stores, scratch, attrs, log.getvalue()


# ---------------------------------------------------------------- the model


def test_cnn_model_shapes():
    p = normalize_point(CNN_POINT)
    model = model_for_point(p, 64, 10, (8, 8))
    assert [tuple(c.weight.shape) for c in conv_layers(model)] == [(4, 1, 3, 3), (8, 4, 3, 3)]
    assert [tuple(l.weight.shape) for l in weight_layers(model)] == [(16, 32), (10, 16)]
    assert [c.padding for c in conv_layers(model)] == [(1, 1)] * 2  # same padding
    assert model(torch.rand(5, 64)).shape == (5, 10)
    # (channels, h, w) samples, a 5x5 kernel, no dense hidden layer
    rgb = build_cnn((3, 12, 10), 4, [6], 5, 0, None, "tanh", False)
    assert tuple(conv_layers(rgb)[0].weight.shape) == (6, 3, 5, 5) and tuple(weight_layers(rgb)[0].weight.shape) == (4, 6 * 6 * 5)
    assert rgb(torch.rand(2, 3 * 12 * 10)).shape == (2, 4)


def test_cnn_init_is_seeded_and_leaves_mlp_draws_alone():
    p = normalize_point(CNN_POINT)
    a, b = model_for_point(p, 64, 10, (8, 8)), model_for_point(p, 64, 10, (8, 8))
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)
    other = model_for_point(normalize_point(CNN_POINT | {"seed": 2}), 64, 10, (8, 8))
    assert not torch.equal(conv_layers(a)[0].weight, conv_layers(other)[0].weight)


# ---------------------------------------------------------------- config: fields, ids, refusals


def cfg_with(**point):
    return {"sweep": {"base": {"dataset": "digits", "epochs": 1, "snapshots": 3, "batch_size": 32} | point}}


def test_cnn_points_validate_and_have_their_own_ids():
    pts = validate_config(cfg_with(arch="cnn", channels=[4, 8]))["points"]
    (rid, p), = pts.items()
    assert p["arch"] == "cnn" and p["channels"] == [4, 8] and p["kernel"] == 3  # the kernel default
    assert rid == run_id(p) == run_id({**p, "channels": [4.0, 8]}) != run_id({**p, "channels": [8, 4]})
    mlp = normalize_point({})
    assert mlp["arch"] == "mlp" and mlp["channels"] is None and mlp["kernel"] is None


@pytest.mark.parametrize("point, message", [
    ({"arch": "cnn", "channels": [4], "dataset": "curves"}, "arch: 'cnn' is invalid on curves"),
    ({"arch": "cnn", "channels": []}, "channels: [] is invalid"),
    ({"arch": "cnn", "channels": [4, 0]}, "channels[1]: 0 is invalid; must be >= 1"),
    ({"arch": "cnn", "channels": [-1]}, "must be >= 1"),
    ({"arch": "cnn"}, "channels: None is invalid; a CNN needs a non-empty list"),
    ({"arch": "cnn", "channels": [4], "kernel": 4}, "kernel: 4 is invalid; must be odd"),
    ({"arch": "cnn", "channels": [4, 4], "kernel": 5}, "kernel: 5 is invalid on digits"),
    ({"arch": "cnn", "channels": [4, 4, 4]}, "3 conv layers is invalid on digits (8x8 images)"),
    ({"channels": [4]}, "channels: [4] is invalid on an MLP point"),
    ({"kernel": 3}, "kernel: 3 is invalid on an MLP point"),
    ({"arch": "convnet"}, "arch: 'convnet' is invalid; allowed: mlp, cnn"),
])
def test_bad_cnn_points_are_refused_in_one_line(point, message):
    with pytest.raises(ConfigError) as exc:
        validate_config(cfg_with(**point))
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_cnn_on_flat_declared_data_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "flat.npz"
    np.savez(path, x_train=rng.random((20, 30), np.float32), y_train=np.arange(20) % 2,
             x_test=rng.random((8, 30), np.float32), y_test=np.arange(8) % 2)
    cfg = {"datasets": {"flat": {"format": "npz", "path": str(path)}},
           "sweep": {"base": {"dataset": "flat", "arch": "cnn", "channels": [2], "epochs": 1, "snapshots": 2,
                              "batch_size": 4}}}
    with pytest.raises(ConfigError, match=r"arch: 'cnn' is invalid on flat \(samples of shape \(30,\)\)"):
        validate_config(cfg)


def test_grid_over_channels_takes_lists():
    cfg = cfg_with(arch="cnn")
    cfg["sweep"]["grid"] = {"channels": [[4], [4, 8]]}
    assert sorted(p["channels"] for p in validate_config(cfg)["points"].values()) == [[4], [4, 8]]


def test_estimates_count_conv_layers():
    mlp = normalize_point({"dataset": "fashion-mnist", "depth": 1, "width": 64, "batch_size": 128})
    cnn = normalize_point(mlp | {"arch": "cnn", "channels": [16, 32]})
    assert jobsize.n_weights(cnn) == 16 * 9 + 32 * 16 * 9 + 32 * 7 * 7 * 64 + 64 * 10
    assert limits.layer_shapes(cnn) == [(64, 32 * 7 * 7), (10, 64)]
    # conv maps of a batch of 128 (28x28x16 and 14x14x32, with their gradients) dominate the memory
    assert limits.point_cost(cnn)["training"] - limits.point_cost(mlp)["training"] > 4 * 2 * 128 * 28 * 28 * 16
    assert jobsize.train_mem_mb(cnn, 50) > jobsize.train_mem_mb(mlp, 50)
    assert jobsize.net_mem_mb(cnn, 50) > jobsize.net_mem_mb(mlp, 50) + 2 * 4 * 128 * 28 * 28 * 16 / 2**20
    assert limits.point_cost(cnn)["seconds"] > 10 * limits.point_cost(mlp)["seconds"]
    assert jobsize.train_runtime(cnn) > jobsize.train_runtime(mlp)


# ---------------------------------------------------------------- packed training vs a plain torch loop


@pytest.mark.parametrize("optimizer, grouped", [("adam", True), ("adam", False), ("momentum", True), ("sgd", False)])
def test_cnn_pack_matches_plain_torch_nets_trained_alone(tmp_path, monkeypatch, optimizer, grouped):
    """Both ways of convolving a pack (one grouped convolution, or one per net) give each net what
    a plain nn.Sequential CNN trained alone by torch.optim gives."""
    monkeypatch.setattr(stacked, "GROUPED_MAX", 2 ** 30 if grouped else 0)
    points = cnn_pack(optimizer)
    stores, _, attrs, _ = run_pack(points, tmp_path)
    for i, p in enumerate(points):
        ref = train_reference(p)
        A = read_all_arrays(stores[i])
        names = sorted(n for n in A if n.startswith(("weights/", "biases/")))
        assert names == sorted(n for n in ref if n.startswith(("weights/", "biases/")))
        assert {"weights/conv0", "weights/conv1", "biases/conv1", "weights/layer1"} <= set(names)
        for name in names:
            assert A[name].shape == ref[name].shape and A[name].dtype == ref[name].dtype, name
            np.testing.assert_array_equal(A[name][0], ref[name][0])  # its own init, exactly
            np.testing.assert_allclose(A[name], ref[name], rtol=0, atol=WEIGHT_ATOL, err_msg=name)
        np.testing.assert_array_equal(A["step"], ref["step"])
        assert abs(attrs[i]["final_eval"]["test_acc"] - ref["final_eval"]["test_acc"]) <= 1e-3
    w = [read_all_arrays(s)["weights/conv0"] for s in stores]
    assert not np.array_equal(w[0][-1], w[1][-1])  # the nets really differ


def test_cnn_net_trains_bit_identically_alone_and_in_a_pack(tmp_path, monkeypatch):
    """Large maps: each net makes its whole update on its own, so the pack changes nothing."""
    monkeypatch.setattr(stacked, "GROUPED_MAX", 0)
    points = cnn_pack("adam")
    pack, _, _, _ = run_pack(points, tmp_path, "pack")
    (alone,), _, _, _ = run_pack(points[2:], tmp_path, "alone")
    A, B = read_all_arrays(pack[2]), read_all_arrays(alone)
    assert sorted(A) == sorted(B)
    for name in A:
        assert A[name].tobytes() == B[name].tobytes(), name


def test_pooling_before_relu_is_the_textbook_net_exactly():
    """build_cnn pools before its activation (cheaper): for ReLU the same values and gradients as
    the textbook conv -> ReLU -> pool, bit for bit."""
    point = normalize_point(CNN_POINT | {"channels": [3, 5], "bias": True})
    ours = model_for_point(point, 64, 10, (8, 8))
    textbook = plain_cnn(point, (8, 8), 10)
    textbook.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(64, 64, generator=torch.Generator().manual_seed(0))
    x[:, :20] = 0  # constant regions: ties in the pooling windows
    y = torch.arange(64) % 10
    outs = []
    for model in (ours, textbook):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        outs.append([loss.detach()] + list(torch.autograd.grad(loss, list(model.parameters()))))
    for a, b in zip(*outs):
        assert torch.equal(a, b)


# ---------------------------------------------------------------- the store


def test_cnn_store_layout(tmp_path):
    (store,), _, (attrs,), _ = run_pack([normalize_point(CNN_POINT)], tmp_path)
    root = open_store(store)
    assert layer_count(root) == 2 and conv_count(root) == 2
    c0, c1 = root["weights/conv0"], root["weights/conv1"]
    assert c0.shape == (5, 4, 9) and c1.shape == (5, 8, 36)
    assert c0.attrs["kernel_shape"] == [4, 1, 3, 3] and c1.attrs["kernel_shape"] == [8, 4, 3, 3]
    assert c1.metadata.dimension_names == ("snapshot", "filter_conv1", "input_conv1")
    assert root["biases/conv1"].shape == (5, 8) and root["weights/layer0"].shape == (5, 16, 32)
    assert root.attrs["params"]["arch"] == "cnn" and attrs["n_snapshots"] == 5
    # a stored filter reshaped by its kernel_shape is torch's Conv2d weight
    model = model_for_point(root.attrs["params"], 64, 10, (8, 8))
    np.testing.assert_array_equal(c1[0].reshape(c1.attrs["kernel_shape"]), conv_layers(model)[1].weight.detach())
    w = open_dataset(store, group="weights")
    assert w["conv0"].dims == ("snapshot", "filter_conv0", "input_conv0") and "step" in w.coords


def test_mlp_store_has_no_conv_arrays(tiny_store):
    root = open_store(tiny_store)
    assert sorted(root["weights"].array_keys()) == ["layer0", "layer1", "layer2"] and conv_count(root) == 0


# ---------------------------------------------------------------- kill and resume


class Killed(Exception):
    pass


def test_killed_cnn_pack_resumes_bit_identical(tmp_path, monkeypatch):
    points = cnn_pack("momentum")[:2]
    ref, _, _, _ = run_pack(points, tmp_path, "ref")
    real, count = packed.save_checkpoint, [0]

    def save(path, state):
        real(path, state)
        count[0] += 1
        if count[0] == 2:  # both nets checkpointed once
            raise Killed()
    monkeypatch.setattr(packed, "save_checkpoint", save)
    with pytest.raises(Killed):
        run_pack(points, tmp_path, "again")
    monkeypatch.undo()
    scratch = tmp_path / "again" / "net0" / "scratch"
    assert (scratch / CHECKPOINT).is_file()
    stores, _, attrs, _ = run_pack(points, tmp_path, "again")
    assert all(a["resumed_from"] for a in attrs)
    for a, b in zip(ref, stores):
        A, B = read_all_arrays(a), read_all_arrays(b)
        assert sorted(A) == sorted(B)
        for name in A:
            assert A[name].tobytes() == B[name].tobytes(), name


def test_diverging_cnn_stops_alone(tmp_path):
    points = cnn_pack("sgd")
    points[1] = normalize_point(points[1] | {"lr": 1e37})
    stores, _, attrs, log = run_pack(points, tmp_path)
    assert attrs[1]["diverged"] is True and f"run {run_id(points[1])}: DIVERGED" in log
    for values in read_all_arrays(stores[1]).values():
        assert np.isfinite(values).all()
    for i in (0, 2):  # the others lose nothing: as trained alone
        ref = train_reference(points[i])
        np.testing.assert_allclose(read_all_arrays(stores[i])["weights/conv0"], ref["weights/conv0"], rtol=0,
                                   atol=WEIGHT_ATOL)


# ---------------------------------------------------------------- the workflow


@pytest.mark.slow
def test_workflow_trains_and_analyses_two_cnns(tmp_path):
    """Two CNN points on digits through the whole workflow: stores with conv layers, the learning
    graphs of conv and dense layers, the circle of filters of their cell, the summary with conv and
    circle columns."""
    cfg = yaml.safe_load((ROOT / "tests" / "configs" / "tiny.yaml").read_text())
    cfg["results"] = str(tmp_path / "results")
    cfg["sweep"]["base"] |= {"arch": "cnn", "channels": [4], "activation": "relu", "init": "kaiming",
                             "epochs": 2, "snapshots": 6}
    cfg["sweep"]["grid"] = {"seed": [1, 2], "lr": [0.1]}
    cfg["figures"]["runs"] = "none"
    cfg["circle"] = {"enabled": True}
    cfgfile = tmp_path / "cnn.yaml"
    cfgfile.write_text(yaml.safe_dump(cfg))
    cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path), "--workflow-profile",
           str(ROOT / "profiles" / "default"), "--cores", "2", "--configfile", str(cfgfile)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]
    results = tmp_path / "results"
    ids = sorted(validate_config(copy.deepcopy(cfg))["points"])
    assert len(ids) == 2
    for rid in ids:
        root = open_store(results / "runs" / rid / "snapshots.zarr")
        assert root["weights/conv0"].shape == (6, 4, 9) and root["weights/layer1"].shape == (6, 10, 8)
        assert sorted(p.name for p in (results / "mapper" / rid).glob("*.json")) == ["analysis.json", "graphs.json"]
        assert list(read_graphs(results / "mapper" / rid)) == ["conv0", "layer0", "layer1"]
    import topolearn

    sweep = topolearn.open_sweep(results)  # the sweep reader takes CNN runs as any other
    assert sorted(sweep.params["run_id"]) == ids and set(sweep.params["arch"]) == {"cnn"}
    assert sweep.metrics.sizes["run"] == 2 and (results / "summary.tsv").is_file()
    summary = pd.read_csv(results / "summary.tsv", sep="\t")
    assert summary["conv0_nodes"].notna().all() and (summary["n_conv_layers"] == 1).all()
    cells = list((results / "circle").glob("*.runs.tsv"))  # one cell: the two seeds pooled
    assert len(cells) == 1 and summary["circle_final_longest"].notna().all()
    table = pd.read_csv(str(cells[0]).replace(".runs.tsv", ".tsv"), sep="\t")
    assert len(table) == 6 and (table["n_points"] == 8).all()
    cell = cells[0].name.split(".")[0]
    assert {p.name for p in (results / "figures" / "circle" / cell).iterdir()} == {
        f"{n}.{f}" for n in ("circle_lifetimes", "circle_cloud") for f in ("png", "svg")}


@pytest.mark.slow
def test_cnn_benchmark_quick_mode():
    if not Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("Fashion-MNIST not installed (make sysdeps)")
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_cnn.py"), "--quick"], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "RATIO 1 packed / plain net-updates/s = " in res.stdout and "RATIO 2" in res.stdout, res.stdout
