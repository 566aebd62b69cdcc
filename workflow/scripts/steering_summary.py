"""Rule steering_summary: see regeo.stages.steering_summary."""
from regeo.logs import snakemake_job
from regeo.stages.steering_summary import steering_summary

with snakemake_job(snakemake):
    steering_summary(
        list(snakemake.input),
        snakemake.params.min_native_effect,
        snakemake.output[0],
    )
