# Paper figures: every figure is a target (`snakemake figures`) and part of `--report`.


rule figures:
    input:
        FIGURES,


rule figure_id_over_training:
    input:
        expand(layout.id_table("{run}"), run=RUNS),
    output:
        pdf=layout.figure("id_over_training"),
        png=report(
            layout.figure("id_over_training", "png"),
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
        layout.geometry_table("id_comparison"),
    output:
        pdf=layout.figure("id_comparison"),
        png=report(
            layout.figure("id_comparison", "png"),
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
        layout.evaluation_table(),
    output:
        pdf=layout.figure("cross_register_loss"),
        png=report(
            layout.figure("cross_register_loss", "png"),
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
        layout.registers_table(),
    output:
        pdf=layout.figure("register_distribution"),
        png=report(
            layout.figure("register_distribution", "png"),
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
        expand(layout.id_table("{run}"), run=RUNS),
    output:
        pdf=layout.figure("redundancy_over_training"),
        png=report(
            layout.figure("redundancy_over_training", "png"),
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


# Kataiwa et al. read each model's redundancy on its own vocabulary, so this figure takes every run
# at its last dump on its own token set; across_runs draws the same on the common tokens.
rule figure_redundancy_by_width:
    input:
        expand(layout.id_table("{run}"), run=RUNS),
    output:
        table=layout.analyses_table("redundancy_by_width"),
        pdf=layout.figure("redundancy_by_width"),
        png=report(
            layout.figure("redundancy_by_width", "png"),
            caption="../report/redundancy_by_width.rst",
            category="Intrinsic dimension",
        ),
    log:
        "logs/figures/redundancy_by_width.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        runs=run_table(),
        reference=config["figures"]["redundancy_reference"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_redundancy_by_width.py"


rule figure_global_similarity:
    input:
        layout.geometry_table("global_similarity"),
    output:
        pdf=layout.figure("global_similarity"),
        png=report(
            layout.figure("global_similarity", "png"),
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
        layout.geometry_table("lle_comparison"),
    output:
        pdf=layout.figure("lle_comparison"),
        png=report(
            layout.figure("lle_comparison", "png"),
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
        expand(layout.similarity_over_training("{run}"), run=RUNS),
    output:
        pdf=layout.figure("similarity_over_training"),
        png=report(
            layout.figure("similarity_over_training", "png"),
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


rule figure_properties_over_training:
    input:
        expand(layout.properties_table("{run}"), run=RUNS),
    output:
        pdf=layout.figure("properties_over_training"),
        png=report(
            layout.figure("properties_over_training", "png"),
            caption="../report/properties_over_training.rst",
            category="Embedding-space properties",
        ),
    log:
        "logs/figures/properties_over_training.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        runs=run_table(),
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_properties_over_training.py"


rule figure_steering_effects:
    input:
        sweeps=steering_tables(),
        summary=layout.steering_table("transfer.parquet"),
    output:
        pdf=layout.figure("steering_effects"),
        png=report(
            layout.figure("steering_effects", "png"),
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


rule figure_steering_cards:
    input:
        layout.steering_table("cards.parquet"),
    output:
        pdf=layout.figure("steering_cards"),
        png=report(
            layout.figure("steering_cards", "png"),
            caption="../report/steering_judged.rst",
            category="Steering transfer",
        ),
    log:
        "logs/figures/steering_cards.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_steering_cards.py"


rule figure_steering_transfer:
    input:
        layout.steering_table("transfer.parquet"),
    output:
        pdf=layout.figure("steering_transfer"),
        png=report(
            layout.figure("steering_transfer", "png"),
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
        depth=layout.steering_table("alignment_depth.parquet"),
        effects=layout.steering_table("depth_effects.parquet"),
    output:
        pdf=layout.figure("steering_alignment"),
        png=report(
            layout.figure("steering_alignment", "png"),
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
        layout.steering_table("next_token_kl.parquet"),
    output:
        pdf=layout.figure("steering_next_token"),
        png=report(
            layout.figure("steering_next_token", "png"),
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
