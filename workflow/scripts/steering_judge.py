"""Rule steering_judge: see regeo.stages.steering_judge.steering_judge."""
from regeo.logs import snakemake_job
from regeo.stages.steering_judge import steering_judge

with snakemake_job(snakemake):
    steering_judge(
        snakemake.params.judge,
        snakemake.params.classifier,
        snakemake.input.target,
        snakemake.input.vectors,
        snakemake.params.val_paths,
        snakemake.params.train_paths,
        snakemake.output.table,
        snakemake.output.samples,
        threads=snakemake.threads,
    )
