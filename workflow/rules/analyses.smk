# The study's questions as analyses (issue 15): loss curves, neighbourhoods (RQ2, Lee et al.), the
# embedding rank knee (Kataiwa et al.) and geometry against performance and size (RQ3). Few jobs:
# each rule covers every run and writes its figures itself, since every job pays a Python start.


rule figure_loss_curves:
    input:
        [layout.train_log(run) for run in TRAINED_RUNS],
    output:
        pdf=layout.figure("loss_curves"),
        png=report(
            layout.figure("loss_curves", "png"),
            caption="../report/loss_curves.rst",
            category="Training",
        ),
    log:
        "logs/figures/loss_curves.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        logs={run: layout.train_log(run) for run in TRAINED_RUNS},
        runs=run_table(TRAINED_RUNS),
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_loss_curves.py"


rule neighbourhoods:
    input:
        dumps=[dump for run in RUNS for dump in run_dumps(run)],
        per_token=expand(layout.id_per_token("{run}"), run=RUNS),
        tokenizers=sorted({run_tokenizer(run) for run in RUNS}),
        counts=sorted({c for c in map(run_counts, RUNS) if c}),
    output:
        settling=layout.analyses_table("neighbourhood_settling"),
        settled=layout.analyses_table("neighbourhood_settled"),
        low_high=layout.analyses_table("low_high_id"),
        coherence=layout.analyses_table("id_coherence"),
        settling_pdf=layout.figure("neighbourhood_settling"),
        settling_png=report(
            layout.figure("neighbourhood_settling", "png"),
            caption="../report/neighbourhood_settling.rst",
            category="Neighbourhoods",
        ),
        low_high_pdf=layout.figure("low_high_id"),
        low_high_png=report(
            layout.figure("low_high_id", "png"),
            caption="../report/low_high_id.rst",
            category="Neighbourhoods",
        ),
    log:
        "logs/neighbourhoods.log",
    conda:
        "../../envs/analysis.yaml"
    threads: config["geometry"]["threads"]
    params:
        neighbourhoods=config["analyses"]["neighbourhoods"],
        adjustment=config["analyses"]["adjustment"],
        bootstrap=config["geometry"]["bootstrap"],
        # The per-token IDs exist for each configured metric; the first one orders the tokens.
        id_metric=config["geometry"]["id"]["metrics"][0],
        runs=neighbourhood_runs(),
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/neighbourhoods.py"


# Its figure is drawn by across_runs, beside the IDs. Its default grid is centred on each run's
# measured ID, so a change of what the ID measures scores the models again.
rule rank_knee:
    input:
        models=list(model_dirs(TRAINED_RUNS).values()),
        val=list(val_bins().values()),
        counts=sorted({c for c in map(run_counts, TRAINED_RUNS) if c}),
        # the default rank grid includes ranks around each run's measured ID
        id_comparison=layout.geometry_table("id_comparison"),
    output:
        curve=layout.analyses_table("rank_knee"),
        summary=layout.analyses_table("rank_knee_summary"),
    log:
        "logs/rank_knee.log",
    conda:
        "../../envs/train.yaml"
    threads: config["geometry"]["threads"]
    resources:
        # forward passes of every final model at every rank: a GPU job on a cluster
        gpu=1,
    params:
        rank_knee=config["analyses"]["rank_knee"],
        bootstrap=config["geometry"]["bootstrap"],
        seq_len=config["training"]["seq_len"],
        device=config["training"]["device"],
        runs=run_table(TRAINED_RUNS),
        models=model_dirs(TRAINED_RUNS),
        val_bins=val_bins(),
        # the rank basis is fitted on each run's seen tokens, as the ID is
        counts={run: run_counts(run) for run in TRAINED_RUNS},
        min_count=config["geometry"]["id"]["min_count"],
    script:
        "../scripts/rank_knee.py"


rule across_runs:
    input:
        id_comparison=layout.geometry_table("id_comparison"),
        similarity=layout.geometry_table("global_similarity"),
        evaluation=layout.evaluation_table(),
        benchmarks=layout.benchmarks_table(),
        rank_curve=layout.analyses_table("rank_knee"),
        rank_summary=layout.analyses_table("rank_knee_summary"),
        # the final dump's properties are geometry variables of RQ3, effective rank its control
        properties=[layout.properties_table(run) for run in RUNS],
        # every run on the same tokens: the register test of the properties
        properties_comparison=layout.geometry_table("properties_comparison"),
    output:
        variables=layout.analyses_table("run_variables"),
        correlations=layout.analyses_table("rq3_correlations"),
        registers=layout.analyses_table("register_tests"),
        property_registers=layout.analyses_table("register_property_tests"),
        size=layout.analyses_table("redundancy_by_size"),
        rq3_pdf=layout.figure("rq3_correlations"),
        rq3_png=report(
            layout.figure("rq3_correlations", "png"),
            caption="../report/rq3_correlations.rst",
            category="Geometry and performance",
        ),
        size_pdf=layout.figure("redundancy_vs_size"),
        size_png=report(
            layout.figure("redundancy_vs_size", "png"),
            caption="../report/redundancy_vs_size.rst",
            category="Intrinsic dimension",
        ),
        rank_pdf=layout.figure("rank_knee"),
        rank_png=report(
            layout.figure("rank_knee", "png"),
            caption="../report/rank_knee.rst",
            category="Intrinsic dimension",
        ),
    log:
        "logs/across_runs.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        across_runs=config["analyses"]["across_runs"],
        adjustment=config["analyses"]["adjustment"],
        bootstrap={
            k: config["geometry"]["bootstrap"][k] for k in ("seed", "confidence")
        },
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/across_runs.py"


# Raw against standardised and all-but-the-top similarity per pair type, with the test of the change.
rule postprocessed_similarity:
    input:
        global_similarity=layout.geometry_table("global_similarity"),
        lle_comparison=layout.geometry_table("lle_comparison"),
    output:
        table=layout.analyses_table("postprocessed_similarity"),
        pdf=layout.figure("postprocessed_similarity"),
        png=report(
            layout.figure("postprocessed_similarity", "png"),
            caption="../report/postprocessed_similarity.rst",
            category="Cross-model geometry",
        ),
    log:
        "logs/postprocessed_similarity.log",
    benchmark:
        layout.job_benchmark("postprocessed_similarity")
    conda:
        "../../envs/analysis.yaml"
    params:
        postprocessed=config["analyses"]["postprocessed"],
        adjustment=config["analyses"]["adjustment"],
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/postprocessed_similarity.py"
