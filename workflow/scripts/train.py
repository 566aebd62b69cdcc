"""Rule train: see regeo.train.job.train_run (torchrun over the job's GPUs when it has several)."""
from regeo.logs import snakemake_job
from regeo.train.config import with_execution_settings
from regeo.train.job import step_models_dir, train_run

with snakemake_job(snakemake):
    train_run(
        with_execution_settings(snakemake.params.train, snakemake.config["training"]),
        int(getattr(snakemake.resources, "gpu", 0) or 0),
        snakemake.input.train,
        snakemake.input.val,
        snakemake.input.tokenizer,
        snakemake.output.model,
        snakemake.params.dumps_dir,
        snakemake.output.log_csv,
        snakemake.params.state_dir,
        # their common parent (training.save_models_at); not a param, so runs without them keep theirs
        step_models_dir(snakemake.output.step_models),
    )
