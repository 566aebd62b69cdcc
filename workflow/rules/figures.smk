# Paper figures: every figure is a target (`snakemake figures`) and part of `--report`.


rule figures:
    input:
        FIGURES,


rule figure_id_over_training:
    input:
        expand("results/geometry/id/{run}.parquet", run=RUNS),
    output:
        pdf="results/figures/id_over_training.pdf",
        png=report(
            "results/figures/id_over_training.png",
            caption="../report/id_over_training.rst",
            category="Intrinsic dimension",
        ),
    log:
        "logs/figures/id_over_training.log",
    params:
        runs=run_table(),
        dpi=config["figures"]["dpi"],
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/figure_id_over_training.py"


rule figure_cross_register:
    input:
        "results/eval/cross_register.parquet",
    output:
        pdf="results/figures/cross_register_loss.pdf",
        png=report(
            "results/figures/cross_register_loss.png",
            caption="../report/cross_register_loss.rst",
            category="Evaluation",
        ),
    log:
        "logs/figures/cross_register_loss.log",
    params:
        dpi=config["figures"]["dpi"],
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/figure_cross_register.py"


rule figure_register_distribution:
    input:
        "results/corpus/registers.parquet",
    output:
        pdf="results/figures/register_distribution.pdf",
        png=report(
            "results/figures/register_distribution.png",
            caption="../report/register_distribution.rst",
            category="Data",
        ),
    log:
        "logs/figures/register_distribution.log",
    params:
        dpi=config["figures"]["dpi"],
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/figure_register_distribution.py"
