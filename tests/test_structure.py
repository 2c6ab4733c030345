"""The package's structure holds: stages layered without cycles (import-linter, pyproject.toml),
and what Snakemake imports while planning loads no heavy library."""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "zarr", "matplotlib")


def test_import_contracts_hold():
    lint = Path(sys.executable).parent / "lint-imports"
    res = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and " 0 broken" in res.stdout, res.stdout[-4000:] + res.stderr[-2000:]


def planning_imports() -> list[str]:
    """Every topolearn import statement of the Snakefile and the rule files, as written there."""
    files = [ROOT / "Snakefile", ROOT / "workflow" / "Snakefile", *sorted((ROOT / "workflow" / "rules").rglob("*.smk"))]
    pattern = re.compile(r"^\s*(from topolearn[\w.]* import [^#\n]+|import topolearn[\w.]*)", re.M)
    return [m.group(1).strip() for f in files for m in pattern.finditer(f.read_text())]


def test_planning_imports_are_light():
    statements = planning_imports()
    assert any("topolearn.sweep" in s for s in statements) and any("topolearn.store" in s for s in statements)
    code = "\n".join(["import json, sys", *statements,
                      f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"])
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(ROOT / "workflow"), "PATH": ""})
    assert res.returncode == 0, res.stderr[-4000:]
    assert json.loads(res.stdout.splitlines()[-1]) == [], "\n".join(statements)


def test_packages_name_their_public_api():
    """Each stage's __init__ lists its API, and every listed name resolves (heavy ones on first use)."""
    code = """
import importlib, json, pkgutil, topolearn
out = {}
for m in pkgutil.iter_modules(topolearn.__path__):
    if m.ispkg:
        pkg = importlib.import_module("topolearn." + m.name)
        names = getattr(pkg, "__all__", None)
        out[m.name] = None if names is None else [n for n in names if not hasattr(pkg, n)]
print(json.dumps(out))
"""
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(ROOT / "workflow"), "PATH": ""})
    assert res.returncode == 0, res.stderr[-4000:]
    missing = json.loads(res.stdout.splitlines()[-1])
    assert len(missing) >= 11 and all(v == [] for v in missing.values()), missing
