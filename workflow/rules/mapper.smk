# Learning graphs: one KeplerMapper graph per (run, layer); analysis.smk tabulates them per run.
# Items given by per_layer()/per_run() are constants when every run shares them (common.smk).


rule mapper:
    input:
        store=store("{run_id}"),
    output:
        json=f"{RESULTS}/mapper/{{run_id}}/{{layer}}.json",
        html=f"{RESULTS}/mapper/{{run_id}}/{{layer}}.html",
        png=f"{RESULTS}/mapper/{{run_id}}/{{layer}}.png",
    params:
        mapper=per_layer(MAPPER_PARAMS),
        persistence_threshold=CFG["branching"]["persistence_threshold"],
    log:
        f"{LOGS}/mapper/{{run_id}}/{{layer}}.log",
    threads: 1
    resources:
        mem_mb=per_layer({(r, l): jobsize.mapper_mem_mb(POINTS[r], l) for r, l in MAPPER_PARAMS}),
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/mapper.py"

