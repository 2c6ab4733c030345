# Analysis of runs: learning graphs of every analyzed layer (KeplerMapper), the branch table, the
# time-resolved branching curve, its events paired with accuracy jumps, and the symmetry table.
# Runs whose analysis is missing or stale are analysed in batches (one process per batch, runs in
# parallel over its threads: imports paid once), each batch's tables in one set (tables/{gid}/); a
# finished run belongs to `analyze_run`, which redoes it alone when its store is rebuilt and keeps
# its tables in its mapper folder (the run's stamp says which: topolearn.analysis.tables). Params
# are the sweep-wide settings only: the same for a run whichever job analysed it. Analysis goes before
# training that waits (priority): a trained pack's runs are analysed on the core it frees, so few jobs
# wait at once (Snakemake sizes the inputs of every waiting job each time it plans).


for _members in ANALYSIS_BATCHES:

    rule:
        name:
            f"analyze_batch_{packing.group_id(_members)}"
        input:
            [store(r) for r in _members],
        output:
            analysis_job_outputs(_members),
        params:
            settings=ANALYSIS_SETTINGS,
        log:
            f"{LOGS}/analysis/batch_{packing.group_id(_members)}.log",
        threads: CFG["analysis_threads"]
        priority: 1
        group:
            job_group(_members)
        resources:
            **{"mem_mb": batch_mem_mb(_members), "runtime": 10 + len(_members) // 2, **CFG["resources"]["analysis"]},
        conda:
            ENV
        script:
            "../scripts/analyze.py"


rule analyze_run:
    input:
        store("{run_id}"),
    output:
        analysis_job_outputs(["{run_id}"], batch=False),
    params:
        settings=ANALYSIS_SETTINGS,
    log:
        f"{LOGS}/analysis/{{run_id}}.log",
    threads: 1
    priority: 1
    resources:
        **{"mem_mb": lambda w: batch_mem_mb([w.run_id]), "runtime": 15, **CFG["resources"]["analysis"]},
    conda:
        ENV
    script:
        "../scripts/analyze.py"
