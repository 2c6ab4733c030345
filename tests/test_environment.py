"""The software environment: requirements.in (the direct dependencies), its lock requirements.txt
(every package with hashes, what `make setup` installs) and the conda environment of the rules
(envs/topolearn.yaml) name the same versions."""

import re
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
# Needed to drive and test the workflow, not inside a rule's job: not in the conda environment.
DRIVER_ONLY = {"snakemake", "snakemake-executor-plugin-slurm", "hypothesis", "pytest", "import-linter"}


def direct_requirements() -> dict[str, Requirement]:
    reqs = [Requirement(line.split("#")[0]) for line in (ROOT / "requirements.in").read_text().splitlines()
            if line.split("#")[0].strip()]
    return {canonicalize_name(r.name): r for r in reqs}


def lock() -> dict[str, tuple[str, list[str]]]:
    """{package: (version, hashes)} of requirements.txt: `name==version \\` lines, each followed by its
    `--hash=` lines."""
    pins, current = {}, None
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if m := re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line):
            current = canonicalize_name(m.group(1))
            pins[current] = (m.group(2), [])
        elif (h := re.search(r"--hash=(sha256:[0-9a-f]{64})", line)) and current:
            pins[current][1].append(h.group(1))
        elif line and not line.startswith((" ", "#")):
            raise AssertionError(f"requirements.txt: not a pinned requirement: {line!r}")
    return pins


def conda_pip_pins() -> tuple[dict[str, str], str]:
    """({package: version} of the pip section, python version) of envs/topolearn.yaml."""
    env = yaml.safe_load((ROOT / "envs" / "topolearn.yaml").read_text())
    deps = env["dependencies"]
    python = next(d.split("=", 1)[1] for d in deps if isinstance(d, str) and d.startswith("python="))
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    pins = {}
    for line in pip:
        if line.startswith("-"):  # pip options (where the CPU torch comes from)
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"envs/topolearn.yaml: {line} is not an exact pin"
        pins[canonicalize_name(req.name)] = spec.version
    return pins, python


def test_the_lock_pins_every_package_with_hashes():
    pins = lock()
    assert len(pins) > len(direct_requirements())  # the transitive packages too
    unhashed = [name for name, (_, hashes) in pins.items() if not hashes]
    assert not unhashed, f"no --hash in requirements.txt for {unhashed}"


def test_the_lock_covers_every_direct_requirement_at_its_pin():
    pins = lock()
    for name, req in direct_requirements().items():
        assert name in pins, f"requirements.in names {req}, requirements.txt does not (make lock)"
        assert str(req.specifier).startswith("=="), f"requirements.in: {req} is not an exact pin"
        assert req.specifier.contains(pins[name][0]), f"requirements.in: {req}, requirements.txt: {pins[name][0]}"


def test_the_lock_is_the_cpu_build_of_torch():
    pins = lock()
    assert pins["torch"][0].endswith("+cpu")
    cuda = sorted(n for n in pins if n.startswith(("nvidia-", "triton", "cuda-")))
    assert not cuda, f"CUDA packages in the lock: {cuda}"


def test_the_conda_environment_has_the_locked_versions():
    pins, python = conda_pip_pins()
    locked = lock()
    direct = direct_requirements()
    assert python == "3.11"
    for name, version in pins.items():
        assert name in locked, f"envs/topolearn.yaml pins {name}, the lock does not have it"
        assert version == locked[name][0], f"envs/topolearn.yaml: {name}=={version}, lock: {locked[name][0]}"
    missing = sorted(set(direct) - DRIVER_ONLY - set(pins))
    assert not missing, f"requirements.in entries missing from envs/topolearn.yaml: {missing}"
    assert not set(pins) & DRIVER_ONLY
