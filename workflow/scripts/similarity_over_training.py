"""Rule similarity_over_training: see regeo.stages.cross_model.similarity_over_training."""
from regeo.logs import snakemake_job
from regeo.stages.cross_model import similarity_over_training

with snakemake_job(snakemake):
    similarity_over_training(
        snakemake.params.similarity,
        snakemake.params.min_count,
        snakemake.params.bootstrap,
        snakemake.wildcards.run,
        snakemake.params.subset,
        list(snakemake.input.dumps),
        snakemake.input.counts[0] if snakemake.input.counts else None,
        snakemake.output[0],
    )
