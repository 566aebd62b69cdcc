"""Rule lle_comparison: see regeo.stages.cross_model.lle_comparison_table."""
from regeo.logs import snakemake_job
from regeo.stages.cross_model import lle_comparison_table

with snakemake_job(snakemake):
    lle_comparison_table(
        snakemake.params.lle,
        snakemake.params.min_count,
        snakemake.params.bootstrap,
        snakemake.params.runs,
        snakemake.output[0],
        snakemake.params.postprocess,
    )
