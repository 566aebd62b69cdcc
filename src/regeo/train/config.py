"""Training hyperparameters: one dataclass, saved beside every checkpoint (nanoGPT's habit)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class TrainConfig:
    run: str  # run name, {subset}-{preset}-s{seed}
    preset: str  # size preset name
    model: dict = field(default_factory=dict)  # resolved LlamaConfig fields of the preset
    seed: int = 0  # model init and batch order
    steps: int = 300  # optimizer steps
    batch_size: int = 16  # sequences per step (across all devices)
    seq_len: int = 128  # tokens per sequence
    lr: float = 3e-3  # peak AdamW learning rate
    min_lr_ratio: float = 0.1  # final lr / peak lr of the cosine decay
    warmup_steps: int = 30  # linear warm-up
    weight_decay: float = 0.1  # on matrices only, not on norms
    grad_clip: float = 1.0  # gradient-norm clip, 0 = off
    checkpoint_every: int = 50  # embedding dumps: log-spaced steps below this, then every this many
    eval_every: int = 50  # steps between validation losses
    eval_batches: int = 8  # validation batches per evaluation
    state_every: int = 50  # steps between resumable-state saves
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "bf16"  # autocast dtype on CUDA; CPU always fp32
    threads: int = 1  # torch CPU threads

    @classmethod
    def from_params(cls, run: str, preset: str, model: dict, seed: int, training: dict) -> "TrainConfig":
        keys = {f for f in cls.__dataclass_fields__} - {"run", "preset", "model", "seed"}
        return cls(run=run, preset=preset, model=dict(model), seed=seed,
                   **{k: v for k, v in training.items() if k in keys})

    def fingerprint(self) -> str:
        """Hash of everything that changes the trajectory; a saved state resumes only on a match."""
        relevant = {k: v for k, v in asdict(self).items() if k not in ("device", "threads", "state_every")}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]
