"""Rule postprocessed_similarity: see regeo.stages.analyses.postprocessed_similarity."""
from regeo.logs import snakemake_job
from regeo.stages.analyses import postprocessed_similarity

with snakemake_job(snakemake):
    postprocessed_similarity(snakemake.params.postprocessed, snakemake.params.adjustment,
                             snakemake.input.global_similarity, snakemake.input.lle_comparison,
                             dict(snakemake.output.items()), snakemake.params.dpi)
