# Training: one job per sweep point writes results/runs/{run_id}/snapshots.zarr. Checkpoints and the
# store in progress live under scratch(run_id), which no rule declares, so a killed job resumes.
# Items given by per_run() are constants when every run shares them (no function call per job).


rule train:
    input:
        per_run({r: run_dataset_files(r) for r in RUN_IDS}),
    output:
        directory(f"{RESULTS}/runs/{{run_id}}/snapshots.zarr"),
    params:
        point=per_run(POINTS),
        scratch=scratch("{run_id}"),
        data_root=CFG["data_root"],
    log:
        f"{LOGS}/train/{{run_id}}.log",
    threads: train_threads()
    resources:
        mem_mb=per_run({r: jobsize.train_mem_mb(p, CFG["checkpoint_every"]) for r, p in POINTS.items()}),
        runtime=per_run({r: jobsize.train_runtime(p) for r, p in POINTS.items()}),
    conda:
        ENV
    script:
        "../scripts/train.py"
