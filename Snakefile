# topolearn: the topology of learning, from training sweeps to Mapper learning graphs and figures.
# Thin on purpose: what the rules share (the validated config, output paths, jobs, the report)
# is in workflow/rules/common.smk and the files under workflow/rules/common/, the stages in
# workflow/rules/*.smk, and their logic in the topolearn package (workflow/topolearn/).
from snakemake.utils import min_version

min_version("9.0")


# A --configfile on the command line replaces the default config instead of being merged into it,
# so config/paper.yaml never inherits the digits sweep's axes.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/layers.smk"
include: "workflow/rules/effective_width.smk"


rule all:
    input:
        all_targets(),
    default_target: True
