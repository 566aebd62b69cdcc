"""Rule properties: see regeo.stages.properties.properties."""
from regeo.logs import snakemake_job
from regeo.stages.properties import properties

with snakemake_job(snakemake):
    properties(
        snakemake.params.properties,
        snakemake.params.bootstrap,
        snakemake.wildcards.run,
        snakemake.params.subset,
        list(snakemake.input.dumps),
        snakemake.params.schedule,
        snakemake.input.train_tokens[0] if snakemake.input.train_tokens else None,
        snakemake.input.counts[0] if snakemake.input.counts else None,
        snakemake.output.table,
    )
