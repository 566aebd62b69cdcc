"""Rule figure_steering_efficiency: see regeo.stages.figures.steering_efficiency."""
from regeo.logs import snakemake_job
from regeo.stages import figures

with snakemake_job(snakemake):
    figures.steering_efficiency(snakemake.input[0], snakemake.output.pdf, snakemake.output.png, snakemake.params.dpi)
