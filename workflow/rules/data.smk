# Raw documents -> register labels -> one train/val subset per register class or mix.


rule corpus:
    output:
        "results/corpus/documents.parquet",
    log:
        "logs/corpus.log",
    params:
        corpus=config["corpus"],
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/corpus.py"


rule registers:
    input:
        documents="results/corpus/documents.parquet",
    output:
        "results/corpus/registers.parquet",
    log:
        "logs/registers.log",
    params:
        registers=registers_params(),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/registers.py"


rule subset:
    input:
        documents="results/corpus/documents.parquet",
        registers="results/corpus/registers.parquet",
    output:
        train="results/subsets/{subset}/train.parquet",
        val="results/subsets/{subset}/val.parquet",
        stats="results/subsets/{subset}/stats.json",
    log:
        "logs/subset/{subset}.log",
    params:
        shares=lambda wc: SUBSET_SHARES[wc.subset],
        subsets=subset_params(),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/subset.py"
