"""Token filter: restrict analyses to tokens the model actually saw in training.

Embedding rows of unseen tokens never leave their initialisation (only weight decay moves them),
so they form an isotropic random cloud that would dominate neighbour-based estimates.
"""

from __future__ import annotations

import numpy as np

from regeo.geometry._checks import check_int


def token_counts(token_ids, vocab_size: int) -> np.ndarray:
    """(vocab_size,) int64 occurrences of every token id in ``token_ids`` (any integer array)."""
    vocab_size = check_int(vocab_size, "vocab_size", 1)
    ids = np.asarray(token_ids).reshape(-1)
    if ids.dtype.kind not in "iu":
        raise ValueError(f"token_ids must be integers, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"token ids must lie in [0, {vocab_size})")
    return np.bincount(ids, minlength=vocab_size).astype(np.int64)


def seen_token_mask(counts, min_count: int) -> np.ndarray:
    """(vocab,) bool: token ids seen at least ``min_count`` times; ``min_count=0`` keeps every id."""
    counts = np.asarray(counts)
    if counts.ndim != 1:
        raise ValueError(f"counts must be a 1-D array of per-id counts, got shape {counts.shape}")
    if counts.dtype.kind not in "iuf":
        raise ValueError(f"counts must be numbers, got dtype {counts.dtype}")
    if counts.size and not (np.isfinite(counts).all() and counts.min() >= 0):
        raise ValueError("counts must be finite and non-negative")
    min_count = check_int(min_count, "min_count", 0)
    return counts >= min_count
