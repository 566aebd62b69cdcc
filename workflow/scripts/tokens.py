"""Rule tokens: see regeo.stages.tokens.make_tokens."""
from regeo.logs import log_to
from regeo.stages.tokens import make_tokens

with log_to(snakemake.log[0]):
    make_tokens(
        snakemake.params.budget,
        snakemake.input.tokenizer,
        snakemake.input.train,
        snakemake.input.val,
        snakemake.output.train,
        snakemake.output.val,
        snakemake.output.counts,
        snakemake.output.meta,
    )
