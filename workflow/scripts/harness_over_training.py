"""Rule harness_over_training: see regeo.stages.harness.benchmarks_over_training."""
from regeo.logs import snakemake_job
from regeo.stages.harness import benchmarks_over_training

with snakemake_job(snakemake):
    benchmarks_over_training(
        list(snakemake.input.steps),
        dict(zip(snakemake.params.runs, snakemake.input.finals)),
        snakemake.params.runs,
        snakemake.params.final_steps,
        dict(snakemake.output.items()),
        snakemake.params.dpi,
    )
