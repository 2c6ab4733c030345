"""The sweep explorer (results/explorer.html): its data from a small real sweep's tables and stores,
the page's size for a 1,000-run sweep, and the page itself in headless Chromium with the network
blocked (renders, a column filter shrinks the table, a click on a run shows its curves, no console
errors)."""

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from fake_results import make_point, write_run

from browser import CHROMIUM, NO_CHROMIUM, console, render
from topolearn.analysis.tables import by_run, sweep_table
from topolearn.figures import explorer
from topolearn.inpca.sweep import make_inpca
from topolearn.results.summary import make_summary
from topolearn.sweep.points import run_id
from topolearn.sweep.table import write_sweep_table
from topolearn.utils.offline import remote_references


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A 4-run sweep over lr and init (one diverged run), its summary and InPCA tables, and the
    figures folder of one run (a figure in two formats and a learning-graph page)."""
    res = tmp_path_factory.mktemp("explorer") / "results"
    points = [make_point(lr=0.5), make_point(lr=0.1), make_point(lr=0.5, init="zero"), make_point(lr=1.0)]
    ids = [write_run(res, p, seed=i, diverge_at=5 if p["lr"] == 1.0 else None) for i, p in enumerate(points)]
    write_sweep_table({run_id(p): p for p in points}, res / "sweep.tsv")
    rids = sorted(ids)
    stores = [res / "runs" / r / "snapshots.zarr" for r in rids]
    make_inpca(stores, res / "inpca/coords.tsv", res / "inpca/stress.tsv")
    make_summary(res / "sweep.tsv", stores, res / "summary.tsv",
                 coords_tsv=res / "inpca/coords.tsv", stress_tsv=res / "inpca/stress.tsv")
    figs = res / "figures" / "runs" / ids[0]
    figs.mkdir(parents=True)
    for name in ("learning_curves.svg", "learning_curves.png", "learning_graph_layer0.html", "learning_graph_layer0.png"):
        (figs / name).write_text("x")
    curves = by_run(sweep_table(res, rids, "curve"))
    return res, ids, stores, curves


@pytest.fixture(scope="module")
def page(results):
    res, _, stores, curves = results
    return explorer.write_explorer(res / "summary.tsv", res / "inpca/coords.tsv", stores, curves,
                                   res / "explorer.html")


def page_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_the_data_holds_every_run_with_its_parameters_results_and_curves(results, page):
    res, ids, _, _ = results
    data = page_data(page.read_text())
    cols = [c["name"] for c in data["columns"]]
    assert data["params"] == ["init", "lr"]
    for col in ("final_test_acc", "diverged", "analysis_status", "output_branches", "hidden1_branches",
                "first_branch_epoch", "first_jump_epoch", "inpca_final_progress"):
        assert col in data["results"] and col in cols
    rows = {r[cols.index("run_id")]: dict(zip(cols, r)) for r in data["rows"]}
    assert sorted(rows) == sorted(ids)
    diverged = ids[3]
    assert rows[diverged]["diverged"] is True and rows[diverged]["analysis_status"] != "ok"
    assert rows[ids[0]]["output_branches"] == 10 and rows[ids[0]]["hidden1_branches"] == 2
    summary = pd.read_csv(res / "summary.tsv", sep="\t")
    acc = summary.set_index("run_id").loc[ids[0], "final_test_acc"]
    assert rows[ids[0]]["final_test_acc"] == pytest.approx(acc, rel=1e-3)
    run = data["runs"][ids[0]]
    assert len(run["curves"]["epoch"]) == 9 and run["curves"]["test_acc"][-1] == pytest.approx(acc, rel=1e-3)
    assert sorted(run["branching"]) == ["layer0", "layer1"]
    # InPCA: every finite run has a trajectory; the diverged one is left out with its bad checkpoints
    assert set(data["inpca"]["runs"]) >= set(ids[:3]) and {m["kind"] for m in data["inpca"]["landmarks"]} == {
        "ignorance", "truth"}


def test_links_are_relative_one_format_per_figure_and_pages_first(results, page):
    _, ids, _, _ = results
    links = page_data(page.read_text())["runs"][ids[0]]["links"]
    assert [(l["href"], l["page"]) for l in links] == [
        (f"figures/runs/{ids[0]}/learning_graph_layer0.html", True),
        (f"figures/runs/{ids[0]}/learning_curves.png", False),
        (f"figures/runs/{ids[0]}/learning_graph_layer0.png", False)]
    assert page_data(page.read_text())["runs"][ids[1]]["links"] == []


def test_the_page_is_self_contained(page):
    text = page.read_text()
    assert remote_references(text) == []
    assert "plotly.js v" in text and "<script src" not in text and "<link" not in text


def test_thin_keeps_the_ends_and_at_most_the_limit():
    assert list(explorer.thin(5, 10)) == [0, 1, 2, 3, 4]
    idx = explorer.thin(1000, 80)
    assert len(idx) <= 80 and idx[0] == 0 and idx[-1] == 999 and (np.diff(idx) > 0).all()


def test_a_10000_run_sweep_page_stays_below_25_mb(results, page):
    """Every run at the points the page keeps for 10,000 runs of 101 snapshots and 3 layers (the caps
    shrink with the sweep; a 1,000-run sweep keeps them whole)."""
    data = page_data(page.read_text())
    rng = np.random.default_rng(0)
    r = lambda n: explorer._nums(rng.random(n))  # noqa: E731 (random digits: no compression luck)
    sweep = lambda n: pd.DataFrame({"n_snapshots": [101] * n, "n_layers": 3, "n_conv_layers": 0})  # noqa: E731
    assert explorer.point_limits(sweep(1000)) == (explorer.MAX_CURVE_POINTS, explorer.MAX_TRAJECTORY_POINTS)
    c, t = explorer.point_limits(sweep(10_000))
    assert explorer.MIN_POINTS <= t < c < 101
    proto_row = data["rows"][0]
    rows, runs, traj = [], {}, {}
    for i in range(10_000):
        rid = f"{i:012x}"
        rows.append([rid, *proto_row[1:]])
        runs[rid] = {"curves": {k: r(c) for k in ("epoch", "train_acc", "test_acc", "train_loss", "test_loss")},
                     "branching": {f"layer{j}": {"epoch": r(c), "groups": r(c)} for j in range(3)},
                     "links": [{"label": "learning graph layer0", "href": f"figures/runs/{rid}/x.html", "page": True}]}
        traj[rid] = {"group": "g", **{k: r(t) for k in ("x", "y", "z", "epoch", "progress")}}
    big = {**data, "rows": rows, "runs": runs, "inpca": {**data["inpca"], "runs": traj}}
    size = len(explorer.render_page(big).encode())
    print(f"10,000-run page: {size / 1e6:.1f} MB ({c} curve points, {t} trajectory points per run)")
    assert size < 25e6


def test_trajectories_keep_the_run_order_and_thin_each_run():
    coords = pd.DataFrame({"group": "g", "run_id": ["b"] * 5 + ["a"] * 3, "kind": "checkpoint",
                           "snapshot": [4, 3, 2, 1, 0, 2, 0, 1], "epoch": [4, 3, 2, 1, 0, 2, 0, 1],
                           "progress": 0.5, "inpca1": [4, 3, 2, 1, 0, 2, 0, 1], "inpca2": 0.0})
    runs = explorer.trajectories(coords, points=3)["runs"]
    assert list(runs) == ["b", "a"] and runs["b"]["x"] == [0, 2, 4] and runs["a"]["x"] == [0, 1, 2]
    assert runs["a"]["z"] == [0.0] * 3  # no third dimension


# ---------------------------------------------------------------- in headless Chromium, offline


ACTIONS = """
<script>
// Test actions, after the page's own script: brush the lr axis, sort by lr, filter lr to 0.5, then
// click run RUN (one of the two left). The results go into a pre element, read from --dump-dom.
window.addEventListener("load", () => setTimeout(async () => {
  const rows = () => [...document.querySelectorAll("#runs tbody tr")].map((tr) => tr.dataset.run);
  const log = {rowsBefore: rows().length};
  const pc = document.getElementById("plot-parcoords");
  const lr = pc.data[0].dimensions.findIndex((d) => d.label === "lr");
  await Plotly.restyle(pc, {[`dimensions[${lr}].constraintrange`]: [[0.05, 0.2]]});  // as a brush does
  log.rowsBrushed = rows().length;
  await Plotly.restyle(pc, {[`dimensions[${lr}].constraintrange`]: null});
  log.rowsUnbrushed = rows().length;
  const th = [...document.querySelectorAll("#runs thead th")].find((t) => t.querySelector("span").textContent === "lr");
  th.click();
  const lrIndex = [...th.parentNode.children].indexOf(th);
  log.sortedLr = [...document.querySelectorAll("#runs tbody tr")].map((tr) => +tr.children[lrIndex].textContent);
  const box = document.querySelector('#runs thead input[data-col="lr"]');
  box.value = "=0.5";
  box.dispatchEvent(new Event("input"));
  log.rowsAfter = rows().length;
  log.clicked = "RUN";
  document.querySelector('#runs tbody tr[data-run="RUN"] td').click();
  setTimeout(() => {
    log.shown = document.getElementById("detail-section").dataset.run || null;
    log.title = document.getElementById("run-title").textContent;
    for (const id of ["plot-accuracy", "plot-loss", "plot-branching", "plot-traj2d"])
      log[id] = document.querySelectorAll("#" + id + " .scatterlayer .trace").length;
    log.links = [...document.querySelectorAll("#run-links a")].map((a) => a.getAttribute("href"));
    const pre = document.createElement("pre");
    pre.id = "test-log";
    pre.textContent = JSON.stringify(log);
    document.body.appendChild(pre);
  }, 500);
}, 500));
</script>
"""


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_the_page_filters_and_shows_a_run_in_headless_chromium_offline(results, page, tmp_path):
    res, ids, _, _ = results
    probe = page.with_name("explorer_probe.html")  # beside the page: its relative links resolve alike
    shutil.copy(page, probe)
    text = probe.read_text()
    probe.write_text(text[: text.rindex("</body>")] + ACTIONS.replace("RUN", ids[0]) + "</body></html>\n")
    out = render(probe, tmp_path, budget_ms=8000)
    assert out.returncode == 0, out.stderr[-2000:]
    m = re.search(r'<pre id="test-log">(.*?)</pre>', out.stdout, re.S)
    assert m, (out.stdout[-2000:], console(out.stderr))
    log = json.loads(m.group(1).replace("&quot;", '"'))
    assert log["rowsBefore"] == 4 and log["rowsAfter"] == 2, log  # two runs at lr=0.5
    assert log["rowsBrushed"] == 1 and log["rowsUnbrushed"] == 4, log  # brushing lr 0.05..0.2: the lr=0.1 run
    assert log["sortedLr"] == sorted(log["sortedLr"]), log
    assert log["shown"] == log["clicked"] and log["clicked"] in log["title"], log
    assert log["plot-accuracy"] == 2 and log["plot-loss"] == 2 and log["plot-branching"] == 2, log
    assert log["plot-traj2d"] >= 1, log
    assert log["links"][:2] == [f"figures/runs/{ids[0]}/learning_graph_layer0.html",
                                f"figures/runs/{ids[0]}/learning_curves.png"], log
    errors = [line for line in console(out.stderr) if "error" in line.lower()]
    assert not errors and "Uncaught" not in out.stderr, errors or out.stderr[-2000:]


def test_a_sweep_without_inpca_checkpoints_has_no_trajectories():
    empty = pd.DataFrame(columns=["group", "run_id", "kind", "snapshot", "epoch", "progress", "inpca1", "inpca2"])
    assert explorer.trajectories(empty) == {"groups": [], "runs": {}, "landmarks": []}


def test_branch_counts_by_role_across_depths():
    """The output count is the summary's output_branches whatever the depth; hidden k only where the
    net has it (layer0 is the output of a depth-1 net, a hidden layer of a depth-2 one)."""
    summary = pd.DataFrame({"run_id": ["a", "b"], "depth": [1, 2], "n_layers": [2, 3], "n_conv_layers": [0, 0],
                            "output_branches": [10, 7], "layer0_branches": [3, 2], "layer1_branches": [10, 4],
                            "layer2_branches": [pd.NA, 7]})
    table, _, _ = explorer.run_table(summary)
    rows = table.set_index("run_id")
    assert rows["output_branches"].tolist() == [10, 7] and rows["hidden1_branches"].tolist() == [3, 2]
    assert pd.isna(rows.loc["a", "hidden2_branches"]) and rows.loc["b", "hidden2_branches"] == 4
    table, _, _ = explorer.run_table(summary.drop(columns=["layer0_branches", "layer1_branches", "layer2_branches"]))
    assert table["output_branches"].tolist() == [10, 7]  # read from its column, not rebuilt from layers
