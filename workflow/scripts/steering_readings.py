"""Rule steering_readings: see regeo.stages.steering.steering_readings."""
from regeo.logs import snakemake_job
from regeo.stages.steering import steering_readings

with snakemake_job(snakemake):
    steering_readings(
        snakemake.params.pairs,
        list(snakemake.input.vectors),
        snakemake.params.results,
        snakemake.params.counts,
        snakemake.params.k,
        snakemake.output.table,
        snakemake.output.html,
    )
