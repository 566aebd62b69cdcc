"""Rule evaluate: see regeo.stages.evaluation.cross_register_eval."""
from pathlib import Path

from regeo.logs import snakemake_job
from regeo.stages.evaluation import cross_register_eval

with snakemake_job(snakemake):
    models = {Path(m).parent.name: m for m in snakemake.input.models}
    val_bins = {Path(v).parent.name: v for v in snakemake.input.val}
    cross_register_eval(
        snakemake.params.evaluation,
        models,
        snakemake.params.runs,
        val_bins,
        snakemake.output[0],
        threads=snakemake.threads,
    )
