# Training: one job per sweep point writes results/runs/{run_id}/snapshots.zarr. Checkpoints and the
# store in progress live under scratch(run_id), which no rule declares, so a killed job resumes.


rule train:
    input:
        dataset_files,
    output:
        directory(f"{RESULTS}/runs/{{run_id}}/snapshots.zarr"),
    params:
        point=point,
        scratch=lambda wildcards: scratch(wildcards.run_id),
        data_root=CFG["data_root"],
    log:
        f"{LOGS}/train/{{run_id}}.log",
    threads: train_threads()
    resources:
        mem_mb=train_mem_mb,
        runtime=train_runtime,
    conda:
        ENV
    script:
        "../scripts/train.py"
