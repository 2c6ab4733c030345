# The effective-width test (docs/effective_width.md), when `effective_width.enabled`: once every
# run's branch table exists, a checkpoint derives from each run with hidden layers one point per
# factor (hidden width = final branch count x factor) and writes them with their run ids; each
# derived point is trained into results/effective_width/runs/{run_id}/snapshots.zarr (a derived
# point equal to a sweep point reuses that run's store), and a last job compares accuracies.
# The derived point is a param, not read from the points table as an input: rewriting the table
# (a run added to the sweep) retrains nothing whose point did not change.


localrules:
    effective_width_points,
    effective_width_table,


checkpoint effective_width_points:
    input:
        analysis_inputs(EW_SOURCES),  # each run's branch table rows, wherever its stamp says
    output:
        f"{EW_DIR}/points.tsv",
    params:
        sources=EW_SOURCES,
        results=lambda w, input: str(Path(input[0]).parents[1]),  # a mapper or table folder
        factors=EW["factors"],
        combine=EW["combine"],
    log:
        f"{LOGS}/effective_width/points.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/effective_width_points.py"


rule train_effective_width:
    input:
        lambda w: train_data_inputs(derived_source(ew_points_table(), w.run_id)),
    output:
        directory(f"{EW_DIR}/runs/{{run_id}}/snapshots.zarr"),
    params:
        point=lambda w: derived_point(ew_points_table(), w.run_id),
        scratch=f"{EW_DIR}/checkpoints/{{run_id}}",
    log:
        f"{LOGS}/effective_width/train/{{run_id}}.log",
    threads: train_threads()
    resources:
        mem_mb=lambda w: jobsize.train_mem_mb(
            derived_point(ew_points_table(), w.run_id), CFG["checkpoint_every"], REGISTRY
        ),
        runtime=lambda w: jobsize.train_runtime(derived_point(ew_points_table(), w.run_id), REGISTRY),
    conda:
        ENV
    script:
        "../scripts/effective_width_train.py"


rule effective_width_table:
    input:
        points=f"{EW_DIR}/points.tsv",
        sources=[store(r) for r in EW_SOURCES],
        derived=effective_width_stores,
    output:
        table=f"{RESULTS}/effective_width.tsv",
        summary=f"{RESULTS}/effective_width_summary.tsv",
        figures=[f"{RESULTS}/figures/effective_width.{fmt}" for fmt in CFG["figures"]["formats"]],
    params:
        results=lambda w, output: str(Path(output.table).parent),
        sweep_ids=RUN_IDS,
        dpi=CFG["figures"]["dpi"],
    log:
        f"{LOGS}/effective_width/table.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/effective_width_table.py"
