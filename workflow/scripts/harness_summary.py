"""Rule harness_summary: see regeo.stages.harness.benchmark_summary."""
from regeo.logs import snakemake_job
from regeo.stages.harness import benchmark_summary

with snakemake_job(snakemake):
    benchmark_summary(
        list(snakemake.input.tables),
        snakemake.input.evaluation,
        snakemake.params.runs,
        dict(snakemake.output.items()),
        snakemake.params.dpi,
    )
