# Sweep figures, one local job (per-run figures: analyze_run in analysis.smk). Each figure's
# report format (png, else svg, else pdf) goes into the Snakemake report.


localrules:
    plot_sweep,


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
