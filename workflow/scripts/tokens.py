"""Rule tokens: see regeo.stages.tokens.make_tokens."""
from regeo.logs import snakemake_job
from regeo.stages.tokens import make_tokens

with snakemake_job(snakemake):
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
