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
