# Learning graphs: one KeplerMapper graph per (run, layer), then the run's branch table.
from topolearn.mapper import mem_mb as mapper_mem_mb


rule mapper:
    input:
        store=lambda wildcards: store(wildcards.run_id),
    output:
        json=f"{RESULTS}/mapper/{{run_id}}/{{layer}}.json",
        html=f"{RESULTS}/mapper/{{run_id}}/{{layer}}.html",
        png=f"{RESULTS}/mapper/{{run_id}}/{{layer}}.png",
    params:
        mapper=layer_mapper_params,
        persistence_threshold=CFG["branching"]["persistence_threshold"],
    log:
        f"{LOGS}/mapper/{{run_id}}/{{layer}}.log",
    threads: 1
    resources:
        mem_mb=lambda wildcards: mapper_mem_mb(POINTS[wildcards.run_id], wildcards.layer),
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/mapper.py"


localrules:
    branches,


rule branches:
    input:
        mapper_jsons,
    output:
        f"{RESULTS}/branches/{{run_id}}.tsv",
    log:
        f"{LOGS}/branches/{{run_id}}.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        ENV
    script:
        "../scripts/branches.py"
