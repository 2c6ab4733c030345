# The sweep's index: run ids and their normalized parameters.


localrules:
    sweep_table,


rule sweep_table:
    output:
        f"{RESULTS}/sweep.tsv",
    params:
        points=[POINTS[r] for r in RUN_IDS],
        run_ids=RUN_IDS,
    log:
        f"{LOGS}/sweep_table.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        ENV
    script:
        "../scripts/sweep_table.py"
