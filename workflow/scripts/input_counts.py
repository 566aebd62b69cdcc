"""Rule input_counts: see regeo.stages.id_dynamics.input_counts_table."""
from regeo.logs import snakemake_job
from regeo.stages.id_dynamics import input_counts_table

with snakemake_job(snakemake):
    input_counts_table(snakemake.params.schedule, snakemake.input.train, snakemake.input.meta, snakemake.output[0])
