"""Readers never return damaged numbers: every reader reads a store through the checked path
(store.snapshots.open_store: each file zarr reads is compared with the manifest), a damaged file is a
one-line StoreError naming the store and the file, and the run is quarantined with every product made
from it; a dry run reports and moves nothing; `verify` works only on a topolearn results folder."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from fake_results import make_point, write_run

import topolearn
from topolearn.__main__ import main
from topolearn.store.checks import RUN_PRODUCTS, check_stores, derived_paths, quarantine_run
from topolearn.store.snapshots import StoreError, open_dataset, open_store, read_all_arrays, read_metric_series
from topolearn.sweep.table import write_sweep_table

ROOT = Path(__file__).resolve().parents[1]


def sweep(results: Path, n: int = 2) -> dict:
    """`n` synthetic runs and their sweep table; {run id: point}."""
    points = {}
    for i in range(n):
        p = make_point(lr=0.5 + i, seed=i)
        points[write_run(results, p, seed=i)] = p
    write_sweep_table(points, results / "sweep.tsv")
    return points


def store_of(results: Path, rid: str) -> Path:
    return results / "runs" / rid / "snapshots.zarr"


def flip_a_bit(f: Path) -> None:
    """One bit of a file changed, its size and mtime kept: invisible to Snakemake and to the size check."""
    st = f.stat()
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x01
    f.write_bytes(bytes(data))
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))


def flip_test_acc(store: Path) -> None:
    for chunk in sorted((store / "metrics" / "c").rglob("*")):
        if chunk.is_file():
            flip_a_bit(chunk)


def assert_quarantined(results: Path, rid: str) -> None:
    assert not store_of(results, rid).exists()
    (moved,) = (results / "quarantine").iterdir()
    assert moved.name.startswith(rid) and (moved / "runs" / rid / "snapshots.zarr" / "zarr.json").is_file()


def test_open_sweep_refuses_a_flipped_bit_in_the_metrics_and_quarantines_the_run(tmp_path):
    results = tmp_path / "results"
    rid, other = sweep(results)
    flip_a_bit(store_of(results, rid) / "metrics" / "c" / "0" / "0")

    with pytest.raises(StoreError) as err:
        topolearn.open_sweep(results).metrics.test_acc.values
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{store_of(results, rid)}: checksum mismatch in metrics/c/0/0")
    assert "moved to" in msg and "the next run rebuilds it" in msg
    assert_quarantined(results, rid)
    with pytest.warns(UserWarning, match=rid):  # the run has no store now: never its damaged numbers
        ds = topolearn.open_sweep(results).metrics
    assert rid not in ds["run"].values and np.isfinite(ds.test_acc.sel(run=other).values).all()


def test_a_rebuilt_store_is_read_anew_not_from_the_cache(tmp_path):
    results = tmp_path / "results"
    rid, _ = sweep(results)
    first = topolearn.open_sweep(results).metrics.test_acc.sel(run=rid).values
    copy = tmp_path / "copy.zarr"
    shutil.copytree(store_of(results, rid), copy)
    shutil.rmtree(store_of(results, rid))
    os.replace(copy, store_of(results, rid))  # as the workflow puts a rebuilt store in place
    again = topolearn.open_sweep(results).metrics.test_acc.sel(run=rid).values
    np.testing.assert_array_equal(first, again)
    assert not (results / "quarantine").exists()


def _metric_zarr_json(store: Path) -> Path:
    return store / "metrics" / "zarr.json"


@pytest.mark.parametrize("damage, expected", [
    (lambda s: _metric_zarr_json(s).write_bytes(_metric_zarr_json(s).read_bytes()[:20]), "truncated or altered file metrics/zarr.json"),
    (lambda s: flip_a_bit(_metric_zarr_json(s)), "checksum mismatch in metrics/zarr.json"),
    (lambda s: (s / "zarr.json").write_bytes((s / "zarr.json").read_bytes()[:50]), "unreadable root metadata"),
])
def test_bad_metadata_is_a_store_error_not_a_json_error(tmp_path, damage, expected):
    results = tmp_path / "results"
    rid, _ = sweep(results)
    damage(store_of(results, rid))
    with pytest.raises(StoreError, match=expected):
        topolearn.open_sweep(results).metrics.test_acc.values
    assert_quarantined(results, rid)


def _summary(store, tmp):
    from topolearn.results.summary import run_row

    return run_row(store)


def _inpca(store, tmp):
    from topolearn.inpca.sweep import store_run

    return store_run(store).load()


def _sweep_figures(store, tmp):
    from topolearn.figures.sweep import _accuracy_curve

    return _accuracy_curve(store)


def _effective_width(store, tmp):
    from topolearn.results.effective_width import final_test_acc

    return final_test_acc(store)


def _open_dataset_then_read(store, tmp):
    ds = open_dataset(store)  # checked when opened; the damage comes later, then the values are read
    flip_test_acc(store)
    return ds["test_acc"].values


READERS = {
    "open_sweep": lambda store, tmp: topolearn.open_sweep(store.parents[2]).metrics.test_acc.values,
    "summary": _summary,
    "inpca": _inpca,
    "sweep_figures": _sweep_figures,
    "effective_width": _effective_width,
    "read_all_arrays": lambda store, tmp: read_all_arrays(store),
    "open_store_lazy": lambda store, tmp: read_metric_series(open_store(store, deep=False))["test_acc"],
    "open_dataset": _open_dataset_then_read,
}


@pytest.mark.parametrize("reader", READERS)
def test_every_reader_refuses_damaged_metrics_and_quarantines(tmp_path, reader):
    results = tmp_path / "results"
    rid, _ = sweep(results)
    store = store_of(results, rid)
    if reader != "open_dataset":
        flip_test_acc(store)
    with pytest.raises(StoreError, match=r"checksum mismatch in metrics/c/\d/\d.*moved to .*quarantine"):
        READERS[reader](store, tmp_path)
    assert_quarantined(results, rid)


def test_a_report_only_open_names_the_damage_and_moves_nothing(tmp_path):
    results = tmp_path / "results"
    rid, _ = sweep(results)
    store = store_of(results, rid)
    flip_test_acc(store)
    with pytest.raises(StoreError, match=r"checksum mismatch in metrics/c/\d/\d$"):
        read_metric_series(open_store(store, deep=False, quarantine=False))
    assert store.exists() and not (results / "quarantine").exists()


# ---------------------------------------------------------------- a dry run changes nothing


def test_check_stores_without_move_reports_each_store_once_and_moves_nothing(tmp_path):
    results = tmp_path / "results"
    ids = list(sweep(results))
    for rid in ids:
        (store_of(results, rid) / "metrics" / "c" / "0" / "0").unlink()
    msgs = check_stores([store_of(results, r) for r in ids], results / "quarantine", move=False)
    assert len(msgs) == 2 and all("\n" not in m for m in msgs)
    assert all("missing file metrics/c/0/0" in m and "python -m topolearn verify" in m for m in msgs)
    assert all(store_of(results, r).exists() for r in ids) and not (results / "quarantine").exists()


def _workflow_config(tmp_path: Path, points: dict) -> Path:
    """A config planning exactly the synthetic runs (their points are normalized config points)."""
    (p0, p1) = points.values()
    base = {k: v for k, v in p0.items() if v is not None}
    cfg = {"results": "results", "sweep": {"base": base, "points": [{"lr": p1["lr"], "seed": p1["seed"]}]},
           "figures": {"runs": "none", "formats": ["png"]}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _snakemake(tmp_path: Path, *args) -> subprocess.CompletedProcess:
    cmd = [str(ROOT / ".venv" / "bin" / "snakemake"), *args, "-s", str(ROOT / "Snakefile"), "--directory",
           str(tmp_path), "--workflow-profile", str(ROOT / "profiles" / "default"),
           "--configfile", str(tmp_path / "config.yaml")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
def test_a_dry_run_reports_damaged_stores_and_a_real_run_moves_them(tmp_path):
    results = tmp_path / "results"
    points = sweep(results)
    _workflow_config(tmp_path, points)
    rid = next(iter(points))
    (store_of(results, rid) / "metrics" / "c" / "0" / "0").unlink()
    before = sorted(p.relative_to(tmp_path) for p in results.rglob("*"))

    dry = _snakemake(tmp_path, "-n")
    out = dry.stdout + dry.stderr
    assert dry.returncode == 0, out[-4000:]
    (line,) = [ln for ln in out.splitlines() if "missing file metrics/c/0/0" in ln]
    assert f"results/runs/{rid}/snapshots.zarr" in line and "python -m topolearn verify" in line
    assert store_of(results, rid).exists() and not (results / "quarantine").exists()
    # a dry run changes nothing: no file moved or added, no job groups recorded
    assert sorted(p.relative_to(tmp_path) for p in results.rglob("*")) == before
    assert not (tmp_path / ".snakemake" / "topolearn").exists()

    real = _snakemake(tmp_path, "--cores", "1", "results/sweep.tsv")  # the real run's main process moves it
    out = real.stdout + real.stderr
    assert real.returncode == 0, out[-4000:]
    assert "missing file metrics/c/0/0" in out and "moved to" in out
    assert_quarantined(results, rid)


# ---------------------------------------------------------------- quarantine takes every product


def test_every_kind_of_run_product_goes_with_the_store(tmp_path):
    results = tmp_path / "results"
    rid, other = sweep(results)
    made = []
    for kind, template in RUN_PRODUCTS.items():
        for r in (rid, other):
            p = results / template.format(run_id=r)
            if not p.exists():
                (p / "x" if "." not in p.name else p).parent.mkdir(parents=True, exist_ok=True)
                (p / "x.png" if "." not in p.name else p).write_text(kind)
        made.append(results / template.format(run_id=rid))
    assert set(made) <= set(derived_paths(store_of(results, rid)))
    quarantine_run(store_of(results, rid), "damaged")
    assert not any(p.exists() for p in made)
    assert all((results / t.format(run_id=other)).exists() for t in RUN_PRODUCTS.values())


@pytest.mark.slow
def test_every_product_of_a_real_run_is_quarantined_with_its_store(tmp_path_factory, tmp_path):
    from clusterutil import copy_workdir, reference_run, slow_and_diverging

    wd = copy_workdir(reference_run(tmp_path_factory), tmp_path / "wd")
    results = wd / "results"
    rid, _ = slow_and_diverging()
    own = lambda: sorted(p.relative_to(results) for p in results.rglob("*")  # noqa: E731  (files: runs/{run_id}/ stays)
                         if p.is_file() and rid in p.relative_to(results).as_posix()
                         and p.relative_to(results).parts[0] not in ("logs", "checkpoints", "quarantine"))
    before = own()
    kinds = {t.split("/")[0] for t in RUN_PRODUCTS.values()}
    assert kinds <= {p.parts[0] for p in before}, "the reference run makes every kind of product"
    quarantine_run(store_of(results, rid), "damaged")
    assert own() == []
    (moved,) = (results / "quarantine").iterdir()
    assert all((moved / p).exists() for p in before)


# ---------------------------------------------------------------- verify only where topolearn wrote


def test_verify_refuses_a_folder_topolearn_did_not_write(tmp_path, capsys):
    import zarr

    foreign = tmp_path / "elsewhere"
    store = foreign / "runs" / "0123456789ab" / "snapshots.zarr"
    zarr.open_group(str(store), mode="w", attributes={"owner": "someone else"})
    assert main(["verify", str(foreign)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a topolearn results folder" in err
    assert store.exists() and not (foreign / "quarantine").exists()


def test_verify_accepts_a_results_folder_by_its_sweep_table_or_its_stores(tmp_path, capsys):
    results = tmp_path / "results"
    rid, _ = sweep(results)
    flip_test_acc(store_of(results, rid))
    (results / "sweep.tsv").unlink()  # the stores alone say who wrote them
    assert main(["verify", str(results), "--report-only"]) == 1
    assert store_of(results, rid).exists()
    assert main(["verify", str(results)]) == 1
    assert_quarantined(results, rid)
    assert "checksum mismatch in metrics/c/" in capsys.readouterr().out
