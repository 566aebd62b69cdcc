"""Rule global_similarity: see regeo.stages.cross_model.global_similarity_table."""
from regeo.logs import snakemake_job
from regeo.stages.cross_model import global_similarity_table

with snakemake_job(snakemake):
    global_similarity_table(
        snakemake.params.similarity,
        snakemake.params.min_count,
        snakemake.params.bootstrap,
        snakemake.params.runs,
        snakemake.output[0],
        snakemake.params.postprocess,
    )
