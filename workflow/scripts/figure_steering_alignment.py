"""Rule figure_steering_alignment: see regeo.stages.figures.steering_alignment."""
from regeo.logs import snakemake_job
from regeo.stages import figures

with snakemake_job(snakemake):
    figures.steering_alignment(
        snakemake.input.depth,
        snakemake.output.pdf,
        snakemake.output.png,
        snakemake.params.dpi,
        effects=snakemake.input.effects,
    )
