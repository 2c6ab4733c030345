"""The effective-width test: derived points from branch counts, and the checkpoint in a workflow."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fake_results import make_point, write_run
from topolearn.results import effective_width as ew
from topolearn.sweep.schema import ConfigError
from topolearn.sweep.points import normalize_point, run_id
from topolearn.sweep.config import validate_config
from topolearn.sweep import packing

ROOT = Path(__file__).resolve().parents[1]


def _branches(counts, empty=()):
    """A branch table with these final branch counts, layer0 first (the last is the output layer)."""
    return pd.DataFrame({"layer": [f"layer{i}" for i in range(len(counts))], "layer_index": range(len(counts)),
                         "final_branches": counts, "empty": [i in empty for i in range(len(counts))]})


@pytest.mark.parametrize("counts,combine,factor,base,width", [
    ([7, 3, 10], "max", 1.0, 7.0, 7),
    ([7, 3, 10], "max", 0.5, 7.0, 4),  # 3.5 rounds half up
    ([7, 3, 10], "mean", 2.0, 5.0, 10),
    ([1, 1, 10], "max", 0.25, 1.0, 1),  # never below one neuron
])
def test_derived_width_from_hidden_branch_counts(counts, combine, factor, base, width):
    hidden = ew.hidden_branch_counts(_branches(counts), depth=len(counts) - 1)
    assert hidden == {f"layer{i}": c for i, c in enumerate(counts[:-1])}  # the output layer never counts
    assert ew.derived_width(hidden, factor, combine) == (base, width)


def test_derived_points_are_the_run_with_each_width():
    point = normalize_point({"depth": 2, "width": 20, "lr": 0.3})
    rows = ew.derived_points("abc", point, _branches([6, 4, 10]), [0.5, 1, 2], "max")
    assert [r["width"] for r in rows] == [3, 6, 12] and [r["factor"] for r in rows] == [0.5, 1.0, 2.0]
    for r in rows:
        derived = json.loads(r["point"])
        assert derived == normalize_point({**point, "width": r["width"]})  # only the width changes
        assert r["run_id"] == run_id(derived) and r["layer_counts"] == "layer0=6,layer1=4"
        assert (r["source_run_id"], r["source_width"], r["branch_count"]) == ("abc", 20, 6.0)


def test_runs_without_hidden_graphs_add_no_points():
    assert ew.derived_points("a", normalize_point({"depth": 0}), _branches([10]), [1], "max") == []
    both_empty = _branches([0, 0, 10], empty=(0, 1))
    assert ew.derived_points("b", normalize_point({"depth": 2}), both_empty, [1], "max") == []
    one_left = _branches([0, 5, 10], empty=(0,))  # an empty layer does not count, the other does
    assert [r["width"] for r in ew.derived_points("c", normalize_point({"depth": 2}), one_left, [1], "max")] == [5]


def test_points_table_round_trip_and_lookup(tmp_path):
    points = {"r1": normalize_point({"depth": 1, "width": 9}), "r2": normalize_point({"depth": 1, "width": 4})}
    tables = {}
    for rid, counts in (("r1", [3, 10]), ("r2", [3, 10])):
        tables[rid] = tmp_path / f"{rid}.tsv"
        _branches(counts).to_csv(tables[rid], sep="\t", index=False)
    df = ew.points_table(points, tables, [1, 2], "max")
    path = tmp_path / "points.tsv"
    ew.write_table(df, path)
    assert list(ew.read_points_table(path)["run_id"]) == list(df["run_id"])
    # both runs have width-3 and width-6 versions that differ only in width: the same derived points
    assert df["run_id"].nunique() == 2 and len(df) == 4
    rid = df["run_id"][0]
    assert ew.derived_point(path, rid)["width"] == 3 and ew.derived_source(path, rid) == "r1"
    assert ew.derived_store("res", rid, {"x"}) == f"res/effective_width/runs/{rid}/snapshots.zarr"
    assert ew.derived_store("res", rid, {rid}) == f"res/runs/{rid}/snapshots.zarr"


def test_summary_across_the_sweep():
    acc = pd.DataFrame({"factor": [0.5, 0.5, 1.0, 1.0], "width": [2, 3, 4, 6], "source_width": [8, 8, 8, 8],
                        "delta_test_acc": [-0.2, -0.1, 0.0, 0.005]})
    s = ew.summary_table(acc)
    assert list(s["runs"]) == [2, 2] and list(s["median_delta_test_acc"]) == pytest.approx([-0.15, 0.0025])
    assert list(s["within_0.01"]) == [0.0, 1.0] and list(s["median_width_ratio"]) == [0.3125, 0.625]


def test_config_option_is_validated():
    cfg = validate_config({})
    assert cfg["effective_width"] == {"enabled": False, "factors": [0.5, 1, 2], "combine": "max"}
    with pytest.raises(ConfigError, match=r"effective_width.factors\[1\]: 0 is invalid; must be > 0"):
        validate_config({"effective_width": {"factors": [1, 0]}})


# ---------------------------------------------------------------- in a workflow


SNAKEFILE = """
include: "{root}/workflow/rules/common.smk"
include: "{root}/workflow/rules/effective_width.smk"


rule all:
    input:
        effective_width_targets(),
    default_target: True
"""


@pytest.mark.slow
def test_checkpoint_adds_the_derived_points_and_compares_accuracy(tmp_path):
    """Two synthetic runs with their branch tables (2 final branches per hidden layer): the
    checkpoint derives widths 1 and 2, trains each once, and tabulates accuracies."""
    (tmp_path / "Snakefile").write_text(SNAKEFILE.format(root=ROOT))
    base = {"dataset": "digits", "depth": 1, "epochs": 4, "snapshots": 9, "batch_size": 64, "probe_size": 30,
            "init": "normal", "lr": 0.5}
    cfg = {"sweep": {"base": base, "grid": {"width": [6, 2]}}, "effective_width": {"enabled": True, "factors": [0.5, 1]},
           "figures": {"formats": ["png"]}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    rids = [write_run(tmp_path / "results", make_point(width=w)) for w in (6, 2)]
    fp = packing.fingerprint(packing.analysis_settings(validate_config(cfg)))
    for rid in rids:  # analysed under this config's settings: no analysis job is due (none is included)
        stamp = tmp_path / "results" / "mapper" / rid / packing.STAMP
        stamp.write_text(json.dumps({**json.loads(stamp.read_text()), "settings": fp}))
    res = _smk(tmp_path)
    assert res.returncode == 0, res.stderr[-4000:]
    points = ew.read_points_table(tmp_path / "results" / "effective_width" / "points.tsv")
    assert sorted(points["source_run_id"]) == sorted(rids * 2) and set(points["width"]) == {1, 2}
    width2 = run_id(make_point(width=2))  # the derived width-2 point of the width-6 run is the sweep's run
    assert width2 in set(points["run_id"]) and points["run_id"].nunique() == 2
    trained = {p.parent.name for p in (tmp_path / "results" / "effective_width" / "runs").glob("*/snapshots.zarr")}
    assert trained == set(points["run_id"]) - {width2}  # width 1 only: width 2 reuses the sweep's store
    acc = pd.read_csv(tmp_path / "results" / "effective_width.tsv", sep="\t")
    assert len(acc) == 4 and acc["test_acc"].notna().all()
    assert (tmp_path / "results" / "figures" / "effective_width.png").stat().st_size > 0
    dry = _smk(tmp_path, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr
    (tmp_path / "results" / "effective_width" / "points.tsv").touch()  # as when a run joins the sweep
    dry = _smk(tmp_path, "-n")
    assert dry.returncode == 0 and "train_effective_width" not in dry.stdout  # nothing retrains


def _smk(workdir, *args):
    return subprocess.run([str(Path(sys.executable).parent / "snakemake"), "--cores", "2", "--configfile",
                           "config.yaml", *args], cwd=workdir, capture_output=True, text=True, timeout=600)
