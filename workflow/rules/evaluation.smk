# Every final model, trained or external, on every subset's validation split: nats per token and
# bits per byte. Trained models read the val token files; an external model has its own
# tokenizer and reads the val documents (bits per byte compares the two).


rule evaluate:
    input:
        models=list(model_dirs(TRAINED_RUNS).values()),
        val=list(val_bins().values()),
        meta=expand(layout.token_meta("{subset}"), subset=SUBSETS),
        tokenizer=layout.tokenizer_dir(),
        external_tokenizers=[run_tokenizer(run) for run in EXTERNAL_RUNS],
        val_docs=list(val_documents(SUBSETS).values()) if EXTERNAL_RUNS else [],
    output:
        layout.evaluation_table(),
    log:
        "logs/evaluate.log",
    benchmark:
        layout.job_benchmark("evaluate")
    conda:
        "../../envs/train.yaml"
    params:
        evaluation={
            **config["evaluation"],
            "seq_len": config["training"]["seq_len"],
            "device": config["training"]["device"],
        },
        runs=run_table(),
        models=model_dirs(TRAINED_RUNS),
        val_bins=val_bins(),
        external={
            run: {"settings": r.settings(), "tokenizer": run_tokenizer(run)}
            for run, r in EXTERNAL_RUNS.items()
        },
        val_docs=val_documents(SUBSETS) if EXTERNAL_RUNS else {},
    script:
        "../scripts/evaluate.py"
