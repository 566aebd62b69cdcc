"""Input validation shared by the geometry modules (numpy and torch inputs alike)."""

from __future__ import annotations

import numbers
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

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


# Row loops (exact distances, local Grams) run as numpy on the CPU and as torch elsewhere. The
# tests set this to True to run the torch code, which a GPU would use, on the CPU.
TORCH_ROW_LOOPS_ON_CPU = False


def numpy_row_loops(device: torch.device) -> bool:
    """Whether the per-row float64 loops on ``device`` run as numpy (CPU) rather than torch."""
    return device.type == "cpu" and not TORCH_ROW_LOOPS_ON_CPU


def resolve_device(device) -> torch.device:
    """``None`` picks CUDA when present, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def in_parts(lo: int, hi: int, work: Callable[[int, int], None], min_rows: int = 64) -> None:
    """Run ``work(a, b)`` over contiguous parts of [lo, hi), one per torch thread, in threads.

    For numpy loops over rows whose calls release the GIL (take, matmul, einsum): coarse,
    independent parts keep both cores busy, and none waits for another when a different
    process holds a core (torch's many short parallel regions do wait).
    """
    parts = min(max(1, torch.get_num_threads()), max(1, (hi - lo) // min_rows))
    bounds = np.linspace(lo, hi, parts + 1).astype(int)
    if parts == 1:
        work(lo, hi)
        return
    with ThreadPoolExecutor(parts) as pool:
        for future in [pool.submit(work, int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]:
            future.result()  # re-raises a worker's exception
