"""Rule subset: see regeo.stages.data.make_subset."""
from regeo.logs import snakemake_job
from regeo.stages.data import make_subset

with snakemake_job(snakemake):
    make_subset(
        snakemake.wildcards.subset,
        snakemake.params.shares,
        snakemake.params.subsets,
        list(snakemake.input.shards),
        snakemake.input.registers,
        snakemake.output.train,
        snakemake.output.val,
        snakemake.output.stats,
    )
