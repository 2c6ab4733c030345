# Training. Runs whose store is missing train in packs: one job trains up to `pack_size` networks
# of equal shape and schedule as one batched computation (topolearn.train.loop), each into its own
# store. A finished run belongs to the per-run rule `train`, which trains it alone when forced.
# Checkpoints and stores in progress live under results/checkpoints/{run_id}/, which no rule
# declares, so a killed job resumes. The scripts read each run's point from the config by run id:
# no params, so a run's recorded provenance is the same whichever job trained it.

for _members in PACKS:

    rule:
        name:
            f"train_pack_{packing.group_id(_members)}"
        input:
            train_data_inputs(_members[0]),
        output:
            [directory(store(r)) for r in _members],
        log:
            f"{LOGS}/train/pack_{packing.group_id(_members)}.log",
        threads: train_threads()
        group:
            job_group(_members)
        resources:
            **{"mem_mb": pack_mem_mb(_members), "runtime": pack_runtime(_members), **CFG["resources"]["train"]},
        conda:
            ENV
        script:
            "../scripts/train_pack.py"


rule train:
    input:
        lambda w: train_data_inputs(w.run_id),
    output:
        directory(store("{run_id}")),
    log:
        f"{LOGS}/train/{{run_id}}.log",
    threads: train_threads()
    resources:
        **{
            "mem_mb": lambda w: pack_mem_mb([w.run_id]),
            "runtime": lambda w: pack_runtime([w.run_id]),
            **CFG["resources"]["train"],
        },
    conda:
        ENV
    script:
        "../scripts/train_pack.py"
