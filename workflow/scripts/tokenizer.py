"""Rule tokenizer: see regeo.stages.tokens.make_tokenizer."""
from regeo.logs import log_to
from regeo.stages.tokens import make_tokenizer

with log_to(snakemake.log[0]):
    make_tokenizer(snakemake.params.tokenizer, list(snakemake.input), snakemake.output[0])
