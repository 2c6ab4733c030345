# Branch counts of one run in one job: the table of its layers' learning-graph metrics (from the
# mapper JSONs), and time-resolved branching: groups of neurons per snapshot, branching events paired
# with accuracy jumps, and how far each layer's neurons are from identical (symmetry). One job, not
# two: every job costs a 1,000-point dry run about 3 ms whatever it does.


rule branching:
    input:
        store=store("{run_id}"),
        graphs=mapper_jsons_input(),
    output:
        branches=f"{RESULTS}/branches/{{run_id}}.tsv",
        curve=f"{RESULTS}/branching/{{run_id}}.tsv",
        events=f"{RESULTS}/branching/{{run_id}}.events.tsv",
        symmetry=f"{RESULTS}/branching/{{run_id}}.symmetry.tsv",
    params:
        layers=per_run(RUN_LAYERS),
        group_threshold=CFG["branching"]["group_threshold"],
        accuracy_jump=CFG["branching"]["accuracy_jump"],
    log:
        f"{LOGS}/branching/{{run_id}}.log",
    threads: 1
    resources:
        mem_mb=per_run({r: max(jobsize.mapper_mem_mb(POINTS[r], l) for l in RUN_LAYERS[r]) for r in RUN_IDS}),
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/branching.py"
