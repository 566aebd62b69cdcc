"""Rule figure_cross_register: see regeo.stages.figures.cross_register."""
from regeo.logs import snakemake_job
from regeo.stages import figures

with snakemake_job(snakemake):
    figures.cross_register(snakemake.input[0], snakemake.output.pdf, snakemake.output.png, snakemake.params.dpi)
