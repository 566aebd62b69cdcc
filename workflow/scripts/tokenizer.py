"""Rule tokenizer: see regeo.stages.tokens.make_tokenizer."""
from regeo.logs import snakemake_job
from regeo.stages.tokens import make_tokenizer

with snakemake_job(snakemake):
    make_tokenizer(snakemake.params.tokenizer, list(snakemake.input), snakemake.output[0])
