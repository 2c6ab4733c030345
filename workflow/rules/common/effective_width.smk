# The effective-width test's inputs and targets (its rules: workflow/rules/effective_width.smk,
# docs/effective_width.md).
from topolearn.results.effective_width import derived_point, derived_rows, derived_source, derived_store

EW = CFG["effective_width"]
EW_DIR = f"{RESULTS}/effective_width"
EW_SOURCES = [r for r in RUN_IDS if POINTS[r]["depth"] > 0]


def ew_points_table():
    return checkpoints.effective_width_points.get().output[0]


def effective_width_stores(wildcards):
    """Every derived run's store, known once the checkpoint has run."""
    ids = dict.fromkeys(r["run_id"] for r in derived_rows(ew_points_table()))
    return [derived_store(RESULTS, r, POINTS) for r in ids]


def effective_width_targets():
    """The test's products when it is enabled (for all_targets)."""
    if not EW["enabled"]:
        return []
    return rules.effective_width_table.output
