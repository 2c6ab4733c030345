# Figures. Per-run figures (learning curves, weight norms, learning surfaces, weight images, the
# learning graphs as pictures and interactive pages) for the runs chosen by `figures.runs`, in
# batches like the analysis; sweep figures in one local job. Each figure's report format (png,
# else svg, else pdf) goes into the Snakemake report.


localrules:
    plot_sweep,


for _members in FIGURE_BATCHES:

    rule:
        name:
            f"plot_runs_{packing.group_id(_members)}"
        input:
            **figure_job_inputs(_members),
        output:
            figure_job_outputs(_members),
        params:
            settings=FIGURE_SETTINGS,
            analysis=ANALYSIS_SETTINGS,
        log:
            f"{LOGS}/figures/runs_{packing.group_id(_members)}.log",
        threads: CFG["analysis_threads"]
        group:
            job_group(_members)
        resources:
            **{"mem_mb": batch_mem_mb(_members), "runtime": 10 + len(_members), **CFG["resources"]["figures"]},
        conda:
            ENV
        script:
            "../scripts/plot_runs.py"


rule plot_run:
    input:
        **figure_job_inputs(["{run_id}"]),
    output:
        report(
            directory(run_figures_dir("{run_id}")),
            patterns=[f"{{name}}.{report_format()}"],
            caption="../report/run_figures.rst",
            category="Runs",
            subcategory=run_title_wc,
            labels=figure_label,
        ),
        packing.stability_path(RESULTS, "{run_id}"),
    params:
        settings=FIGURE_SETTINGS,
        analysis=ANALYSIS_SETTINGS,
    log:
        f"{LOGS}/figures/{{run_id}}.log",
    threads: 1
    resources:
        **{"mem_mb": lambda w: batch_mem_mb([w.run_id]), "runtime": 10, **CFG["resources"]["figures"]},
    conda:
        ENV
    script:
        "../scripts/plot_runs.py"


rule plot_sweep:
    input:
        summary=f"{RESULTS}/summary.tsv",
        coords=f"{RESULTS}/inpca/coords.tsv",
        stress=f"{RESULTS}/inpca/stress.tsv",
        factors=f"{RESULTS}/inpca/factors.tsv",
    output:
        for_report(sweep_figures(), category="Sweep"),
    params:
        outdir=lambda w, output: str(Path(output[0]).parent),
        formats=CFG["figures"]["formats"],
        dpi=CFG["figures"]["dpi"],
        time_axis=CFG["figures"]["time_axis"],
        runs=RUN_IDS,
        stores=sweep_stores,  # read behind the summary, which waits for every analysis and so every store
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
