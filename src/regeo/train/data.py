"""Batches that depend only on (seed, step): a resumed run sees exactly the batches it would have."""

from __future__ import annotations

import numpy as np
import torch


def train_batch(tokens: np.ndarray, step: int, seed: int, batch_size: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of ``seq_len + 1`` tokens; inputs and next-token targets, each (B, T)."""
    rng = np.random.default_rng([seed, step])
    starts = rng.integers(0, len(tokens) - seq_len - 1, size=batch_size)
    windows = np.stack([np.asarray(tokens[s:s + seq_len + 1], dtype=np.int64) for s in starts])  # (B, T+1)
    windows = torch.from_numpy(windows)
    return windows[:, :-1], windows[:, 1:]
