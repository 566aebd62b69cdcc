"""Training one causal LM with embedding dumps on a Pythia-style schedule, resumable after a kill.

Snakemake deletes a job's declared outputs before it runs, so everything a resumed job needs
lives in ``state_dir`` (never a declared output): the latest model and optimizer state, the log
rows up to it, and every embedding dump written so far. Dumps are hard-linked from there into
the output directory, so a retry restores them for free. Batches are a function of
(seed, step), so a resumed run is bitwise identical to an uninterrupted one on CPU.

The step itself is :class:`regeo.train.step.TrainStep`. Its loss stays on the device until a
logging step (``training.log_every``, and every dump, evaluation and state save) reads the
losses since the last one in one host sync: there the NaN check runs, the rows of
``train_log.csv`` get the interval's throughput and MFU, and the progress bar moves.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm
from transformers import LlamaConfig, LlamaForCausalLM

from regeo.dumps import dump_name, model_embeddings, step_model_name, write_dump
from regeo.io import RegeoInputError, atomic_dir, atomic_path, link_or_copy, write_json
from regeo.loss import mean_loss
from regeo.tokenizer import load_tokenizer
from regeo.tokens import load_tokens
from regeo.train import distributed
from regeo.train.config import TrainConfig
from regeo.train.data import to_device, train_batch
from regeo.train.interruption import Interrupted, StopFlag
from regeo.train.schedule import checkpoint_steps
from regeo.train.state import RunState
from regeo.train.step import make_optimizer, micro_batches, training_step
from regeo.train.throughput import IntervalTimer, model_flops_utilisation, non_embedding_parameters, peak_flops

log = logging.getLogger(__name__)
LOG_COLUMNS = ["step", "loss", "val_loss", "tokens", "tokens_per_s", "lr", "mfu"]
# Columns that depend on the machine's speed, not on the trajectory: comparisons of runs leave them out.
TIMING_COLUMNS = ["tokens_per_s", "mfu"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or inf; the last good state is kept."""


def build_model(cfg: TrainConfig, vocab_size: int, eos_id: int) -> LlamaForCausalLM:
    torch.manual_seed(cfg.seed)
    # No pad token: Llama gives its embedding padding_idx, which pins that row at zero with no
    # gradient. Training never pads, and the end-of-text token (the document separator) must learn.
    # Attention through torch's scaled_dot_product_attention (FlashAttention or memory-efficient
    # kernels on a GPU; benchmarks/gpu_check.py reports which), pinned rather than left to
    # transformers' default; it is not saved in config.json.
    config = LlamaConfig(**cfg.model, vocab_size=vocab_size, max_position_embeddings=cfg.seq_len,
                         bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=None, attn_implementation="sdpa")
    return LlamaForCausalLM(config)


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio * lr`` at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cosine)


def configure_torch(cfg: TrainConfig) -> None:
    """The process-wide torch settings a training job runs under (benchmarks of its step too)."""
    # cuBLAS is deterministic only with a fixed workspace, read when CUDA starts; without it the
    # deterministic mode below only warns on a GPU.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)


class StepLog:
    """The rows of ``train_log.csv``; each step's loss waits on the device until :meth:`read`."""

    def __init__(self, rows: list[dict], tokens_per_step: int, n_params: int, peak: float | None,
                 devices: int) -> None:
        self.rows = rows
        self.tokens_per_step = tokens_per_step
        self.n_params, self.peak, self.devices = n_params, peak, devices
        self.pending: list[tuple[int, float, torch.Tensor]] = []  # (step, lr, loss) not read yet
        self.timer = IntervalTimer()  # restarted whenever nothing is pending and only training follows

    def add(self, step: int, lr: float, loss: torch.Tensor) -> None:
        self.pending.append((step, lr, loss))

    def read(self) -> list[dict]:
        """The rows of the pending steps, appended to :attr:`rows`: one host sync for all their losses,
        and the throughput of the interval since the timer's restart in each."""
        losses = torch.stack([loss for _, _, loss in self.pending]).tolist()
        tokens_per_s = len(losses) * self.tokens_per_step / self.timer.seconds()
        mfu = model_flops_utilisation(tokens_per_s, self.n_params, self.peak, self.devices)
        # The row of step s is the state after its update: step s + 1, with s's loss and lr.
        new = [{"step": step + 1, "loss": loss, "val_loss": float("nan"), "tokens": (step + 1) * self.tokens_per_step,
                "tokens_per_s": tokens_per_s, "lr": lr, "mfu": mfu}
               for (step, lr, _), loss in zip(self.pending, losses)]
        self.pending = []
        self.rows.extend(new)
        return new


def train(cfg: TrainConfig, train_tokens: str | Path, val_tokens: str | Path, tokenizer_dir: str | Path,
          model_dir: str | Path, dumps_dir: str | Path, log_csv: str | Path, state_dir: str | Path,
          models_dir: str | Path | None = None) -> None:
    """Train one run; resumes from ``state_dir`` when it holds a state of this same config.

    ``models_dir``: where the whole models of ``cfg.save_models_at`` go, one directory per step
    (:func:`regeo.dumps.step_model_name`); needed when that names any step.

    Under ``torchrun`` (WORLD_SIZE > 1) every process takes its slice of each global batch and
    DDP averages the gradients, so the trajectory is the single-process one up to the order of
    floating-point sums; rank 0 alone writes files.
    """
    if cfg.save_models_at and models_dir is None:
        raise ValueError(f"run {cfg.run}: training.save_models_at names steps but no models directory was given")
    configure_torch(cfg)
    group = distributed.init(cfg.device, cfg.batch_size)
    try:
        _train(cfg, group, train_tokens, val_tokens, tokenizer_dir, model_dir, dumps_dir, log_csv, state_dir,
               models_dir)
    finally:
        group.close()


def _train(cfg: TrainConfig, group: "distributed.Group", train_tokens, val_tokens, tokenizer_dir, model_dir,
           dumps_dir, log_csv, state_dir, models_dir) -> None:
    device, lead = group.device, group.is_lead
    tokenizer = load_tokenizer(tokenizer_dir)
    train_ids, val_ids = load_tokens(train_tokens), load_tokens(val_tokens)
    if len(train_ids) <= cfg.seq_len + 1:
        raise RegeoInputError(f"{train_tokens}: {len(train_ids)} tokens, fewer than seq_len + 1 = {cfg.seq_len + 1}")
    parts = micro_batches(cfg.batch_size // group.world, cfg.micro_batch_size)  # refused here, before any write

    model = build_model(cfg, len(tokenizer), tokenizer.eos_token_id).to(device)
    optimizer = make_optimizer(model, cfg)
    state = RunState(Path(state_dir), cfg.fingerprint(), LOG_COLUMNS)
    start, rows = state.load(model, optimizer)
    group.barrier()  # every rank has read the state before rank 0 may rewrite it
    saved = start
    if start:
        log.info("run %s: resuming from the state saved at step %d", cfg.run, start)
    dumps_dir, schedule = Path(dumps_dir), checkpoint_steps(cfg.steps, cfg.checkpoint_every)
    for step in schedule if lead else ():
        saved_dump, out_dump = state.dumps / dump_name(step), dumps_dir / dump_name(step)
        if step <= start and saved_dump.is_file():  # written before the kill; Snakemake deleted the output
            link_or_copy(saved_dump, out_dump)
        else:  # past the saved state: rewritten from the resumed trajectory
            saved_dump.unlink(missing_ok=True)
            out_dump.unlink(missing_ok=True)
    if lead:  # saved past the resumed state: rewritten from the resumed trajectory
        for step in cfg.save_models_at:
            if step > start:
                shutil.rmtree(state.root / "models" / step_model_name(step), ignore_errors=True)
    n_params = non_embedding_parameters(model)
    peak = peak_flops(device, cfg.precision, cfg.peak_flops)
    log.info("run %s on %s: %d parameters (%d non-embedding), steps %d..%d, %d dumps scheduled; %s attention, "
             "%d micro-batch(es) per step%s, peak %s FLOP/s per device", cfg.run, group.describe(),
             sum(p.numel() for p in model.parameters()), n_params, start, cfg.steps, len(schedule),
             model.config._attn_implementation, parts, ", compiled" if cfg.compile else "",
             "unknown" if peak is None else f"{peak:.3g}")
    if lead:
        write_json(asdict(cfg), state.root / "train_config.json")
    step_fn = training_step(model, optimizer, cfg, group)

    tokens_per_step = cfg.batch_size * cfg.seq_len
    steplog = StepLog(rows, tokens_per_step, n_params, peak, group.world)
    dump_steps = set(schedule)
    model.train()
    with StopFlag() as stop, tqdm(total=cfg.steps, initial=start, desc=cfg.run, mininterval=2.0,
                                   disable=not lead) as bar:
        for step in range(start, cfg.steps + 1):
            if lead and step in dump_steps and not (dumps_dir / dump_name(step)).is_file():
                tensors, tied = model_embeddings(model)
                write_dump(tensors, state.dumps / dump_name(step),
                           metadata={"run": cfg.run, "step": step, "tokens": step * tokens_per_step, "tied": tied})
                link_or_copy(state.dumps / dump_name(step), dumps_dir / dump_name(step))
                steplog.timer.restart()  # nothing is pending: a dump step is a logging step
            if lead and step in cfg.save_models_at and not (state.root / "models" / step_model_name(step)).is_dir():
                # Into the state, as the dumps: a run killed later keeps it, Snakemake's retry does not
                with atomic_dir(state.root / "models" / step_model_name(step)) as tmp:
                    model.save_pretrained(tmp, safe_serialization=True)
                    tokenizer.save_pretrained(tmp)
                steplog.timer.restart()
            if step == cfg.steps:
                break
            lr = learning_rate(step, cfg)
            x, y = to_device(group.shard(*train_batch(train_ids, step, cfg.batch_seed, cfg.batch_size, cfg.seq_len)), device)
            steplog.add(step, lr, step_fn(x, y, lr))
            done = step + 1
            evaluating = done % cfg.eval_every == 0 or done == cfg.steps
            logging_step = (done % cfg.log_every == 0 or evaluating or done % cfg.state_every == 0
                            or done in dump_steps)
            # One process sees a signal at once; data-parallel ranks agree on one at logging steps
            # only (SLURM signals every rank, but not at the same instant: stop together or not at all).
            if group.world == 1:
                stopping = stop.signal is not None
            else:
                stopping = logging_step and group.any(stop.signal is not None)
            if not (logging_step or stopping):
                continue
            new = steplog.read()
            diverged = next((row for row in new if not math.isfinite(row["loss"])), None)
            if diverged is not None:
                raise TrainingDiverged(
                    f"run {cfg.run}: loss is {diverged['loss']} at step {diverged['step'] - 1}; the last good state "
                    f"(step {saved}) is kept in {state.root}")
            if lead and evaluating:
                rows[-1]["val_loss"] = mean_loss(model, val_ids, cfg.batch_size, cfg.seq_len, cfg.eval_batches, device,
                                                 step_fn.autocast)
            bar.update(len(new))
            bar.set_postfix(progress_postfix(new[-1]), refresh=False)
            if lead and (done % cfg.state_every == 0 or stopping):
                state.save(done, model, optimizer, rows)
                saved = done
            if stopping:
                group.barrier()  # no rank exits (and makes torchrun kill the rest) before the state is saved
                log.warning("run %s: signal %s at step %d; state saved, exiting for a retry", cfg.run,
                            stop.signal or "on another rank", done)
                raise Interrupted(128 + (stop.signal or signal.SIGTERM))
            steplog.timer.restart()

    # Training is complete: a signal now (SLURM's warning, a preemption notice) is held until the
    # final writes are done, so the finished run is kept; exiting for a retry would only redo them.
    with StopFlag() as stop:
        if lead:
            with atomic_dir(model_dir) as tmp:
                model.save_pretrained(tmp, safe_serialization=True)
                tokenizer.save_pretrained(tmp)
                write_json(cfg.hyperparameters(), tmp / "regeo_train_config.json")
            with atomic_path(log_csv, ".csv") as tmp:
                pd.DataFrame(rows, columns=LOG_COLUMNS).to_csv(tmp, index=False)
            for step in cfg.save_models_at:
                with atomic_dir(Path(models_dir) / step_model_name(step)) as tmp:
                    for file in sorted((state.root / "models" / step_model_name(step)).iterdir()):
                        link_or_copy(file, tmp / file.name)
            # The finished outputs hold every dump (hard links), so the resumable state can go.
            shutil.rmtree(state.root, ignore_errors=True)
        group.barrier()
    if stop.signal is not None:
        log.warning("run %s: signal %s during the final save; the run is complete and its outputs written",
                    cfg.run, stop.signal)


def progress_postfix(row: dict) -> dict:
    """The progress bar's loss, tokens/s and (where a peak is known) MFU."""
    postfix = {"loss": f"{row['loss']:.3f}", "tok/s": f"{row['tokens_per_s']:,.0f}"}
    if math.isfinite(row["mfu"]):
        postfix["mfu"] = f"{row['mfu']:.1%}"
    return postfix
