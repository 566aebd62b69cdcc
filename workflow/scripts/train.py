"""Rule train: see regeo.train.loop.train."""
from regeo.logs import snakemake_job
from regeo.train.config import TrainConfig
from regeo.train.loop import train

with snakemake_job(snakemake):
    p = snakemake.params.train
    cfg = TrainConfig.from_params(p["run"], p["preset"], p["model"], p["seed"], p["training"])
    train(
        cfg,
        snakemake.input.train,
        snakemake.input.val,
        snakemake.input.tokenizer,
        snakemake.output.model,
        snakemake.output.dumps[0].rsplit("/", 1)[0],
        snakemake.output.log_csv,
        snakemake.params.state_dir,
    )
