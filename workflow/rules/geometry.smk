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
    params:
        id=config["geometry"]["id"],
        bootstrap=config["geometry"]["bootstrap"],
        runs=final_models(),
    script:
        "../scripts/id_comparison.py"


# Global similarity of every unordered pair of final models (the measures are symmetric): one job
# for the whole matrix, each dump read once per partner. Tokens: seen by both runs (min_count).
rule global_similarity:
    input:
        dumps=[final_dump(run) for run in RUNS],
        init_dumps=[run_dumps(run)[0] for run in RUNS],
        tokenizers=sorted({run_tokenizer(run) for run in RUNS}),
        counts=sorted({c for c in map(run_counts, RUNS) if c}),
    output:
        layout.geometry_table("global_similarity"),
    log:
        "logs/global_similarity.log",
    benchmark:
        layout.job_benchmark("global_similarity")
    conda:
        "../../envs/analysis.yaml"
    threads: config["geometry"]["threads"]
    params:
        similarity=config["geometry"]["similarity"],
        min_count=config["geometry"]["id"]["min_count"],
        bootstrap=config["geometry"]["bootstrap"],
        runs=final_models(),
        postprocess=config["geometry"]["postprocess"],
    script:
        "../scripts/global_similarity.py"


# LLE comparison of every ordered pair (A, B) of final models (B rebuilt with A's weights is not
# A rebuilt with B's): one job; both directions of a pair share one neighbour search per model.
rule lle_comparison:
    input:
        dumps=[final_dump(run) for run in RUNS],
        init_dumps=[run_dumps(run)[0] for run in RUNS],
        tokenizers=sorted({run_tokenizer(run) for run in RUNS}),
        counts=sorted({c for c in map(run_counts, RUNS) if c}),
    output:
        layout.geometry_table("lle_comparison"),
    log:
        "logs/lle_comparison.log",
    benchmark:
        layout.job_benchmark("lle_comparison")
    conda:
        "../../envs/analysis.yaml"
    threads: config["geometry"]["threads"]
    params:
        lle=config["geometry"]["lle"],
        min_count=config["geometry"]["id"]["min_count"],
        bootstrap=config["geometry"]["bootstrap"],
        runs=final_models(),
        postprocess=config["geometry"]["postprocess"],
    script:
        "../scripts/lle_comparison.py"


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
