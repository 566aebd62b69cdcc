"""Rule figure_steering_cards: see regeo.stages.figures.steering_cards."""
from regeo.logs import snakemake_job
from regeo.stages import figures

with snakemake_job(snakemake):
    figures.steering_cards(snakemake.input[0], snakemake.output.pdf, snakemake.output.png, snakemake.params.dpi)
