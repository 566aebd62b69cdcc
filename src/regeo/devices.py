"""The one place a device name becomes a ``torch.device``.

Config fields (``training.device``, ``steering.device``, ...) take ``auto``, ``cpu``, ``cuda`` or
``cuda:N``; library functions take the same names, a ``torch.device``, or ``None`` (= ``auto``).
A leaf module (torch only), so every layer, ``regeo.geometry`` included, can use it.
"""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None = "auto", field: str = "device") -> torch.device:
    """``auto`` (or None) picks CUDA when present, else the CPU; CUDA asked for without one is an
    error naming ``field``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{field} is '{device}' but no CUDA device is visible")
    return device
