"""Rule figure_steering_effects: see regeo.stages.figures.steering_effects."""
from regeo.logs import snakemake_job
from regeo.stages import figures

with snakemake_job(snakemake):
    figures.steering_effects(
        list(snakemake.input.sweeps),
        snakemake.input.summary,
        snakemake.output.pdf,
        snakemake.output.png,
        snakemake.params.dpi,
    )
