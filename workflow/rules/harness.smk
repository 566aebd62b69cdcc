# Model performance as the register study measures it: lm-evaluation-harness on every final model
# (regeo.harness). regeo's own multiple-choice tasks are built once from the subsets' held-out
# text (offline, real text); hub tasks (the paper config's FineWeb early-signal set) are checked
# by name at the dry run. One job per model, then one table of all models and its figure.


rule harness_tasks:
    input:
        val=list(val_documents(SUBSETS).values()),
    output:
        directory(layout.harness_tasks_dir()),
    log:
        "logs/harness/tasks.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        harness=harness_task_params(),
        val_paths=val_documents(SUBSETS),
    script:
        "../scripts/harness_tasks.py"


rule harness:
    input:
        model=lambda wc: layout.model_dir(wc.run),
        tokenizer=lambda wc: run_tokenizer(wc.run),
        tasks=layout.harness_tasks_dir(),
    output:
        table=layout.benchmark_table("{run}"),
        results=layout.benchmark_results("{run}"),
    log:
        "logs/harness/{run}.log",
    benchmark:
        layout.job_benchmark("harness", "{run}")
    conda:
        "../../envs/train.yaml"
    threads: config["harness"]["threads"]
    resources:
        gpu=1,
        mem_mb=harness_memory,
    params:
        harness=harness_params(),
    script:
        "../scripts/harness.py"


rule harness_summary:
    input:
        tables=[layout.benchmark_table(run) for run in RUNS],
        evaluation=layout.evaluation_table(),
    output:
        table=layout.benchmarks_table(),
        pdf=layout.figure("benchmark_ranking"),
        png=report(
            layout.figure("benchmark_ranking", "png"),
            caption="../report/benchmark_ranking.rst",
            category="Geometry and performance",
        ),
    log:
        "logs/harness/summary.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        runs=run_table(),
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/harness_summary.py"


# Benchmarks over training (training.save_models_at and an external run's save_models_at, off by
# default): each model a run saved during training through the same harness settings, then one
# table and its figure with the final models as the last step.
rule harness_step:
    input:
        model=lambda wc: layout.step_model_dir(wc.run, wc.name),
        tokenizer=lambda wc: run_tokenizer(wc.run),
        tasks=layout.harness_tasks_dir(),
    output:
        table=layout.benchmark_step_table("{run}", "{name}"),
    log:
        "logs/harness/steps/{run}/{name}.log",
    benchmark:
        layout.job_benchmark("harness_step", "{run}-{name}")
    wildcard_constraints:
        run=_alternatives(OVER_TRAINING_RUNS),
        name=_alternatives({name for _, name in SAVED_STEP_MODELS}),
    conda:
        "../../envs/train.yaml"
    threads: config["harness"]["threads"]
    resources:
        gpu=1,
        mem_mb=harness_memory,
    params:
        harness=harness_params(),
        step=lambda wc: step_models(wc.run)[wc.name],
    script:
        "../scripts/harness_step.py"


rule harness_over_training:
    input:
        steps=[
            layout.benchmark_step_table(run, name) for run, name in SAVED_STEP_MODELS
        ],
        finals=[layout.benchmark_table(run) for run in OVER_TRAINING_RUNS],
    output:
        table=layout.benchmarks_over_training_table(),
        pdf=layout.figure("benchmarks_over_training"),
        png=report(
            layout.figure("benchmarks_over_training", "png"),
            caption="../report/benchmarks_over_training.rst",
            category="Geometry and performance",
        ),
    log:
        "logs/harness/over_training.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        runs=run_table(OVER_TRAINING_RUNS),
        final_steps={run: final_step(run) for run in OVER_TRAINING_RUNS},
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/harness_over_training.py"
