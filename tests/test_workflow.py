"""The workflow as a user drives it: snakemake on a tiny config, re-runs, bad input, lint."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from smkutil import jobs_in, rules, runs_of

from topolearn.sweep.config import load_config_file
from topolearn.store.snapshots import check_store

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def smk(workdir, *args, configfile=None):
    cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--workflow-profile", str(ROOT / "profiles" / "default"), "--cores", "2"]
    if configfile:
        cmd += ["--configfile", str(configfile)]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=900)


def dry_run_jobs(workdir, configfile, *args) -> list[tuple[str, dict, list[str]]]:
    """(rule, wildcards, outputs) of every job a dry run would execute."""
    res = smk(workdir, "-n", *args, configfile=configfile)
    assert res.returncode == 0, res.stderr
    return jobs_in(res.stdout + "\n" + res.stderr)


def write_config(path, cfg):
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The tiny config run to completion once; tests below must not break it."""
    wd = tmp_path_factory.mktemp("wf")
    cfgfile = write_config(wd / "tiny.yaml", yaml.safe_load(TINY.read_text()))
    res = smk(wd, configfile=cfgfile)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]
    return wd, cfgfile


@pytest.mark.slow
def test_tiny_workflow_end_to_end(finished):
    wd, cfgfile = finished
    cfg = load_config_file(cfgfile)
    sweep = pd.read_csv(wd / "results" / "sweep.tsv", sep="\t")
    assert sorted(sweep.run_id) == sorted(cfg["points"])
    for rid, p in cfg["points"].items():
        assert check_store(wd / "results" / "runs" / rid / "snapshots.zarr", deep=True) is None
        for i in range(p["depth"] + 1):
            assert (wd / "results" / "mapper" / rid / f"layer{i}.json").stat().st_size > 0
        branches = pd.read_csv(wd / "results" / "branches" / f"{rid}.tsv", sep="\t")
        assert len(branches) == p["depth"] + 1
        assert (wd / "results" / "branching" / f"{rid}.tsv").stat().st_size > 0
    summary = pd.read_csv(wd / "results" / "summary.tsv", sep="\t")
    assert len(summary) == len(cfg["points"])
    assert (wd / "results" / "logs").is_dir()


@pytest.mark.slow
def test_nothing_to_do_after_a_finished_run(finished):
    wd, cfgfile = finished
    assert dry_run_jobs(wd, cfgfile) == []


@pytest.mark.slow
def test_changing_one_point_retrains_only_that_point(finished, tmp_path):
    wd, cfgfile = finished
    cfg = yaml.safe_load(cfgfile.read_text())
    old = load_config_file(cfgfile)["points"]
    cfg["sweep"]["grid"]["init"] = ["zero", "kaiming"]  # "normal" -> "kaiming": one point changes
    new_cfg = write_config(tmp_path / "changed.yaml", cfg)
    new = load_config_file(new_cfg)["points"]
    (added,) = set(new) - set(old)
    jobs = dry_run_jobs(wd, new_cfg)
    assert runs_of(jobs, "train") == [added]
    assert runs_of(jobs, "analyze") == [added]
    assert rules(jobs) <= {"sweep_table", "train_pack", "analyze_batch", "plot_runs", "summary", "inpca", "plot_sweep",
                           "all"}


@pytest.mark.slow
def test_adding_points_trains_only_them_in_one_pack(finished, tmp_path):
    wd, cfgfile = finished
    cfg = yaml.safe_load(cfgfile.read_text())
    cfg["sweep"]["points"] = [{"init": "normal", "lr": 0.5, "seed": s} for s in (7, 8, 9)]
    new_cfg = write_config(tmp_path / "added.yaml", cfg)
    added = set(load_config_file(new_cfg)["points"]) - set(load_config_file(cfgfile)["points"])
    jobs = dry_run_jobs(wd, new_cfg)
    packs = [j for j in jobs if j[0].startswith("train_pack_")]
    assert len(packs) == 1 and runs_of(packs, "train") == sorted(added)
    assert runs_of(jobs, "train") == sorted(added)
    assert runs_of(jobs, "analyze") == sorted(added)


@pytest.mark.slow
def test_forcerun_of_one_store_retrains_that_run_alone(finished):
    wd, cfgfile = finished
    rid = sorted(load_config_file(cfgfile)["points"])[0]
    jobs = dry_run_jobs(wd, cfgfile, "--forcerun", f"results/runs/{rid}/snapshots.zarr")
    assert [(r, w) for r, w, _ in jobs if r == "train"] == [("train", {"run_id": rid})]
    assert runs_of(jobs, "train") == [rid] and runs_of(jobs, "analyze") == [rid]
    assert rules(jobs) == {"train", "analyze_run", "plot_run", "summary", "inpca", "plot_sweep", "all"}


@pytest.mark.slow
def test_code_or_unrelated_config_edits_do_not_retrain(finished, tmp_path):
    wd, cfgfile = finished
    (ROOT / "workflow" / "scripts" / "train_pack.py").touch()  # a refactor of the training code
    cfg = yaml.safe_load(cfgfile.read_text())
    cfg["figures"]["dpi"] = 61  # only the figures depend on it
    jobs = dry_run_jobs(wd, write_config(tmp_path / "dpi.yaml", cfg))
    assert runs_of(jobs, "train") == [] and runs_of(jobs, "analyze") == [], jobs
    assert rules(jobs) >= {"plot_runs", "plot_sweep"}


def test_invalid_config_fails_before_any_job(tmp_path):
    cfg = yaml.safe_load(TINY.read_text())
    cfg["sweep"]["grid"]["lr"] = [0.5, -1]
    res = smk(tmp_path, configfile=write_config(tmp_path / "bad.yaml", cfg))
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "invalid config: sweep.grid.lr[1]: -1.0 is invalid; must be > 0" in out
    assert "Traceback" not in out
    assert not (tmp_path / "results").exists()


def test_configfile_replaces_the_default_config(tmp_path):
    jobs = dry_run_jobs(tmp_path, TINY)
    assert runs_of(jobs, "train") == sorted(load_config_file(TINY)["points"])
    assert len([j for j in jobs if j[0].startswith("train_pack_")]) == 1  # both runs: one pack


def test_lint_is_clean(tmp_path):
    res = subprocess.run([SNAKEMAKE, "--lint", "--cores", "1"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "Congratulations, your workflow is in a good condition!" in out, out


@pytest.mark.slow
def test_report_from_real_runs(finished):
    wd, cfgfile = finished
    res = smk(wd, "--report", "report.html", configfile=cfgfile)
    assert res.returncode == 0, res.stderr[-4000:]
    html = (wd / "report.html").read_text(errors="replace")
    assert len(html) > 100_000  # self-contained: figures are embedded
    for rid in load_config_file(cfgfile)["points"]:
        assert rid in html
