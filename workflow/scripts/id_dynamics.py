"""Rule id_dynamics: see regeo.stages.id_dynamics.id_dynamics."""
from regeo.logs import snakemake_job
from regeo.stages.id_dynamics import id_dynamics

with snakemake_job(snakemake):
    id_dynamics(
        snakemake.params.id,
        snakemake.wildcards.run,
        snakemake.params.subset,
        list(snakemake.input.dumps),
        snakemake.input.counts[0] if snakemake.input.counts else None,
        snakemake.output.table,
        snakemake.output.per_token,
    )
