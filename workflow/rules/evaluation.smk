# Every trained final model on every subset's validation split. External runs are left out: their
# models read token ids of their own tokenizer, and the val splits hold the shared tokenizer's.


rule evaluate:
    input:
        models=list(model_dirs(TRAINED_RUNS).values()),
        val=list(val_bins().values()),
        meta=expand("results/tokens/{subset}/meta.json", subset=SUBSETS),
    output:
        "results/eval/cross_register.parquet",
    log:
        "logs/evaluate.log",
    benchmark:
        "results/benchmarks/evaluate.tsv"
    params:
        evaluation={
            **config["evaluation"],
            "seq_len": config["training"]["seq_len"],
            "device": config["training"]["device"],
        },
        runs=run_table(TRAINED_RUNS),
        models=model_dirs(TRAINED_RUNS),
        val_bins=val_bins(),
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/evaluate.py"
