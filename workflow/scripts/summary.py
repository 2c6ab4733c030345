"""Write results/summary.tsv: one row per run with parameters, final metrics, flags, graph metrics."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (snakemake is injected)

from topolearn.utils.logs import logged  # noqa: E402
from topolearn.results.summary import make_summary  # noqa: E402

with logged(snakemake.log[0], "w"):  # noqa: F821
    i = snakemake.input  # noqa: F821
    # the analysis tables of every run of the sweep table, read through topolearn.analysis.tables
    df = make_summary(i.sweep, snakemake.params.stores, snakemake.output[0], coords_tsv=i.coords,  # noqa: F821
                      stress_tsv=i.stress, stability=i.stability, threads=snakemake.threads,  # noqa: F821
                      circles=i.circles)
    not_analysed = df[df["analysis_status"].fillna("ok") != "ok"]
    print(f"{len(df)} runs, {int(df['diverged'].sum())} diverged, {int(df['empty_graphs'].sum())} with empty graphs, "
          f"{len(not_analysed)} not analysed")
    for rid, status, reason in not_analysed[["run_id", "analysis_status", "analysis_reason"]].itertuples(index=False):
        print(f"  {rid}: {status}: {reason}")
