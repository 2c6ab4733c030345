"""The workflow as a user drives it: snakemake on a tiny config, re-runs, bad input, own datasets,
the InPCA landmark path, lint. Runs that edit the workflow's code or write beside it use a copy of
the workflow (tests/smkutil.py copy_checkout), never the checkout."""

import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
import zarr
from smkutil import copy_checkout, jobs_in, rules, runs_of

from topolearn.analysis.tables import run_tables
from topolearn.figures import RUN_FIGURES, SWEEP_FIGURES
from topolearn.learning_graphs import read_graphs
from topolearn.sweep.config import load_config_file
from topolearn.store.snapshots import check_store

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def smk(workdir, *args, configfile=None, root=ROOT):
    """Snakemake of the workflow in `root` (the checkout or a copy), results in `workdir`. The
    config file goes last: --configfile takes several values and would swallow targets."""
    cmd = [SNAKEMAKE, "-s", str(root / "Snakefile"), "--directory", str(workdir),
           "--workflow-profile", str(root / "profiles" / "default"), "--cores", "2", *args]
    if configfile:
        cmd += ["--configfile", str(configfile)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


def dry_run_jobs(workdir, configfile, *args, root=ROOT) -> list[tuple[str, dict, list[str]]]:
    """(rule, wildcards, outputs) of every job a dry run would execute."""
    res = smk(workdir, "-n", *args, configfile=configfile, root=root)
    assert res.returncode == 0, res.stderr
    return jobs_in(res.stdout + "\n" + res.stderr)


def write_config(path, cfg):
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The tiny config run to completion once by a copy of the workflow (a test edits its code);
    (results' folder, config file, workflow copy). Tests below must not break it."""
    repo = copy_checkout(ROOT, tmp_path_factory.mktemp("repo") / "topolearn")
    wd = tmp_path_factory.mktemp("wf")
    cfgfile = write_config(wd / "tiny.yaml", yaml.safe_load(TINY.read_text()))
    res = smk(wd, configfile=cfgfile, root=repo)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]
    return wd, cfgfile, repo


@pytest.mark.slow
def test_tiny_workflow_end_to_end(finished):
    wd, cfgfile, _ = finished
    cfg = load_config_file(cfgfile)
    sweep = pd.read_csv(wd / "results" / "sweep.tsv", sep="\t")
    assert sorted(sweep.run_id) == sorted(cfg["points"])
    for rid, p in cfg["points"].items():
        assert check_store(wd / "results" / "runs" / rid / "snapshots.zarr", deep=True) is None
        graphs = read_graphs(wd / "results" / "mapper" / rid)  # graphs.json: every analysed layer
        assert list(graphs) == [f"layer{i}" for i in range(p["depth"] + 1)]
        assert all(d["n_snapshots"] == p["snapshots"] for d in graphs.values())
        tables = run_tables(wd / "results", rid)
        assert len(tables["branches"]) == p["depth"] + 1
        assert len(tables["curve"]) == (p["depth"] + 1) * p["snapshots"]
    summary = pd.read_csv(wd / "results" / "summary.tsv", sep="\t")
    assert len(summary) == len(cfg["points"])
    assert (wd / "results" / "logs").is_dir()


@pytest.mark.slow
def test_nothing_to_do_after_a_finished_run(finished):
    wd, cfgfile, repo = finished
    assert dry_run_jobs(wd, cfgfile, root=repo) == []


@pytest.mark.slow
def test_changing_one_point_retrains_only_that_point(finished, tmp_path):
    wd, cfgfile, repo = finished
    cfg = yaml.safe_load(cfgfile.read_text())
    old = load_config_file(cfgfile)["points"]
    cfg["sweep"]["grid"]["init"] = ["zero", "kaiming"]  # "normal" -> "kaiming": one point changes
    new_cfg = write_config(tmp_path / "changed.yaml", cfg)
    new = load_config_file(new_cfg)["points"]
    (added,) = set(new) - set(old)
    jobs = dry_run_jobs(wd, new_cfg, root=repo)
    assert runs_of(jobs, "train") == [added]
    assert runs_of(jobs, "analyze") == [added]
    assert rules(jobs) <= {"sweep_table", "train_pack", "analyze_batch", "plot_runs", "summary", "inpca", "inpca_factors",
                           "plot_sweep", "explorer", "all"}


@pytest.mark.slow
def test_adding_points_trains_only_them_in_one_pack(finished, tmp_path):
    wd, cfgfile, repo = finished
    cfg = yaml.safe_load(cfgfile.read_text())
    cfg["sweep"]["points"] = [{"init": "normal", "lr": 0.5, "seed": s} for s in (7, 8, 9)]
    new_cfg = write_config(tmp_path / "added.yaml", cfg)
    added = set(load_config_file(new_cfg)["points"]) - set(load_config_file(cfgfile)["points"])
    jobs = dry_run_jobs(wd, new_cfg, root=repo)
    packs = [j for j in jobs if j[0].startswith("train_pack_")]
    assert len(packs) == 1 and runs_of(packs, "train") == sorted(added)
    assert runs_of(jobs, "train") == sorted(added)
    assert runs_of(jobs, "analyze") == sorted(added)


@pytest.mark.slow
def test_forcerun_of_one_store_retrains_that_run_alone(finished):
    wd, cfgfile, repo = finished
    rid = sorted(load_config_file(cfgfile)["points"])[0]
    jobs = dry_run_jobs(wd, cfgfile, "--forcerun", f"results/runs/{rid}/snapshots.zarr", root=repo)
    assert [(r, w) for r, w, _ in jobs if r == "train"] == [("train", {"run_id": rid})]
    assert runs_of(jobs, "train") == [rid] and runs_of(jobs, "analyze") == [rid]
    assert rules(jobs) == {"train", "analyze_run", "plot_run", "summary", "inpca", "inpca_factors", "plot_sweep",
                           "explorer", "all"}


@pytest.mark.slow
def test_code_or_unrelated_config_edits_do_not_retrain(finished, tmp_path):
    wd, cfgfile, repo = finished
    (repo / "workflow" / "scripts" / "train_pack.py").touch()  # a refactor of the training code
    cfg = yaml.safe_load(cfgfile.read_text())
    cfg["figures"]["dpi"] = 61  # only the figures depend on it
    jobs = dry_run_jobs(wd, write_config(tmp_path / "dpi.yaml", cfg), root=repo)
    assert runs_of(jobs, "train") == [] and runs_of(jobs, "analyze") == [], jobs
    assert rules(jobs) >= {"plot_runs", "plot_sweep"}


def test_figure_jobs_follow_the_packs(tmp_path):
    """A pack's chosen runs are drawn in their own figure job, which waits only for that pack: no
    figure job holds runs of two packs, and every chosen run is drawn once."""
    cfg = yaml.safe_load(TINY.read_text())
    cfg["sweep"]["grid"]["seed"] = [1, 2, 3]  # 6 runs
    cfg["pack_size"] = 2  # 3 packs
    cfg["figures"]["runs"] = 4
    jobs = dry_run_jobs(tmp_path, write_config(tmp_path / "packs.yaml", cfg))
    packs = [set(runs_of([j], "train")) for j in jobs if j[0].startswith("train_pack_")]
    figures = [runs_of([j], "plot") for j in jobs if j[0].startswith("plot_runs_")]
    assert len(packs) == 3 and sorted(r for f in figures for r in f) == sorted(set(runs_of(jobs, "plot")))
    assert len(runs_of(jobs, "plot")) == 4 and len(figures) >= 2
    assert all(any(set(f) <= p for p in packs) for f in figures), (figures, packs)


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
    repo = copy_checkout(ROOT, tmp_path / "topolearn")  # lint writes .snakemake/ where it runs
    res = subprocess.run([SNAKEMAKE, "--lint", "--cores", "1"], cwd=repo, capture_output=True, text=True,
                         timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "Congratulations, your workflow is in a good condition!" in out, out


@pytest.mark.slow
def test_report_from_real_runs(finished):
    """Self-contained: every figure of every run and of the sweep is in the page as its own PNG's
    bytes (a data URI), each run under its own title."""
    wd, cfgfile, repo = finished
    res = smk(wd, "--report", "report.html", configfile=cfgfile, root=repo)
    assert res.returncode == 0, res.stderr[-4000:]
    html = (wd / "report.html").read_text(errors="replace")
    figures = wd / "results" / "figures"
    pngs = sorted(figures.glob("runs/*/*.png")) + sorted(figures.glob("sweep/*.png"))
    points = load_config_file(cfgfile)["points"]
    assert len(pngs) == len(points) * (len(RUN_FIGURES) + 2) + len(SWEEP_FIGURES)  # + 2 layers' learning graphs
    for png in pngs:
        assert base64.b64encode(png.read_bytes()).decode() in html, png.relative_to(wd)
    assert html.count("data:image/png") == len(pngs)
    for rid, p in points.items():
        assert f"{rid} (init={p['init']}" in html  # the run's subcategory names what sets it apart


@pytest.mark.slow
def test_a_small_inpca_threshold_switches_to_the_landmark_embedding(finished, tmp_path):
    """inpca.exact_max below the sweep's checkpoints (2 runs x 12 snapshots + 2 anchors): the
    embedding job takes the landmark path by itself, and every checkpoint still gets coordinates."""
    wd, cfgfile, repo = finished
    stress = pd.read_csv(wd / "results" / "inpca" / "stress.tsv", sep="\t")
    assert set(stress["method"]) == {"exact"}  # the default threshold: exact
    wd = Path(shutil.copytree(wd, tmp_path / "wd", symlinks=True))
    cfg = yaml.safe_load(cfgfile.read_text())
    cfg["inpca"] = {"exact_max": 10, "landmarks": 8}
    res = smk(wd, "results/inpca/coords.tsv", configfile=write_config(tmp_path / "landmark.yaml", cfg), root=repo)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    stress = pd.read_csv(wd / "results" / "inpca" / "stress.tsv", sep="\t")
    assert set(stress["method"]) == {"landmark"} and (stress["n_landmarks"] < 26).all()
    coords = pd.read_csv(wd / "results" / "inpca" / "coords.tsv", sep="\t", keep_default_na=False,
                         na_values=["NA"], dtype={"run_id": str})
    points = load_config_file(cfgfile)["points"]
    checkpoints = coords[coords["kind"] == "checkpoint"]
    assert checkpoints.groupby("run_id").size().to_dict() == {r: p["snapshots"] for r, p in points.items()}
    assert np.isfinite(checkpoints[["inpca1", "inpca2", "inpca3"]].to_numpy()).all()
    assert 0 < checkpoints["landmark"].sum() < len(checkpoints)  # some checkpoints are landmarks, not all


def _quadrant_npz(path: Path, seed: int = 0) -> Path:
    """A learnable 4-class npz dataset: uint8 6x6 images, the class is the brightest quadrant."""
    rng = np.random.default_rng(seed)

    def images(n):
        y = rng.integers(0, 4, n)
        X = rng.integers(0, 60, (n, 6, 6)).astype(np.uint8)
        for c in range(4):
            r, k = divmod(c, 2)
            X[y == c, 3 * r:3 * r + 3, 3 * k:3 * k + 3] += 180
        return X, y.astype(np.int64)

    (X, y), (Xt, yt) = images(300), images(60)
    np.savez(path, x_train=X, y_train=y, x_test=Xt, y_test=yt)
    return path


@pytest.mark.slow
def test_a_declared_dataset_is_an_input_of_its_training_job(tmp_path):
    """An own dataset (config `datasets:`) reaches the job that trains on it as a rule input: it is
    trained on, and new content retrains the runs made from it (and only those): the dry run names
    them, a real run sets their old stores aside and trains them again."""
    npz = _quadrant_npz(tmp_path / "quadrants.npz")
    cfg = {"datasets": {"quadrants": {"format": "npz", "path": str(npz)}},
           "sweep": {"base": {"dataset": "quadrants", "depth": 1, "width": 4, "epochs": 2, "batch_size": 50,
                              "snapshots": 3, "probe_size": 20, "init": "xavier", "lr": 1.0},
                     "points": [{"dataset": "digits", "probe_size": 20, "batch_size": 200}]}}
    cfgfile = write_config(tmp_path / "own.yaml", cfg)
    points = load_config_file(cfgfile)["points"]
    (own,) = [r for r, p in points.items() if p["dataset"] == "quadrants"]
    stores = [f"results/runs/{r}/snapshots.zarr" for r in sorted(points)]
    res = smk(tmp_path, "-n", *stores, configfile=cfgfile)
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = jobs_in(res.stdout + "\n" + res.stderr)
    assert runs_of(jobs, "train") == sorted(points)
    assert f"input: {npz}" in res.stdout + res.stderr
    res = smk(tmp_path, *stores, configfile=cfgfile)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    store = tmp_path / "results" / "runs" / own / "snapshots.zarr"
    assert check_store(store, deep=True) is None
    attrs = zarr.open_group(str(store), mode="r").attrs
    assert attrs["params"]["dataset"] == "quadrants" and attrs["final_eval"]["test_acc"] > 0.25  # 4 classes
    before = npz.stat().st_mtime
    _quadrant_npz(npz, seed=1)  # new content, judged by content: even with the old mtime (cp -p)
    os.utime(npz, (before, before))
    res = smk(tmp_path, "-n", *stores, configfile=cfgfile)
    assert res.returncode == 0 and f"data changed for 1 run: {own};" in res.stdout + res.stderr, res.stderr[-3000:]
    res = smk(tmp_path, *stores, configfile=cfgfile)
    assert res.returncode == 0, res.stderr[-3000:]
    assert runs_of(jobs_in(res.stdout + "\n" + res.stderr), "train") == [own], "not the digits run"
