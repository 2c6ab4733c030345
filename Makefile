# The two commands of the README:
#   make run   - set up (.venv with pinned deps) and run the default workflow (digits, offline) + report
#   make test  - set up (system packages, local SLURM, .venv) and run the test suite
# The distro's Python 3.11 where it can make a venv: Debian builds it with PGO and LTO, so Snakemake
# plans a sweep faster under it than under a plain source build such as pyenv's default.
# Anywhere else: python3.11 from PATH. Override: make PYTHON=...
PYTHON ?= $(shell /usr/bin/python3.11 -c "import ensurepip" 2>/dev/null && echo /usr/bin/python3.11 || echo python3.11)
VENV := .venv
CORES ?= 2
STAMP := $(VENV)/.installed
# Where the CPU build of torch (torch==X+cpu in the lock) comes from: this machine's wheel folder, or
# PyTorch's CPU wheel page. Both pip (setup) and uv (lock) read it as --find-links.
TORCH_WHEELS ?= $(if $(wildcard /opt/wheels/torch-*+cpu-*.whl),/opt/wheels,https://download.pytorch.org/whl/cpu/torch/)
# uv compiles the lock from a throwaway venv, never from .venv.
LOCK_VENV ?= /tmp/topolearn-lock-venv

.PHONY: setup sysdeps run report test test-fast lint bench clean lock

# requirements.txt is the lock: every package, transitive ones included, pinned with its hashes.
$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q --require-hashes --find-links $(TORCH_WHEELS) -r requirements.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# Re-lock after editing requirements.in (the direct dependencies); envs/topolearn.yaml must then
# follow (tests/test_environment.py compares them).
lock:
	[ -x $(LOCK_VENV)/bin/uv ] || { $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install -q uv; }
	$(LOCK_VENV)/bin/uv pip compile requirements.in --generate-hashes --python-version 3.11 \
	  --find-links $(TORCH_WHEELS) --custom-compile-command "make lock" -o requirements.txt

# Debian packages the tests need: Fashion-MNIST IDX files and a single-node SLURM.
sysdeps:
	bash .ci/sysdeps.sh

run: setup
	$(VENV)/bin/snakemake --cores $(CORES)
	$(VENV)/bin/snakemake --cores $(CORES) --report results/report.html
	@echo "Report: results/report.html"

report: setup
	$(VENV)/bin/snakemake --cores $(CORES) --report results/report.html

# The whole suite, workflow runs and the local SLURM included: about 15 minutes on 2 cores, of
# which the scenario matrix (.test/: four shrunk shipped configs, lint -> run -> report each,
# tests/test_end_to_end.py) takes about 2.5 on an idle machine.
test: sysdeps setup
	bash .ci/slurm/setup.sh
	$(VENV)/bin/python -m pytest -ra

# Unit tests only: about 2 minutes on 2 cores.
test-fast: setup
	$(VENV)/bin/python -m pytest -ra -m "not slow and not slurm"

lint: setup
	$(VENV)/bin/snakemake --lint --cores 1

bench: setup
	@rc=0; for b in benchmarks/bench_*.py; do echo "== $$b"; $(VENV)/bin/python $$b || rc=1; done; exit $$rc

clean:
	rm -rf results/* .snakemake
	touch results/.gitkeep
