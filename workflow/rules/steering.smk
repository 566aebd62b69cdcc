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
        native="results/steering/{source}__{target}.native.parquet",
        depth="results/steering/{source}__{target}.depth.parquet",
        next_token="results/steering/{source}__{target}.next_token.parquet",
        top_tokens="results/steering/{source}__{target}.top_tokens.parquet",
        samples="results/steering/{source}__{target}.samples.jsonl",
        vectors="results/steering/vectors/{source}__{target}.safetensors",
        maps="results/steering/maps/{source}__{target}.safetensors",
    log:
        "logs/steering/{source}__{target}.log",
    benchmark:
        "results/benchmarks/steering/{source}__{target}.tsv"
    wildcard_constraints:
        source=_alternatives(RUNS),
        target=_alternatives(RUNS),
    conda:
        "../../envs/train.yaml"
    threads: config["steering"]["threads"]
    resources:
        gpu=1,
        mem_mb=steering_memory,
    params:
        steering=STEERING_PARAMS,
        val_paths=val_documents(STEERING_SUBSETS),
        runs=lambda wc: {
            "source": steering_run(wc.source),
            "target": steering_run(wc.target),
        },
    script:
        "../scripts/steering.py"


# The pairs' tables joined: native effects once per (target, concept), transfers per (pair,
# concept, map), p adjusted across each table's family (regeo.steering.summary).
rule steering_summary:
    input:
        summaries=steering_tables("summary"),
        natives=steering_tables("native"),
        depths=steering_tables("depth"),
    output:
        transfer="results/steering/transfer.parquet",
        native="results/steering/native.parquet",
        by_relation="results/steering/transfer_by_relation.parquet",
        depth="results/steering/alignment_depth.parquet",
    log:
        "logs/steering/summary.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        adjustment=config["steering"]["adjustment"],
    script:
        "../scripts/steering_summary.py"


# The next-token distribution under steering over all pairs (RQ2b): KL per setting with its null,
# and the tokens that move; each pair job measured its own (the intervals need its replicates).
rule steering_next_token:
    input:
        kl=steering_tables("next_token"),
        tops=steering_tables("top_tokens"),
    output:
        kl="results/steering/next_token_kl.parquet",
        tops="results/steering/top_tokens.parquet",
        html=report(
            "results/steering/top_tokens.html",
            caption="../report/steering_top_tokens.rst",
            category="Steering transfer",
        ),
    log:
        "logs/steering/next_token.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/steering_next_token.py"


# What each saved steering vector reads as in the model it lives in (regeo explain's library):
# nearest input embeddings and the logit lens, per pair, concept and vector.
rule steering_readings:
    input:
        vectors=[
            f"results/steering/vectors/{a}__{b}.safetensors" for a, b in STEERING_PAIRS
        ],
        spaces=steering_spaces(),
    output:
        table="results/steering/vector_readings.parquet",
        html=report(
            "results/steering/vector_readings.html",
            caption="../report/steering_readings.rst",
            category="Steering transfer",
        ),
    log:
        "logs/steering/readings.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        pairs=[{"source": a, "target": b} for a, b in STEERING_PAIRS],
        # the results folder the vectors' runs live in: results/steering/vector_readings.parquet's
        results=lambda wc, output: os.path.dirname(os.path.dirname(output.table)),
        counts={run: run_counts(run) for run in steering_pair_runs()},
        k=config["steering"]["readings_k"],
    script:
        "../scripts/steering_readings.py"
