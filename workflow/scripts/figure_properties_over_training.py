"""Rule figure_properties_over_training: see regeo.stages.figures.properties_over_training."""
from regeo.logs import snakemake_job
from regeo.stages import figures

with snakemake_job(snakemake):
    figures.properties_over_training(
        list(snakemake.input), snakemake.params.runs, snakemake.output.pdf, snakemake.output.png, snakemake.params.dpi
    )
