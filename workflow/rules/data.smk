# Raw documents (in shards) -> label probabilities (per shard) -> labels and classes -> one
# train/val subset per register class or mix. The text stays in the shards: the corpus index
# and the registers hold lengths and labels, and a subset reads back only the text it selected.


rule corpus_shard:
    output:
        "results/corpus/shards/{shard}.parquet",
    log:
        "logs/corpus_shard/{shard}.log",
    benchmark:
        "results/benchmarks/corpus_shard/{shard}.tsv"
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=data_memory,
    params:
        corpus=config["corpus"],
    script:
        "../scripts/corpus_shard.py"


rule corpus:
    input:
        expand("results/corpus/shards/{shard}.parquet", shard=SHARDS),
    output:
        "results/corpus/index.parquet",
    log:
        "logs/corpus.log",
    benchmark:
        "results/benchmarks/corpus.tsv"
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=data_memory,
    script:
        "../scripts/corpus.py"


rule register_probabilities:
    input:
        shard="results/corpus/shards/{shard}.parquet",
    output:
        "results/corpus/probabilities/{shard}.parquet",
    log:
        "logs/register_probabilities/{shard}.log",
    benchmark:
        "results/benchmarks/register_probabilities/{shard}.tsv"
    conda:
        "../../envs/data.yaml"
    resources:
        # the classifier runs on a GPU; metadata and precomputed probabilities need none
        gpu=1 if config["registers"]["method"] == "classifier" else 0,
    params:
        registers=probability_params(),
        state="results/corpus/probabilities/{shard}.state.parquet",
    script:
        "../scripts/register_probabilities.py"


rule registers:
    input:
        index="results/corpus/index.parquet",
        probabilities=expand(
            "results/corpus/probabilities/{shard}.parquet", shard=SHARDS
        ),
    output:
        "results/corpus/registers.parquet",
    log:
        "logs/registers.log",
    benchmark:
        "results/benchmarks/registers.tsv"
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=data_memory,
    params:
        rules=labeling_params(),
    script:
        "../scripts/registers.py"


rule subset:
    input:
        shards=expand("results/corpus/shards/{shard}.parquet", shard=SHARDS),
        registers="results/corpus/registers.parquet",
    output:
        train="results/subsets/{subset}/train.parquet",
        val="results/subsets/{subset}/val.parquet",
        stats="results/subsets/{subset}/stats.json",
    log:
        "logs/subset/{subset}.log",
    benchmark:
        "results/benchmarks/subset/{subset}.tsv"
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=data_memory,
    params:
        shares=lambda wc: SUBSET_SHARES[wc.subset],
        subsets=subset_params(),
    script:
        "../scripts/subset.py"
