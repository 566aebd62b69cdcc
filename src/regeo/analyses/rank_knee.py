"""Embedding rank against validation loss, training-free (the analogue of Kataiwa et al.'s LoRA
finding that the embedding layer stops losing perplexity near its estimated ID).

A final model's input embeddings (and, when untied, its output embeddings) are replaced by their
rank-r approximation for r on a grid up to the width d (:func:`rank_grid`: powers of two, every
d/8 from d/2 to d, and ranks around the matrix's measured ID), and the validation loss is
measured on windows drawn at random (seeded) across the run's own val split. The rank-r basis is
the top r right singular vectors of the rows of the tokens the run saw (truncated SVD, Eckart-Young
on those rows): unseen rows keep their random initialisation and would otherwise pull singular
directions towards noise; every row, seen or not, is then projected onto that basis. The knee r*
is the smallest r whose loss is within ``tolerance`` nats of the full model's; its interval: the
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

ID_OFFSETS = (-2, 0, 2)


def rank_grid(d: int, ranks=None, intrinsic_dim: float | None = None, id_offsets=ID_OFFSETS) -> list[int]:
    """The ranks to score, increasing, d itself (the full model) always last.

    ``ranks`` (those below d) when given; otherwise the default grid: the powers of two below d,
    every d/8 (at least 1) from d/2 up to d (where a knee below the width would show), and
    round(``intrinsic_dim``) + each of ``id_offsets`` (when an ID is given and finite). Each rank
    is one pass over the validation windows: for d = 64 and an ID of 20 with offsets -2, 0, 2,
    1, 2, 4, 8, 16, 18, 20, 22, 32, 40, 48, 56, 64 (13 ranks).
    """
    if ranks is None:
        grid = {2 ** i for i in range(int(np.log2(d)) + 1)} | set(range(d // 2, d, max(1, d // 8)))
        if intrinsic_dim is not None and np.isfinite(intrinsic_dim):
            grid |= {int(round(intrinsic_dim)) + int(o) for o in id_offsets}
        ranks = grid
    return sorted({int(r) for r in ranks if 1 <= r < d}) + [d]


def measured_id(id_comparison: pd.DataFrame, run: str, estimator: str = "mle", k: int = 20,
                embeddings: str = "input") -> float | None:
    """A run's ID from ``id_comparison.parquet`` (its common tokens, the table's first metric, as
    the rank-knee figure shows it): ``estimator`` at ``k``, or at the nearest k the table has;
    None when the table has no such row or its value is not finite."""
    if id_comparison.empty:
        return None
    rows = id_comparison[(id_comparison["run"] == run) & (id_comparison["embeddings"] == embeddings)
                         & (id_comparison["metric"] == id_comparison["metric"].iloc[0])
                         & (id_comparison["estimator"] == estimator)]
    if rows.empty:
        return None
    value = float(rows["value"].iloc[int(np.argmin(np.abs(rows["k"].to_numpy() - k)))])
    return value if np.isfinite(value) else None


def window_starts(n_tokens: int, batch_size: int, seq_len: int, max_batches: int | None, seed: int) -> np.ndarray:
    """Token offsets of the validation windows, in split order: ``max_batches`` x ``batch_size``
    of the split's disjoint windows of ``seq_len`` tokens (and the next one, the last target),
    drawn at random (``seed``) across the whole split; all of them for ``max_batches`` None or a
    split with no more."""
    n_slots = max(0, (n_tokens - 1) // seq_len)
    n = n_slots if max_batches is None else min(n_slots, max_batches * batch_size)
    slots = np.arange(n_slots) if n == n_slots else np.sort(
        np.random.default_rng([seed, 1]).choice(n_slots, size=n, replace=False))
    return slots.astype(np.int64) * seq_len


def basis_rows(seen: np.ndarray | None, n_rows: int) -> np.ndarray:
    """(n_rows,) bool: the embedding rows the rank-r basis is fitted on, those of seen tokens (a
    mask over token ids; ids past it count as unseen); every row for ``seen`` None."""
    if seen is None:
        return np.ones(n_rows, dtype=bool)
    rows = np.zeros(n_rows, dtype=bool)
    m = min(n_rows, len(seen))
    rows[:m] = np.asarray(seen[:m], dtype=bool)
    if not rows.any():
        raise ValueError("no seen token among the embedding rows: the rank-r basis needs at least one")
    return rows


def right_singular_vectors(W: np.ndarray) -> np.ndarray:
    """(d, d) right singular vectors of W (n, d), by decreasing singular value: the eigenvectors of
    W^T W, far cheaper than an SVD of a tall matrix."""
    W = W.astype(np.float64)
    values, vectors = np.linalg.eigh(W.T @ W)
    return vectors[:, ::-1]


def svd_rank(W: np.ndarray, r: int, V: np.ndarray | None = None) -> np.ndarray:
    """W (n, d) projected onto the top r right singular vectors: W V_r V_r^T. With ``V`` None, those
    of W itself (the best rank-r approximation in Frobenius norm, Eckart-Young: U_r S_r V_r^T);
    ``V``: :func:`right_singular_vectors` of W or of some of its rows (the seen tokens')."""
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


def _scored(model, params, originals, make, tokens, batch_size, seq_len, starts, device) -> np.ndarray:
    """Window losses (the windows at ``starts``) with every embedding matrix replaced by ``make(W)``."""
    with torch.no_grad():
        for p, W in zip(params, originals):
            p.copy_(torch.from_numpy(make(W)).to(p.dtype))
    return window_losses(model, tokens, batch_size, seq_len, None, device, starts=starts)


def rank_curve(model, tokens: np.ndarray, ranks, tolerance: float, batch_size: int, seq_len: int,
               max_batches: int | None, device: torch.device, boot: TokenBootstrap | None,
               seed: int, seen: np.ndarray | None = None) -> tuple[pd.DataFrame, dict]:
    """(curve, knee summary) of one model: per rank (method ``svd``, and ``random`` at the null's
    rank) the mean window loss and its excess over the full model with an interval; the knee with
    its interval, and the SVD and random-subspace excesses at the null's rank.

    Windows: :func:`window_starts` (``seed``), the same for every rank. ``seen``: (vocab,) bool
    mask of the token ids the run saw (None: every row); the singular vectors are fitted on their
    rows only (:func:`basis_rows`), and every row is projected onto them."""
    inputs = model.get_input_embeddings().weight
    outputs = model.get_output_embeddings()
    tied = outputs is None or outputs.weight.data_ptr() == inputs.data_ptr()
    params = [inputs] + ([] if tied else [outputs.weight])
    originals = [p.detach().cpu().numpy().copy() for p in params]
    fitted = basis_rows(seen, originals[0].shape[0])
    bases = {id(W): right_singular_vectors(W[basis_rows(seen, W.shape[0])]) for W in originals}
    starts = window_starts(len(tokens), batch_size, seq_len, max_batches, seed)
    rng = np.random.default_rng(seed)
    score = lambda make: _scored(model, params, originals, make, tokens, batch_size, seq_len, starts, device)
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
    summary = {"tied": tied, "n_windows": n, "n_basis_rows": int(fitted.sum()), "loss_full": float(full.mean()), "tolerance": tolerance,
               "knee_svd": found, "knee_svd_ci_low": knee_lo, "knee_svd_ci_high": knee_hi, "null_rank": null_rank,
               "excess_svd_at_null_rank": float(excess[at_null].mean()),
               "excess_random_at_null_rank": float((random - full).mean())}
    summary["excess_random_ci_low"], summary["excess_random_ci_high"] = interval(len(ranks))
    return pd.DataFrame(rows), summary
