"""The analysis tables per batch: one table set per analysis job (tables/{gid}), a run analysed again
alone keeps its own set in its mapper folder, and the stamp decides which rows are the run's:
stale rows left in a batch folder are never returned (reader, summary, open_sweep); a batch folder
deleted makes its runs pending at the next parse."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from fake_results import make_point, write_run
from smkutil import jobs_in, runs_of

from topolearn.analysis.batch import analyze_runs, run_jobs
from topolearn.analysis.tables import by_run, run_tables, sweep_table, sweep_tables
from topolearn.results.summary import build_summary
from topolearn.results.sweepdata import open_sweep
from topolearn.sweep import packing
from topolearn.sweep.config import load_config_file, validate_config
from topolearn.sweep.table import write_sweep_table

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = packing.analysis_settings(validate_config({}))
FP = packing.fingerprint(SETTINGS)
STALE = 999  # a node count no analysis of these runs gives: marks rows that must never be read


def _mark_stale(table: Path, rid: str) -> None:
    """Rewrite `rid`'s rows of a batch's branch table with STALE node counts."""
    df = pd.read_csv(table, sep="\t", dtype=str, keep_default_na=False)
    df.loc[df["run_id"] == rid, "nodes"] = str(STALE)
    df.to_csv(table, sep="\t", index=False)


@pytest.fixture
def batch(tmp_path):
    """Three fake runs analysed as one batch the way the workflow's batch job does it."""
    res = tmp_path / "results"
    points = [make_point(seed=s) for s in (1, 2, 3)]
    rids = [write_run(res, p, seed=i) for i, p in enumerate(points)]
    for rid in rids:  # the analysis writes every table itself
        shutil.rmtree(res / "mapper" / rid)
    write_sweep_table(dict(zip(rids, points)), res / "sweep.tsv")
    stores = [str(res / "runs" / r / "snapshots.zarr") for r in rids]
    tables = packing.tables_dir(str(res), rids)
    jobs, folder = run_jobs(stores, [str(res / "mapper" / r) for r in rids] + [tables])
    analyze_runs(jobs, SETTINGS, tables=folder)
    return res, rids, Path(tables)


def test_a_batch_in_two_processes_writes_what_one_process_writes(batch, tmp_path):
    """`analysis_threads` > 1 analyses a batch's runs in a process pool: the same graphs and tables."""
    res, rids, tables = batch
    two = tmp_path / "two"
    shutil.copytree(res, two)
    for rid in rids:
        shutil.rmtree(two / "mapper" / rid)
    shutil.rmtree(two / tables.relative_to(res))
    stores = [str(two / "runs" / r / "snapshots.zarr") for r in rids]
    jobs, folder = run_jobs(stores, [str(two / "mapper" / r) for r in rids] + [str(two / tables.relative_to(res))])
    analyze_runs(jobs, SETTINGS, threads=2, tables=folder)
    for rid in rids:
        assert (two / "mapper" / rid / "graphs.json").read_bytes() == (res / "mapper" / rid / "graphs.json").read_bytes()
    one, par = sweep_tables(res, rids), sweep_tables(two, rids)
    for kind in one:
        pd.testing.assert_frame_equal(par[kind], one[kind], check_dtype=False)


def test_a_batch_writes_one_table_set(batch):
    res, rids, tables = batch
    assert sorted(p.name for p in tables.iterdir()) == sorted(packing.TABLE_FILES.values())
    for rid in rids:  # the per-run copies are gone; the stamp names the batch's folder
        files = sorted(p.name for p in (res / "mapper" / rid).iterdir())
        assert files == ["analysis.json", "graphs.json"]
        assert json.loads((res / "mapper" / rid / packing.STAMP).read_text())["tables"] == \
            f"tables/{packing.group_id(rids)}"
        assert packing.run_analysis_done(str(res), rid, FP)
    merged = sweep_tables(res, rids)
    assert list(dict.fromkeys(merged["branches"]["run_id"])) == rids  # the caller's order
    for kind, df in merged.items():
        assert df.columns[0] == "run_id", kind
        for rid, rows in by_run(df).items():
            pd.testing.assert_frame_equal(rows, run_tables(res, rid)[kind], check_dtype=False)
    assert len(merged["branches"]) == 2 * len(rids) and len(merged["curve"]) == 2 * 9 * len(rids)


def test_a_deleted_batch_folder_makes_its_runs_pending(batch):
    res, rids, tables = batch
    shutil.rmtree(tables)
    assert not any(packing.run_analysis_done(str(res), r, FP) for r in rids)
    with pytest.warns(UserWarning, match="analyses them again"):
        assert sweep_table(res, rids, "branches").empty


def test_a_run_analysed_again_alone_hides_its_stale_batch_rows(batch):
    res, rids, tables = batch
    rid = rids[1]
    _mark_stale(tables / "branches.tsv", rid)
    assert (sweep_table(res, rids, "branches")["nodes"] == STALE).sum() == 2  # the batch's rows, still read
    (job,), folder = run_jobs([str(res / "runs" / rid / "snapshots.zarr")], [str(res / "mapper" / rid)])
    assert folder is None
    analyze_runs([job], SETTINGS)  # as `analyze_run` does after --forcerun of its store
    assert json.loads((res / "mapper" / rid / packing.STAMP).read_text())["tables"] == f"mapper/{rid}"
    assert (pd.read_csv(tables / "branches.tsv", sep="\t")["nodes"] == STALE).sum() == 2  # left in place...
    merged = sweep_table(res, rids, "branches")  # ...never read
    assert STALE not in set(merged["nodes"]) and (merged["run_id"] == rid).sum() == 2
    assert list(dict.fromkeys(merged["run_id"])) == rids
    assert STALE not in set(run_tables(res, rid)["branches"]["nodes"])
    stores = [res / "runs" / r / "snapshots.zarr" for r in rids]
    summary = build_summary(res / "sweep.tsv", stores).set_index("run_id")
    assert summary.loc[rid, "layer0_nodes"] == run_tables(res, rid)["branches"].set_index("layer").loc["layer0", "nodes"]
    assert STALE not in set(summary["layer0_nodes"]) | set(summary["layer1_nodes"])
    sweep = open_sweep(res)
    assert STALE not in set(sweep.branches["nodes"]) and (sweep.branches["run_id"] == rid).sum() == 2
    assert set(sweep.curves["run_id"]) == set(rids) and set(sweep.run_tables(rid)) == set(packing.TABLE_FILES)


def _smk(wd: Path, *args) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).parent / "snakemake"), "-s", str(ROOT / "Snakefile"), "--directory", str(wd),
           "--workflow-profile", str(ROOT / "profiles" / "default"), "--cores", "2", *args,
           "--configfile", str(wd / "tiny.yaml")]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_a_forced_retrain_is_analysed_alone_and_its_new_rows_are_read(tmp_path):
    """Two tiny runs analysed in one batch; one store forced to retrain: that run alone is analysed
    again, into its own folder, and the summary and open_sweep read its new rows, not the batch's."""
    cfg = yaml.safe_load((ROOT / "tests" / "configs" / "tiny.yaml").read_text())
    cfg["sweep"]["base"].update(epochs=2, snapshots=6)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    res = tmp_path / "results"
    rids = sorted(load_config_file(tmp_path / "tiny.yaml")["points"])
    targets = ["results/sweep.tsv"] + [f"results/mapper/{r}" for r in rids]  # the summary is built below
    done = _smk(tmp_path, *targets)
    assert done.returncode == 0, done.stderr[-6000:]
    (tables,) = (res / "tables").iterdir()  # one batch, one table set; no per-run table files
    assert tables.name == packing.group_id(rids) and not (res / "branches").exists()
    forced, other = rids
    _mark_stale(tables / "branches.tsv", forced)
    again = _smk(tmp_path, *targets, "--forcerun", f"results/runs/{forced}/snapshots.zarr")  # it takes many values
    assert again.returncode == 0, again.stderr[-6000:]
    jobs = jobs_in(again.stdout + "\n" + again.stderr)
    assert runs_of(jobs, "analyze") == [forced] and {r for r, _, _ in jobs} == {"train", "analyze_run"}
    assert json.loads((res / "mapper" / forced / packing.STAMP).read_text())["tables"] == f"mapper/{forced}"
    assert (pd.read_csv(tables / "branches.tsv", sep="\t")["nodes"] == STALE).sum() == 2  # stale rows stay
    stores = [res / "runs" / r / "snapshots.zarr" for r in rids]
    summary = build_summary(res / "sweep.tsv", stores).set_index("run_id")
    assert STALE not in set(summary["layer0_nodes"]) and summary.loc[forced, "layer0_nodes"] == \
        run_tables(res, forced)["branches"].set_index("layer").loc["layer0", "nodes"]
    assert STALE not in set(open_sweep(res).branches["nodes"])
    shutil.rmtree(tables)  # the batch's folder gone: its other run is pending at the next parse, not `forced`
    dry = _smk(tmp_path, "-n", "results/summary.tsv")  # the summary waits for pending batches' tables
    assert dry.returncode == 0, dry.stderr[-4000:]
    jobs = jobs_in(dry.stdout + "\n" + dry.stderr)
    assert runs_of(jobs, "analyze") == [other]
    assert f"analyze_batch_{packing.group_id([other])}" in {r for r, _, _ in jobs}
