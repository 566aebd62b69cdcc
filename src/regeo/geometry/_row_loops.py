"""Where the per-row float64 loops run (numpy on the CPU, torch elsewhere) and how they split into threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
import torch

# Row loops (exact distances, local Grams) run as numpy on the CPU and as torch elsewhere. The
# tests set this to True to run the torch code, which a GPU would use, on the CPU.
TORCH_ROW_LOOPS_ON_CPU = False


def numpy_row_loops(device: torch.device) -> bool:
    """Whether the per-row float64 loops on ``device`` run as numpy (CPU) rather than torch."""
    return device.type == "cpu" and not TORCH_ROW_LOOPS_ON_CPU


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
