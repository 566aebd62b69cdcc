"""Rule figure_register_distribution: see regeo.stages.figures.register_distribution."""
from regeo.logs import snakemake_job
from regeo.stages import figures

with snakemake_job(snakemake):
    figures.register_distribution(snakemake.input[0], snakemake.output.pdf, snakemake.output.png, snakemake.params.dpi)
