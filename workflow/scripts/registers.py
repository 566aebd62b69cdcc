"""Rule registers: see regeo.stages.data.make_registers."""
from regeo.logs import snakemake_job
from regeo.stages.data import make_registers

with snakemake_job(snakemake):
    make_registers(snakemake.params.registers, snakemake.input.documents, snakemake.output[0])
