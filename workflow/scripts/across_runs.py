"""Rule across_runs: see regeo.stages.analyses.across_runs."""
from regeo.logs import snakemake_job
from regeo.stages.analyses import across_runs

with snakemake_job(snakemake):
    across_runs(snakemake.params.across_runs, snakemake.params.bootstrap, snakemake.input.id_comparison,
                snakemake.input.similarity, snakemake.input.evaluation, snakemake.input.rank_curve,
                snakemake.input.rank_summary, dict(snakemake.output.items()),
                snakemake.params.dpi, snakemake.params.adjustment, benchmarks=snakemake.input.benchmarks,
                properties=list(snakemake.input.properties),
                properties_comparison=snakemake.input.properties_comparison)
