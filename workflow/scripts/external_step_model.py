"""Rule external_step_model: see regeo.external.save_final_model (one step's checkpoint)."""
from regeo.external import save_final_model
from regeo.logs import snakemake_job

with snakemake_job(snakemake):
    save_final_model(snakemake.params.external, snakemake.input.tokenizer, snakemake.output[0],
                     step=snakemake.params.step)
