"""Rule corpus: see regeo.stages.data.merge_shards."""
from regeo.logs import snakemake_job
from regeo.stages.data import merge_shards

with snakemake_job(snakemake):
    merge_shards(list(snakemake.input), snakemake.output[0])
