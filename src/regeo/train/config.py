"""Training hyperparameters: one dataclass, saved beside every checkpoint (nanoGPT's habit).

The fields from the config's ``training`` section have no defaults here: the schema writes them
(``regeo.config.schema_defaults("training")``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from regeo.params import section_fields

# Keys of the training section that are not one run's hyperparameters: which runs exist, and the
# preset table that the run's ``model`` was resolved from.
OTHER_KEYS = ("runs", "presets")


@dataclass(frozen=True)
class TrainConfig:
    run: str  # run name, {subset}-{preset}-s{seed}
    preset: str  # size preset name
    model: dict  # resolved LlamaConfig fields of the preset
    seed: int  # model init and batch order
    steps: int  # optimizer steps
    batch_size: int  # sequences per step (across all devices)
    seq_len: int  # tokens per sequence
    lr: float  # peak AdamW learning rate
    min_lr_ratio: float  # final lr / peak lr of the cosine decay
    warmup_steps: int  # linear warm-up
    weight_decay: float  # on matrices only, not on norms
    grad_clip: float  # gradient-norm clip, 0 = off
    checkpoint_every: int  # embedding dumps: log-spaced steps below this, then every this many
    eval_every: int  # steps between validation losses
    eval_batches: int  # validation batches per evaluation
    state_every: int  # steps between resumable-state saves
    device: str  # auto | cpu | cuda
    precision: str  # autocast dtype on CUDA; CPU always fp32
    threads: int  # torch CPU threads

    @classmethod
    def from_params(cls, run: str, preset: str, model: dict, seed: int, training: dict) -> "TrainConfig":
        """One run's config from the train rule's params; ``training`` is the config's training section
        (``runs`` and ``presets`` may be in it and are left out); any other unknown key is an error."""
        values = section_fields(cls, training, "training", other=OTHER_KEYS, given=("run", "preset", "model", "seed"))
        return cls(run=run, preset=preset, model=dict(model), seed=seed, **values)

    def fingerprint(self) -> str:
        """Hash of everything that changes the trajectory; a saved state resumes only on a match."""
        relevant = {k: v for k, v in asdict(self).items() if k not in ("device", "threads", "state_every")}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]
