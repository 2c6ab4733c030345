"""Stale runs (stores of points no longer in the config) are listed and, on request, archived with
their products; `python -m topolearn verify` checks every store on demand."""

import subprocess
import sys
from pathlib import Path

import yaml
from fake_results import make_point, write_run

from topolearn.__main__ import main
from topolearn.store.checks import derived_paths

WORKFLOW = Path(__file__).resolve().parents[1] / "workflow"
BASE = {"dataset": "digits", "depth": 1, "width": 6, "epochs": 4, "snapshots": 9, "batch_size": 64,
        "probe_size": 30, "init": "normal"}


def sweep(tmp_path, lrs, stored_lrs):
    """Stores for `stored_lrs`, and a config file planning `lrs`; (config file, results, {lr: run id})."""
    results = tmp_path / "results"
    ids = {lr: write_run(results, make_point(lr=lr)) for lr in stored_lrs}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"results": str(results), "sweep": {"base": BASE, "grid": {"lr": lrs}}}))
    return cfg, results, ids


def test_stale_runs_are_listed_with_params_and_size(tmp_path, capsys):
    cfg, results, ids = sweep(tmp_path, [0.1, 0.2], [0.1, 0.2, 0.3, 0.4])
    assert main(["stale", "--configfile", str(cfg)]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = sorted(line.split("\t")[0] for line in lines[:-1])
    assert listed == sorted([ids[0.3], ids[0.4]])
    assert "lr=0.3" in next(line for line in lines if line.startswith(ids[0.3])) and " MB\t" in lines[0]
    assert lines[-1].startswith("topolearn: 2 stale run(s)") and "--archive moves them" in lines[-1]
    assert all((results / "runs" / i / "snapshots.zarr").is_dir() for i in ids.values())  # nothing moved


def test_archive_moves_stale_stores_and_their_products_only(tmp_path, capsys):
    cfg, results, ids = sweep(tmp_path, [0.1], [0.1, 0.3])
    stale_store = results / "runs" / ids[0.3] / "snapshots.zarr"
    products = derived_paths(stale_store)
    kept = derived_paths(results / "runs" / ids[0.1] / "snapshots.zarr")
    assert products and kept

    assert main(["stale", "--configfile", str(cfg), "--archive"]) == 0

    assert "1 stale run(s)" in capsys.readouterr().out
    assert not (results / "runs" / ids[0.3]).exists() and not any(p.exists() for p in products)
    (folder,) = (results / "archive").iterdir()
    assert folder.name.startswith(ids[0.3]) and (folder / "runs" / ids[0.3] / "snapshots.zarr" / "zarr.json").is_file()
    assert all((folder / p.relative_to(results)).exists() for p in products)
    assert all(p.exists() for p in kept) and (results / "runs" / ids[0.1] / "snapshots.zarr").is_dir()
    main(["stale", "--configfile", str(cfg)])
    assert "0 stale run(s)" in capsys.readouterr().out


def test_an_invalid_config_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("results: r\nresults: s\n")
    assert main(["stale", "--configfile", str(cfg)]) == 2
    assert capsys.readouterr().err == f"topolearn: invalid config: {cfg}: duplicate key 'results' (lines 1 and 2); " \
                                      "YAML would keep only the last value\n"


def flip(store: Path) -> None:
    chunk = sorted(p for p in (store / "weights" / "layer0" / "c").rglob("*") if p.is_file())[0]
    data = bytearray(chunk.read_bytes())
    data[0] ^= 0xFF
    chunk.write_bytes(bytes(data))


def test_verify_finds_a_flipped_byte_and_quarantines_the_run(tmp_path, capsys):
    _, results, ids = sweep(tmp_path, [0.1], [0.1, 0.2])
    bad = results / "runs" / ids[0.2] / "snapshots.zarr"
    flip(bad)

    assert main(["verify", str(results), "--quick"]) == 0  # same size: only the checksums see it
    assert main(["verify", str(results), "--report-only"]) == 1 and bad.exists()
    assert main(["verify", str(results)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "checksum mismatch in weights/layer0/c/" in out[-2] and "moved to" in out[-2]
    assert out[-1] == "topolearn: 2 store(s) checked (CRC32 of every file), 1 damaged; run snakemake to rebuild them"
    assert not bad.exists() and len(list((results / "quarantine").iterdir())) == 1
    assert main(["verify", str(results)]) == 0


def test_the_cli_runs_as_a_module(tmp_path):
    _, results, _ = sweep(tmp_path, [0.1], [0.1])
    proc = subprocess.run([sys.executable, "-m", "topolearn", "verify", str(results)], capture_output=True,
                          text=True, timeout=60, env={"PYTHONPATH": str(WORKFLOW), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "topolearn: 1 store(s) checked (CRC32 of every file), 0 damaged\n"
