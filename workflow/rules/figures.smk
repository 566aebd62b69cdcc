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
    conda:
        "../../envs/analysis.yaml"
    params:
        runs=run_table(),
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_id_over_training.py"


rule figure_id_comparison:
    input:
        "results/geometry/id_comparison.parquet",
    output:
        pdf="results/figures/id_comparison.pdf",
        png=report(
            "results/figures/id_comparison.png",
            caption="../report/id_comparison.rst",
            category="Intrinsic dimension",
        ),
    log:
        "logs/figures/id_comparison.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_id_comparison.py"


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
    conda:
        "../../envs/analysis.yaml"
    params:
        dpi=config["figures"]["dpi"],
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
    conda:
        "../../envs/analysis.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_register_distribution.py"


rule figure_redundancy_over_training:
    input:
        expand("results/geometry/id/{run}.parquet", run=RUNS),
    output:
        pdf="results/figures/redundancy_over_training.pdf",
        png=report(
            "results/figures/redundancy_over_training.png",
            caption="../report/redundancy_over_training.rst",
            category="Intrinsic dimension",
        ),
    log:
        "logs/figures/redundancy_over_training.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        runs=run_table(),
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_redundancy_over_training.py"


rule figure_global_similarity:
    input:
        "results/geometry/global_similarity.parquet",
    output:
        pdf="results/figures/global_similarity.pdf",
        png=report(
            "results/figures/global_similarity.png",
            caption="../report/global_similarity.rst",
            category="Cross-model geometry",
        ),
    log:
        "logs/figures/global_similarity.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_global_similarity.py"


rule figure_lle_comparison:
    input:
        "results/geometry/lle_comparison.parquet",
    output:
        pdf="results/figures/lle_comparison.pdf",
        png=report(
            "results/figures/lle_comparison.png",
            caption="../report/lle_comparison.rst",
            category="Cross-model geometry",
        ),
    log:
        "logs/figures/lle_comparison.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_lle_comparison.py"


rule figure_similarity_over_training:
    input:
        expand("results/geometry/similarity_over_training/{run}.parquet", run=RUNS),
    output:
        pdf="results/figures/similarity_over_training.pdf",
        png=report(
            "results/figures/similarity_over_training.png",
            caption="../report/similarity_over_training.rst",
            category="Cross-model geometry",
        ),
    log:
        "logs/figures/similarity_over_training.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        runs=run_table(),
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_similarity_over_training.py"


rule figure_steering_effects:
    input:
        sweeps=steering_tables(),
        summary="results/steering/transfer.parquet",
    output:
        pdf="results/figures/steering_effects.pdf",
        png=report(
            "results/figures/steering_effects.png",
            caption="../report/steering_effects.rst",
            category="Steering transfer",
        ),
    log:
        "logs/figures/steering_effects.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_steering_effects.py"


rule figure_steering_transfer:
    input:
        "results/steering/transfer.parquet",
    output:
        pdf="results/figures/steering_transfer.pdf",
        png=report(
            "results/figures/steering_transfer.png",
            caption="../report/steering_transfer.rst",
            category="Steering transfer",
        ),
    log:
        "logs/figures/steering_transfer.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_steering_transfer.py"


rule figure_steering_alignment:
    input:
        "results/steering/alignment_depth.parquet",
    output:
        pdf="results/figures/steering_alignment.pdf",
        png=report(
            "results/figures/steering_alignment.png",
            caption="../report/steering_alignment.rst",
            category="Steering transfer",
        ),
    log:
        "logs/figures/steering_alignment.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_steering_alignment.py"


rule figure_steering_next_token:
    input:
        "results/steering/next_token_kl.parquet",
    output:
        pdf="results/figures/steering_next_token.pdf",
        png=report(
            "results/figures/steering_next_token.png",
            caption="../report/steering_next_token.rst",
            category="Steering transfer",
        ),
    log:
        "logs/figures/steering_next_token.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_steering_next_token.py"
