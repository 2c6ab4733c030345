# The sweep explorer: one self-contained interactive page per results folder (results/explorer.html),
# written from the summary, the InPCA coordinates, every store (its curves, read through the checked
# path) and every branching curve (topolearn.analysis.tables); it links to the chosen runs' figures, so it waits for them. A
# local job: it only reads what the sweep already made. Into the report under "Sweep".


localrules:
    explorer,


rule explorer:
    input:
        summary=f"{RESULTS}/summary.tsv",
        coords=f"{RESULTS}/inpca/coords.tsv",
        figures=[run_figures_dir(r) for r in FIGURE_RUNS],  # linked from the page where they exist
    output:
        report(
            f"{RESULTS}/explorer.html",
            caption="../report/explorer.rst",
            category="Sweep",
            labels={"figure": "sweep explorer (interactive)"},
        ),
    params:
        runs=RUN_IDS,  # a run removed from the sweep changes the page although no file changed
        stores=sweep_stores,  # read behind the summary, which waits for every analysis and so every store
    log:
        f"{LOGS}/explorer.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/explorer.py"
