"""Rule corpus: see regeo.stages.data.make_corpus."""
from regeo.logs import log_to
from regeo.stages.data import make_corpus

with log_to(snakemake.log[0]):
    make_corpus(snakemake.params.corpus, snakemake.output[0])
