# The targets of the workflow's default and of the manifest: every table, figure and steering
# output of the config.


STEERING_TABLES_OVER_PAIRS = [
    "transfer.parquet",
    "native.parquet",
    "transfer_by_relation.parquet",
    "alignment_depth.parquet",
    "depth_effects.parquet",
    "passage_effects.parquet",
    "transfer_predictors.parquet",
    "next_token_kl.parquet",
    "top_tokens.parquet",
    "top_tokens.html",
    "vector_readings.parquet",
    "vector_readings.html",
    "cards.parquet",
    "judged.parquet",
    "cards.html",
]


def steering_outputs():
    """Every steering output: per pair the tables, generations, vectors and maps; the summaries."""
    per_pair = [
        path
        for a, b in STEERING_PAIRS
        for path in (
            layout.steering_pair(a, b, "samples"),
            layout.steering_vectors(a, b),
            layout.steering_maps(a, b),
            layout.steering_judged(a, b),
            layout.steering_judged(a, b, "samples"),
            layout.steering_control_vectors(a, b),
        )
    ]
    tables = steering_tables() + [
        t
        for kind in (
            "summary",
            "native",
            "depth",
            "next_token",
            "top_tokens",
            "passages",
            "depth_effects",
        )
        for t in steering_tables(kind)
    ]
    over_pairs = [layout.steering_table(name) for name in STEERING_TABLES_OVER_PAIRS]
    return tables + per_pair + over_pairs


FIGURES = [
    layout.figure(name)
    for name in (
        "register_distribution",
        "id_over_training",
        "id_comparison",
        "cross_register_loss",
        "redundancy_over_training",
        "global_similarity",
        "lle_comparison",
        "similarity_over_training",
        "properties_over_training",
        "steering_effects",
        "steering_transfer",
        "steering_alignment",
        "steering_next_token",
        "steering_cards",
        "loss_curves",
        "neighbourhood_settling",
        "low_high_id",
        "rank_knee",
        "rq3_correlations",
        "redundancy_vs_size",
        "redundancy_by_width",
        "benchmark_ranking",
        "postprocessed_similarity",
    )
]

# The tables of the study's analyses (workflow/rules/analyses.smk), beside their figures.
ANALYSES_TABLES = [
    layout.analyses_table(name)
    for name in (
        "neighbourhood_settling",
        "neighbourhood_settled",
        "low_high_id",
        "id_coherence",
        "rank_knee",
        "rank_knee_summary",
        "run_variables",
        "rq3_correlations",
        "register_tests",
        "register_property_tests",
        "redundancy_by_size",
        "postprocessed_similarity",
        "redundancy_by_width",
    )
]


def final_outputs():
    return (
        FIGURES
        + [f.replace(".pdf", ".png") for f in FIGURES]
        + [layout.evaluation_table(), layout.benchmarks_table()]
        + [layout.id_table(run) for run in RUNS]
        + [
            layout.geometry_table(name)
            for name in (
                "id_comparison",
                "global_similarity",
                "lle_comparison",
                "properties_comparison",
            )
        ]
        + [layout.similarity_over_training(run) for run in RUNS]
        + [layout.properties_table(run) for run in RUNS]
        + [layout.subset_stats(subset) for subset in SUBSETS]
        + steering_outputs()
        + ANALYSES_TABLES
        + over_training_outputs()
    )


def over_training_outputs():
    """The benchmarks over training, when a run saves models during training."""
    if not SAVED_STEP_MODELS:
        return []
    return [
        layout.benchmarks_over_training_table(),
        layout.figure("benchmarks_over_training"),
        layout.figure("benchmarks_over_training", "png"),
    ]
