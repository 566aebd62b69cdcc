"""Rule registers: see regeo.stages.data.make_registers."""
from regeo.logs import snakemake_job
from regeo.stages.data import make_registers

with snakemake_job(snakemake):
    make_registers(snakemake.params.rules, snakemake.input.index, list(snakemake.input.probabilities), snakemake.output[0])
