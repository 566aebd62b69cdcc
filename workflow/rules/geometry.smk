# Intrinsic dimension of the token embeddings at every dump of every run.


rule id_dynamics:
    input:
        dumps=lambda wc: run_dumps(wc.run),
        # A trained run's token file: which tokens were an input by each dump follows from it and
        # the batch schedule. None for an external run (its training data is unknown): every
        # token is analysed.
        train_tokens=lambda wc: run_train_tokens(wc.run),
    output:
        table=layout.id_table("{run}"),
        per_token=layout.id_per_token("{run}"),
    log:
        "logs/id_dynamics/{run}.log",
    benchmark:
        layout.job_benchmark("id_dynamics", "{run}")
    conda:
        "../../envs/analysis.yaml"
    threads: config["geometry"]["threads"]
    resources:
        gpu=analysis_gpu("id_dynamics"),
        runtime=job_runtime("id_dynamics"),
        mem_mb=job_memory("id_dynamics"),
    params:
        # not the comparison's nulls and metrics: changing those reruns id_comparison only
        id={
            k: v
            for k, v in config["geometry"]["id"].items()
            if k not in ("comparison_nulls", "comparison_metrics", "frequency_bins")
        },
        bootstrap=config["geometry"]["bootstrap"],
        schedule=lambda wc: batch_schedule(wc.run),
        subset=lambda wc: run_subset(wc.run),
    script:
        "../scripts/id_dynamics.py"


# Every final model's ID on the same tokens (those all runs saw), so registers compare at equal n.
rule id_comparison:
    input:
        dumps=[final_dump(run) for run in RUNS],
        tokenizers=sorted({run_tokenizer(run) for run in RUNS}),
        counts=sorted({c for c in map(run_counts, RUNS) if c}),
    output:
        table=layout.geometry_table("id_comparison"),
        differences=layout.geometry_table("id_comparison_differences"),
        strata=layout.geometry_table("id_comparison_strata"),
    log:
        "logs/id_comparison.log",
    benchmark:
        layout.job_benchmark("id_comparison")
    conda:
        "../../envs/analysis.yaml"
    threads: config["geometry"]["threads"]
    resources:
        gpu=analysis_gpu("id_comparison"),
        runtime=job_runtime("id_comparison"),
        mem_mb=job_memory("id_comparison"),
    params:
        id=config["geometry"]["id"],
        bootstrap=config["geometry"]["bootstrap"],
        runs=final_models(),
    script:
        "../scripts/id_comparison.py"


# Global similarity of every unordered pair of final models (the measures are symmetric), in
# blocks of pairs that fit resources.max_job_minutes (regeo.costs; one block in the default), each
# dump read once per partner. Tokens: seen by both runs (min_count).
rule global_similarity:
    input:
        dumps=lambda wc: [
            final_dump(run) for run in block_runs("global_similarity", wc.block)
        ],
        init_dumps=lambda wc: [
            run_dumps(run)[0] for run in block_runs("global_similarity", wc.block)
        ],
        tokenizers=lambda wc: sorted(
            {run_tokenizer(run) for run in block_runs("global_similarity", wc.block)}
        ),
        counts=lambda wc: block_counts("global_similarity", wc.block),
    output:
        layout.geometry_block("global_similarity", "{block}"),
    log:
        "logs/global_similarity/{block}.log",
    benchmark:
        layout.job_benchmark("global_similarity", "{block}")
    wildcard_constraints:
        block=r"\d{3}",
    conda:
        "../../envs/analysis.yaml"
    threads: config["geometry"]["threads"]
    resources:
        gpu=analysis_gpu("global_similarity"),
        runtime=job_runtime("global_similarity"),
        mem_mb=job_memory("global_similarity"),
    params:
        similarity=config["geometry"]["similarity"],
        min_count=config["geometry"]["id"]["min_count"],
        bootstrap=config["geometry"]["bootstrap"],
        runs=lambda wc: block_models("global_similarity", wc.block),
        pairs=lambda wc: PAIR_BLOCKS["global_similarity"][wc.block],
        postprocess=config["geometry"]["postprocess"],
    script:
        "../scripts/global_similarity.py"


# The blocks, in order, as one table: the one a single job would have written.
rule global_similarity_merge:
    input:
        blocks=[
            layout.geometry_block("global_similarity", block)
            for block in PAIR_BLOCKS["global_similarity"]
        ],
    output:
        layout.geometry_table("global_similarity"),
    log:
        "logs/global_similarity/merge.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/merge_tables.py"


# LLE comparison of every ordered pair (A, B) of final models (B rebuilt with A's weights is not
# A rebuilt with B's), in blocks of unordered pairs as global_similarity; both directions of a
# pair share one neighbour search per model.
rule lle_comparison:
    input:
        dumps=lambda wc: [
            final_dump(run) for run in block_runs("lle_comparison", wc.block)
        ],
        init_dumps=lambda wc: [
            run_dumps(run)[0] for run in block_runs("lle_comparison", wc.block)
        ],
        tokenizers=lambda wc: sorted(
            {run_tokenizer(run) for run in block_runs("lle_comparison", wc.block)}
        ),
        counts=lambda wc: block_counts("lle_comparison", wc.block),
    output:
        layout.geometry_block("lle_comparison", "{block}"),
    log:
        "logs/lle_comparison/{block}.log",
    benchmark:
        layout.job_benchmark("lle_comparison", "{block}")
    wildcard_constraints:
        block=r"\d{3}",
    conda:
        "../../envs/analysis.yaml"
    threads: config["geometry"]["threads"]
    resources:
        gpu=analysis_gpu("lle_comparison"),
        runtime=job_runtime("lle_comparison"),
        mem_mb=job_memory("lle_comparison"),
    params:
        lle=config["geometry"]["lle"],
        min_count=config["geometry"]["id"]["min_count"],
        bootstrap=config["geometry"]["bootstrap"],
        runs=lambda wc: block_models("lle_comparison", wc.block),
        pairs=lambda wc: PAIR_BLOCKS["lle_comparison"][wc.block],
        postprocess=config["geometry"]["postprocess"],
    script:
        "../scripts/lle_comparison.py"


rule lle_comparison_merge:
    input:
        blocks=[
            layout.geometry_block("lle_comparison", block)
            for block in PAIR_BLOCKS["lle_comparison"]
        ],
    output:
        layout.geometry_table("lle_comparison"),
    log:
        "logs/lle_comparison/merge.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/merge_tables.py"


# Each run's embeddings at every dump against its own final dump (same tokens as the ID table).
rule similarity_over_training:
    input:
        dumps=lambda wc: run_dumps(wc.run),
        counts=lambda wc: [c for c in [run_counts(wc.run)] if c],
    output:
        layout.similarity_over_training("{run}"),
    log:
        "logs/similarity_over_training/{run}.log",
    benchmark:
        layout.job_benchmark("similarity_over_training", "{run}")
    conda:
        "../../envs/analysis.yaml"
    threads: config["geometry"]["threads"]
    resources:
        gpu=analysis_gpu("similarity_over_training"),
        runtime=job_runtime("similarity_over_training"),
        mem_mb=job_memory("similarity_over_training"),
    params:
        similarity=config["geometry"]["similarity"],
        min_count=config["geometry"]["id"]["min_count"],
        bootstrap=config["geometry"]["bootstrap"],
        subset=lambda wc: run_subset(wc.run),
    script:
        "../scripts/similarity_over_training.py"


# Anisotropy, isotropy, rogue dimensions, spectrum and norms at every dump of every run, on the ID
# table's tokens; the run's training counts give the norm-frequency row.
rule properties:
    input:
        dumps=lambda wc: run_dumps(wc.run),
        train_tokens=lambda wc: run_train_tokens(wc.run),
        counts=lambda wc: [c for c in [run_counts(wc.run)] if c],
    output:
        table=layout.properties_table("{run}"),
    log:
        "logs/properties/{run}.log",
    benchmark:
        layout.job_benchmark("properties", "{run}")
    conda:
        "../../envs/analysis.yaml"
    threads: config["geometry"]["threads"]
    resources:
        gpu=analysis_gpu("properties"),
        runtime=job_runtime("properties"),
        mem_mb=job_memory("properties"),
    params:
        properties={
            **config["geometry"]["properties"],
            "min_count": config["geometry"]["id"]["min_count"],
            "null_seed": config["geometry"]["id"]["null_seed"],
        },
        bootstrap=config["geometry"]["bootstrap"],
        schedule=lambda wc: batch_schedule(wc.run),
        subset=lambda wc: run_subset(wc.run),
    script:
        "../scripts/properties.py"


# Every final model's properties on the tokens all of them saw, so that registers are compared on
# the same tokens (each run's own table holds the tokens it saw), as id_comparison does for the ID.
rule properties_comparison:
    input:
        dumps=[final_dump(run) for run in RUNS],
        tokenizers=sorted({run_tokenizer(run) for run in RUNS}),
        counts=sorted({c for c in map(run_counts, RUNS) if c}),
    output:
        table=layout.geometry_table("properties_comparison"),
    log:
        "logs/properties_comparison.log",
    benchmark:
        layout.job_benchmark("properties_comparison")
    conda:
        "../../envs/analysis.yaml"
    threads: config["geometry"]["threads"]
    resources:
        runtime=job_runtime("properties_comparison"),
        mem_mb=job_memory("properties_comparison"),
    params:
        properties={
            **config["geometry"]["properties"],
            "min_count": config["geometry"]["id"]["min_count"],
            "null_seed": config["geometry"]["id"]["null_seed"],
        },
        bootstrap=config["geometry"]["bootstrap"],
        runs=final_models(),
    script:
        "../scripts/properties_comparison.py"
