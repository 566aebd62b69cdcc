"""Rule corpus_shard: see regeo.stages.data.make_corpus_shard."""
from regeo.logs import snakemake_job
from regeo.stages.data import make_corpus_shard

with snakemake_job(snakemake):
    make_corpus_shard(snakemake.params.corpus, int(snakemake.wildcards.shard), snakemake.output[0])
