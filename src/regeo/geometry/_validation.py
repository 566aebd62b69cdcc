"""Input validation shared by the geometry modules (numpy and torch inputs alike)."""

from __future__ import annotations

import numbers

import numpy as np
import torch


def as_matrix(X, name: str = "X", min_rows: int = 2) -> np.ndarray:
    """``X`` as a 2-D finite float numpy array: float32 kept as float32, anything else float64.

    float32 is kept because it is exact in float64, so the exact-distance pass can read the
    smaller array and widen it on the fly (see knn.py); every other dtype goes to float64.
    """
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_samples, n_features), got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {X.dtype}")
    if X.dtype != np.float32:
        X = X.astype(np.float64)
    if X.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got {X.shape[0]}")
    if X.shape[1] < 1:
        raise ValueError(f"{name} needs at least one column, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return X


def check_int(value, name: str, low: int, high: int | None = None) -> int:
    """``value`` as an int in [low, high] (bools refused: ``True`` is not a neighbour count)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be in {bound}, got {value}")
    return value


def check_choice(value, name: str, choices: tuple) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value
