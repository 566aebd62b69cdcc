"""Batched float64 work on every point's neighbourhood: local Gram matrices and reconstructions.

Both gather the k neighbour rows of a chunk of points, so the chunk is sized to keep the
(rows, k, d) float64 buffer in cache; the gathered rows are read in the input's own precision
(float32 is exact in float64) and widened on the way.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from regeo.geometry._checks import resolve_device

_CHUNK_BYTES = 8 * 2**20


def check_indices(indices, n: int, name: str = "indices") -> np.ndarray:
    """(n, k) int64 neighbour indices, each in [0, n)."""
    indices = np.asarray(indices)
    if indices.ndim != 2 or indices.shape[0] != n or indices.shape[1] < 1:
        raise ValueError(f"{name} must have shape (n, k) with n = {n} rows of X, got {indices.shape}")
    if indices.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integers, got dtype {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise ValueError(f"{name} must lie in [0, {n})")
    return indices.astype(np.int64, copy=False)


def local_differences(X: np.ndarray, indices: np.ndarray, device=None) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Yield ``(s, e, C)`` with C = X[indices[s:e]] - X[s:e, None], shape (e - s, k, d), float64."""
    dev = resolve_device(device)
    n, d = X.shape
    k = indices.shape[1]
    src = torch.from_numpy(X).to(dev)  # (n, d)
    idx = torch.from_numpy(indices).to(dev)  # (n, k)
    step = max(1, _CHUNK_BYTES // (8 * k * d))
    buffer = torch.empty((min(step, n) * k, d), dtype=torch.float64, device=dev)
    for s in range(0, n, step):
        e = min(n, s + step)
        C = buffer[: (e - s) * k].copy_(src.index_select(0, idx[s:e].reshape(-1))).view(e - s, k, d)
        C -= src[s:e].double()[:, None, :]  # differences: the Gram's precision does not depend on |x|
        yield s, e, C


def reconstruct_residuals(X: np.ndarray, indices: np.ndarray, weights: np.ndarray, device=None) -> np.ndarray:
    """(n,) float64: ``|x_i - sum_j w_ij x_{indices[i, j]}|^2`` for every row."""
    dev = resolve_device(device)
    W = torch.from_numpy(np.ascontiguousarray(weights, dtype=np.float64)).to(dev)  # (n, k)
    out = torch.empty(X.shape[0], dtype=torch.float64, device=dev)
    for s, e, C in local_differences(X, indices, dev):
        # sum_j w_j (x_j - x_i) = (sum_j w_j x_j) - x_i when the weights sum to 1; written with
        # the sum kept explicit so weights that do not sum to 1 are still measured correctly.
        r = torch.bmm(W[s:e, None, :], C)[:, 0, :]  # (rs, d) = sum_j w_j x_j - (sum_j w_j) x_i
        x = torch.from_numpy(X[s:e]).to(dev).double()  # (rs, d)
        r += (W[s:e].sum(1, keepdim=True) - 1.0) * x  # -> sum_j w_j x_j - x_i
        out[s:e] = r.square().sum(1)
    return out.cpu().numpy()
