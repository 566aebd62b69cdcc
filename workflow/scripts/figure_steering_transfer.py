"""Rule figure_steering_transfer: see regeo.stages.figures.steering_transfer."""
from regeo.logs import snakemake_job
from regeo.stages import figures

with snakemake_job(snakemake):
    figures.steering_transfer(snakemake.input[0], snakemake.output.pdf, snakemake.output.png, snakemake.params.dpi)
