"""Rule evaluate: see regeo.stages.evaluation.cross_register_eval."""
from regeo.logs import snakemake_job
from regeo.stages.evaluation import cross_register_eval

with snakemake_job(snakemake):
    cross_register_eval(
        snakemake.params.evaluation,
        snakemake.params.models,
        snakemake.params.runs,
        snakemake.params.val_bins,
        snakemake.output[0],
        threads=snakemake.threads,
        tokenizer_dir=snakemake.input.tokenizer,
        external=snakemake.params.external,
        val_docs=snakemake.params.val_docs,
    )
