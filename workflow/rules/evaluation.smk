# Every final model, trained or external, on every subset's validation split: nats per token and
# bits per byte. Trained models read the val token files; an external model has its own
# tokenizer and reads the val documents (bits per byte compares the two).


rule evaluate:
    input:
        models=list(model_dirs(TRAINED_RUNS).values()),
        val=list(val_bins().values()),
        meta=expand("results/tokens/{subset}/meta.json", subset=SUBSETS),
        tokenizer="results/tokenizer",
        external_tokenizers=[run_tokenizer(run) for run in EXTERNAL_RUNS],
        val_docs=list(val_documents(SUBSETS).values()) if EXTERNAL_RUNS else [],
    output:
        "results/eval/cross_register.parquet",
    log:
        "logs/evaluate.log",
    benchmark:
        "results/benchmarks/evaluate.tsv"
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
