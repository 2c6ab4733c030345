"""Analysis of a CNN's conv layers: learning graphs of filters, branch tables, curves and summary
columns through the same code as dense layers."""

import copy
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from topolearn.analysis.batch import RunJob, analyze_run
from topolearn.figures import runs
from topolearn.learning_graphs import read_graphs
from topolearn.results.summary import build_summary, summary_long
from topolearn.sweep import jobsize
from topolearn.sweep.config import validate_config
from topolearn.sweep.mapper_settings import mapper_layers
from topolearn.analysis.tables import run_tables
from topolearn.sweep.points import layer_names, normalize_point, run_id
from topolearn.sweep.schema import ConfigError
from topolearn.sweep.table import write_sweep_table
from topolearn.train import train_pack

ROOT = Path(__file__).resolve().parents[1]
CNN = {"dataset": "digits", "arch": "cnn", "channels": [4, 8], "depth": 1, "width": 16, "activation": "relu",
       "bias": True, "optimizer": "adam", "lr": 0.01, "batch_size": 32, "epochs": 2, "snapshots": 6,
       "init": "kaiming", "probe_size": 50}


def cnn_config(**mapper) -> dict:
    cfg = yaml.safe_load((ROOT / "tests" / "configs" / "tiny.yaml").read_text())
    cfg["sweep"] = {"base": dict(CNN), "grid": {"seed": [1, 2]}}
    cfg["mapper"] |= mapper
    return validate_config(cfg)


def test_cnn_layers_are_conv_then_dense():
    p = normalize_point(CNN)
    assert layer_names(p) == ["conv0", "conv1", "layer0", "layer1"]
    assert layer_names(normalize_point({"dataset": "digits", "depth": 2})) == ["layer0", "layer1", "layer2"]
    cfg = cnn_config()
    assert mapper_layers(cfg, p) == ["conv0", "conv1", "layer0", "layer1"]
    assert mapper_layers(cnn_config(layers=["conv1", "output"]), p) == ["conv1", "layer1"]


def test_conv_layer_names_are_checked():
    with pytest.raises(ConfigError, match=r"mapper.layers: 'conv2' is not a layer of run .*allowed: conv0, conv1"):
        cnn_config(layers=["conv2"])


def test_mapper_memory_of_a_conv_layer():
    p = normalize_point(CNN)
    # conv1: 8 filters x (4 x 3 x 3) inputs, 6 snapshots; a dense layer as before
    assert jobsize.mapper_mem_mb(p, "conv1") == 600 + 6 * 4 * 6 * 8 * 36 // 2**20
    assert jobsize.mapper_mem_mb(p, "layer0") == 600 + 6 * 4 * 6 * 16 * 32 // 2**20


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """Two CNNs trained as one pack, each analysed as the workflow does."""
    res = tmp_path_factory.mktemp("cnn_analysis")
    cfg = cnn_config()
    points = list(cfg["points"].values())
    stores = [res / "runs" / run_id(p) / "snapshots.zarr" for p in points]
    train_pack(points, stores, [s.parent / "scratch" for s in stores], chunk=2, log=io.StringIO())
    settings = copy.deepcopy({"mapper": cfg["mapper"], "branching": cfg["branching"]})
    for p, s in zip(points, stores):
        analyze_run(RunJob(run_id(p), str(s), str(res / "mapper" / run_id(p))), settings)
    write_sweep_table({run_id(p): p for p in points}, res / "sweep.tsv")
    return res, points, stores


def test_conv_layers_get_learning_graphs_and_tables(analysed):
    res, points, _ = analysed
    rid = run_id(points[0])
    assert sorted(p.name for p in (res / "mapper" / rid).glob("*.json")) == ["analysis.json", "graphs.json"]
    assert list(read_graphs(res / "mapper" / rid)) == ["conv0", "conv1", "layer0", "layer1"]
    tables = run_tables(res, rid)  # a run analysed alone: its tables in its mapper folder
    br = tables["branches"]
    assert list(br["layer"]) == ["conv0", "conv1", "layer0", "layer1"]
    assert list(br["n_neurons"]) == [4, 8, 16, 10] and list(br["layer_index"]) == [0, 1, 0, 1]
    curve = tables["curve"]
    assert {"conv0", "conv1"} <= set(curve["layer"])


def test_summary_has_conv_columns(analysed):
    res, points, stores = analysed
    df = build_summary(res / "sweep.tsv", [str(s) for s in stores])
    cols = list(df.columns)
    assert cols.index("conv1_branches") < cols.index("layer0_nodes"), "conv columns before dense ones"
    assert (df["n_conv_layers"] == 2).all() and (df["n_layers"] == 2).all()
    assert df["conv0_nodes"].notna().all() and str(df["conv0_nodes"].dtype) == "Int64"
    assert df["conv1_norm_spread"].notna().all()
    assert df["output_nodes"].tolist() == df["layer1_nodes"].tolist(), "output: the last dense layer"
    long = summary_long(df)
    assert sorted(set(long["layer_role"])) == ["conv 1", "conv 2", "hidden 1", "output"]
    assert len(long) == 2 * 4


def test_filter_images_put_input_channels_side_by_side():
    w = np.arange(2 * 3 * 2 * 3 * 3, dtype=np.float32).reshape(2, 3, 18)  # 2 snapshots, 3 filters, 2 x 3 x 3
    imgs, shape = runs.filter_images(w, [3, 2, 3, 3])
    assert shape == (3, 6) and imgs.shape == (2, 3, 18)
    torch_layout = w.reshape(2, 3, 2, 3, 3)
    img = imgs[1, 2].reshape(3, 6)
    assert (img[:, :3] == torch_layout[1, 2, 0]).all() and (img[:, 3:] == torch_layout[1, 2, 1]).all()


def test_cnn_runs_draw_their_filters_over_training(analysed):
    _, _, stores = analysed
    run = runs.load_run(stores[0])
    assert runs.image_shape(run) == (3, 3) and run.filters.shape[1:] == (4, 9)
    for fig in (runs.plot_weight_images(run, [0.0, 2.0]), runs.plot_weight_images_pc1(run)):
        assert not fig.axes[0].texts or "not image pixels" not in fig.axes[0].texts[0].get_text()
        assert "conv0 filter" in fig.axes[0].get_xlabel() or "Conv0 filters" in fig._suptitle.get_text()
