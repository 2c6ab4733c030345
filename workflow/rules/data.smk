# Datasets: the IDX files of mnist, fashion-mnist and kmnist under {data_root}/{dataset}/ (digits
# ships with scikit-learn). One job per file, so a partly pre-staged folder keeps its files:
# Snakemake deletes a job's existing outputs before running it.


localrules:
    fetch_data,


rule fetch_data:
    output:
        f"{CFG['data_root']}/{{dataset}}/{{idx_file}}",
    log:
        f"{LOGS}/fetch_data/{{dataset}}/{{idx_file}}.log",
    wildcard_constraints:
        idx_file="|".join(f.replace(".", r"\.") for f in IDX_FILES),
    threads: 1
    resources:
        mem_mb=500,
        runtime=30,
    conda:
        ENV
    script:
        "../scripts/fetch_data.py"
