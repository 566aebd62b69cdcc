"""Embedding rank against validation loss, training-free (the analogue of Kataiwa et al.'s LoRA
finding that the embedding layer stops losing perplexity near its estimated ID).

A final model's input embeddings (and, when untied, its output embeddings) are replaced by their
best rank-r approximation (truncated SVD, Eckart-Young) for r on a log grid up to the width d,
and the validation loss is measured on fixed windows of the run's own val split. The knee r* is
the smallest r whose loss is within ``tolerance`` nats of the full model's. Its null: the same
rank through a random r-dimensional subspace instead of the top singular directions; its
interval: the bootstrap over validation windows (paired: every rank is scored on the same
resampled windows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from regeo.geometry.intervals import TokenBootstrap
from regeo.loss import window_losses


def rank_grid(d: int, ranks=None) -> list[int]:
    """``ranks`` (each at most d) or 1, 2, 4, ... below d; d itself (the full model) always last."""
    grid = [r for r in (ranks if ranks is not None else [2 ** i for i in range(int(np.log2(d)) + 1)]) if r < d]
    return sorted(set(grid)) + [d]


def svd_rank(W: np.ndarray, r: int) -> np.ndarray:
    """The best rank-r approximation of W (n, d) in Frobenius norm: U_r S_r V_r^T."""
    U, S, Vt = np.linalg.svd(W.astype(np.float64), full_matrices=False)
    return (U[:, :r] * S[:r]) @ Vt[:r]


def random_rank(W: np.ndarray, r: int, rng: np.random.Generator) -> np.ndarray:
    """W projected onto a uniformly random r-dimensional subspace of its columns' space R^d."""
    Q, _ = np.linalg.qr(rng.standard_normal((W.shape[1], r)))  # (d, r) orthonormal
    return (W.astype(np.float64) @ Q) @ Q.T


def knee(ranks, deltas, tolerance: float) -> int:
    """The smallest rank whose loss excess over the full model is at most ``tolerance``."""
    ranks, deltas = np.asarray(ranks), np.asarray(deltas, dtype=np.float64)
    return int(ranks[np.flatnonzero(deltas <= tolerance)[0]])  # the full rank has excess 0


def _knees(ranks, deltas: np.ndarray, tolerance: float) -> np.ndarray:
    """(b,) knees of a (b, ranks) block of loss excesses."""
    within = deltas <= tolerance
    within[:, -1] = True
    return np.asarray(ranks)[within.argmax(1)]


def rank_curve(model, tokens: np.ndarray, ranks, tolerance: float, batch_size: int, seq_len: int,
               max_batches: int | None, device: torch.device, boot: TokenBootstrap | None,
               seed: int) -> tuple[pd.DataFrame, dict]:
    """(curve, knee summary) of one model: per (method, rank) the mean window loss, its excess over
    the full model with an interval, and the knees of the SVD and the random-subspace null."""
    inputs = model.get_input_embeddings().weight
    outputs = model.get_output_embeddings()
    tied = outputs is None or outputs.weight.data_ptr() == inputs.data_ptr()
    params = [inputs] + ([] if tied else [outputs.weight])
    originals = [p.detach().clone() for p in params]
    rng = np.random.default_rng(seed)
    losses = {}
    try:
        with torch.no_grad():
            for method in ("svd", "random"):
                for r in ranks:
                    for p, W in zip(params, originals):
                        W = W.cpu().numpy()
                        low = svd_rank(W, r) if method == "svd" else random_rank(W, r, rng)
                        p.copy_(torch.from_numpy(low).to(p.dtype))
                    losses[method, r] = window_losses(model, tokens, batch_size, seq_len, max_batches, device)
    finally:
        with torch.no_grad():
            for p, W in zip(params, originals):
                p.copy_(W)
    full = window_losses(model, tokens, batch_size, seq_len, max_batches, device)  # (n_windows,)
    n = full.size
    rows, summary = [], {"tied": tied, "n_windows": n, "loss_full": float(full.mean()), "tolerance": tolerance}
    for method in ("svd", "random"):
        excess = np.stack([losses[method, r] - full for r in ranks])  # (ranks, n)
        # (replicates, ranks): every rank scored on the same resampled windows
        reps = None if boot is None else boot.replicate(n, lambda idx: excess[:, idx].mean(-1).T)
        for i, r in enumerate(ranks):
            lo, hi = (np.nan, np.nan) if reps is None else boot.percentiles(reps[:, i])
            rows.append({"method": method, "rank": r, "loss": float(losses[method, r].mean()),
                         "excess": float(excess[i].mean()), "excess_ci_low": lo, "excess_ci_high": hi})
        summary[f"knee_{method}"] = knee(ranks, excess.mean(1), tolerance)
        lo, hi = (np.nan, np.nan) if reps is None else boot.percentiles(_knees(ranks, reps, tolerance))
        summary[f"knee_{method}_ci_low"], summary[f"knee_{method}_ci_high"] = lo, hi
    return pd.DataFrame(rows), summary
