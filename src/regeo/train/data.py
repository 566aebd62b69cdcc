"""Batches that depend only on (seed, step): a resumed run sees exactly the batches it would have.

Because the schedule is a function of (seed, step), which tokens a run has had as inputs by any
step is known without training (:func:`input_counts`): the token sets of the ID analysis at each
dump come from there.
"""

from __future__ import annotations

import numpy as np
import torch

# Ids gathered at once by input_counts: bounds its memory (8 bytes each) at any scale.
_IDS_PER_CHUNK = 1 << 22


def batch_starts(n_tokens: int, step: int, seed: int, batch_size: int, seq_len: int) -> np.ndarray:
    """(B,) start offsets of the training windows at ``step``."""
    rng = np.random.default_rng([seed, step])
    return rng.integers(0, n_tokens - seq_len - 1, size=batch_size)


def train_batch(tokens: np.ndarray, step: int, seed: int, batch_size: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of ``seq_len + 1`` tokens; inputs and next-token targets, each (B, T)."""
    starts = batch_starts(len(tokens), step, seed, batch_size, seq_len)
    windows = np.stack([np.asarray(tokens[s:s + seq_len + 1], dtype=np.int64) for s in starts])  # (B, T+1)
    windows = torch.from_numpy(windows)
    return windows[:, :-1], windows[:, 1:]


def to_device(batch: tuple[torch.Tensor, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    """The tensors of a batch on ``device``. To a GPU through pinned memory and without waiting: the
    host goes on to the next step while the copy runs (the caching host allocator keeps the pinned
    buffer alive until the copy is done)."""
    if device.type != "cuda":
        return tuple(t.to(device) for t in batch)
    return tuple(t.pin_memory().to(device, non_blocking=True) for t in batch)


def input_counts(tokens: np.ndarray, steps: list[int], seed: int, batch_size: int, seq_len: int,
                 vocab_size: int) -> np.ndarray:
    """(len(steps), vocab_size) int64: how often each id was an input of the batches of steps 0..S-1.

    Row i belongs to ``steps[i]``: the dump at step S is written before step S's update, so it has
    seen the batches of steps 0 to S-1 (step 0: none). Replays :func:`batch_starts` without a model.
    """
    steps = sorted(int(s) for s in steps)
    offsets = np.arange(seq_len)  # (T,)
    counts = np.zeros((len(steps), vocab_size), dtype=np.int64)
    running = np.zeros(vocab_size, dtype=np.int64)
    steps_per_chunk = max(1, _IDS_PER_CHUNK // (batch_size * seq_len))
    done = 0
    for row, target in enumerate(steps):
        while done < target:
            chunk = range(done, min(target, done + steps_per_chunk))
            starts = np.concatenate([batch_starts(len(tokens), s, seed, batch_size, seq_len) for s in chunk])
            ids = np.asarray(tokens[(starts[:, None] + offsets).ravel()], dtype=np.int64)  # (chunk * B * T,)
            running += np.bincount(ids, minlength=vocab_size)
            done = chunk.stop
        counts[row] = running
    return counts
