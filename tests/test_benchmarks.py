"""The sweep and toy benchmarks run end to end in their quick modes (what they print is checked,
never how fast: timing targets live in the benchmarks, measured on a quiet machine)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def run(script: str, *args) -> str:
    res = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res.stdout


@pytest.mark.slow
def test_sweep_benchmark_quick_mode():
    out = run("bench_sweep.py", "--quick")
    assert re.search(r"dry run: [\d.]+ s wall \(fastest of [\d., ]+\), \d+ jobs planned", out), out
    assert re.search(r"packed: [\d.]+ s for 16 points", out) and re.search(r"unpacked: [\d.]+ s for 4 points", out), out
    assert re.search(r"speed-up per point, unpacked / packed: [\d.]+x", out), out
    stages = dict(re.findall(r"^(training|analysis|InPCA|summary|sweep figures|explorer) +(\d+) ", out, re.M))
    assert {"training", "analysis", "InPCA", "summary", "sweep figures", "explorer"} <= set(stages), out
    assert re.search(r"peak memory: largest job [\d.]+ GB \(\S+", out), out
    per_run = float(re.search(r"files per run: ([\d.]+) \(distinct inodes", out).group(1))
    assert 5 < per_run < 200, out  # every run's store and learning graphs are found
    assert re.search(r"training: [\d.]+ TFLOP of updates; [\d.]+ GFLOP/s in the update loops", out), out


@pytest.mark.slow
def test_toy_benchmark_recording_part():
    out = run("bench_toy.py", "--runs", "1", "--no-workflow")
    assert re.search(r"recording: 1 runs, training [\d.]+ s, recording [\d.]+ s, recording / training = [\d.]+%", out), out


@pytest.mark.slow
def test_readers_benchmark_quick_mode():
    out = run("bench_readers.py", "--quick")
    assert re.search(r"checked / unchecked: CPU [\d.]+, wall [\d.]+ \(fastest of each\); median of 1 pairs: "
                     r"CPU [\d.]+, wall [\d.]+ \(target <= 1.10\)", out), out
    assert re.search(r"open_sweep on dask, 20 runs: open [\d.]+ s, peak [\d.]+ MB; compute all 6 metrics \(120 tasks\) "
                     r"[\d.]+ s, peak [\d.]+ MB; the same reads in a plain loop [\d.]+ s; dask / loop [\d.]+", out), out


def test_compare_results_reads_learning_graphs_of_either_layout(tmp_path):
    """A folder whose mapper folders hold one {layer}.json per layer (made before graphs.json)
    compares equal with the same results in graphs.json; a changed graph is named by run and layer."""
    import importlib.util
    import json
    import shutil

    from fake_results import write_run

    from topolearn.learning_graphs import GRAPHS, read_graphs

    spec = importlib.util.spec_from_file_location("compare_results", BENCH / "compare_results.py")
    cmp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cmp)
    a, b = tmp_path / "a", tmp_path / "b"
    rid = write_run(a)
    shutil.copytree(a, b)
    mdir = b / "mapper" / rid
    graphs = read_graphs(mdir)
    (mdir / GRAPHS).unlink()
    for layer, doc in graphs.items():
        (mdir / f"{layer}.json").write_text(json.dumps(doc))
    diffs, counts = cmp.compare(a, b)
    assert diffs == [] and counts["learning graphs"] == len(graphs) == 2 and counts["stamps"] == 1
    graphs["layer1"]["metrics"]["nodes"] += 1
    (mdir / "layer1.json").write_text(json.dumps(graphs["layer1"]))
    diffs, _ = cmp.compare(a, b)
    assert diffs == [f"mapper/{rid}/graphs.json: layer layer1: 1 field(s) differ: metrics.nodes"]
