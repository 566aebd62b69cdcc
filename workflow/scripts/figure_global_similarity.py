"""Rule figure_global_similarity: see regeo.stages.figures.global_similarity."""
from regeo.logs import snakemake_job
from regeo.stages import figures

with snakemake_job(snakemake):
    figures.global_similarity(snakemake.input[0], snakemake.output.pdf, snakemake.output.png, snakemake.params.dpi)
