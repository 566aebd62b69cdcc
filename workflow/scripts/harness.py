"""Rule harness: see regeo.harness.jobs.batch_benchmarks."""
from regeo.harness.jobs import batch_benchmarks
from regeo.logs import snakemake_job

with snakemake_job(snakemake):
    batch_benchmarks(
        snakemake.params.harness,
        snakemake.params.models,
        snakemake.input.tasks,
        snakemake.output.table,
        snakemake.output.results,
        threads=snakemake.threads,
    )
