"""Rule corpus: see regeo.stages.data.make_corpus."""
from regeo.logs import snakemake_job
from regeo.stages.data import make_corpus

with snakemake_job(snakemake):
    make_corpus(snakemake.params.corpus, snakemake.output[0])
