# Layer representations on toy data (docs/layers.md): the sweep figures over width x tightness x
# activation from the runs' layer tables (layers.tsv of each analysis batch, written by the analysis
# jobs; read through topolearn.analysis.tables). One cheap local job.

from topolearn.data.toy import TOY_DATASETS  # light: no numpy

TOY_RUNS = [r for r in RUN_IDS if POINTS[r]["dataset"] in TOY_DATASETS]
# = topolearn.figures.layers.SWEEP_LAYER_FIGURES (not imported here: matplotlib at parse time)
LAYER_SWEEP_NAMES = ("layers_success", "layers_betti", "layers_separability")
LAYER_SWEEP_FIGURES = [
    f"{RESULTS}/figures/layers/{n}.{fmt}" for n in LAYER_SWEEP_NAMES for fmt in CFG["figures"]["formats"]
]


localrules:
    layers_sweep,


rule layers_sweep:
    input:
        sweep=f"{RESULTS}/sweep.tsv",
        analyses=analysis_inputs(TOY_RUNS),  # each run's layer table rows, wherever its stamp says
    output:
        for_report(LAYER_SWEEP_FIGURES, category="Layers"),
    params:
        outdir=lambda w, output: str(Path(output[0]).parent),
        formats=CFG["figures"]["formats"],
        dpi=CFG["figures"]["dpi"],
        results=lambda w, input: str(Path(input.sweep).parent),
        runs=TOY_RUNS,
    log:
        f"{LOGS}/figures/layers_sweep.log",
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/layers_sweep.py"
