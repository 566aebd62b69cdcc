# Every final model, trained or external, on every subset's validation split: nats per token and
# bits per byte. Trained models read the val token files; an external model has its own
# tokenizer and reads the val documents (bits per byte compares the two). The models go in
# batches that fit resources.max_job_minutes (regeo.costs; one batch in the default), merged
# into one table.


rule evaluate:
    input:
        models=lambda wc: list(model_dirs(batch_trained(wc.batch)).values()),
        val=list(val_bins().values()),
        meta=expand(layout.token_meta("{subset}"), subset=SUBSETS),
        tokenizer=layout.tokenizer_dir(),
        external_tokenizers=lambda wc: [
            run_tokenizer(run) for run in batch_external(wc.batch)
        ],
        val_docs=lambda wc: (
            list(val_documents(SUBSETS).values()) if batch_external(wc.batch) else []
        ),
    output:
        layout.evaluation_batch("{batch}"),
    log:
        "logs/evaluate/{batch}.log",
    benchmark:
        layout.job_benchmark("evaluate", "{batch}")
    wildcard_constraints:
        batch=r"\d{3}",
    conda:
        "../../envs/train.yaml"
    resources:
        gpu=analysis_gpu("evaluate"),
        runtime=job_runtime("evaluate"),
        mem_mb=job_memory("evaluate"),
    params:
        evaluation={
            **config["evaluation"],
            "seq_len": config["training"]["seq_len"],
            "device": config["training"]["device"],
        },
        runs=lambda wc: run_table(
            {run: RUNS[run] for run in EVALUATE_BATCHES[wc.batch]}
        ),
        models=lambda wc: model_dirs(batch_trained(wc.batch)),
        val_bins=val_bins(),
        external=lambda wc: {
            run: {
                "settings": EXTERNAL_RUNS[run].settings(),
                "tokenizer": run_tokenizer(run),
            }
            for run in batch_external(wc.batch)
        },
        val_docs=lambda wc: val_documents(SUBSETS) if batch_external(wc.batch) else {},
    script:
        "../scripts/evaluate.py"


# The batches, in order, as one table: the one a single job would have written.
rule evaluate_merge:
    input:
        blocks=[layout.evaluation_batch(batch) for batch in EVALUATE_BATCHES],
    output:
        layout.evaluation_table(),
    log:
        "logs/evaluate/merge.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/merge_tables.py"
