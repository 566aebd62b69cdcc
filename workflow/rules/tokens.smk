# One tokenizer shared by every run (so embedding rows align across models), then token files.


rule tokenizer:
    input:
        expand("results/subsets/{subset}/train.parquet", subset=SUBSETS),
    output:
        directory("results/tokenizer"),
    log:
        "logs/tokenizer.log",
    benchmark:
        "results/benchmarks/tokenizer.tsv"
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=data_memory,
    params:
        tokenizer=tokenizer_params(),
    script:
        "../scripts/tokenizer.py"


rule tokens:
    input:
        tokenizer="results/tokenizer",
        train="results/subsets/{subset}/train.parquet",
        val="results/subsets/{subset}/val.parquet",
    output:
        train="results/tokens/{subset}/train.bin",
        val="results/tokens/{subset}/val.bin",
        counts="results/tokens/{subset}/counts.parquet",
        meta="results/tokens/{subset}/meta.json",
    log:
        "logs/tokens/{subset}.log",
    benchmark:
        "results/benchmarks/tokens/{subset}.tsv"
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=data_memory,
    params:
        budget=subset_params(),
    script:
        "../scripts/tokens.py"
