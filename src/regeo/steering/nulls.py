"""Random-direction nulls of a steering effect, of the native vector's norm: extra columns beside the
label-permutation null (:mod:`regeo.steering.permutation`), which is the one significance reads.

- ``isotropic``: Gaussian directions in the target's residual space;
- ``mapped``: Gaussian directions in the *source's* space carried through the same map, then
  rescaled: they live in the part of the target's space the map can reach (the map's column
  space, stretched as the map stretches).

Neither is like for like for a contrastive (mean-difference) vector, which lives in the
high-variance part of the residual stream: random directions mostly do not, so a z against them
can be large for any vector that does (an untrained source reached isotropic z 4.6 in the old
default; DESIGN.md, "The kind of null"). Each draw is scored to first order
(:mod:`regeo.steering.first_order`). Seeds mix in a stable hash of the concept name and the null's
kind, so adding a concept leaves the other concepts' draws unchanged.
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

