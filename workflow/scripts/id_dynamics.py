"""Rule id_dynamics: see regeo.stages.id_dynamics.id_dynamics."""
from regeo.logs import snakemake_job
from regeo.stages.id_dynamics import id_dynamics

with snakemake_job(snakemake):
    id_dynamics(
        snakemake.params.id,
        snakemake.params.bootstrap,
        snakemake.wildcards.run,
        snakemake.params.subset,
        list(snakemake.input.dumps),
        snakemake.params.schedule,
        snakemake.input.train_tokens[0] if snakemake.input.train_tokens else None,
        snakemake.output.table,
        snakemake.output.per_token,
    )
