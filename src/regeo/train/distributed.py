"""Data-parallel training over the processes ``torchrun`` starts (one per GPU), and the launcher.

A SLURM job that asks for ``gpu: N`` gets N devices; the train rule then runs ``torchrun
--standalone --nproc_per_node N`` inside the job (:func:`launch`). Each process takes a contiguous
slice of the same global batch (a function of seed and step, so resuming stays exact), DDP averages
the gradients, and rank 0 alone writes dumps, state and logs. With one process everything here is
a no-op, so the single-device path is unchanged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from regeo.devices import resolve_device
from regeo.io import RegeoInputError
from regeo.train.interruption import Interrupted

log = logging.getLogger(__name__)


@dataclass
class Group:
    rank: int
    world: int
    device: torch.device

    @property
    def is_lead(self) -> bool:
        return self.rank == 0

    def describe(self) -> str:
        if self.world == 1:
            return str(self.device)
        return (f"{self.world} processes (data-parallel, {dist.get_backend()}), this one on {self.device}; "
                f"{torch.cuda.device_count()} CUDA devices visible")

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if self.world == 1:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def accumulating(self, wrapped: torch.nn.Module, last: bool):
        """Context of one micro-batch's forward and backward: all but the ``last`` of a step only add
        to the gradients, and DDP all-reduces them once, in the last one's backward."""
        if self.world == 1 or last:
            return contextlib.nullcontext()
        return wrapped.no_sync()

    def shard(self, *batches: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """This rank's rows of each (B, ...) global batch."""
        if self.world == 1:
            return batches
        return tuple(b.chunk(self.world)[self.rank] for b in batches)

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        if self.world == 1:
            return value
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        return value / self.world

    def any(self, flag: bool) -> bool:
        if self.world == 1:
            return flag
        t = torch.tensor([int(flag)], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def init(device_name: str, batch_size: int) -> Group:
    """The process group torchrun set up through the environment, or a single process."""
    device = resolve_device(device_name, "training.device")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Group(0, 1, device)
    if batch_size % world:
        raise RegeoInputError(f"training.batch_size ({batch_size}) must be divisible by the number of "
                              f"data-parallel processes ({world})")
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Group(rank, world, device)


def launch(processes: int, job: dict, job_file: Path) -> None:
    """Run :mod:`regeo.train.worker` on ``job`` under ``torchrun`` with ``processes`` processes.

    SIGTERM/SIGINT (SLURM's time limit or a requeue) reach the workers through torchrun; this
    process waits for them so that the job ends only after rank 0 has saved its state.
    """
    job_file.parent.mkdir(parents=True, exist_ok=True)
    job_file.write_text(json.dumps(job))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               "-m", "regeo.train.worker", str(job_file)]
    log.info("data-parallel training over %d processes: %s", processes, " ".join(command))
    child = subprocess.Popen(command, stdout=sys.stdout, stderr=sys.stderr)
    received: list[int] = []

    def forward(signum, frame):
        received.append(signum)
        child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    job_file.unlink(missing_ok=True)
    if code != 0:
        if received:  # as a single process would exit: the state is saved, a retry resumes
            raise Interrupted(128 + received[0])
        raise RuntimeError(f"torchrun exited with status {code}; the workers' errors are above in this log")


def train_job(cfg, **paths) -> dict:
    """What :mod:`regeo.train.worker` needs, as JSON."""
    return {"config": asdict(cfg), "paths": {k: str(v) for k, v in paths.items()}}
