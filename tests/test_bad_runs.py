"""One bad run never blocks the sweep: a run that diverged before its first snapshot, one that blew up
to huge but finite numbers (lr 1e30) and one whose analysis raises are reported in the summary
(`analysis_status`, `analysis_reason`), left out of InPCA with a note and drawn as notes, while
every other run's products, the summary, InPCA and the sweep figures are made."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_results import make_point, write_run

from topolearn.analysis import batch
from topolearn.analysis.batch import analysis_status, analyze_runs, run_jobs
from topolearn.figures import RUN_FIGURES, SWEEP_FIGURES
from topolearn.figures.batch import plot_runs
from topolearn.figures.sweep import render_sweep_figures
from topolearn.inpca.sweep import make_inpca
from topolearn.learning_graphs import read_graphs
from topolearn.results.summary import make_summary
from topolearn.store.health import DIVERGENCE_BOUND, assess
from topolearn.store.snapshots import create_store, finalize_store, read_metrics, write_rows
from topolearn.sweep.config import validate_config
from topolearn.analysis.tables import run_tables
from topolearn.sweep.packing import TABLE_FILES
from topolearn.sweep.points import run_id
from topolearn.sweep.table import write_sweep_table

SETTINGS = {k: validate_config({})[k] for k in ("mapper", "branching")}
FIGURES = {"formats": ["png"], "dpi": 50, "weight_image_epochs": [], "time_axis": "epoch"}


def write_bad_run(results: Path, point: dict, n: int, scale: float = 1.0) -> str:
    """A finished store as training leaves it: `n` snapshots (0: diverged at step 0) whose weights
    grow to `scale` and whose losses are 2.3 x `scale` (1e28: finite, far beyond any trained net)."""
    rid = run_id(point)
    path = results / "runs" / rid / "snapshots.zarr"
    shapes = [(point["width"], 64), (10, point["width"])]
    root = create_store(path, layer_shapes=shapes, bias=False, n_snapshots=point["snapshots"],
                        probe_labels=np.arange(point["probe_size"]) % 10, n_classes=10, chunk=4,
                        attrs={"run_id": rid, "params": point})
    if n:
        rng = np.random.default_rng(0)
        grow = np.linspace(1e-3, 1, n)[:, None, None]
        rows = {"step": np.arange(n) * 10, "epoch": np.linspace(0, 2, n), "train_acc": np.full(n, 0.1),
                "test_acc": np.full(n, 0.1), "train_loss": 2.3 * scale * grow[:, 0, 0],
                "test_loss": 2.3 * scale * grow[:, 0, 0],
                "probs": np.eye(10, dtype=np.float32)[rng.integers(0, 10, (n, point["probe_size"]))]}
        for i, s in enumerate(shapes):
            rows[f"weights/layer{i}"] = (rng.normal(size=(n, *s)) * scale * grow).astype(np.float32)
        write_rows(root, 0, rows)
    finalize_store(path, n, {"diverged": n == 0, "diverged_at_step": 0 if n == 0 else None, "wall_time_s": 1.0})
    return rid


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Four runs: a good one, one diverged at step 0 (no snapshot), one at lr 1e30 (weights near
    2.8e28), and a good-looking one whose analysis raises; analysed in one batch."""
    res = tmp_path_factory.mktemp("bad") / "results"
    points = {"good": make_point(seed=1), "empty": make_point(seed=2), "huge": make_point(seed=3, lr=1e30),
              "fails": make_point(seed=4)}
    ids = {"good": write_run(res, points["good"], seed=1), "empty": write_bad_run(res, points["empty"], 0),
           "huge": write_bad_run(res, points["huge"], 9, 2.8e28), "fails": write_run(res, points["fails"], seed=4)}
    for rid in ids.values():  # the analysis writes every table itself
        shutil.rmtree(res / "mapper" / rid, ignore_errors=True)
    write_sweep_table({run_id(p): p for p in points.values()}, res / "sweep.tsv")
    return res, ids


@pytest.fixture(scope="module")
def analysed(sweep):
    res, ids = sweep
    rids = list(ids.values())
    stores = [str(res / "runs" / r / "snapshots.zarr") for r in rids]
    outputs = [str(res / "mapper" / r) for r in rids] + [str(res / "tables" / "batch")]
    real = batch.layer_outputs

    def layer_outputs(*args, **kw):
        if args[-1] == ids["fails"]:  # the run id: this run's Mapper step breaks
            raise np.linalg.LinAlgError("Eigenvalues did not converge")
        return real(*args, **kw)

    mp = pytest.MonkeyPatch()
    mp.setattr(batch, "layer_outputs", layer_outputs)
    try:
        jobs, tables = run_jobs(stores, outputs)
        analyze_runs(jobs, SETTINGS, threads=1, tables=tables)  # one process: the patch holds
    finally:
        mp.undo()
    return res, ids, stores


def test_health_of_a_run():
    m = pd.DataFrame({"train_loss": [2.3, 1.0], "test_loss": [2.3, 1.1]})
    assert assess(m, {}) == ("ok", "")
    assert assess(m.iloc[:0], {"diverged": True, "diverged_at_step": 0})[0] == "diverged"
    assert assess(m.iloc[:0], {}) == ("degenerate", "no snapshot recorded")
    assert assess(m.iloc[:1], {})[0] == "degenerate"
    assert assess(m * 1e30, {}) == ("diverged", f"loss up to 2.3e+30, beyond {DIVERGENCE_BOUND:g}")
    huge = np.full((2, 3, 4), 1e7, np.float32)
    status, reason = assess(m, {}, {"layer0": np.zeros((2, 3, 4)), "layer1": huge})
    assert status == "diverged" and reason.startswith("layer1 weights up to 1e+07")
    nan = pd.DataFrame({"train_loss": [np.nan], "test_loss": [np.nan]})
    assert assess(nan, {})[0] == "diverged"


def test_a_batch_with_bad_runs_analyses_the_others_and_marks_each_bad_one(analysed):
    res, ids, _ = analysed
    assert analysis_status(res / "mapper" / ids["good"]) == ("ok", "")
    assert sorted(p.name for p in (res / "mapper" / ids["good"]).iterdir()) == ["analysis.json", "graphs.json"]
    graphs = read_graphs(res / "mapper" / ids["good"])  # one file: every analysed layer, in analysis order
    assert list(graphs) == ["layer0", "layer1"] and [d["layer"] for d in graphs.values()] == list(graphs)
    assert all(d["run_id"] == ids["good"] and d["metrics"]["nodes"] > 0 for d in graphs.values())
    expected = {"empty": ("diverged", "diverged at step 0, before its first snapshot"),
                "huge": ("diverged", "loss up to 6.44e+28, beyond 1e+06"),
                "fails": ("failed", "LinAlgError: Eigenvalues did not converge")}
    for name, status in expected.items():
        rid = ids[name]
        assert analysis_status(res / "mapper" / rid) == status
        assert [p.name for p in (res / "mapper" / rid).iterdir()] == ["analysis.json"]
        assert all(t.empty for t in run_tables(res, rid).values())  # no rows, whatever the table
    # one table set for the batch, each with its header, `run_id` first, rows of the good run only
    assert sorted(p.name for p in (res / "tables" / "batch").iterdir()) == sorted(TABLE_FILES.values())
    for name in TABLE_FILES.values():
        table = pd.read_csv(res / "tables" / "batch" / name, sep="\t", dtype={"run_id": str})
        assert table.columns[0] == "run_id" and set(table["run_id"]) <= {ids["good"]}, name
    assert len(run_tables(res, ids["good"])["branches"]) == 2


def test_placeholders_remove_learning_graphs_of_either_layout_and_leave_the_stamp_for_last(tmp_path):
    mdir = tmp_path / "mapper" / "0123456789ab"
    mdir.mkdir(parents=True)
    for name in ("graphs.json", ".graphs.json.tmp", "layer0.json", "conv1.json"):  # a killed write, an old layout
        (mdir / name).write_text("{}")
    batch.write_placeholders(batch.RunJob("0123456789ab", "unused", str(mdir)), SETTINGS, "failed", "why")
    assert sorted(p.name for p in mdir.iterdir()) == sorted(["analysis.json", *TABLE_FILES.values()])
    assert analysis_status(mdir) == ("failed", "why")


def test_a_damaged_store_still_fails_its_batch(sweep, tmp_path):
    res, ids = sweep
    rid = ids["good"]
    copy = tmp_path / "runs" / rid / "snapshots.zarr"  # outside the workflow's layout: refused, not moved
    shutil.copytree(res / "runs" / rid / "snapshots.zarr", copy)
    next(p for p in (copy / "weights" / "layer0" / "c").rglob("*") if p.is_file()).unlink()
    with pytest.raises(RuntimeError, match="StoreError"):
        analyze_runs(run_jobs([str(copy)], [str(tmp_path / "mapper" / rid)])[0], SETTINGS)
    assert not (tmp_path / "mapper" / rid / "analysis.json").exists()


def test_inpca_leaves_out_the_runs_it_cannot_place_with_a_note(analysed, capsys, tmp_path):
    res, ids, stores = analysed
    make_inpca(stores, tmp_path / "coords.tsv", tmp_path / "stress.tsv")
    out = capsys.readouterr().out
    assert f"inpca: run {ids['empty']} left out: diverged: diverged at step 0" in out
    assert f"inpca: run {ids['huge']} left out: diverged: loss up to" in out
    coords = pd.read_csv(tmp_path / "coords.tsv", sep="\t", dtype={"run_id": str})
    placed = set(coords.loc[coords["kind"] == "checkpoint", "run_id"])
    assert placed == {ids["good"], ids["fails"]}  # the failed analysis has nothing to do with InPCA


@pytest.fixture(scope="module")
def summary(analysed):
    res, ids, stores = analysed
    make_inpca(stores, res / "inpca/coords.tsv", res / "inpca/stress.tsv")
    df = make_summary(res / "sweep.tsv", stores, res / "summary.tsv",
                      coords_tsv=res / "inpca/coords.tsv", stress_tsv=res / "inpca/stress.tsv")
    return df.set_index("run_id"), ids


def test_the_summary_reports_every_run_and_why_one_was_not_analysed(summary):
    df, ids = summary
    assert len(df) == 4
    assert df.loc[ids["good"], "analysis_status"] == "ok" and df.loc[ids["good"], "layer1_branches"] >= 1
    assert df.loc[ids["fails"], "analysis_status"] == "failed" and not df.loc[ids["fails"], "diverged"]
    assert df.loc[ids["fails"], "analysis_reason"] == "LinAlgError: Eigenvalues did not converge"
    for name in ("empty", "huge"):  # huge but finite numbers are divergence too
        assert df.loc[ids[name], "analysis_status"] == "diverged" and df.loc[ids[name], "diverged"]
        assert pd.isna(df.loc[ids[name], "layer0_branches"]) and pd.isna(df.loc[ids[name], "inpca_group"])
    assert df.loc[ids["empty"], "n_snapshots"] == 0
    assert df.loc[ids["huge"], "analysis_reason"] == "loss up to 6.44e+28, beyond 1e+06"


def test_figures_of_runs_that_were_not_analysed_are_notes(analysed, tmp_path):
    res, ids, stores = analysed
    rids = list(ids.values())
    outdirs = [tmp_path / "figures" / r for r in rids]
    stability = [tmp_path / "stability" / f"{r}.tsv" for r in rids[1:]]
    plot_runs(stores[1:], [res / "mapper" / r for r in rids[1:]], stability, outdirs[1:], FIGURES, SETTINGS)
    for d, s in zip(outdirs[1:], stability):
        assert sorted(p.stem for p in d.glob("*.png")) == sorted(RUN_FIGURES), d
        assert not list(d.glob("learning_graph_*")) and pd.read_csv(s, sep="\t").empty


def test_sweep_figures_are_made_with_bad_runs_in_the_sweep(summary, analysed, tmp_path):
    res, _, stores = analysed
    paths = render_sweep_figures(res / "summary.tsv", res / "inpca/coords.tsv", res / "inpca/stress.tsv", stores,
                                 tmp_path, ["png"], 50)
    assert sorted(p.stem for p in paths) == sorted(SWEEP_FIGURES)


def test_a_store_without_snapshots_reads_as_such(sweep):
    from topolearn.store.snapshots import open_store

    res, ids = sweep
    assert len(read_metrics(open_store(res / "runs" / ids["empty"] / "snapshots.zarr"))) == 0


# ---------------------------------------------------------------- the workflow, end to end

SWEEP = {
    "sweep": {"base": {"dataset": "digits", "depth": 1, "width": 8, "activation": "sigmoid", "optimizer": "sgd",
                       "init": "normal", "lr": 0.5, "batch_size": 64, "epochs": 2, "snapshots": 3,
                       "probe_size": 50, "seed": 1},
              # huge but finite weights; inf weights at step 0 (no snapshot at all)
              "points": [{"lr": 0.5}, {"lr": 1.0e+30}, {"init_std": 1.0e+38}]},
    "mapper": {"layers": "all", "defaults": {"pca": 5, "intervals": 6, "eps": "auto", "min_samples": 2}},
    "figures": {"formats": ["png"], "dpi": 50, "runs": "all"},
}


@pytest.mark.slow
def test_a_sweep_with_runs_that_cannot_be_analysed_makes_everything(tmp_path):
    from clusterutil import ok, points, smk, write_config

    write_config(tmp_path, SWEEP)
    out = ok(smk(tmp_path, ["all"]))
    assert "Nothing to be done" not in out
    pts = points(SWEEP)
    good = next(r for r, p in pts.items() if p["lr"] == 0.5 and p["init_std"] < 1)
    huge = next(r for r, p in pts.items() if p["lr"] > 1)
    empty = next(r for r, p in pts.items() if p["init_std"] > 1)
    res = tmp_path / "results"
    df = pd.read_csv(res / "summary.tsv", sep="\t", index_col="run_id", keep_default_na=False, na_values=["NA"])
    assert df.loc[good, "analysis_status"] == "ok" and not df.loc[good, "diverged"]
    assert df.loc[huge, "analysis_status"] == "diverged" and df.loc[huge, "diverged"]
    assert df.loc[huge, "analysis_reason"].startswith("loss up to ")
    assert df.loc[empty, "analysis_reason"] == "diverged at step 0, before its first snapshot"
    assert df.loc[empty, "n_snapshots"] == 0
    log = (res / "logs" / "inpca.log").read_text()
    assert f"inpca: run {huge} left out" in log and f"inpca: run {empty} left out" in log
    coords = pd.read_csv(res / "inpca" / "coords.tsv", sep="\t", dtype={"run_id": str})
    assert set(coords.loc[coords["kind"] == "checkpoint", "run_id"]) == {good}
    assert "2 not analysed" in (res / "logs" / "summary.log").read_text()
    for rid in (huge, empty):
        assert sorted(p.stem for p in (res / "figures" / "runs" / rid).glob("*.png")) == sorted(RUN_FIGURES)
    assert (res / "figures" / "runs" / good / "learning_graph_layer0.html").is_file()
    assert sorted(p.stem for p in (res / "figures" / "sweep").glob("*.png")) == sorted(SWEEP_FIGURES)
