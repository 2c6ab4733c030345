"""The workflow used the way Snakemake users get it: from workflow/Snakefile (where the workflow
catalog and snakedeploy look), deployed into a folder of their own as `snakedeploy deploy-workflow`
does (config/ and profiles/ copied, a Snakefile that loads the workflow as a module), and from the
repository's root Snakefile, which includes it."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from smkutil import jobs_in, rules

from topolearn.learning_graphs import read_graphs
from topolearn.store.snapshots import check_store
from topolearn.sweep.config import load_config_file

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")

# What snakedeploy writes to <folder>/workflow/Snakefile (its use_module template), with the module's
# snakefile a local clone's.
USER_SNAKEFILE = """from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


# declare topolearn as a module
module topolearn:
    snakefile:
        "{snakefile}"
    config:
        config


# use all rules from topolearn
use rule * from topolearn
"""

# The user's own sweep: one run of one epoch, the whole workflow (analysis, figures, summary) on it.
USER_CONFIG = {
    "results": "results",
    "sweep": {"base": {"dataset": "digits", "depth": 1, "width": 8, "epochs": 1, "snapshots": 4,
                       "batch_size": 64, "probe_size": 30, "seed": 1}},
    "figures": {"formats": ["png"], "dpi": 50},
}


def deploy(clone: Path, folder: Path) -> Path:
    """`snakedeploy deploy-workflow <clone> <folder>`, by hand: snakedeploy copies a local source
    whole (the clone's .venv and results too) and names the module's snakefile by a path relative
    to the clone, which Snakemake reads relative to the new Snakefile."""
    shutil.copytree(clone / "config", folder / "config")
    shutil.copytree(clone / "profiles", folder / "profiles")
    (folder / "workflow").mkdir()
    (folder / "workflow" / "Snakefile").write_text(USER_SNAKEFILE.format(snakefile=clone / "workflow" / "Snakefile"))
    return folder


def smk(cwd, *args):
    return subprocess.run([SNAKEMAKE, "--cores", "2", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_the_catalog_finds_the_workflow_and_its_usage():
    catalog = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert catalog["software-stack-deployment"]["conda"] is True and catalog["report"] is True
    assert (ROOT / "workflow" / "Snakefile").is_file() and (ROOT / "config" / "config.yaml").is_file()
    readme = (ROOT / "config" / "README.md").read_text()
    assert "(../docs/config.md)" in readme
    presets = sorted(p.name for p in (ROOT / "config").glob("*.yaml"))
    assert presets and all(f"`{name}`" in readme for name in presets), f"config/README.md lists {presets}"


@pytest.mark.slow
def test_both_entry_points_plan_the_same_jobs(tmp_path):
    """The root Snakefile and workflow/Snakefile: the same jobs, rule all the default target."""
    planned = []
    for snakefile in (ROOT / "Snakefile", ROOT / "workflow" / "Snakefile"):
        res = smk(ROOT, "-n", "-s", str(snakefile), "--directory", str(tmp_path), "--configfile", str(TINY))
        assert res.returncode == 0, res.stderr[-3000:]
        planned.append(sorted((r, o) for r, _, o in jobs_in(res.stdout + "\n" + res.stderr)))  # order varies
    names = rules([(r, {}, o) for r, o in planned[0]])
    assert planned[0] == planned[1] and {"all", "train_pack", "summary"} <= names


@pytest.mark.slow
def test_a_users_folder_runs_the_workflow_as_a_module(tmp_path):
    folder = deploy(ROOT, tmp_path / "my_analysis")
    assert sorted(p.name for p in (folder / "config").iterdir()) == sorted(p.name for p in (ROOT / "config").iterdir())
    (folder / "config" / "config.yaml").write_text(yaml.safe_dump(USER_CONFIG))  # the user's edit

    res = smk(folder)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    (rid,) = load_config_file(folder / "config" / "config.yaml")["points"]
    results = folder / "results"
    assert check_store(results / "runs" / rid / "snapshots.zarr", deep=True) is None
    assert "layer1" in read_graphs(results / "mapper" / rid)
    assert (results / "summary.tsv").read_text().count("\n") == 2  # header and the run
    assert any((results / "figures" / "sweep").glob("*.png"))

    res = smk(folder, "--report", "report.html")  # captions and the report's text from the module
    assert res.returncode == 0, res.stderr[-3000:]
    assert (folder / "report.html").stat().st_size > 0
    res = smk(folder, "-n")
    assert "Nothing to be done" in res.stdout + res.stderr
