"""Planning tweaks (topolearn.planning): a rule's script is checked once, with the same verdict."""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import snakemake.api  # noqa: F401 (snakemake.dag only imports after it)
from snakemake import dag
from snakemake.exceptions import WorkflowError

from topolearn.planning import check_scripts_once_per_rule

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
WORKFLOW = Path(__file__).resolve().parents[1] / "workflow"


@pytest.fixture
def processor(monkeypatch):
    """A ScriptProcessor over a fake DAG whose source cache finds every script but 'missing.py';
    returns (processor, the scripts get_source was asked for)."""
    assert check_scripts_once_per_rule()
    asked = []

    def get_source(path, sourcecache, basedir=None, wildcards=None, params=None):
        asked.append(path.format(**wildcards) if "{" in path else path)
        return asked[-1], "", "python", True, asked[-1]

    monkeypatch.setattr(dag.script, "get_source", get_source)
    cache = SimpleNamespace(exists=lambda path: not path.endswith("missing.py"))
    return dag.ScriptProcessor(SimpleNamespace(workflow=SimpleNamespace(sourcecache=cache))), asked


def job(rule: str, script: str, **wildcards):
    return SimpleNamespace(rule=SimpleNamespace(name=rule, script=script, basedir="."), is_script=True,
                           wildcards=wildcards, params={})


def test_a_fixed_script_is_checked_once_per_rule(processor):
    proc, asked = processor
    for run in "abc":
        proc.process_job(job("train", "train.py", run=run))
        proc.process_job(job("mapper", "mapper.py", run=run))
    assert asked == ["train.py", "mapper.py"]


def test_a_script_named_by_wildcards_is_checked_per_job(processor):
    proc, asked = processor
    for run in "ab":
        proc.process_job(job("per_run", "{run}.py", run=run))
    assert asked == ["a.py", "b.py"]


def test_a_missing_script_still_fails(processor):
    proc, _ = processor
    with pytest.raises(WorkflowError, match="not accessible"):
        proc.process_job(job("broken", "missing.py"))


def test_applying_twice_wraps_once():
    assert check_scripts_once_per_rule() and check_scripts_once_per_rule()
    assert dag.ScriptProcessor.process_job.once_per_rule
    assert dag.NotebookProcessor.process_job is not dag.ScriptProcessor.process_job  # notebooks keep theirs


def test_a_real_dry_run_still_names_a_missing_script(tmp_path):
    """Through Snakemake itself: three jobs of a rule whose script is gone, the tweak applied."""
    (tmp_path / "Snakefile").write_text(
        f"import sys\nsys.path.insert(0, {str(WORKFLOW)!r})\n"
        "from topolearn import planning\nplanning.check_scripts_once_per_rule()\n"
        "rule all:\n    input: expand('out/{i}.txt', i=range(3))\n"
        "rule make:\n    output: 'out/{i}.txt'\n    script: 'scripts/gone.py'\n")
    res = subprocess.run([SNAKEMAKE, "-n", "--cores", "1", "-d", str(tmp_path), "-s", str(tmp_path / "Snakefile")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode != 0
    assert "No such file or directory" in res.stdout and "scripts/gone.py" in res.stdout
