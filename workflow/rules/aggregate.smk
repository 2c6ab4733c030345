# Sweep-level aggregation: the summary table and the InPCA embedding of every run's predictions.
# Local rules: they only read finished stores and tables, and are cheap next to training.


localrules:
    summary,
    inpca,


rule summary:
    input:
        sweep=f"{RESULTS}/sweep.tsv",
        stores=[store(r) for r in RUN_IDS],
        branches=[f"{RESULTS}/branches/{r}.tsv" for r in RUN_IDS],
        events=[f"{RESULTS}/branching/{r}.events.tsv" for r in RUN_IDS],
        symmetry=[f"{RESULTS}/branching/{r}.symmetry.tsv" for r in RUN_IDS],
    output:
        report(
            f"{RESULTS}/summary.tsv",
            caption="../report/summary.rst",
            category="Sweep",
            labels={"table": "summary: one row per run"},
        ),
    params:
        runs=RUN_IDS,  # a run removed from the sweep changes the summary although no file changed
    log:
        f"{LOGS}/summary.log",
    threads: 1
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
        settings=CFG["inpca"],
        cache=f"{RESULTS}/inpca/cache",  # not an output: Snakemake would delete it before the job
    log:
        f"{LOGS}/inpca.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    script:
        "../scripts/inpca.py"
