# Steering-vector transfer (Emb2Emb): one job per ordered (source, target) pair of final models,
# then one summary of every pair. A pair job loads two models and runs a few hundred forward
# passes: on a cluster it is a GPU job of its own (steering.device: auto), and the pair jobs
# are all of one shape, so they suit one SLURM job array (slurm-array-jobs in the profile).


rule steering:
    input:
        source=lambda wc: f"results/runs/{wc.source}/model",
        target=lambda wc: f"results/runs/{wc.target}/model",
        val=list(val_documents(STEERING_SUBSETS).values()),
        # A run without a count table (none known) has every token counted as seen.
        source_counts=lambda wc: [c for c in [run_counts(wc.source)] if c],
        target_counts=lambda wc: [c for c in [run_counts(wc.target)] if c],
    output:
        sweep="results/steering/{source}__{target}.parquet",
        summary="results/steering/{source}__{target}.summary.parquet",
        depth="results/steering/{source}__{target}.depth.parquet",
        samples="results/steering/{source}__{target}.samples.jsonl",
        vectors="results/steering/vectors/{source}__{target}.safetensors",
        maps="results/steering/maps/{source}__{target}.safetensors",
    log:
        "logs/steering/{source}__{target}.log",
    benchmark:
        "results/benchmarks/steering/{source}__{target}.tsv"
    params:
        steering=STEERING_PARAMS,
        val_paths=val_documents(STEERING_SUBSETS),
        runs=lambda wc: {
            "source": steering_run(wc.source),
            "target": steering_run(wc.target),
        },
    wildcard_constraints:
        source=_alternatives(RUNS),
        target=_alternatives(RUNS),
    threads: config["steering"]["threads"]
    resources:
        gpu=1,
        # Peak RSS measured on 2 CPU cores: under 1.1 GB between the default's models, 6.5 GB for
        # SmolLM2-135M onto itself (two copies of its 49,152-row embedding map and its retrieval
        # over the whole vocabulary); the profile's 4 GB would not hold it.
        mem_mb=lambda wc, attempt: 8000 * attempt,
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/steering.py"


rule steering_summary:
    input:
        summaries=steering_tables("summary"),
        depths=steering_tables("depth"),
    output:
        transfer="results/steering/transfer.parquet",
        depth="results/steering/alignment_depth.parquet",
    log:
        "logs/steering/summary.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/steering_summary.py"
