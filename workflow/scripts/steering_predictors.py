"""Rule steering_predictors: see regeo.steering.predictors.predictors_files."""
from regeo.logs import snakemake_job
from regeo.steering.predictors import predictors_files

with snakemake_job(snakemake):
    predictors_files(
        snakemake.input.transfer,
        snakemake.input.readings,
        snakemake.output[0],
        snakemake.params.permutations,
        snakemake.params.seed,
        snakemake.params.adjustment,
    )
