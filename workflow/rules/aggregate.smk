# Sweep-level aggregation: the summary table and the InPCA embedding of every run's predictions.
# The summary is a local rule (it only reads tables); InPCA of a large sweep is a cluster job.


localrules:
    summary,


rule summary:
    input:
        sweep=f"{RESULTS}/sweep.tsv",
        # each run's stamp (analysed, or why not; where its table rows are), and pending batches' tables:
        # an analysis waits for its run's store, so a lost or changed store reruns the summary through it
        analyses=analysis_inputs(RUN_IDS),
        stability=[packing.stability_path(RESULTS, r) for r in FIGURE_RUNS],
        coords=f"{RESULTS}/inpca/coords.tsv",
        stress=f"{RESULTS}/inpca/stress.tsv",
        circles=[circle_outputs(c)["runs"] for c in CIRCLE_CELLS],
    output:
        report(
            f"{RESULTS}/summary.tsv",
            caption="../report/summary.rst",
            category="Sweep",
            labels={"table": "summary: one row per run"},
        ),
    params:
        runs=RUN_IDS,  # a run removed from the sweep changes the summary although no file changed
        stores=sweep_stores,  # read behind the analyses, each of which waits for its store
    log:
        f"{LOGS}/summary.log",
    threads: 2
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/summary.py"


rule inpca:
    input:
        stores=[store(r) for r in RUN_IDS],
    output:
        coords=f"{RESULTS}/inpca/coords.tsv",
        stress=report(
            f"{RESULTS}/inpca/stress.tsv",
            caption="../report/inpca_stress.rst",
            category="Sweep",
            labels={"table": "InPCA eigenvalues and explained stress"},
        ),
    params:
        settings=packing.canonical(CFG["inpca"]),
        cache=f"{RESULTS}/inpca/cache",  # not an output: Snakemake would delete it before the job
        runs=RUN_IDS,  # a run removed from the sweep changes the embedding although no file changed
    log:
        f"{LOGS}/inpca.log",
    threads: 2
    resources:
        mem_mb=8000,
        runtime=30,
    conda:
        ENV
    script:
        "../scripts/inpca.py"


# Which swept factors move trajectories beyond the seed (docs/inpca.md "Factor separation"): reads the
# embedding's progress and two snapshots per progress level of each run; pairs are capped per factor.
rule inpca_factors:
    input:
        sweep=f"{RESULTS}/sweep.tsv",
        coords=f"{RESULTS}/inpca/coords.tsv",
        stress=f"{RESULTS}/inpca/stress.tsv",
    output:
        factors=report(
            f"{RESULTS}/inpca/factors.tsv",
            caption="../report/inpca_factors_table.rst",
            category="Sweep",
            labels={"table": "InPCA factor separation"},
        ),
        stress_top=f"{RESULTS}/inpca/stress_top.tsv",
    params:
        stores=sweep_stores,  # read behind the coordinates, which wait for every store
    log:
        f"{LOGS}/inpca_factors.log",
    threads: 2
    resources:
        mem_mb=3000,  # resampled trajectories beyond 1 GB are memory-mapped
        runtime=30,
    conda:
        ENV
    script:
        "../scripts/inpca_factors.py"
