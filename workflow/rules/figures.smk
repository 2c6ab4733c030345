# Figures: one local job per run (all of its figures in one Python process) and one for the sweep.
# The preferred format of each figure (png, else svg, else pdf) goes into the Snakemake report.


localrules:
    plot_run,
    plot_sweep,


rule plot_run:
    input:
        store=store("{run_id}"),
        branching=f"{RESULTS}/branching/{{run_id}}.tsv",
        mapper=mapper_jsons_input(),
    output:
        for_report(run_figures("{run_id}"), category="Runs", subcategory=run_title),
    params:
        outdir=f"{RESULTS}/figures/runs/{{run_id}}",
        formats=CFG["figures"]["formats"],
        dpi=CFG["figures"]["dpi"],
        image_epochs=CFG["figures"]["weight_image_epochs"],
    log:
        f"{LOGS}/figures/{{run_id}}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/run_figures.py"


rule plot_sweep:
    input:
        summary=f"{RESULTS}/summary.tsv",
        coords=f"{RESULTS}/inpca/coords.tsv",
        stress=f"{RESULTS}/inpca/stress.tsv",
        stores=[store(r) for r in RUN_IDS],
    output:
        for_report(sweep_figures(), category="Sweep"),
    params:
        outdir=lambda w, output: str(Path(output[0]).parent),
        formats=CFG["figures"]["formats"],
        dpi=CFG["figures"]["dpi"],
    log:
        f"{LOGS}/figures/sweep.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/sweep_figures.py"
