"""Rule figure_steering_next_token: see regeo.stages.figures.steering_next_token."""
from regeo.logs import snakemake_job
from regeo.stages import figures

with snakemake_job(snakemake):
    figures.steering_next_token(
        snakemake.input[0],
        snakemake.output.pdf,
        snakemake.output.png,
        snakemake.params.dpi,
    )
