"""Bootstrap replicate weights, stratified by side where there are sides, and percentile intervals.

Every effect of a (pair, concept) is computed from three samples, and a replicate resamples all
three at once (DESIGN.md, "Intervals": every step recomputed from what it resamples):

- the vector passages (:mod:`regeo.steering.activations`): the vectors are recomputed from them;
- the maps' fit rows (:mod:`regeo.steering.maps`): token pairs of an Emb2Emb map, passages of the
  ceiling map; the map's action is its replicate's (:mod:`regeo.steering.map_replicates`);
- the held-out passages the effect is scored on.

Passages with sides (a contrast's vector passages, the held-out passages): a replicate draws,
with replacement, as many positive passages as there are and as many negative passages as there
are (the two sides stay the size they are, as the statistic assumes), and gives each passage its
draw count as a weight. Every effect and ratio of a (pair, concept) is computed on the same
replicates, so an interval of a ratio accounts for the correlation of its numerator and
denominator; and every pair job draws replicate r of a concept from the same seed and keys, so
two jobs' replicates can be paired (:mod:`regeo.steering.summary`). Passages are the unit, not tokens: the tokens of one passage are not
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


def with_point(replicates: np.ndarray) -> np.ndarray:
    """(1 + R, n): a row of ones (the sample as it is) on top of the replicates' draw counts (R, n)."""
    return np.vstack([np.ones((1, replicates.shape[1])), replicates])


def unit_weights(n: int, replicates: int, seed: int, key: str) -> np.ndarray:
    """(1 + replicates, n) draw counts of ``n`` exchangeable units (no sides), row 0 the sample itself."""
    return with_point(passage_weights(np.zeros(n, dtype=bool), replicates, seed, key))


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
