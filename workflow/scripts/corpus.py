"""Rule corpus: see regeo.stages.data.index_corpus."""
from regeo.logs import snakemake_job
from regeo.stages.data import index_corpus

with snakemake_job(snakemake):
    index_corpus(list(snakemake.input), snakemake.output[0])
