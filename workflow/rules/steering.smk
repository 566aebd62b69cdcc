# Steering-vector transfer (Emb2Emb): one job per ordered (source, target) pair of final models,
# then one summary of every pair. A pair job loads two models and runs a few hundred forward
# passes: on a cluster it is a GPU job of its own (steering.device: auto).


rule steering:
    input:
        source=lambda wc: layout.model_dir(wc.source),
        target=lambda wc: layout.model_dir(wc.target),
        val=list(val_documents(STEERING_SUBSETS).values()),
        # A run without a count table (none known) has every token counted as seen.
        source_counts=lambda wc: [c for c in [run_counts(wc.source)] if c],
        target_counts=lambda wc: [c for c in [run_counts(wc.target)] if c],
    output:
        sweep=layout.steering_pair("{source}", "{target}"),
        summary=layout.steering_pair("{source}", "{target}", "summary"),
        native=layout.steering_pair("{source}", "{target}", "native"),
        depth=layout.steering_pair("{source}", "{target}", "depth"),
        next_token=layout.steering_pair("{source}", "{target}", "next_token"),
        top_tokens=layout.steering_pair("{source}", "{target}", "top_tokens"),
        passages=layout.steering_pair("{source}", "{target}", "passages"),
        depth_effects=layout.steering_pair("{source}", "{target}", "depth_effects"),
        samples=layout.steering_pair("{source}", "{target}", "samples"),
        vectors=layout.steering_vectors("{source}", "{target}"),
        maps=layout.steering_maps("{source}", "{target}"),
    log:
        "logs/steering/{source}__{target}.log",
    benchmark:
        layout.job_benchmark("steering", "{source}__{target}")
    wildcard_constraints:
        source=_alternatives(RUNS),
        target=_alternatives(RUNS),
    conda:
        "../../envs/train.yaml"
    threads: config["steering"]["threads"]
    resources:
        gpu=1,
        runtime=job_runtime("steering"),
        mem_mb=job_memory("steering"),
    params:
        steering=lambda wc: steering_params(wc.source, wc.target),
        val_paths=val_documents(STEERING_SUBSETS),
        runs=lambda wc: {
            "source": steering_run(wc.source),
            "target": steering_run(wc.target),
        },
    script:
        "../scripts/steering.py"


# The pairs' tables joined: native effects once per (target, concept, method), transfers per
# (pair, concept, method, map), the layer sweep and the per-passage effects, p adjusted across
# each table's family (regeo.steering.summary).
rule steering_summary:
    input:
        summaries=steering_tables("summary"),
        natives=steering_tables("native"),
        depths=steering_tables("depth"),
        depth_effects=steering_tables("depth_effects"),
        passages=steering_tables("passages"),
    output:
        transfer=layout.steering_table("transfer.parquet"),
        native=layout.steering_table("native.parquet"),
        by_relation=layout.steering_table("transfer_by_relation.parquet"),
        depth=layout.steering_table("alignment_depth.parquet"),
        depth_effects=layout.steering_table("depth_effects.parquet"),
        passages=layout.steering_table("passage_effects.parquet"),
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
        kl=layout.steering_table("next_token_kl.parquet"),
        tops=layout.steering_table("top_tokens.parquet"),
        html=report(
            layout.steering_table("top_tokens.html"),
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
        vectors=[layout.steering_vectors(a, b) for a, b in STEERING_PAIRS],
        spaces=steering_spaces(),
    output:
        table=layout.steering_table("vector_readings.parquet"),
        html=report(
            layout.steering_table("vector_readings.html"),
            caption="../report/steering_readings.rst",
            category="Steering transfer",
        ),
    log:
        "logs/steering/readings.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        pairs=[{"source": a, "target": b} for a, b in STEERING_PAIRS],
        # the results folder the vectors' runs live in (their files are this rule's inputs),
        # found from the output so that the rule runs where results/ is not the working directory's
        results=lambda wc, output: os.path.dirname(os.path.dirname(output.table)),
        counts={run: run_counts(run) for run in steering_pair_runs()},
        k=config["steering"]["readings_k"],
    script:
        "../scripts/steering_readings.py"


# Does transfer follow from what is known before steering? The rank correlation of the map's
# held-out checks and the vectors' logit-lens agreement with the transfer ratio, with a
# permutation p over pairs (regeo.steering.predictors).
rule steering_predictors:
    input:
        transfer=layout.steering_table("transfer.parquet"),
        readings=layout.steering_table("vector_readings.parquet"),
    output:
        layout.steering_table("transfer_predictors.parquet"),
    log:
        "logs/steering/predictors.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        permutations=config["steering"]["predictor_permutations"],
        adjustment=config["steering"]["adjustment"],
        seed=config["steering"]["seed"],
    script:
        "../scripts/steering_predictors.py"


# Judged generations (issue 31): per pair, B's native and transferred vectors from the pair job's
# file, generations from held-out prompts scored by a register judge, their fluency, and the val
# loss with the vector (regeo.steering.judged); the tfidf judge is fit on the subsets' train text.
rule steering_judge:
    input:
        target=lambda wc: layout.model_dir(wc.target),
        vectors=layout.steering_vectors("{source}", "{target}"),
        val=list(val_documents(STEERING_SUBSETS).values()),
        train=list(train_documents(STEERING_SUBSETS).values()),
    output:
        table=layout.steering_judged("{source}", "{target}"),
        samples=layout.steering_judged("{source}", "{target}", "samples"),
    log:
        "logs/steering_judge/{source}__{target}.log",
    benchmark:
        layout.job_benchmark("steering_judge", "{source}__{target}")
    wildcard_constraints:
        source=_alternatives(RUNS),
        target=_alternatives(RUNS),
    conda:
        "../../envs/train.yaml"
    threads: config["steering"]["threads"]
    resources:
        gpu=1,
        runtime=job_runtime("steering_judge"),
        mem_mb=job_memory("steering_judge"),
    params:
        judge=lambda wc: steering_judge_params(wc.source, wc.target),
        classifier=steering_judge_classifier_params(),
        val_paths=val_documents(STEERING_SUBSETS),
        train_paths=train_documents(STEERING_SUBSETS),
    script:
        "../scripts/steering_judge.py"


# One card per (pair, concept, vector): effect, per-passage columns where the pair tables carry
# them, and the judged changes, p adjusted across the cards' family (regeo.steering.cards).
rule steering_cards:
    input:
        judged=[layout.steering_judged(a, b) for a, b in STEERING_PAIRS],
        transfer=layout.steering_table("transfer.parquet"),
        native=layout.steering_table("native.parquet"),
    output:
        cards=layout.steering_table("cards.parquet"),
        judged=layout.steering_table("judged.parquet"),
        html=report(
            layout.steering_table("cards.html"),
            caption="../report/steering_cards.rst",
            category="Steering transfer",
        ),
    log:
        "logs/steering/cards.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        adjustment=config["steering"]["adjustment"],
    script:
        "../scripts/steering_cards.py"


# Every saved vector as a llama.cpp control vector (the GGUF repeng writes), one folder per pair.
rule steering_control_vectors:
    input:
        vectors=[layout.steering_vectors(a, b) for a, b in STEERING_PAIRS],
        models=[layout.model_dir(run) for run in steering_pair_runs()],
    output:
        folders=[
            directory(layout.steering_control_vectors(a, b)) for a, b in STEERING_PAIRS
        ],
    log:
        "logs/steering/control_vectors.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        pairs=[{"source": a, "target": b} for a, b in STEERING_PAIRS],
        model_dirs=model_dirs(steering_pair_runs()),
    script:
        "../scripts/steering_control_vectors.py"
