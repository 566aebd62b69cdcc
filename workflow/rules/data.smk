# Raw documents (in shards) -> label probabilities (per shard) -> labels and classes -> one
# train/val subset per register class or mix. The text stays in the shards: the corpus index
# and the registers hold lengths and labels, and a subset reads back only the text it selected.


rule corpus_shard:
    output:
        layout.corpus_shard("{shard}"),
    log:
        "logs/corpus_shard/{shard}.log",
    benchmark:
        layout.job_benchmark("corpus_shard", "{shard}")
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
        expand(layout.corpus_shard("{shard}"), shard=SHARDS),
    output:
        layout.corpus_index(),
    log:
        "logs/corpus.log",
    benchmark:
        layout.job_benchmark("corpus")
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=data_memory,
    script:
        "../scripts/corpus.py"


rule register_probabilities:
    input:
        shard=layout.corpus_shard("{shard}"),
    output:
        layout.probabilities("{shard}"),
    log:
        "logs/register_probabilities/{shard}.log",
    benchmark:
        layout.job_benchmark("register_probabilities", "{shard}")
    conda:
        "../../envs/data.yaml"
    resources:
        # the classifier runs on a GPU; metadata and precomputed probabilities need none
        gpu=1 if config["registers"]["method"] == "classifier" else 0,
    params:
        registers=probability_params(),
        state=layout.probabilities_state("{shard}"),
    script:
        "../scripts/register_probabilities.py"


rule registers:
    input:
        index=layout.corpus_index(),
        probabilities=expand(layout.probabilities("{shard}"), shard=SHARDS),
    output:
        layout.registers_table(),
    log:
        "logs/registers.log",
    benchmark:
        layout.job_benchmark("registers")
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
        shards=expand(layout.corpus_shard("{shard}"), shard=SHARDS),
        registers=layout.registers_table(),
    output:
        train=layout.subset_split("{subset}", "train"),
        val=layout.subset_split("{subset}", "val"),
        stats=layout.subset_stats("{subset}"),
    log:
        "logs/subset/{subset}.log",
    benchmark:
        layout.job_benchmark("subset", "{subset}")
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=data_memory,
    params:
        shares=lambda wc: SUBSET_SHARES[wc.subset],
        subsets=subset_params(),
    script:
        "../scripts/subset.py"
