# Time-resolved branching: groups of neurons per snapshot, branching events paired with accuracy
# jumps, and how far each layer's neurons are from identical (symmetry).
from topolearn.mapper import mem_mb as mapper_mem_mb


rule branching:
    input:
        store=lambda wildcards: store(wildcards.run_id),
    output:
        curve=f"{RESULTS}/branching/{{run_id}}.tsv",
        events=f"{RESULTS}/branching/{{run_id}}.events.tsv",
        symmetry=f"{RESULTS}/branching/{{run_id}}.symmetry.tsv",
    params:
        layers=lambda wildcards: layers(wildcards.run_id),
        group_threshold=CFG["branching"]["group_threshold"],
        accuracy_jump=CFG["branching"]["accuracy_jump"],
    log:
        f"{LOGS}/branching/{{run_id}}.log",
    threads: 1
    resources:
        mem_mb=lambda wildcards: max(
            mapper_mem_mb(POINTS[wildcards.run_id], l) for l in layers(wildcards.run_id)
        ),
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/branching.py"
