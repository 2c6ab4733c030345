"""Whole-sweep progress: networks trained and analysed counted from the results folder, the time
left from the rate so far, the line in a real run (never in a dry run), and the command."""

import io
import json
import os
import time
from pathlib import Path

import pytest

from topolearn.__main__ import main
from topolearn.sweep import packing, progress
from topolearn.sweep.config import load_config_file

ROOT = Path(__file__).resolve().parents[1]
FP = "f" * 16


def finish(results: Path, rid: str, analysed: bool = False, settings: str = FP) -> None:
    """A run's store, and with `analysed` its mapper folder and batch table folder after it and the
    stamp naming that folder."""
    store = results / "runs" / rid / "snapshots.zarr"
    store.mkdir(parents=True, exist_ok=True)
    (store / "zarr.json").write_text("{}")
    if not analysed:
        return
    later = time.time() + 1
    mapper, tables = results / "mapper" / rid, Path(packing.tables_dir(str(results), [rid]))
    for path in (mapper, tables):
        path.mkdir(parents=True, exist_ok=True)
        os.utime(path, (later, later))
    rel = tables.relative_to(results).as_posix()
    (mapper / packing.STAMP).write_text(json.dumps({"settings": settings, "tables": rel}))


def test_networks_are_counted_by_the_planners_tests(tmp_path):
    ids = [f"{i:012x}" for i in range(4)]
    runs = progress.run_files(str(tmp_path), ids, FP)
    assert progress.count_done(runs, FP) == (0, 0)
    finish(tmp_path, ids[0])
    finish(tmp_path, ids[1], analysed=True)
    finish(tmp_path, ids[2], analysed=True, settings="other settings")  # stale: analysed again
    assert progress.count_done(runs, FP) == (3, 1)
    finish(tmp_path, ids[3], analysed=True)
    assert progress.count_done(runs, FP) == (4, 2)
    (tmp_path / "tables" / packing.group_id([ids[3]])).rename(tmp_path / "gone")  # its rows are gone
    assert progress.count_done(runs, FP) == (4, 1)


def test_time_left_from_the_rate_since_start():
    # 3 units (a network trained, a network analysed) in 30 s; 20 - 3 units left of 10 networks
    assert progress.seconds_left((0, 0), (2, 1), 10, 30.0) == pytest.approx(170.0)
    # work done before the start does not count towards the rate
    assert progress.seconds_left((4, 4), (5, 4), 10, 60.0) == pytest.approx(11 * 60.0)
    assert progress.seconds_left((2, 1), (2, 1), 10, 30.0) is None  # nothing done yet: no estimate
    assert progress.progress_line(312, 128, 1000, 240.0) == \
        "topolearn: networks trained 312/1000, analysed 128/1000, ~4 min left"
    assert progress.progress_line(3, 1, 4, 20.0).endswith("<1 min left")
    assert progress.progress_line(3, 1, 4, 7200.0).endswith("~2.0 h left")
    assert progress.progress_line(3, 1, 4) == "topolearn: networks trained 3/4, analysed 1/4"
    assert progress.progress_line(4, 4, 4, 0.0) == "topolearn: networks trained 4/4, analysed 4/4"


def test_the_reporter_writes_a_line_when_a_count_changes(tmp_path):
    ids = [f"{i:012x}" for i in range(2)]
    now = [0.0]
    out = io.StringIO()
    rep = progress.Reporter(progress.run_files(str(tmp_path), ids, FP), FP, out=out, clock=lambda: now[0])
    assert rep.poll() == "topolearn: networks trained 0/2, analysed 0/2"
    assert rep.poll() is None  # unchanged: quiet
    now[0] = 60.0
    finish(tmp_path, ids[0], analysed=True)
    assert rep.poll() == "topolearn: networks trained 1/2, analysed 1/2, ~1 min left"
    finish(tmp_path, ids[1], analysed=True)
    rep.stop()  # one last look
    assert out.getvalue().splitlines()[-1] == "topolearn: networks trained 2/2, analysed 2/2"


def test_quiet_by_environment():
    assert progress.enabled({}) and progress.enabled({progress.ENV: "1"})
    assert not any(progress.enabled({progress.ENV: v}) for v in ("0", "off", "False", "no"))


def test_the_command_counts_the_configs_sweep(tmp_path, capsys):
    cfg = tmp_path / "config.yaml"
    cfg.write_text((ROOT / "tests" / "configs" / "tiny.yaml").read_text()
                   .replace("results: results", f"results: {tmp_path / 'results'}"))
    loaded = load_config_file(cfg)
    ids = sorted(loaded["points"])
    finish(tmp_path / "results", ids[0], analysed=True,
           settings=packing.fingerprint(packing.analysis_settings(loaded)))
    assert main(["progress", "--configfile", str(cfg)]) == 0
    assert capsys.readouterr().out == "topolearn: networks trained 1/2, analysed 1/2\n"
    assert main(["progress", str(tmp_path / "elsewhere"), "--configfile", str(cfg)]) == 0
    assert capsys.readouterr().out == "topolearn: networks trained 0/2, analysed 0/2\n"


@pytest.mark.slow
def test_a_run_prints_the_line_and_a_dry_run_does_not(tmp_path):
    """Two tiny networks trained and analysed: the line at the start and at the end; not in -n."""
    from clusterutil import analysis_files, ok, points, smk, write_config

    cfg = {"sweep": {"base": {"dataset": "digits", "depth": 1, "width": 4, "batch_size": 128, "epochs": 1,
                              "snapshots": 4, "probe_size": 20, "init": "normal"},
                     "grid": {"lr": [0.5, 0.1]}},
           "mapper": {"layers": ["output"], "defaults": {"pca": 3, "intervals": 4, "eps": "auto", "min_samples": 2}},
           "figures": {"formats": ["png"], "dpi": 50}}
    write_config(tmp_path, cfg)
    wanted = ["results/sweep.tsv"] + [f"results/runs/{r}/snapshots.zarr" for r in sorted(points(cfg))] + \
        analysis_files(cfg)
    dry = ok(smk(tmp_path, wanted, extra=["-n"]))
    assert "networks trained" not in dry
    out = ok(smk(tmp_path, wanted))
    lines = [line for line in out.splitlines() if line.startswith("topolearn: networks trained")]
    assert lines[0] == "topolearn: networks trained 0/2, analysed 0/2", out[-4000:]
    assert lines[-1] == "topolearn: networks trained 2/2, analysed 2/2", out[-4000:]
