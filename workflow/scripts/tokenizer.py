"""Rule tokenizer: see regeo.tokenizer.build_tokenizer_from_files."""
from regeo.logs import snakemake_job
from regeo.tokenizer import build_tokenizer_from_files

with snakemake_job(snakemake):
    build_tokenizer_from_files(snakemake.params.tokenizer, list(snakemake.input), snakemake.output[0])
