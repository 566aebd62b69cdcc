"""Training one causal LM with embedding dumps on a Pythia-style schedule, resumable after a kill.

Snakemake deletes a job's declared outputs before it runs, so everything a resumed job needs
lives in ``state_dir`` (never a declared output): the latest model and optimizer state, the log
rows up to it, and every embedding dump written so far. Dumps are hard-linked from there into
the output directory, so a retry restores them for free. Batches are a function of
(seed, step), so a resumed run is bitwise identical to an uninterrupted one on CPU.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import signal
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm
from transformers import LlamaConfig, LlamaForCausalLM

from regeo.dumps import dump_name, model_embeddings, write_dump
from regeo.io import RegeoInputError, atomic_dir, atomic_path, link_or_copy, load_tensors, save_tensors, write_json
from regeo.loss import mean_loss
from regeo.tokenizer import load_tokenizer
from regeo.tokens import load_tokens
from regeo.train import distributed
from regeo.train.config import TrainConfig
from regeo.train.data import train_batch
from regeo.train.interruption import Interrupted, StopFlag
from regeo.train.schedule import checkpoint_steps

log = logging.getLogger(__name__)
LOG_COLUMNS = ["step", "loss", "val_loss", "tokens", "tokens_per_s", "lr"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or inf; the last good state is kept."""


def build_model(cfg: TrainConfig, vocab_size: int, eos_id: int) -> LlamaForCausalLM:
    torch.manual_seed(cfg.seed)
    # No pad token: Llama gives its embedding padding_idx, which pins that row at zero with no
    # gradient. Training never pads, and the end-of-text token (the document separator) must learn.
    config = LlamaConfig(**cfg.model, vocab_size=vocab_size, max_position_embeddings=cfg.seq_len,
                         bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=None)
    return LlamaForCausalLM(config)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    # Decay matrices (embeddings included, as in nanoGPT), not norm gains.
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8, foreach=False)


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio * lr`` at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cosine)


class _State:
    """The resumable state of one run under ``root``."""

    def __init__(self, root: Path, fingerprint: str) -> None:
        self.root = root
        self.fingerprint = fingerprint
        self.latest = root / "latest"
        self.dumps = root / "embeddings"

    def load(self, model, optimizer) -> tuple[int, list[dict]]:
        """Restore the latest state if it belongs to this config; returns (step, log rows)."""
        info_path = self.latest / "progress.json"
        if not info_path.is_file():
            return 0, []
        info = json.loads(info_path.read_text())
        if info.get("fingerprint") != self.fingerprint:
            log.warning("state in %s is from another config (%s != %s); starting over",
                        self.root, info.get("fingerprint"), self.fingerprint)
            shutil.rmtree(self.root)
            return 0, []
        model.load_state_dict(load_tensors(self.latest / "model.safetensors"))
        try:
            optimizer.load_state_dict(torch.load(self.latest / "optimizer.pt", weights_only=True))
        except Exception as err:
            raise RegeoInputError(f"{self.latest / 'optimizer.pt'}: unreadable optimizer state: {err}") from err
        rows = pd.read_csv(self.latest / "log.csv").to_dict("records") if info["step"] > 0 else []
        return int(info["step"]), rows

    def save(self, step: int, model, optimizer, rows: list[dict]) -> None:
        with atomic_dir(self.latest) as tmp:
            save_tensors(model.state_dict(), tmp / "model.safetensors")
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
            pd.DataFrame(rows, columns=LOG_COLUMNS).to_csv(tmp / "log.csv", index=False)
            write_json({"step": step, "fingerprint": self.fingerprint}, tmp / "progress.json")


def train(cfg: TrainConfig, train_tokens: str | Path, val_tokens: str | Path, tokenizer_dir: str | Path,
          model_dir: str | Path, dumps_dir: str | Path, log_csv: str | Path, state_dir: str | Path) -> None:
    """Train one run; resumes from ``state_dir`` when it holds a state of this same config.

    Under ``torchrun`` (WORLD_SIZE > 1) every process takes its slice of each global batch and
    DDP averages the gradients, so the trajectory is the single-process one up to the order of
    floating-point sums; rank 0 alone writes files.
    """
    torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    group = distributed.init(cfg.device, cfg.batch_size)
    try:
        _train(cfg, group, train_tokens, val_tokens, tokenizer_dir, model_dir, dumps_dir, log_csv, state_dir)
    finally:
        group.close()


def _train(cfg: TrainConfig, group: "distributed.Group", train_tokens, val_tokens, tokenizer_dir, model_dir,
           dumps_dir, log_csv, state_dir) -> None:
    device, lead = group.device, group.is_lead
    autocast = torch.bfloat16 if device.type == "cuda" and cfg.precision == "bf16" else None
    tokenizer = load_tokenizer(tokenizer_dir)
    train_ids, val_ids = load_tokens(train_tokens), load_tokens(val_tokens)
    if len(train_ids) <= cfg.seq_len + 1:
        raise RegeoInputError(f"{train_tokens}: {len(train_ids)} tokens, fewer than seq_len + 1 = {cfg.seq_len + 1}")

    model = build_model(cfg, len(tokenizer), tokenizer.eos_token_id).to(device)
    optimizer = make_optimizer(model, cfg)
    state = _State(Path(state_dir), cfg.fingerprint())
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
    log.info("run %s on %s: %d parameters, steps %d..%d, %d dumps scheduled", cfg.run, group.describe(),
             sum(p.numel() for p in model.parameters()), start, cfg.steps, len(schedule))
    if lead:
        write_json(asdict(cfg), state.root / "train_config.json")
    forward = group.wrap(model)

    tokens_per_step = cfg.batch_size * cfg.seq_len
    model.train()
    timer = time.perf_counter()
    with StopFlag() as stop, tqdm(total=cfg.steps, initial=start, desc=cfg.run, mininterval=2.0,
                                   disable=not lead) as bar:
        for step in range(start, cfg.steps + 1):
            if lead and step in schedule and not (dumps_dir / dump_name(step)).is_file():
                tensors, tied = model_embeddings(model)
                write_dump(tensors, state.dumps / dump_name(step),
                           metadata={"run": cfg.run, "step": step, "tokens": step * tokens_per_step, "tied": tied})
                link_or_copy(state.dumps / dump_name(step), dumps_dir / dump_name(step))
            if step == cfg.steps:
                break
            lr = learning_rate(step, cfg)
            for param_group in optimizer.param_groups:
                param_group["lr"] = lr
            x, y = group.shard(*train_batch(train_ids, step, cfg.seed, cfg.batch_size, cfg.seq_len))
            with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
                logits = forward(input_ids=x.to(device)).logits  # (B / world, T, V)
            loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), y.to(device).flatten())
            global_loss = group.mean(loss.detach())  # the same value on every rank
            if not torch.isfinite(global_loss):
                raise TrainingDiverged(
                    f"run {cfg.run}: loss is {global_loss.item()} at step {step}; the last good state "
                    f"(step {saved}) is kept in {state.root}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            done = step + 1
            elapsed, timer = time.perf_counter() - timer, time.perf_counter()
            val = (mean_loss(model, val_ids, cfg.batch_size, cfg.seq_len, cfg.eval_batches, device, autocast)
                   if lead and (done % cfg.eval_every == 0 or done == cfg.steps) else float("nan"))
            rows.append({"step": done, "loss": global_loss.item(), "val_loss": val, "tokens": done * tokens_per_step,
                         "tokens_per_s": tokens_per_step / max(elapsed, 1e-9), "lr": lr})
            bar.update(1)
            bar.set_postfix(loss=f"{global_loss.item():.3f}", refresh=False)
            # SLURM signals every rank, but not at the same instant: stop together or not at all.
            stopping = group.any(stop.signal is not None)
            if lead and (done % cfg.state_every == 0 or stopping):
                state.save(done, model, optimizer, rows)
                saved = done
            if stopping:
                group.barrier()  # no rank exits (and makes torchrun kill the rest) before the state is saved
                log.warning("run %s: signal %s at step %d; state saved, exiting for a retry", cfg.run,
                            stop.signal or "on another rank", done)
                raise Interrupted(128 + (stop.signal or signal.SIGTERM))

    # Training is complete: a signal now (SLURM's warning, a preemption notice) is held until the
    # final writes are done, so the finished run is kept; exiting for a retry would only redo them.
    with StopFlag() as stop:
        if lead:
            with atomic_dir(model_dir) as tmp:
                model.save_pretrained(tmp, safe_serialization=True)
                tokenizer.save_pretrained(tmp)
                write_json(asdict(cfg), tmp / "regeo_train_config.json")
            with atomic_path(log_csv, ".csv") as tmp:
                pd.DataFrame(rows, columns=LOG_COLUMNS).to_csv(tmp, index=False)
            # The finished outputs hold every dump (hard links), so the resumable state can go.
            shutil.rmtree(state.root, ignore_errors=True)
        group.barrier()
    if stop.signal is not None:
        log.warning("run %s: signal %s during the final save; the run is complete and its outputs written",
                    cfg.run, stop.signal)
