"""Rule rank_knee: see regeo.stages.analyses.rank_knee."""
from regeo.logs import snakemake_job
from regeo.stages.analyses import rank_knee

with snakemake_job(snakemake):
    rank_knee(snakemake.params.rank_knee, snakemake.params.bootstrap, snakemake.params.seq_len,
              snakemake.params.device, snakemake.params.runs, snakemake.params.models, snakemake.params.val_bins,
              snakemake.params.counts, snakemake.params.min_count, snakemake.input.id_comparison,
              dict(snakemake.output.items()), threads=snakemake.threads)
