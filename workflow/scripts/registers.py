"""Rule registers: see regeo.stages.data.make_registers."""
from regeo.logs import log_to
from regeo.stages.data import make_registers

with log_to(snakemake.log[0]):
    make_registers(snakemake.params.registers, snakemake.input.documents, snakemake.output[0])
