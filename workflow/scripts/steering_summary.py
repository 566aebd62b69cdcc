"""Rule steering_summary: see regeo.steering.summary.summarise_files."""
from regeo.logs import snakemake_job
from regeo.steering.summary import summarise_files

with snakemake_job(snakemake):
    summarise_files(
        list(snakemake.input.summaries),
        list(snakemake.input.natives),
        list(snakemake.input.depths),
        snakemake.output.transfer,
        snakemake.output.native,
        snakemake.output.by_relation,
        snakemake.output.depth,
        snakemake.params.adjustment,
        depth_effect_paths=list(snakemake.input.depth_effects),
        depth_effect_path=snakemake.output.depth_effects,
        passage_paths=list(snakemake.input.passages),
        passage_path=snakemake.output.passages,
    )
