"""Rule tokens: see regeo.tokens.tokenize_subset_files."""
from regeo.logs import snakemake_job
from regeo.tokens import tokenize_subset_files

with snakemake_job(snakemake):
    tokenize_subset_files(
        snakemake.params.budget,
        snakemake.input.tokenizer,
        snakemake.input.train,
        snakemake.input.val,
        snakemake.output.train,
        snakemake.output.val,
        snakemake.output.counts,
        snakemake.output.meta,
    )
