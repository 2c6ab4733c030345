"""The summary table: column contract, stable types, diverged and empty flags."""

import shutil

import numpy as np
import pandas as pd
import pytest
from fake_results import make_point, write_run

from topolearn.sweep.points import POINT_DEFAULTS, run_id
from topolearn.results.summary import (LAYER_METRICS, RUN_COLUMNS, build_summary, make_summary, read_summary,
                               summary_dtypes, summary_long)
from topolearn.data.toy import TOY_FIELDS
from topolearn.sweep.packing import TABLE_FILES
from topolearn.sweep.table import write_sweep_table


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Three runs: depth 2, diverged (depth 1), empty first-layer graph (depth 1)."""
    res = tmp_path_factory.mktemp("summary") / "results"
    points = [make_point(depth=2), make_point(lr=1.0), make_point(init="zero")]
    deep = write_run(res, points[0], seed=0)
    diverged = write_run(res, points[1], diverge_at=5, seed=1)
    empty = write_run(res, points[2], empty_layers=(0,), seed=2)
    write_sweep_table({run_id(p): p for p in points}, res / "sweep.tsv")
    ids = sorted(run_id(p) for p in points)
    files = dict(sweep=res / "sweep.tsv", stores=[res / "runs" / r / "snapshots.zarr" for r in ids])
    df = make_summary(files["sweep"], files["stores"], res / "summary.tsv")
    return dict(res=res, df=df, deep=deep, diverged=diverged, empty=empty, files=files)


def test_columns_follow_the_contract(sweep):
    """A digits sweep: no toy data fields (they apply to none of its runs), then the output layer's
    columns, then every layer's."""
    df = sweep["df"]
    layer_cols = [f"layer{i}_{m}" for i in range(3) for m in LAYER_METRICS]
    fields = [f for f in POINT_DEFAULTS if f not in TOY_FIELDS]
    assert list(df.columns) == ["run_id", *fields, *RUN_COLUMNS, *[f"output_{m}" for m in LAYER_METRICS],
                                *layer_cols]
    assert len(df) == 3 and df["run_id"].is_unique
    assert not set(TOY_FIELDS) & set(read_summary(sweep["res"] / "summary.tsv").columns)


def test_output_columns_are_the_last_layer_whatever_the_depth(sweep):
    """Depth 1: output_* is layer1_*; depth 2: layer2_* (layer1_* is then a hidden layer)."""
    df = sweep["df"].set_index("run_id")
    for rid, row in df.iterrows():
        last = f"layer{row['n_layers'] - 1}"
        for m in LAYER_METRICS:
            assert (pd.isna(row[f"output_{m}"]) and pd.isna(row[f"{last}_{m}"])) or \
                row[f"output_{m}"] == row[f"{last}_{m}"], (rid, m)
    deep, shallow = df.loc[sweep["deep"]], df.loc[sweep["empty"]]
    assert (deep["n_layers"], shallow["n_layers"]) == (3, 2)
    assert deep["output_branches"] == deep["layer2_branches"] == 10 and deep["layer1_branches"] == 2
    assert shallow["output_branches"] == shallow["layer1_branches"] == 10
    assert summary_dtypes(["output_branches", "output_empty"]) == {"output_branches": "Int64",
                                                                   "output_empty": "boolean"}
    assert not any(c.startswith("output_") for c in summary_long(sweep["df"]).columns)


def test_a_toy_sweep_keeps_its_toy_fields(tmp_path):
    res = tmp_path / "results"
    point = make_point(dataset="spirals", turns=0.5)
    rid = write_run(res, point)
    write_sweep_table({rid: point}, res / "sweep.tsv")
    df = build_summary(res / "sweep.tsv", [res / "runs" / rid / "snapshots.zarr"])
    assert list(df.columns[1:len(POINT_DEFAULTS) + 1]) == list(POINT_DEFAULTS)
    assert df.loc[0, "turns"] == 0.5 and df.loc[0, "n_samples"] == point["n_samples"]


def test_types_are_stable_through_the_file(sweep):
    df, back = sweep["df"], read_summary(sweep["res"] / "summary.tsv")
    expected = summary_dtypes(df.columns)
    assert {c: str(t) for c, t in back.dtypes.items()} == expected
    assert {c: str(t) for c, t in df.dtypes.items()} == expected
    pd.testing.assert_frame_equal(df, back)
    assert expected["lr"] == "float64" and expected["batch_size"] == "Int64" and expected["init"] == "string"
    assert expected["bias"] == "boolean" and expected["layer1_branches"] == "Int64"
    assert expected["layer0_first_branch_epoch"] == "float64" and expected["diverged"] == "boolean"


def test_values_flags_and_missing_layers(sweep):
    df = sweep["df"].set_index("run_id")
    deep, div, empty = df.loc[sweep["deep"]], df.loc[sweep["diverged"]], df.loc[sweep["empty"]]
    assert deep["n_layers"] == 3 and deep["layer2_branches"] == 10 and deep["layer0_branches"] == 2
    assert deep["final_epoch"] == 4.0 and deep["final_test_acc"] == pytest.approx(0.95 * (0.1 + 0.8 / (1 + np.exp(-6))))
    assert deep["layer0_first_branch_epoch"] == 2.0 and deep["layer0_first_jump_epoch"] == 2.0
    assert not deep["diverged"] and not deep["empty_graphs"]
    assert div["diverged"] and div["diverged_at_step"] == 50 and np.isinf(div["final_train_loss"])
    assert pd.isna(div["layer2_branches"]) and pd.isna(div["layer2_empty"]), "a layer the run lacks is NA"
    assert empty["empty_graphs"] and empty["layer0_empty"] and not empty["layer1_empty"]
    assert np.isnan(empty["layer0_first_branch_epoch"])


def test_non_finite_final_loss_flags_a_run_even_without_the_attr(tmp_path):
    res = tmp_path / "results"
    point = make_point()
    rid = write_run(res, point, diverge_at=7, flag_diverged=False)
    write_sweep_table({rid: point}, res / "sweep.tsv")
    df = build_summary(res / "sweep.tsv", [res / "runs" / rid / "snapshots.zarr"])
    assert df["diverged"].tolist() == [True]
    assert df["diverged_at_step"].isna().all()


def test_boolean_spellings_and_long_form(sweep, tmp_path):
    df = sweep["df"]
    path = tmp_path / "s.tsv"
    raw = df.astype(object).where(df.notna(), "NA")
    raw["diverged"] = ["1", "0", "false"]
    raw["layer0_empty"] = ["True", "false", "0"]
    raw.to_csv(path, sep="\t", index=False)
    back = read_summary(path)
    assert back["diverged"].tolist() == [True, False, False]
    assert back["layer0_empty"].tolist() == [True, False, False]
    long = summary_long(df)
    assert len(long) == 2 + 2 + 3  # one row per (run, layer)
    assert set(long["layer_role"]) == {"hidden 1", "hidden 2", "output"}
    out = long[long["layer_role"] == "output"]
    assert (out["branches"] == 10).all()


def test_symmetry_baselines_and_scan_columns(sweep, tmp_path):
    """The symmetry tables, branching curves and stability scans land in per-layer columns; the
    Spearman correlation across runs between counts and baselines (baselines.correlations)."""
    from topolearn.learning_graphs.baselines import correlations
    from topolearn.learning_graphs.branching import CURVE_COLUMNS, SYMMETRY_COLUMNS
    from topolearn.learning_graphs.stability import SCAN_COLUMNS

    f, rid = sweep["files"], sweep["deep"]
    sym = pd.DataFrame([[rid, "layer0", 4, 1.0, 0.5, 1.5, 0.2, 3, "threads=2; device=cpu; torch=2.13.0"]],
                       columns=SYMMETRY_COLUMNS)
    curve = pd.DataFrame([[rid, "layer0", s, s, float(s), 1 + s, 0.1, 0.5 * s, 2.0 * s, 0.1, ""] for s in range(3)],
                         columns=CURVE_COLUMNS)
    scan = pd.DataFrame([[rid, "layer0", n, 0.5, 1.0, 0.1, 9, b, b, n == 20] for n, b in ((10, 3), (20, 3), (30, 4))],
                        columns=SCAN_COLUMNS)
    res = shutil.copytree(sweep["res"], tmp_path / "results")  # the run's tables where its stamp says
    paths = {k: res / "mapper" / rid / TABLE_FILES[k] for k in ("symmetry", "curve")} | {"scan": tmp_path / f"{rid}.tsv"}
    for k, df in (("symmetry", sym), ("curve", curve), ("scan", scan)):
        df.to_csv(paths[k], sep="\t", index=False)
    df = make_summary(res / "sweep.tsv", [res / "runs" / r / "snapshots.zarr" for r in sorted(sweep["df"]["run_id"])],
                      tmp_path / "summary.tsv", stability=[paths["scan"]])
    row = read_summary(tmp_path / "summary.tsv").set_index("run_id").loc[rid]
    assert row["symmetry_context"] == "threads=2; device=cpu; torch=2.13.0"
    assert (row["layer0_symmetry_break_epoch"], row["layer0_final_groups"]) == (1.5, 3)
    assert (row["layer0_norm_spread"], row["layer0_weight_variance"]) == (1.0, 4.0)  # the last snapshot
    assert (row["layer0_scan_mode"], row["layer0_scan_share"], row["layer0_scan_min"], row["layer0_scan_max"]) == \
        (3, pytest.approx(2 / 3), 3, 4)
    long = summary_long(df)
    long = long.assign(norm_spread=np.arange(len(long)), final_groups=np.arange(len(long)) % 3,
                       weight_variance=1.0, branches=np.arange(len(long)))
    c = correlations(long).set_index(["layer_role", "count", "baseline"])
    role = long["layer_role"].iloc[0]
    assert c.loc[(role, "branches", "norm_spread"), "spearman_rho"] == pytest.approx(1.0)
    assert np.isnan(c.loc[(role, "branches", "weight_variance"), "spearman_rho"])  # constant baseline
