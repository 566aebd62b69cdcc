"""Rule steering_control_vectors: see regeo.stages.steering_judge.steering_control_vectors."""
from regeo.logs import snakemake_job
from regeo.stages.steering_judge import steering_control_vectors

with snakemake_job(snakemake):
    steering_control_vectors(
        snakemake.params.pairs,
        list(snakemake.input.vectors),
        snakemake.params.model_dirs,
        list(snakemake.output.folders),
    )
