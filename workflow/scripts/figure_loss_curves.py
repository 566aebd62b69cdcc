"""Rule figure_loss_curves: see regeo.stages.analyses.loss_curves."""
from regeo.logs import snakemake_job
from regeo.stages.analyses import loss_curves

with snakemake_job(snakemake):
    loss_curves(snakemake.params.logs, snakemake.params.runs, snakemake.output.pdf, snakemake.output.png,
                snakemake.params.dpi)
