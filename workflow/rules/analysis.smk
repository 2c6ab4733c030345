# Everything read off one run once its learning graphs exist, in one local job per run: the table
# of its layers' graph metrics, time-resolved branching (groups of neurons per snapshot, branching
# events paired with accuracy jumps, symmetry) and every per-run figure, into one folder.
# Local: it takes seconds, less than a SLURM submission costs. One job, not three: each job costs
# a 1,000-point dry run about 3 ms whatever it does, and the figures need the branching curve.


localrules:
    analyze_run,


rule analyze_run:
    input:
        store=store("{run_id}"),
        graphs=mapper_jsons_input(),
    output:
        branches=f"{RESULTS}/branches/{{run_id}}.tsv",
        curve=f"{RESULTS}/branching/{{run_id}}.tsv",
        events=f"{RESULTS}/branching/{{run_id}}.events.tsv",
        symmetry=f"{RESULTS}/branching/{{run_id}}.symmetry.tsv",
        figures=report(
            directory(run_figures_dir("{run_id}")),
            patterns=[f"{{name}}.{report_format()}"],
            caption="../report/run_figures.rst",
            category="Runs",
            subcategory=run_title,
            labels=figure_label,
        ),
    params:
        layers=per_run(RUN_LAYERS),
        group_threshold=CFG["branching"]["group_threshold"],
        accuracy_jump=CFG["branching"]["accuracy_jump"],
        formats=CFG["figures"]["formats"],
        dpi=CFG["figures"]["dpi"],
        image_epochs=CFG["figures"]["weight_image_epochs"],
    log:
        f"{LOGS}/analyze_run/{{run_id}}.log",
    threads: 1
    resources:
        mem_mb=per_run({r: max([2000] + [jobsize.mapper_mem_mb(POINTS[r], l) for l in RUN_LAYERS[r]]) for r in RUN_IDS}),
        runtime=15,
    conda:
        ENV
    script:
        "../scripts/analyze_run.py"
