"""Rule steering: see regeo.stages.steering.steering_pair."""
from regeo.logs import snakemake_job
from regeo.stages.steering import steering_pair

with snakemake_job(snakemake):
    steering_pair(
        snakemake.params.steering,
        snakemake.input.source,
        snakemake.input.target,
        snakemake.params.val_paths,
        {
            "source": next(iter(snakemake.input.source_counts), None),
            "target": next(iter(snakemake.input.target_counts), None),
        },
        snakemake.params.runs,
        dict(snakemake.output.items()),
        threads=snakemake.threads,
    )
