"""Training hyperparameters: one dataclass, saved beside every checkpoint (nanoGPT's habit).

The fields from the config's ``training`` section have no defaults here: the schema writes them
(``regeo.config.schema_defaults("training")``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

# Fields that the train rule gives one run itself (its name, preset and seeds from the run table,
# the preset's resolved model), not from the training section.
RUN_FIELDS = ("run", "preset", "model", "seed", "data_seed")
# Fields that change how fast a run goes, not what it computes (beyond the order of floating-point
# sums): left out of the fingerprint and of the train rule's params, so that setting one resumes a
# saved state and reruns no finished run. device, threads and state_every are of the same kind but
# predate these and stay in the params: moving them out would rerun every finished run once.
# save_models_at changes what a run writes beside its trajectory, never the trajectory: its step
# models are declared outputs, so naming a step reruns a finished run through them, not its params.
EXECUTION_KEYS = ("micro_batch_size", "compile", "log_every", "peak_flops", "save_models_at")


@dataclass(frozen=True)
class TrainConfig:
    run: str  # run name, {subset}-{preset}-s{seed}
    preset: str  # size preset name
    model: dict  # resolved LlamaConfig fields of the preset
    seed: int  # model init, and batch order without data_seed
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
    micro_batch_size: int | None  # sequences per forward/backward on one device; None: its whole share
    compile: bool  # torch.compile the training forward and backward
    log_every: int  # steps between host syncs that read the losses
    peak_flops: float | None  # one device's peak FLOP/s for the MFU; None: looked up by device name
    data_seed: int | None = None  # batch order; None: seed (every run before data seeds existed)
    save_models_at: tuple[int, ...] = ()  # steps whose whole model is saved beside the dumps

    def __post_init__(self):
        late = [s for s in self.save_models_at if not 0 <= s <= self.steps]
        if late:
            raise ValueError(f"training.save_models_at: steps {late} are outside 0..training.steps = {self.steps}")

    @property
    def batch_seed(self) -> int:
        return self.seed if self.data_seed is None else self.data_seed

    @classmethod
    def from_params(cls, run: str, preset: str, model: dict, seed: int, training: dict,
                    data_seed: int | None = None) -> "TrainConfig":
        """One run's config from the train rule's params; ``training`` is the config's training section
        (its other keys, ``runs`` and ``presets``, are left out); a key the schema does not know is an error."""
        # Here, not at the top: planning imports this module (rule_training_params), and
        # regeo.params brings pandas in through regeo.io.
        from regeo.params import section_fields

        values = section_fields(cls, training, "training", given=RUN_FIELDS)
        values["save_models_at"] = tuple(sorted(values.get("save_models_at", ())))
        return cls(run=run, preset=preset, model=dict(model), seed=seed, data_seed=data_seed, **values)

    def hyperparameters(self) -> dict:
        """The fields that shaped the model, saved beside it: the :data:`EXECUTION_KEYS` are left out,
        so that a saved model's bytes do not depend on how fast it was trained."""
        return {k: v for k, v in asdict(self).items() if k not in EXECUTION_KEYS and not self._unset_data_seed(k)}

    def _unset_data_seed(self, key: str) -> bool:
        """No data seed of its own (none, or the seed): left out of what is saved and hashed, so runs
        from before data seeds keep theirs."""
        return key == "data_seed" and self.data_seed in (None, self.seed)

    def fingerprint(self) -> str:
        """Hash of everything that changes the trajectory; a saved state resumes only on a match."""
        left_out = ("device", "threads", "state_every", *EXECUTION_KEYS)
        relevant = {k: v for k, v in asdict(self).items() if k not in left_out and not self._unset_data_seed(k)}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def rule_training_params(training: dict) -> dict:
    """The training section as the train rule passes it in its params: without the run groups,
    the preset table and the :data:`EXECUTION_KEYS` (:func:`with_execution_settings` adds those)."""
    from regeo.params import owned_params

    return {k: v for k, v in owned_params(TrainConfig, training, given=RUN_FIELDS).items() if k not in EXECUTION_KEYS}


def with_execution_settings(params: dict, training: dict) -> dict:
    """The train rule's ``params`` with the :data:`EXECUTION_KEYS` of the config's ``training``
    section added back into their ``training``: what :meth:`TrainConfig.from_params` takes."""
    return {**params, "training": {**params["training"], **{k: training[k] for k in EXECUTION_KEYS}}}
