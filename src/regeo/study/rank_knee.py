"""Embedding rank against validation loss, training-free (the analogue of Kataiwa et al.'s LoRA
finding that the embedding layer stops losing perplexity near its estimated ID).

A final model's input embeddings (and, when untied, its output embeddings) are replaced by their
best rank-r approximation (truncated SVD, Eckart-Young) for r on a log grid up to the width d,
and the validation loss is measured on fixed windows of the run's own val split. The knee r* is
the smallest r whose loss is within ``tolerance`` nats of the full model's; its interval: the
bootstrap over validation windows (paired: every rank is scored on the same resampled windows).
Its null: the same rank through a random r-dimensional subspace instead of the top singular
directions, scored at one rank only (r*, or the largest rank below d when r* = d), since every
scored rank is a pass over the validation windows.
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


def right_singular_vectors(W: np.ndarray) -> np.ndarray:
    """(d, d) right singular vectors of W (n, d), by decreasing singular value: the eigenvectors of
    W^T W, far cheaper than an SVD of a tall matrix."""
    W = W.astype(np.float64)
    values, vectors = np.linalg.eigh(W.T @ W)
    return vectors[:, ::-1]


def svd_rank(W: np.ndarray, r: int, V: np.ndarray | None = None) -> np.ndarray:
    """The best rank-r approximation of W (n, d) in Frobenius norm (Eckart-Young): U_r S_r V_r^T,
    computed as W V_r V_r^T; ``V``: :func:`right_singular_vectors` of W, if already known."""
    V = right_singular_vectors(W) if V is None else V
    return (W.astype(np.float64) @ V[:, :r]) @ V[:, :r].T


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


def _scored(model, params, originals, make, tokens, batch_size, seq_len, max_batches, device) -> np.ndarray:
    """Window losses with every embedding matrix replaced by ``make(W)``."""
    with torch.no_grad():
        for p, W in zip(params, originals):
            p.copy_(torch.from_numpy(make(W)).to(p.dtype))
    return window_losses(model, tokens, batch_size, seq_len, max_batches, device)


def rank_curve(model, tokens: np.ndarray, ranks, tolerance: float, batch_size: int, seq_len: int,
               max_batches: int | None, device: torch.device, boot: TokenBootstrap | None,
               seed: int) -> tuple[pd.DataFrame, dict]:
    """(curve, knee summary) of one model: per rank (method ``svd``, and ``random`` at the null's
    rank) the mean window loss and its excess over the full model with an interval; the knee with
    its interval, and the SVD and random-subspace excesses at the null's rank."""
    inputs = model.get_input_embeddings().weight
    outputs = model.get_output_embeddings()
    tied = outputs is None or outputs.weight.data_ptr() == inputs.data_ptr()
    params = [inputs] + ([] if tied else [outputs.weight])
    originals = [p.detach().cpu().numpy().copy() for p in params]
    bases = {id(W): right_singular_vectors(W) for W in originals}
    rng = np.random.default_rng(seed)
    score = lambda make: _scored(model, params, originals, make, tokens, batch_size, seq_len, max_batches, device)
    try:
        full = score(lambda W: W)  # (n_windows,)
        svd = {r: score(lambda W, r=r: svd_rank(W, r, bases[id(W)])) for r in ranks[:-1]}
        svd[ranks[-1]] = full
        excess = np.stack([svd[r] - full for r in ranks])  # (ranks, n)
        found = knee(ranks, excess.mean(1), tolerance)
        null_rank = found if found < ranks[-1] else ranks[-2] if len(ranks) > 1 else ranks[-1]
        random = score(lambda W: random_rank(W, null_rank, rng))
    finally:
        with torch.no_grad():
            for p, W in zip(params, originals):
                p.copy_(torch.from_numpy(W))
    n = full.size
    # (replicates, ranks + 1): every rank and the null scored on the same resampled windows
    rows_excess = np.vstack([excess, random - full])
    reps = None if boot is None else boot.replicate(n, lambda idx: rows_excess[:, idx].mean(-1).T)
    interval = lambda i: (np.nan, np.nan) if reps is None else boot.percentiles(reps[:, i])
    rows = []
    for i, (method, r, losses) in enumerate([("svd", r, svd[r]) for r in ranks] + [("random", null_rank, random)]):
        lo, hi = interval(i)
        rows.append({"method": method, "rank": r, "loss": float(losses.mean()), "excess": float(rows_excess[i].mean()),
                     "excess_ci_low": lo, "excess_ci_high": hi})
    knee_lo, knee_hi = (np.nan, np.nan) if reps is None else boot.percentiles(_knees(ranks, reps[:, :-1], tolerance))
    at_null = ranks.index(null_rank)
    summary = {"tied": tied, "n_windows": n, "loss_full": float(full.mean()), "tolerance": tolerance,
               "knee_svd": found, "knee_svd_ci_low": knee_lo, "knee_svd_ci_high": knee_hi, "null_rank": null_rank,
               "excess_svd_at_null_rank": float(excess[at_null].mean()),
               "excess_random_at_null_rank": float((random - full).mean())}
    summary["excess_random_ci_low"], summary["excess_random_ci_high"] = interval(len(ranks))
    return pd.DataFrame(rows), summary
