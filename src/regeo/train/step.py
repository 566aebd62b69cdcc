"""One optimizer step of the trainer: the code that both the training loop and the benchmarks run.

A step takes this process's (B, T) inputs and next-token targets (already on the device),
splits them into micro-batches (``training.micro_batch_size``), accumulates their gradients, clips
and updates. The mean loss comes back as a device tensor, so that the loop reads it only at
logging steps (a read is a host sync, which would stall a GPU every step).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from regeo.io import RegeoInputError
from regeo.train.config import TrainConfig
from regeo.train.distributed import Group


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    # Decay matrices (embeddings included, as in nanoGPT), not norm gains.
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if next(model.parameters()).device.type == "cuda":
        # One fused kernel for the whole update instead of several per parameter.
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
    # The CPU keeps the per-parameter loop its results were produced with (foreach and fused
    # round differently).
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8, foreach=False)


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """bfloat16 autocast on CUDA when ``precision`` is bf16; None (float32) otherwise."""
    return torch.bfloat16 if device.type == "cuda" and precision == "bf16" else None


def micro_batches(rows: int, micro_batch_size: int | None) -> int:
    """How many micro-batches this process's ``rows`` sequences of a step are split into (one
    when the micro-batch holds them all)."""
    if micro_batch_size is None or micro_batch_size >= rows:
        return 1
    if rows % micro_batch_size:
        raise RegeoInputError(f"training.micro_batch_size ({micro_batch_size}) must divide the {rows} sequences "
                              "each process takes of a step's batch")
    return rows // micro_batch_size


@dataclass
class TrainStep:
    """Call with (inputs, targets, lr) for one optimizer step; returns the step's mean loss over
    the global batch, detached, on the device."""

    model: torch.nn.Module  # the parameters
    wrapped: torch.nn.Module  # the model as the group runs it (DDP across processes)
    forward: torch.nn.Module  # ``wrapped``, compiled or not
    optimizer: torch.optim.Optimizer
    group: Group
    micro_batch_size: int | None
    grad_clip: float
    autocast: torch.dtype | None

    def __call__(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> torch.Tensor:
        for param_group in self.optimizer.param_groups:
            param_group["lr"] = lr
        parts = micro_batches(len(x), self.micro_batch_size)
        self.optimizer.zero_grad(set_to_none=True)
        total = None
        for i, (xm, ym) in enumerate(zip(x.chunk(parts), y.chunk(parts))):
            # DDP all-reduces the gradients with the last micro-batch's backward only.
            with self.group.accumulating(self.wrapped, last=i == parts - 1):
                with torch.autocast(x.device.type, dtype=self.autocast, enabled=self.autocast is not None):
                    logits = self.forward(input_ids=xm).logits  # (b, T, V)
                loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), ym.flatten())
                if parts > 1:  # equal micro-batches: the mean of their means is the batch mean
                    loss = loss / parts
                loss.backward()
            total = loss.detach() if total is None else total + loss.detach()
        if self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        return self.group.mean(total)


def training_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, cfg: TrainConfig,
                  group: Group) -> TrainStep:
    """The step of ``cfg`` on ``model`` (already on ``group.device``, its state already loaded:
    DDP copies rank 0's parameters to every process when it wraps them)."""
    wrapped = group.wrap(model)
    forward = torch.compile(wrapped) if cfg.compile else wrapped
    return TrainStep(model, wrapped, forward, optimizer, group, cfg.micro_batch_size, cfg.grad_clip,
                     autocast_dtype(group.device, cfg.precision))
