# Raw documents (in shards) -> label probabilities (per shard) -> labels and classes -> one
# train/val subset per register class or mix.


rule corpus_shard:
    output:
        "results/corpus/shards/{shard}.parquet",
    log:
        "logs/corpus_shard/{shard}.log",
    params:
        corpus=config["corpus"],
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/corpus_shard.py"


rule corpus:
    input:
        expand("results/corpus/shards/{shard}.parquet", shard=SHARDS),
    output:
        "results/corpus/documents.parquet",
    log:
        "logs/corpus.log",
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/corpus.py"


rule register_probabilities:
    input:
        shard="results/corpus/shards/{shard}.parquet",
    output:
        "results/corpus/probabilities/{shard}.parquet",
    log:
        "logs/register_probabilities/{shard}.log",
    params:
        registers=probability_params(),
        state="results/corpus/probabilities/{shard}.state.parquet",
    resources:
        # the classifier runs on a GPU; metadata and precomputed probabilities need none
        gpu=1 if config["registers"]["method"] == "classifier" else 0,
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/register_probabilities.py"


rule registers:
    input:
        documents="results/corpus/documents.parquet",
        probabilities=expand("results/corpus/probabilities/{shard}.parquet", shard=SHARDS),
    output:
        "results/corpus/registers.parquet",
    log:
        "logs/registers.log",
    params:
        rules=labeling_params(),
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
