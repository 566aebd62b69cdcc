"""Tests across runs that follow the design that produced the runs (issue 27).

- **Permutation p-values** are ``(1 + b) / (1 + B)``: ``b`` of the ``B`` relabellings other than
  the observed one give a statistic at least as large. Beside every p the *minimum attainable* p
  of that reference set is reported: with 5 subsets no Spearman test can go below 2/120, and a
  table that prints "p = 0.02" must say that 0.017 was the floor.
- **Blocks**: labels are permuted only within blocks (runs of one seed share their initial
  weights and batch order, so a seed is a block: register labels move between runs of the same
  seed only). Without blocks every unit is exchangeable.
- **Exact or Monte Carlo**: every within-block relabelling is enumerated when there are at most
  ``max_exact``; otherwise ``B`` are drawn (the observed labelling may recur among them, which
  keeps the test valid: Phipson & Smyth 2010).
- **Multiple tests**: Holm (family-wise error) or Benjamini-Hochberg (false discovery rate)
  adjusted p-values across a table's family of tests.
- **Spearman's rho** (``spearman_rows``): of many resamples at once, with average ranks for ties;
  used across runs (RQ3) and by the row-norm/frequency property of :mod:`regeo.geometry.properties`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

ADJUSTMENTS = ("holm", "bh")
# Ties between a relabelled statistic and the observed one are ties, not float noise: a
# relabelling that only renames the groups must count as "at least as large".
_TIE = 1e-9


@dataclass(frozen=True)
class PermutationResult:
    """A permutation test: the observed statistic, its p, the smallest p this reference set could
    give, how many relabellings it holds, and whether they were enumerated."""

    statistic: float
    p_value: float
    p_min: float
    n_permutations: int
    exact: bool


def permutation_p(observed: float, null: np.ndarray) -> float:
    """``(1 + #{null >= observed}) / (1 + B)`` for ``B`` relabelled statistics (larger is more
    extreme; pass absolute values for a two-sided test). Never 0; NaN for a NaN statistic."""
    null = np.asarray(null, dtype=np.float64)
    if not np.isfinite(observed):
        return float("nan")
    tol = _TIE * max(1.0, abs(observed))
    return float((1 + np.sum(null >= observed - tol)) / (1 + null.size))


def minimum_p(observed: float, null: np.ndarray) -> float:
    """The floor of the test: the p of the most extreme labelling in the reference set (the
    observed one and its relabellings), counting the relabellings that tie with it. With 5
    registers in 2 seed blocks the 120 relabellings that only rename the registers tie, so the floor
    is 1/120, not 1/14,400."""
    null = np.asarray(null, dtype=np.float64)
    values = np.append(null, observed)
    values = values[np.isfinite(values)]
    if not values.size:
        return float("nan")
    top = float(values.max())
    tol = _TIE * max(1.0, abs(top))
    return float(np.sum(values >= top - tol) / (1 + null.size))


def block_relabellings(blocks: np.ndarray, n_draws: int, seed: int, max_exact: int = 20_000) -> tuple[np.ndarray, bool]:
    """(B, n) index arrays: row j reorders the units so that ``labels[rows[j]]`` is a relabelling
    that moves labels only within blocks; the observed (identity) order is left out when
    enumerating. Every relabelling when there are at most ``max_exact`` (``exact`` True), else
    ``n_draws`` random ones."""
    blocks = np.asarray(blocks)
    members = [np.flatnonzero(blocks == b) for b in dict.fromkeys(blocks.tolist())]
    total = math.prod(math.factorial(len(m)) for m in members)
    n = len(blocks)
    if total - 1 <= max_exact:
        rows = []
        for orders in itertools.product(*(itertools.permutations(m) for m in members)):
            index = np.arange(n)
            for m, order in zip(members, orders):
                index[m] = order
            rows.append(index)
        return np.asarray(rows[1:], dtype=np.int64).reshape(-1, n), True  # the first is the identity
    rng = np.random.default_rng(seed)
    rows = np.tile(np.arange(n), (n_draws, 1))
    for m in members:
        rows[:, m] = m[np.argsort(rng.random((n_draws, len(m))), axis=1)]
    return rows, False


def permutation_test(statistic: Callable[[np.ndarray], np.ndarray], labels: np.ndarray,
                     blocks: np.ndarray | None = None, n_draws: int = 9_999, seed: int = 0,
                     max_exact: int = 20_000) -> PermutationResult:
    """The test of ``statistic`` (larger is more extreme) at ``labels`` against the same statistic
    under ``labels`` relabelled within ``blocks`` (None: all units exchangeable). ``statistic``
    takes a (B, n) array of labellings and returns (B,) values."""
    labels = np.asarray(labels)
    blocks = np.zeros(len(labels), dtype=np.int64) if blocks is None else np.asarray(blocks)
    if len(blocks) != len(labels):
        raise ValueError(f"{len(labels)} labels but {len(blocks)} blocks")
    observed = float(np.asarray(statistic(labels[None]))[0])
    rows, exact = block_relabellings(blocks, n_draws, seed, max_exact)
    null = np.asarray(statistic(labels[rows]), dtype=np.float64)
    return PermutationResult(observed, permutation_p(observed, null), minimum_p(observed, null), len(null), exact)


def blocked_f(values: np.ndarray, groups: np.ndarray, blocks: np.ndarray | None = None) -> np.ndarray:
    """F of ``groups`` after ``blocks`` (a two-way additive model, no interaction): the spread of
    the groups' means of the block-centred values over the residual spread; without blocks, the
    one-way F. ``groups`` is one labelling (n,) or many (B, n); returns a float or (B,) array,
    NaN where there is no residual."""
    values = np.asarray(values, dtype=np.float64)
    groups = np.asarray(groups)
    single = groups.ndim == 1
    groups = np.atleast_2d(groups)
    centred = values.copy()
    n_blocks = 1
    if blocks is None:
        centred -= values.mean()
    else:
        blocks = np.asarray(blocks)
        block_ids = np.unique(blocks)
        n_blocks = len(block_ids)
        for b in block_ids:
            centred[blocks == b] -= values[blocks == b].mean()
    group_ids, codes = np.unique(groups, return_inverse=True)
    onehot = codes.reshape(groups.shape)[..., None] == np.arange(len(group_ids))  # (B, n, G)
    sums = np.einsum("bng,n->bg", onehot, centred)
    counts = onehot.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        between = np.where(counts > 0, sums ** 2 / np.maximum(counts, 1), 0.0).sum(1)
    residual = float((centred ** 2).sum()) - between
    df_between = len(group_ids) - 1
    df_residual = len(values) - len(group_ids) - n_blocks + 1
    if df_between < 1 or df_residual < 1:
        f = np.full(len(groups), np.nan)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where(residual > 1e-12 * max(float((centred ** 2).sum()), 1e-300),
                         (between / df_between) / (residual / df_residual), np.nan)
    return float(f[0]) if single else f


def adjust(p_values, method: str) -> np.ndarray:
    """Holm or Benjamini-Hochberg adjusted p-values of one family; NaN entries stay NaN and are
    not counted as tests."""
    if method not in ADJUSTMENTS:
        raise ValueError(f"unknown adjustment {method!r} (known: {', '.join(ADJUSTMENTS)})")
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    m = len(tested)
    if m == 0:
        return out
    order = tested[np.argsort(p[tested], kind="stable")]
    ranked = p[order]
    if method == "holm":
        adjusted = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:
        adjusted = np.minimum.accumulate((m / np.arange(1, m + 1) * ranked)[::-1])[::-1]
    out[order] = np.minimum(adjusted, 1.0)
    return out


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(b,) Spearman's rank correlation of each row pair of two (b, n) arrays (average ranks for
    ties, which resamples with repeated runs have); NaN where a row is constant."""
    rx = pd.DataFrame(np.atleast_2d(x)).rank(axis=1).to_numpy()
    ry = pd.DataFrame(np.atleast_2d(y)).rank(axis=1).to_numpy()
    return pearson_rows(rx, ry)


def pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(b,) Pearson correlation of each row pair of two (b, n) arrays; NaN where a row is constant."""
    rx = np.atleast_2d(np.asarray(x, dtype=np.float64))
    ry = np.atleast_2d(np.asarray(y, dtype=np.float64))
    rx = rx - rx.mean(1, keepdims=True)
    ry = ry - ry.mean(1, keepdims=True)
    norm = np.sqrt((rx ** 2).sum(1) * (ry ** 2).sum(1))
    return np.divide((rx * ry).sum(1), norm, out=np.full(len(rx), np.nan), where=norm > 0)


def rank_residuals(values, control) -> np.ndarray:
    """(n,) the ranks of ``values`` less their least-squares fit (with intercept) on the ranks of
    ``control``: what is left of them once the control's monotone trend is taken out (the partial
    Spearman correlation correlates two such residuals)."""
    ranks = pd.Series(np.asarray(values, dtype=np.float64)).rank().to_numpy()
    design = np.column_stack([np.ones(len(ranks)), pd.Series(np.asarray(control, dtype=np.float64)).rank()])
    fit, *_ = np.linalg.lstsq(design, ranks, rcond=None)
    return ranks - design @ fit


def spearman(x, y) -> float:
    """Spearman's rank correlation of two sequences; NaN when either is constant."""
    return float(spearman_rows(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))[0])
