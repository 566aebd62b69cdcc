"""Rule figure_redundancy_by_width: see regeo.stages.figures.redundancy_by_width."""
from regeo.logs import snakemake_job
from regeo.stages import figures

with snakemake_job(snakemake):
    figures.redundancy_by_width(
        list(snakemake.input),
        snakemake.params.runs,
        snakemake.params.reference,
        snakemake.output.table,
        snakemake.output.pdf,
        snakemake.output.png,
        snakemake.params.dpi,
    )
