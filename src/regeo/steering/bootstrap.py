"""Bootstrap over held-out passages: replicate weights, stratified by side, and percentile intervals.

A replicate draws, with replacement, as many positive passages as there are and as many negative
passages as there are (the two sides stay the size they are, as the statistic assumes), and
gives each passage its draw count as a weight. Every effect and ratio of a (pair, concept) is
computed on the same replicates, so an interval of a ratio accounts for the correlation of its
numerator and denominator. Passages are the unit, not tokens: the tokens of one passage are not
independent draws. (Passages are pieces of held-out documents; a side whose held-out texts come
from one long document resamples that document's passages.)
"""

from __future__ import annotations

import warnings
import zlib

import numpy as np


def passage_weights(is_positive: np.ndarray, replicates: int, seed: int, key: str = "") -> np.ndarray:
    """(replicates, P) float64 draw counts; seeded by ``seed`` and a stable hash of ``key``."""
    is_positive = np.asarray(is_positive, dtype=bool)
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    weights = np.zeros((replicates, is_positive.size))
    for side in (is_positive, ~is_positive):
        members = np.flatnonzero(side)
        if members.size:
            draws = rng.integers(0, members.size, size=(replicates, members.size))  # (R, n_side)
            for r in range(replicates):
                weights[r, members] = np.bincount(draws[r], minlength=members.size)
    return weights


def percentile_interval(replicates: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval along axis 0 of ``replicates``, ignoring non-finite ones (NaN where none is finite)."""
    values = np.asarray(replicates, dtype=np.float64)
    if values.shape[0] == 0:  # no replicates configured
        return np.full(values.shape[1:], np.nan), np.full(values.shape[1:], np.nan)
    values = np.where(np.isfinite(values), values, np.nan)
    tail = (1.0 - confidence) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column is NaN, as documented
        low, high = np.nanquantile(values, [tail, 1.0 - tail], axis=0)
    return low, high
