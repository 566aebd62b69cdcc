"""Rule harness_step: see regeo.harness.jobs.model_benchmarks (a model saved during training)."""
from regeo.harness.jobs import model_benchmarks
from regeo.logs import snakemake_job

with snakemake_job(snakemake):
    model_benchmarks(
        {**snakemake.params.harness, "threads": snakemake.threads},
        snakemake.wildcards.run,
        snakemake.input.model,
        snakemake.input.tokenizer,
        snakemake.input.tasks,
        snakemake.output.table,
        step=snakemake.params.step,
    )
