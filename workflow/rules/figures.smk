# Figures: one local job per run (all of its figures in one Python process, into one directory
# output) and one for the sweep. Each figure's report format (png, else svg, else pdf) goes into
# the Snakemake report.


localrules:
    plot_run,
    plot_sweep,


rule plot_run:
    input:
        store=store("{run_id}"),
        branching=f"{RESULTS}/branching/{{run_id}}.tsv",
        mapper=mapper_jsons_input(),
    output:
        report(
            directory(run_figures_dir("{run_id}")),
            patterns=[f"{{name}}.{report_format()}"],
            caption="../report/run_figures.rst",
            category="Runs",
            subcategory=run_title,
            labels=figure_label,
        ),
    params:
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
