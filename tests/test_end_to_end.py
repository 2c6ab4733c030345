"""The shipped configs end to end, as `make run` runs them: config/config.yaml (the default digits
sweep) and config/toy.yaml (layer representations on 2-D toy data), each run once per module into a
temporary folder, then checked on what they produce.

Both run with fewer grid values than shipped, and nothing else changed: a grid value left out
drops its points and never changes the others' run ids (tests/test_config.py), so every run here
is a run of `make run`, with the same id, store and tables. The full sweeps cost too much for the
suite's budget on 2 cores: the default's 72 runs take about 5 minutes with their figures, the toy
config's 32 runs (one pack each, for their shapes differ) over 10. Kept:
  - default: seed 0 of the three seeds: 24 runs, every init x lr x batch size x depth cell, and
    every per-run figure (12 runs);
  - toy: the loosest spirals (0.5 turns) at widths 3 and 8, tanh and relu, and two of the explicit
    points (circles, curves): 6 runs, every dataset, both activations, every layer rule.
"""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
import zarr

import topolearn
from topolearn.data import load_dataset
from topolearn.store.snapshots import check_store, read_all_arrays
from topolearn.sweep.config import load_config_file
from topolearn.train.representations import forward_all, input_grid

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
N_CLASSES = {"digits": 10, "spirals": 2, "circles": 2, "curves": 2}  # chance accuracy is 1 / classes
# The sweep figures and the toy config's layer figures, by name (not imported from the code under test).
SWEEP_FIGURES = ["branches_vs_params", "branch_vs_jump", "accuracy_vs_branches", "counts_vs_baselines",
                 "accuracy_curves", "inpca", "inpca_factors", "inpca_spectrum", "inpca_progress"]
LAYER_SWEEP_FIGURES = ["layers_success", "layers_betti", "layers_separability"]
LAYER_RUN_FIGURES = ["layers_final.png", "layers_transform.gif", "layers_training.gif"]


def shrink_default(cfg: dict) -> None:
    cfg["sweep"]["grid"]["seed"] = [0]


def shrink_toy(cfg: dict) -> None:
    cfg["sweep"]["grid"].update(turns=[0.5], width=[3, 8])
    cfg["sweep"]["points"] = [p for p in cfg["sweep"]["points"]
                              if (p["dataset"], p["width"], p["activation"]) in {("circles", 8, "tanh"),
                                                                                  ("curves", 8, "relu")}]


def run_shipped(tmp_path_factory, name: str, shrink) -> tuple[Path, dict]:
    """config/<name>.yaml, shrunk, run to its end with its results (and Snakemake's metadata) in a
    temporary folder; (results folder, validated config)."""
    wd = tmp_path_factory.mktemp(name)
    results = wd / "results"
    shipped = yaml.safe_load((ROOT / "config" / f"{name}.yaml").read_text())
    shrink(shipped)
    shipped["results"] = str(results)
    cfgfile = wd / f"{name}.yaml"
    cfgfile.write_text(yaml.safe_dump(shipped))
    cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--directory", str(wd), "--workflow-profile",
           str(ROOT / "profiles" / "default"), "--cores", "2", "--configfile", str(cfgfile)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-8000:]
    cfg = load_config_file(cfgfile)
    assert set(cfg["points"]) < set(load_config_file(ROOT / "config" / f"{name}.yaml")["points"])
    return results, cfg


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    return run_shipped(tmp_path_factory, "config", shrink_default)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    return run_shipped(tmp_path_factory, "toy", shrink_toy)


def store_of(results: Path, rid: str) -> Path:
    return results / "runs" / rid / "snapshots.zarr"


def tsv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["NA"], dtype={"run_id": str})


# ---------------------------------------------------------------- what both sweeps produce


@pytest.fixture(params=["default", "toy"])
def finished(request):
    return request.getfixturevalue(f"{request.param}_run")


def test_every_planned_store_exists_and_passes_the_deep_check(finished):
    results, cfg = finished
    assert cfg["points"]
    for rid in cfg["points"]:
        assert check_store(store_of(results, rid), deep=True) is None, rid


def test_sweep_table_lists_exactly_the_configs_runs(finished):
    results, cfg = finished
    ids = tsv(results / "sweep.tsv")["run_id"]
    assert ids.is_unique and sorted(ids) == sorted(cfg["points"])


def test_summary_has_one_row_per_run_with_a_final_accuracy(finished):
    """Every run has a finite final accuracy, never below chance; the shallow nets all learn. Deeper
    ones may still sit on the plateau at chance after the default 60 epochs (depth 2 at batch
    size 64 mostly do): the slowdown the sweep is made to show, not a failure."""
    results, cfg = finished
    summary = tsv(results / "summary.tsv").set_index("run_id")
    assert summary.index.is_unique and sorted(summary.index) == sorted(cfg["points"])
    assert not summary["diverged"].astype(bool).any(), "no shipped run diverges"
    for rid, row in summary.iterrows():
        p = cfg["points"][rid]
        chance = 1 / N_CLASSES[p["dataset"]]
        acc = row["final_test_acc"]
        assert math.isfinite(acc) and chance - 0.02 <= acc <= 1, (rid, acc)
        if p["depth"] == 1 or p["dataset"] != "digits":
            assert acc > chance + 0.2, (rid, acc)


def test_branch_tables_have_a_row_per_analysed_layer(finished):
    results, cfg = finished
    for rid, p in cfg["points"].items():
        branches = tsv(results / "branches" / f"{rid}.tsv")
        assert sorted(branches["layer"]) == [f"layer{i}" for i in range(p["depth"] + 1)], rid  # mapper.layers: all
        assert (branches["run_id"] == rid).all() and (branches["n_snapshots"] == p["snapshots"]).all()


def test_sweep_figures_exist_and_are_not_empty(finished):
    results, cfg = finished
    for name in SWEEP_FIGURES:
        for fmt in cfg["figures"]["formats"]:
            assert (results / "figures" / "sweep" / f"{name}.{fmt}").stat().st_size > 1000, (name, fmt)


# ---------------------------------------------------------------- the default sweep


def test_default_sweep_is_the_documented_grid(default_run):
    _, cfg = default_run
    pts = cfg["points"].values()
    assert len(cfg["points"]) == 24  # 3 inits x 2 lr x 2 batch sizes x 2 depths, seed 0
    assert {(p["init"], p["init_noise"]) for p in pts} == {("normal", 0.0), ("zero", 0.0), ("zero", 1e-4)}
    assert {p["lr"] for p in pts} == {0.5, 1.0} and {p["batch_size"] for p in pts} == {16, 64}
    assert {p["depth"] for p in pts} == {1, 2} and {p["seed"] for p in pts} == {0}
    assert {p["epochs"] for p in pts} == {60} and {p["snapshots"] for p in pts} == {101}


def test_open_sweep_reads_the_real_results(default_run):
    results, cfg = default_run
    sd = topolearn.open_sweep(results)
    assert isinstance(sd, topolearn.SweepData)
    ds = sd.metrics
    assert sorted(ds["run"].values) == sorted(cfg["points"]) and ds.sizes["snapshot"] == 101
    assert {"init", "lr", "batch_size", "depth"} <= set(sd.swept) and "seed" not in sd.swept
    summary = tsv(results / "summary.tsv").set_index("run_id")
    for rid in sorted(cfg["points"])[:4]:
        p = cfg["points"][rid]
        row = ds.sel(run=rid)
        assert row["lr"].item() == p["lr"] and row["depth"].item() == p["depth"]
        assert row["test_acc"].values[-1] == pytest.approx(summary.loc[rid, "final_test_acc"])
        assert np.isfinite(row["progress"].values).all()  # every run of the default sweep is embedded
    assert sorted(set(sd.summary["run_id"])) == sorted(cfg["points"])
    assert sorted(set(sd.branches["run_id"])) == sorted(cfg["points"])
    assert set(sd.inpca_stress["method"]) == {"exact"}  # 24 x 101 checkpoints: under exact_max


def test_sweep_data_store_opens_a_runs_arrays(default_run):
    results, cfg = default_run
    sd = topolearn.open_sweep(results)
    rid, p = next((r, p) for r, p in sorted(cfg["points"].items()) if p["depth"] == 2)
    root = sd.store(rid)
    assert root["weights"]["layer0"].shape == (101, 32, 64)  # snapshots x width x 8x8 pixels
    assert root["weights"]["layer2"].shape == (101, 10, 32)
    assert root.attrs["params"] == p
    np.testing.assert_array_equal(root["weights"]["layer1"][:], zarr.open_group(str(store_of(results, rid)),
                                                                                  mode="r")["weights"]["layer1"][:])


# ---------------------------------------------------------------- the toy sweep: layer representations


def test_toy_layer_tables_carry_betti_numbers_and_separability(toy_run):
    results, cfg = toy_run
    for rid, p in cfg["points"].items():
        table = tsv(results / "layers" / f"{rid}.tsv")
        layers = ["input"] + [f"layer{i}" for i in range(p["depth"] + 1)]
        assert sorted(set(table["layer"])) == sorted(layers), rid
        per_layer = table.groupby("layer")["snapshot"].apply(list)
        assert all(per_layer[layer] == per_layer["input"] for layer in layers) and len(per_layer["input"]) >= 2
        assert table["separability"].between(0, 1).all(), rid
        for col in ("b0", "b0_class0", "b0_class1"):  # every non-empty cloud has a component
            assert (table[col] >= 1).all(), (rid, col)
        assert (table[["b1", "b1_class0", "b1_class1"]] >= 0).all().all(), rid
        final = table[table["snapshot"] == table["snapshot"].max()].set_index("layer")
        assert final.loc[f"layer{p['depth']}", "separability"] > 0.9, rid  # every kept run learns its task


def test_toy_layer_figures_exist(toy_run):
    results, cfg = toy_run
    for name in LAYER_SWEEP_FIGURES:
        for fmt in cfg["figures"]["formats"]:
            assert (results / "figures" / "layers" / f"{name}.{fmt}").stat().st_size > 1000, name
    drawn = [d for d in (results / "figures" / "runs").iterdir() if d.is_dir()]
    assert len(drawn) == min(cfg["figures"]["runs"], len(cfg["points"]))
    for d in drawn:
        for name in LAYER_RUN_FIGURES:
            assert (d / name).stat().st_size > 1000, (d.name, name)


def test_trainers_recorded_representations_are_the_forward_pass_of_its_weights(toy_run):
    """The trainer records the representations itself while finishing a store: they must be the
    network's layer outputs on the recorded points, computed from the stored weights."""
    results, cfg = toy_run
    for rid in sorted(cfg["points"]):
        p = cfg["points"][rid]
        a = read_all_arrays(store_of(results, rid))
        X_train, y_train, _, _ = load_dataset(p["dataset"], point=p)
        n = min(p["repr_size"], len(y_train))
        np.testing.assert_array_equal(a["repr/input"], X_train[:n])
        np.testing.assert_array_equal(a["repr/labels"], y_train[:n])
        grid, _ = input_grid(X_train, p["grid_size"])
        np.testing.assert_array_equal(a["grid/input"], grid)
        layers = range(p["depth"] + 1)
        for s in (0, p["snapshots"] - 1):  # the initial and the final weights
            w = [a[f"weights/layer{i}"][s:s + 1] for i in layers]  # (1, out, in): one snapshot
            b = [a[f"biases/layer{i}"][s:s + 1] for i in layers]
            for kind, x in (("repr", a["repr/input"]), ("grid", a["grid/input"])):
                for i, h in enumerate(forward_all(w, b, x, p["activation"])):
                    np.testing.assert_allclose(a[f"{kind}/layer{i}"][s], h[0], rtol=1e-5, atol=1e-6,
                                               err_msg=f"{rid} {kind}/layer{i} snapshot {s}")
