"""The aggregation and figure rules inside Snakemake, and the self-contained HTML report.

Upstream results (stores, learning graphs, branch tables) are synthetic (tests/fake_results.py),
written for the tiny config's own run ids, so Snakemake only has the local aggregation and plotting
jobs to run. One run is diverged, to show the report copes. The real end-to-end run of the tiny
config (training included) is tests/test_workflow.py.
"""

import json
import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest
import yaml
from browser import CHROMIUM, NO_CHROMIUM, console, render
from fake_results import write_run
from PIL import Image
from smkutil import jobs_in, rules, runs_of

from topolearn.sweep.config import load_config_file
from topolearn.figures import RUN_FIGURES, SWEEP_FIGURES
from topolearn.utils.offline import remote_references
from topolearn.sweep.table import write_sweep_table

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
OWN_RULES = {"analyze_batch", "plot_runs", "summary", "inpca", "inpca_factors", "plot_sweep", "explorer", "all"}


def smk(workdir, configfile, *args):
    cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--directory", str(workdir), "--workflow-profile",
           str(ROOT / "profiles" / "default"), "--cores", "2", "--configfile", str(configfile), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def planned(workdir, configfile) -> list[tuple[str, dict, list[str]]]:
    """(rule, wildcards, outputs) of every job a dry run plans."""
    res = smk(workdir, configfile, "-n")
    assert res.returncode == 0, res.stderr[-3000:]
    return jobs_in(res.stdout + "\n" + res.stderr)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    wd = tmp_path_factory.mktemp("report")
    cfgfile = wd / "tiny.yaml"
    cfgfile.write_text(TINY.read_text())
    points = load_config_file(cfgfile)["points"]
    for i, (rid, p) in enumerate(sorted(points.items())):
        write_run(wd / "results", p, seed=i, diverge_at=5 if i == 1 else None)
    write_sweep_table(points, wd / "results" / "sweep.tsv")
    assert rules(planned(wd, cfgfile)) == OWN_RULES, "only analysis, aggregation and plotting are left"
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
    explorer = (out / "explorer.html").read_text()  # links each run's learning-graph pages, relative
    assert f'"href":"figures/runs/{run_ids[0]}/learning_graph_layer0.html"' in explorer  # run 1 diverged
    (log,) = (out / "logs" / "figures").glob("runs_*.log")  # the runs' figures: one batch
    assert all(f"{rid}: " in log.read_text() for rid in run_ids)
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
    assert '"results/explorer.html": {' in html  # the sweep explorer, under Sweep
    run_pngs = sum(len(list((wd / "results" / "figures" / "runs" / rid).glob("*.png"))) for rid in run_ids)
    assert run_pngs == len(run_ids) * (len(RUN_FIGURES) + 2)  # + the learning graphs of the 2 layers
    assert html.count("data:image/png") == run_pngs + len(SWEEP_FIGURES)
    for rst in (ROOT / "workflow" / "report").glob("*.rst"):  # captions and the report's front page
        if rst.name.startswith(("layers_", "circle_")):
            continue  # layer figures: 2-D data only (tests/test_layers.py); circle figures: CNN sweeps only
        # run_figures.rst holds one caption per figure name (Jinja branches): each must be rendered
        text = re.sub(r"\{#.*?#\}", "", rst.read_text(), flags=re.S)
        text = re.sub(r'\{% elif snakemake.wildcards.name == "layers_final" %\}.*?(?=\{%)', "", text, flags=re.S)
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
    assert runs_of(jobs, "analyze") == runs_of(jobs, "plot") == sorted(new) and len(new) == 2
    assert rules(jobs) >= {"summary", "inpca", "plot_sweep"}
    assert runs_of(jobs, "train") == sorted(new), "existing runs are left alone"


@pytest.mark.slow
def test_time_axis_progress_redraws_run_figures_against_inpca_progress(finished, tmp_path):
    """figures.time_axis: progress makes the per-run figure jobs read inpca/coords.tsv; with epochs
    they never wait for InPCA (which reruns on every sweep change)."""
    wd, cfgfile, run_ids = finished
    wd = Path(shutil.copytree(wd, tmp_path / "wd"))  # the module's results stay as they are
    assert _replotted_after_new_embedding(wd, cfgfile) == [], "epoch figures do not depend on InPCA"
    cfg = yaml.safe_load(cfgfile.read_text())
    cfg["figures"]["time_axis"] = "progress"
    progress = tmp_path / "progress.yaml"
    progress.write_text(yaml.safe_dump(cfg))
    assert runs_of(planned(wd, progress), "plot") == run_ids, "switching the axis redraws every run's figures"
    res = smk(wd, progress)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    svgs = {rid: {name: (wd / "results" / "figures" / "runs" / rid / f"{name}.svg").read_text()
                  for name in ("learning_curves", "weight_norms", "mapper_graphs")} for rid in run_ids}
    drawn = {rid: sum("progress (ignorance -&gt; truth)" in s or "mean progress of node members" in s
                      for s in v.values()) for rid, v in svgs.items()}
    assert sorted(drawn.values()) == [0, 3], "one run on progress in all three figures; the diverged one not"
    diverged = min(drawn, key=drawn.get)
    assert all("no progress: run diverged" in s for s in svgs[diverged].values())
    assert planned(wd, progress) == []
    assert _replotted_after_new_embedding(wd, progress) == run_ids, "a new embedding redraws them"


def _replotted_after_new_embedding(wd, configfile) -> list[str]:
    """Runs whose figures a dry run plans when InPCA is redone (as on any change of the sweep)."""
    res = smk(wd, configfile, "-n", "--forcerun", "inpca")
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = jobs_in(res.stdout + "\n" + res.stderr)
    assert "inpca" in rules(jobs)
    return runs_of(jobs, "plot")


# A user's clicks, appended to a copy of the report: open the Sweep category from the menu, press the
# view button of one figure, and write down what the page then shows (the DOM dump carries it out).
CLICKS = """<script>
window.addEventListener("load", async () => {
  const wait = () => new Promise(done => setTimeout(done, 300));
  const link = (text) => [...document.querySelectorAll("#app nav a")].find(a => a.textContent.trim() === text);
  const seen = {};
  try {
    await wait();
    link("Sweep").click();
    await wait();
    const row = [...document.querySelectorAll("#app tr")].find(r => r.cells[0]?.textContent.trim() === "%s");
    row.querySelector('a[iconname="eye"]').click();
    await wait();
    const img = document.querySelector('#app img[src^="data:image/png"]');
    // poll rather than await img.decode(): on a busy machine the DOM could be dumped while a
    // pending decode() still held the handler, leaving no data-seen at all
    for (let i = 0; i < 60 && !(img.complete && img.naturalWidth); i++) await wait();
    seen.width = img.naturalWidth;
    seen.height = img.naturalHeight;
  } catch (err) { seen.error = String(err); }
  document.body.setAttribute("data-seen", JSON.stringify(seen));
});
</script>"""


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_report_renders_in_headless_chromium_offline(finished, tmp_path):
    wd, cfgfile, run_ids = finished
    report = tmp_path / "report.html"
    res = smk(wd, cfgfile, "--report", str(report))
    assert res.returncode == 0, res.stderr[-3000:]
    html = report.read_text()
    assert remote_references(html) == [], "the report loads nothing from the network"
    front = _menu(_shown(report, tmp_path / "front"))
    for entry in ("Workflow", "Statistics", "About", "Results", "Runs", "Sweep"):  # the menu as drawn
        assert f"|{entry}|" in front, (entry, front[:2000])
    assert "trains a sweep of small fully connected networks" in front  # the front page (workflow.rst)
    page = tmp_path / "clicked.html"
    head, tail = html.rsplit("</body>", 1)
    page.write_text(head + CLICKS % "inpca progress" + "</body>" + tail)
    dom = _shown(page, tmp_path / "clicked")
    for entry in ("Sweep", "inpca progress", "summary: one row per run"):  # the Sweep category, opened
        assert f"|{entry}|" in _menu(dom), entry
    seen = json.loads(unescape(re.search(r'data-seen="([^"]*)"', dom).group(1)))
    png = wd / "results" / "figures" / "sweep" / "inpca_progress.png"
    assert seen == dict(zip(("width", "height"), Image.open(png).size)), "the figure is shown, decoded"


def _shown(page: Path, tmp_path: Path) -> str:
    """The page's DOM in headless Chromium, offline, after checking its console for failed scripts.
    A long virtual-time budget: the clicks wait on timers, and a busy machine must not cut them off
    (virtual time passes at once while the page is idle)."""
    tmp_path.mkdir()
    shown = render(page, tmp_path, budget_ms=30000)
    assert shown.returncode == 0, shown.stderr[-2000:]
    log = console(shown.stderr)
    assert not [m for m in log if re.search(r"Uncaught|is not defined|ERR_|Failed to load", m)], log
    assert "System Message" not in shown.stdout, "a caption's reStructuredText failed to render"
    return shown.stdout


def _menu(dom: str) -> str:
    """The text of the report's app as drawn (before its scripts), tags as |."""
    app = dom[dom.index('<div id="app">'):]
    return unescape(re.sub(r"(\s*<[^>]+>\s*)+", "|", app[:app.index("<script")]))
