# topolearn: the topology of learning, from training sweeps to Mapper learning graphs and figures.
# The workflow is defined in workflow/Snakefile, where the Snakemake workflow catalog and
# `snakedeploy` look for it; this file runs it from the repository's root. Add rule files there.
# The include: directive plus one flag: without it Snakemake keeps this file's default target (none)
# instead of rule all's.
workflow.include("workflow/Snakefile", overwrite_default_target=True)
