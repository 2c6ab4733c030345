# The validated config: the sweep's points by run id, the plan line, names every rule file uses.
import sys
from pathlib import Path

# The package sits in workflow/, two levels above this file: found from here, not from the main
# Snakefile, which is the repository's, workflow/Snakefile, or a user's own loading it as a module.
sys.path.insert(0, str(Path(workflow.current_basedir.get_path_or_uri(secret_free=True)).parents[1]))

# Light modules only (here and in every file under common/): the workflow is parsed before every
# dry run, job and status check; tests/test_structure.py checks that no heavy library comes along.
from topolearn.sweep.schema import ConfigError
from topolearn.sweep.config import check_config_files, validate_config
from topolearn.sweep.limits import plan_line
from topolearn.sweep.points import circle_cells

try:
    check_config_files(workflow.configfiles)  # duplicate keys: Snakemake's loader keeps the last
    CFG = validate_config(config)
except ConfigError as err:
    # One readable line, no traceback, before any job is scheduled.
    sys.stderr.write(f"topolearn: invalid config: {err}\n")
    sys.exit(1)
if workflow.is_main_process:  # not again in every job
    sys.stderr.write(plan_line(CFG["plan"]) + "\n")

RESULTS = CFG["results"]
POINTS = CFG["points"]  # {run_id: normalized point}, in sweep order
REGISTRY = CFG["registry"]  # the datasets of this config: the built-ins plus its `datasets:`
RUN_IDS = sorted(POINTS)
# {cell id: run ids}: the CNN cells whose filters are pooled for the circle of filters (circle.smk)
CIRCLE_CELLS = circle_cells(POINTS) if CFG["circle"]["enabled"] else {}
LOGS = f"{RESULTS}/logs"
ENV = "../../envs/topolearn.yaml"  # conda: paths are relative to the rule's .smk file


wildcard_constraints:
    run_id="[0-9a-f]{12}",
