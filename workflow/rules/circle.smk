# The circle of edge filters (docs/cnn.md): per cell of CNN points (the runs that differ only in
# seed), persistent H1 of the first conv layer's kernels pooled over the seeds at every snapshot,
# the circle's date, and its figures. On with `circle: {enabled: true}`.


rule circle:
    input:
        stores=lambda w: [store(r) for r in CIRCLE_CELLS[w.cell]],
    output:
        table=f"{RESULTS}/circle/{{cell}}.tsv",
        runs=f"{RESULTS}/circle/{{cell}}.runs.tsv",
        figures=for_report([f"{RESULTS}/figures/circle/{{cell}}/{name}.{fmt}"
                            for name in CIRCLE_FIGURES for fmt in CFG["figures"]["formats"]],
                           category="Convolutional", subcategory="cell {cell}"),
    params:
        runs=lambda w: CIRCLE_CELLS[w.cell],
        settings=packing.canonical(CFG["circle"]),
        figures=packing.canonical({k: CFG["figures"][k] for k in ("formats", "dpi")}),
    wildcard_constraints:
        cell="[0-9a-f]{12}",
    log:
        f"{LOGS}/circle/{{cell}}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        ENV
    script:
        "../scripts/circle.py"
