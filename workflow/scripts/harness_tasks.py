"""Rule harness_tasks: see regeo.harness.jobs.build_local_tasks."""
from regeo.harness.jobs import build_local_tasks
from regeo.logs import snakemake_job

with snakemake_job(snakemake):
    build_local_tasks(
        snakemake.params.harness["local_tasks"],
        snakemake.params.harness["tasks"],
        snakemake.params.val_paths,
        snakemake.output[0],
    )
