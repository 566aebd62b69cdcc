"""Rule figure_id_comparison: see regeo.stages.figures.id_comparison."""
from regeo.logs import snakemake_job
from regeo.stages import figures

with snakemake_job(snakemake):
    figures.id_comparison(snakemake.input[0], snakemake.output.pdf, snakemake.output.png, snakemake.params.dpi)
