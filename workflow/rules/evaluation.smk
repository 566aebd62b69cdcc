# Every final model on every subset's validation split.


rule evaluate:
    input:
        models=expand("results/runs/{run}/model", run=RUNS),
        val=expand("results/tokens/{subset}/val.bin", subset=SUBSETS),
        meta=expand("results/tokens/{subset}/meta.json", subset=SUBSETS),
    output:
        "results/eval/cross_register.parquet",
    log:
        "logs/evaluate.log",
    params:
        evaluation={
            **config["evaluation"],
            "seq_len": config["training"]["seq_len"],
            "device": config["training"]["device"],
        },
        runs=run_table(),
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/evaluate.py"
