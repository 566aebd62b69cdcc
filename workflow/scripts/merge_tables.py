"""Rules evaluate_merge, global_similarity_merge, lle_comparison_merge: see regeo.io.merge_tables."""
from regeo.io import merge_tables
from regeo.logs import snakemake_job

with snakemake_job(snakemake):
    merge_tables(list(snakemake.input.blocks), snakemake.output[0])
