# Figures: one local job per run (all of its figures in one Python process) and one for the sweep.
# The preferred format of each figure (png, else svg, else pdf) goes into the Snakemake report.


localrules:
    plot_run,
    plot_sweep,


FIG = CFG["figures"]
REPORT_FORMAT = next(f for f in ("png", "svg", "pdf") if f in FIG["formats"])


def _for_report(paths, **kw):
    """Flag the report format of every figure for the report, with its caption."""
    out = []
    for path in paths:
        name, fmt = Path(path).name.rsplit(".", 1)
        if fmt == REPORT_FORMAT:
            path = report(path, caption=f"../report/{name}.rst", labels={"figure": name.replace("_", " ")}, **kw)
        out.append(path)
    return out


def run_title(wildcards):
    """Report subcategory of a run: its id and the swept values that set it apart."""
    p = POINTS[wildcards.run_id]
    varied = [k for k in p if len({repr(q[k]) for q in POINTS.values()}) > 1]
    return wildcards.run_id + (" (" + ", ".join(f"{k}={p[k]}" for k in varied) + ")" if varied else "")


rule plot_run:
    input:
        store=store("{run_id}"),
        branching=f"{RESULTS}/branching/{{run_id}}.tsv",
        mapper=mapper_jsons,
    output:
        _for_report(run_figures("{run_id}"), category="Runs", subcategory=run_title),
    params:
        outdir=lambda w: f"{RESULTS}/figures/runs/{w.run_id}",
        formats=FIG["formats"],
        dpi=FIG["dpi"],
        image_epochs=FIG["weight_image_epochs"],
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
        _for_report(sweep_figures(), category="Sweep"),
    params:
        outdir=f"{RESULTS}/figures/sweep",
        formats=FIG["formats"],
        dpi=FIG["dpi"],
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
