"""Rule register_probabilities: see regeo.stages.data.make_probabilities."""
from regeo.logs import snakemake_job
from regeo.stages.data import make_probabilities

with snakemake_job(snakemake):
    make_probabilities(snakemake.params.registers, snakemake.input.shard, snakemake.output[0], snakemake.params.state)
