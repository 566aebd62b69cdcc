"""Null distributions of a steering effect: random directions of the native vector's norm.

Two nulls per (pair, concept):

- ``isotropic``: Gaussian directions in the target's residual space;
- ``mapped``: Gaussian directions in the *source's* space carried through the same Emb2Emb map,
  then rescaled: they live in the part of the target's space the map can reach (the map's column
  space, stretched as the map stretches), the fairer null for a transferred vector.

Each draw is scored to first order (:mod:`regeo.steering.first_order`), so the null has as many
draws as configured at the cost of one backward pass; a few draws are also swept at full alpha
to check that the first-order null holds there. Seeds mix in a stable hash of the concept name
and the null's kind, so adding a concept leaves the other concepts' draws unchanged.
"""

from __future__ import annotations

import zlib

import numpy as np

KINDS = ("isotropic", "mapped")


def _rng(seed: int, concept: str, kind: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(concept.encode()), zlib.crc32(kind.encode())])


def _rescaled(directions: np.ndarray, norm: float) -> np.ndarray:
    lengths = np.linalg.norm(directions, axis=1, keepdims=True)
    return directions * (norm / np.where(lengths > 0, lengths, 1.0))


def isotropic_draws(d: int, n: int, norm: float, seed: int, concept: str) -> np.ndarray:
    """(n, d) float64 Gaussian directions of length ``norm``."""
    return _rescaled(_rng(seed, concept, "isotropic").standard_normal((n, d)), norm)


def mapped_draws(weight: np.ndarray, n: int, norm: float, seed: int, concept: str) -> np.ndarray:
    """(n, d_b) float64: Gaussian source directions (n, d_a) through ``weight`` (d_b, d_a), length ``norm``."""
    weight = np.asarray(weight, dtype=np.float64)
    source = _rng(seed, concept, "mapped").standard_normal((n, weight.shape[1]))  # (n, d_a)
    return _rescaled(source @ weight.T, norm)


def z_score(value, null: np.ndarray) -> np.ndarray:
    """(value - mean) / sd of the null draws (ddof 1); NaN when the null has no spread."""
    null = np.asarray(null, dtype=np.float64)
    sd = null.std(ddof=1) if null.size > 1 else np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.asarray(value, dtype=np.float64) - null.mean()) / (sd if sd > 0 else np.nan)


def p_value(value: float, null: np.ndarray) -> float:
    """Two-sided empirical p-value, (1 + #{|null - mean| >= |value - mean|}) / (1 + n): never 0."""
    null = np.asarray(null, dtype=np.float64)
    if not np.isfinite(value) or null.size == 0:
        return float("nan")
    centre = null.mean()
    return float((1 + np.sum(np.abs(null - centre) >= abs(value - centre))) / (1 + null.size))
