"""Rule id_dynamics: see regeo.stages.geometry.id_dynamics."""
from regeo.logs import log_to
from regeo.stages.geometry import id_dynamics

with log_to(snakemake.log[0]):
    id_dynamics(
        snakemake.params.id,
        snakemake.wildcards.run,
        snakemake.params.subset,
        list(snakemake.input.dumps),
        snakemake.input.counts,
        snakemake.output.table,
        snakemake.output.per_token,
    )
