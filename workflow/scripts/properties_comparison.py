"""Rule properties_comparison: see regeo.stages.properties.properties_comparison."""
from regeo.logs import snakemake_job
from regeo.stages.properties import properties_comparison

with snakemake_job(snakemake):
    properties_comparison(snakemake.params.properties, snakemake.params.bootstrap, snakemake.params.runs,
                          snakemake.output.table)
