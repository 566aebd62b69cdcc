# Intrinsic dimension of the token embeddings at every dump of every run.


rule id_dynamics:
    input:
        dumps=lambda wc: run_dumps(wc.run),
        counts=lambda wc: f"results/tokens/{run_subset(wc.run)}/counts.parquet",
    output:
        table="results/geometry/id/{run}.parquet",
        per_token="results/geometry/id/{run}.tokens.parquet",
    log:
        "logs/id_dynamics/{run}.log",
    params:
        id=config["geometry"]["id"],
        subset=lambda wc: run_subset(wc.run),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/id_dynamics.py"
