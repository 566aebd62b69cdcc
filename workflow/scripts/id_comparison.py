"""Rule id_comparison: see regeo.stages.id_comparison.id_comparison_table."""
from regeo.logs import snakemake_job
from regeo.stages.id_comparison import id_comparison_table

with snakemake_job(snakemake):
    id_comparison_table(snakemake.params.id, snakemake.params.bootstrap, snakemake.params.runs, snakemake.output.table,
                        snakemake.output.differences, snakemake.output.strata)
