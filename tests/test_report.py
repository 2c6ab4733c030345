"""The aggregation and figure rules inside Snakemake, and the self-contained HTML report.

Upstream results (stores, learning graphs, branch tables) are synthetic (tests/fake_results.py),
written for the tiny config's own run ids, so Snakemake only has the local aggregation and plotting
jobs to run. One run is diverged, to show the report copes. The real end-to-end run of the tiny
config (training included) is tests/test_workflow.py.
"""

import re
from html import unescape
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fake_results import write_run

from topolearn.config import load_config_file
from topolearn.figures import RUN_FIGURES, SWEEP_FIGURES
from topolearn.sweep import write_sweep_table

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
OWN_RULES = {"analyze_run", "summary", "inpca", "plot_sweep", "all"}


def smk(workdir, configfile, *args):
    cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--directory", str(workdir), "--workflow-profile",
           str(ROOT / "profiles" / "default"), "--cores", "2", "--configfile", str(configfile), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def planned(workdir, configfile) -> list[tuple[str, str | None]]:
    """(rule, run_id wildcard or None) of every job a dry run plans."""
    res = smk(workdir, configfile, "-n")
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", res.stdout + "\n" + res.stderr):
        m = re.match(r"(?:local)?rule (\w+):", block)
        if m:
            wc = re.search(r"wildcards: .*?run_id=([0-9a-f]{12})", block)
            jobs.append((m.group(1), wc.group(1) if wc else None))
    return jobs


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    wd = tmp_path_factory.mktemp("report")
    cfgfile = wd / "tiny.yaml"
    cfgfile.write_text(TINY.read_text())
    points = load_config_file(cfgfile)["points"]
    for i, (rid, p) in enumerate(sorted(points.items())):
        write_run(wd / "results", p, seed=i, diverge_at=5 if i == 1 else None)
    write_sweep_table(points, wd / "results" / "sweep.tsv")
    assert {rule for rule, _ in planned(wd, cfgfile)} == OWN_RULES, "only aggregation and plotting are left"
    res = smk(wd, cfgfile)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    return wd, cfgfile, sorted(points)


@pytest.mark.slow
def test_rules_write_every_figure_and_table(finished):
    wd, cfgfile, run_ids = finished
    formats = yaml.safe_load(cfgfile.read_text())["figures"]["formats"]
    out = wd / "results"
    for rid in run_ids:
        for name in RUN_FIGURES:
            for fmt in formats:
                assert (out / "figures" / "runs" / rid / f"{name}.{fmt}").stat().st_size > 0
    for name in SWEEP_FIGURES:
        assert all((out / "figures" / "sweep" / f"{name}.{fmt}").stat().st_size > 0 for fmt in formats)
    for table in ("summary.tsv", "inpca/coords.tsv", "inpca/stress.tsv"):
        assert (out / table).stat().st_size > 0
    assert (out / "logs" / "analyze_run" / f"{run_ids[0]}.log").read_text().count(" s\n") == len(RUN_FIGURES)
    assert planned(wd, cfgfile) == [], "nothing left to do"


@pytest.mark.slow
def test_report_is_one_self_contained_html(finished):
    wd, cfgfile, run_ids = finished
    res = smk(wd, cfgfile, "--report", str(wd / "report.html"))
    assert res.returncode == 0, res.stderr[-3000:]
    html = unescape((wd / "report.html").read_text())  # captions are HTML: &#x27; for '
    # every figure (its PNG) and both tables, embedded as data URIs, each with its caption
    for rid in run_ids:
        for name in RUN_FIGURES:
            assert f'"results/figures/runs/{rid}/{name}.png": {{' in html
    for name in SWEEP_FIGURES:
        assert f'"results/figures/sweep/{name}.png": {{' in html
    assert '"results/summary.tsv": {' in html and '"results/inpca/stress.tsv": {' in html
    assert html.count("data:image/png") == len(run_ids) * len(RUN_FIGURES) + len(SWEEP_FIGURES)
    for rst in (ROOT / "workflow" / "report").glob("*.rst"):  # captions and the report's front page
        # run_figures.rst holds one caption per figure name (Jinja branches): each must be rendered
        text = re.sub(r"\{#.*?#\}", "", rst.read_text(), flags=re.S)
        for caption in filter(str.strip, re.split(r"\{%.*?%\}", text)):
            words = re.findall(r"\w+", caption)[1:5]
            assert re.search(r"(?:\W|<[^>]*>)+".join(words), html), (rst.name, words)  # markup may sit between words
    # runs are grouped: one subcategory per run, named by what sets it apart
    assert f"{run_ids[0]} (init=" in html and '"Runs"' in html and '"Sweep"' in html
    assert "init_std" not in re.findall(r'\b[0-9a-f]{12} \([^)]*\)', html)[0]


@pytest.mark.slow
def test_adding_a_point_rerenders_only_its_figures_and_the_sweep(finished, tmp_path):
    wd, cfgfile, run_ids = finished
    cfg = yaml.safe_load(cfgfile.read_text())
    cfg["sweep"]["grid"]["lr"] = cfg["sweep"]["grid"]["lr"] + [0.25]
    more = tmp_path / "more.yaml"
    more.write_text(yaml.safe_dump(cfg))
    new = set(load_config_file(more)["points"]) - set(run_ids)
    jobs = planned(wd, more)
    plotted = {rid for rule, rid in jobs if rule == "analyze_run"}
    assert plotted == new and len(new) == 2
    assert {rule for rule, rid in jobs if rid is None} >= {"summary", "inpca", "plot_sweep"}
    assert {rid for _, rid in jobs if rid} == new, "existing runs are left alone"
