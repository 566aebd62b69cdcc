"""Rule subset: see regeo.stages.data.make_subset."""
from regeo.logs import log_to
from regeo.stages.data import make_subset

with log_to(snakemake.log[0]):
    make_subset(
        snakemake.wildcards.subset,
        snakemake.params.shares,
        snakemake.params.subsets,
        snakemake.input.documents,
        snakemake.input.registers,
        snakemake.output.train,
        snakemake.output.val,
        snakemake.output.stats,
    )
