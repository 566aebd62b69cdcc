"""Rule neighbourhoods: see regeo.stages.analyses.neighbourhoods."""
from regeo.logs import snakemake_job
from regeo.stages.analyses import neighbourhoods

with snakemake_job(snakemake):
    neighbourhoods(snakemake.params.neighbourhoods, snakemake.params.bootstrap, snakemake.params.id_metric,
                   snakemake.params.runs, dict(snakemake.output.items()), snakemake.params.dpi,
                   snakemake.params.adjustment)
