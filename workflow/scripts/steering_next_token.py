"""Rule steering_next_token: see regeo.stages.steering.next_token_tables."""
from regeo.logs import snakemake_job
from regeo.stages.steering import next_token_tables

with snakemake_job(snakemake):
    next_token_tables(
        list(snakemake.input.kl),
        list(snakemake.input.tops),
        snakemake.output.kl,
        snakemake.output.tops,
        snakemake.output.html,
    )
