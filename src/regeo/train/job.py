"""One training job as the train rule asks: one process, or data-parallel under torchrun."""

from __future__ import annotations

from pathlib import Path

from regeo.train import distributed
from regeo.train.config import TrainConfig
from regeo.train.loop import train


def train_run(params: dict, processes: int, train_tokens: str | Path, val_tokens: str | Path,
              tokenizer_dir: str | Path, model_dir: str | Path, dumps_dir: str | Path, log_csv: str | Path,
              state_dir: str | Path, models_dir: str | Path | None = None) -> None:
    """``params``: the rule's {run, preset, seed, model, training} and a run's data_seed if it has one; ``processes`` > 1 (the job's
    ``gpu`` resource) runs torchrun with one worker per device."""
    cfg = TrainConfig.from_params(params["run"], params["preset"], params["model"], params["seed"], params["training"],
                                  params.get("data_seed"))
    paths = dict(train_tokens=train_tokens, val_tokens=val_tokens, tokenizer_dir=tokenizer_dir, model_dir=model_dir,
                 dumps_dir=dumps_dir, log_csv=log_csv, state_dir=state_dir)
    if models_dir is not None:  # where training.save_models_at's models go
        paths["models_dir"] = models_dir
    if processes <= 1:
        train(cfg, **paths)
        return
    distributed.launch(processes, distributed.train_job(cfg, **paths), Path(state_dir).with_name("torchrun_job.json"))


def step_models_dir(step_models: list[str]) -> str | None:
    """The directory holding the train rule's step models (``training.save_models_at``), None without any."""
    parents = {str(Path(path).parent) for path in step_models}
    if len(parents) > 1:
        raise ValueError(f"step models in several directories: {sorted(parents)}")
    return parents.pop() if parents else None
