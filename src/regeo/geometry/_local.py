"""Batched float64 work on every point's neighbourhood: local Gram matrices and reconstructions.

Both gather the k neighbour rows of a chunk of points; the chunk is sized to keep the
(rows, k, d) float64 buffer in cache. The gathered rows are read in the input's own precision
(float32 is exact in float64) and widened on the way.

On the CPU this is numpy: its stacked ``matmul`` runs many small (k, d) @ (d, k) products several
times faster than ``torch.bmm``, and its single-threaded gathers do not stall when other
processes hold the cores (torch's short parallel regions do). On CUDA it is torch.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from regeo.devices import resolve_device
from regeo.geometry._row_loops import in_parts, numpy_row_loops

_CHUNK_BYTES = 4 * 2**20  # float64 (rows, k, d) buffer: cache-sized on the CPU
_CHUNK_BYTES_CUDA = 256 * 2**20  # on a GPU, few large launches matter more
_GRAM_BYTES = 64 * 2**20  # (rows, k, k) Gram matrices handed over per batch


def check_indices(indices, n: int, name: str = "indices") -> np.ndarray:
    """(n, k) int64 neighbour indices, each in [0, n)."""
    indices = np.asarray(indices)
    if indices.ndim != 2 or indices.shape[0] != n or indices.shape[1] < 1:
        raise ValueError(f"{name} must have shape (n, k) with n = {n} rows of X, got {indices.shape}")
    if indices.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integers, got dtype {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise ValueError(f"{name} must lie in [0, {n})")
    return np.ascontiguousarray(indices, dtype=np.int64)


def _chunks(n: int, k: int, d: int, device: torch.device) -> range:
    budget = _CHUNK_BYTES_CUDA if device.type == "cuda" else _CHUNK_BYTES
    return range(0, n, max(1, budget // (8 * k * d)))


def local_grams(X: np.ndarray, indices: np.ndarray, device=None) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Yield ``(s, e, G)``: G (e - s, k, k) float64 on ``device``, the Gram matrices of the
    differences ``X[indices[i]] - X[i]`` (differences first, so the precision does not depend on |x|).

    Batches are large (64 MiB of Grams) so that the caller's batched solves are few calls.
    """
    dev = resolve_device(device)
    n, d = X.shape
    k = indices.shape[1]
    chunks = _chunks(n, k, d, dev)
    batch = max(chunks.step, _GRAM_BYTES // (8 * k * k)) // chunks.step * chunks.step  # rows per yield
    if numpy_row_loops(dev):
        for b in range(0, n, batch):
            G = np.empty((min(batch, n - b), k, k))  # (B, k, k)

            def work(lo: int, hi: int) -> None:
                buffer = np.empty((min(chunks.step, hi - lo) * k, d))  # (rs * k, d) float64
                for s in range(lo, hi, chunks.step):
                    e = min(hi, s + chunks.step)
                    C = buffer[: (e - s) * k]
                    C[...] = np.take(X, indices[s:e].reshape(-1), axis=0)  # widened to float64
                    C = C.reshape(e - s, k, d)  # (rs, k, d)
                    C -= X[s:e, None, :]
                    np.matmul(C, C.transpose(0, 2, 1), out=G[s - b:e - b])  # (rs, k, k)

            in_parts(b, b + len(G), work)
            yield b, b + len(G), torch.from_numpy(G)
        return
    src = torch.from_numpy(X).to(dev)  # (n, d)
    idx = torch.from_numpy(indices).to(dev)  # (n, k)
    for s in chunks:
        e = min(n, s + chunks.step)
        C = src.index_select(0, idx[s:e].reshape(-1)).double().view(e - s, k, d)  # (rs, k, d)
        C -= src[s:e].double()[:, None, :]
        yield s, e, torch.bmm(C, C.transpose(1, 2))  # (rs, k, k)


def reconstruct_residuals(X: np.ndarray, indices: np.ndarray, weights: np.ndarray, device=None) -> np.ndarray:
    """(n,) float64: ``|x_i - sum_j w_ij x_{indices[i, j]}|^2`` for every row (weights need not sum to 1)."""
    dev = resolve_device(device)
    n, d = X.shape
    k = indices.shape[1]
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    chunks = _chunks(n, k, d, dev)
    if numpy_row_loops(dev):
        out = np.empty(n)

        def work(lo: int, hi: int) -> None:
            buffer = np.empty((min(chunks.step, hi - lo) * k, d))
            for s in range(lo, hi, chunks.step):
                e = min(hi, s + chunks.step)
                A = buffer[: (e - s) * k]
                A[...] = np.take(X, indices[s:e].reshape(-1), axis=0)
                r = np.matmul(weights[s:e, None, :], A.reshape(e - s, k, d))[:, 0, :]  # (rs, d)
                r -= X[s:e]
                out[s:e] = np.einsum("ij,ij->i", r, r)

        in_parts(0, n, work)
        return out
    src = torch.from_numpy(X).to(dev)
    idx = torch.from_numpy(indices).to(dev)
    W = torch.from_numpy(weights).to(dev)  # (n, k)
    out = torch.empty(n, dtype=torch.float64, device=dev)
    for s in chunks:
        e = min(n, s + chunks.step)
        A = src.index_select(0, idx[s:e].reshape(-1)).double().view(e - s, k, d)  # (rs, k, d)
        r = torch.bmm(W[s:e, None, :], A)[:, 0, :] - src[s:e].double()  # (rs, d)
        out[s:e] = r.square().sum(1)
    return out.cpu().numpy()
