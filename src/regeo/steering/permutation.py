"""The label-permutation null of a contrastive steering vector: the vector rebuilt from random splits of its own texts.

A CAA vector is a difference of two means (:mod:`regeo.steering.activations`); relabelling its
units at random and recomputing the difference gives vectors of the same kind (they live in the
high-variance directions of the residual stream, as it does; random isotropic directions do
not: DESIGN.md, "The kind of null") but without the concept. Each is rescaled to the norm the
compared vector has (the native vector's), carried through the same map when the compared vector
was, and scored at first order (:mod:`regeo.steering.first_order`). The relabellings:

- **text contrast, balanced**: the vector passages split at random into two groups of the
  original sizes, *each holding positive and negative passages in the pool's proportion*
  (16 + 16 and 16 + 16 for 32 passages a side). A plain random split of a strong contrast is
  unbalanced by chance (about 16 +- 3 positives on one side), so its difference points along
  the contrast, only shorter; rescaled to the compared norm it would be the contrast itself, and
  the null would contain what it should test. A balanced split's difference is two equal
  mixtures minus each other: the sampling noise of a mean difference with no concept in it, the
  distribution the observed vector's own noise has.
- **token concept**: within each passage, the "next token is a target" labels moved at random
  among the passage's positions, each passage keeping its number of targets. Within passages,
  not across them: a passage is the unit of sampling, and keeping each passage's count keeps what
  differs between passages (a passage with many targets is a different kind of text) in the null
  rather than in the vector. Targets are rare, so a random "target" position is a true one about
  as often as in the whole passage, and the contrast leaks into the draws only at that rate.

The observed labelling is not itself one of these relabellings, so the test is not exact by
construction, as a full permutation test would be; ``tests/steering`` checks that p is uniform
where there is no concept (two sides of one register) and into a model with unrelated
embeddings. p is two-sided about the centre of all B + 1 statistics (:func:`two_sided_p`),
p = (1 + b) / (1 + B) (:func:`regeo.stats.permutation_p`), with its floor beside it.
"""

from __future__ import annotations

import zlib

import numpy as np

from regeo.stats import minimum_p, permutation_p
from regeo.steering.activations import UnitActivations


def permutation_rng(seed: int, key: str) -> np.random.Generator:
    """A generator seeded by ``seed`` and a stable hash of ``key`` (concept and model side)."""
    return np.random.default_rng([seed, zlib.crc32(key.encode()), zlib.crc32(b"permutation")])


def _shuffled_rows(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, len(labels)): ``labels`` in a random order per row."""
    return rng.permuted(np.tile(labels, (n, 1)), axis=1)


def relabellings(units: UnitActivations, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, U) bool: random relabellings of ``units`` (module docstring); each keeps the side sizes."""
    if units.kind == "texts":
        positive, negative = np.flatnonzero(units.positive), np.flatnonzero(~units.positive)
        n_pos, n_neg = positive.size, negative.size
        # The new positive group: ``keep`` positives and n_pos - keep negatives, the pool's proportion.
        keep = int(round(n_pos * n_pos / max(n_pos + n_neg, 1)))
        labels = np.zeros((n, units.positive.size), dtype=bool)
        labels[:, positive] = _shuffled_rows(np.arange(n_pos) < keep, n, rng)
        labels[:, negative] = _shuffled_rows(np.arange(n_neg) < n_pos - keep, n, rng)
        return labels
    labels = np.tile(units.positive, (n, 1))
    for b in range(units.n_passages):
        members = np.flatnonzero(units.block == b)
        if members.size > 1:
            labels[:, members] = rng.permuted(labels[:, members], axis=1)
    return labels


def permuted_vectors(units: UnitActivations, n: int, seed: int, key: str, method: str = "mean_difference",
                     probe_l2: float = 0.1) -> np.ndarray:
    """(n, d) float64: the ``method`` vector (:mod:`regeo.steering.methods`) of each of ``n`` random
    relabellings (seeded by ``seed`` and ``key``: every method relabels the same way)."""
    from regeo.steering.methods import method_vectors

    return method_vectors(units, method, relabellings(units, n, permutation_rng(seed, key)), probe_l2=probe_l2)


def two_sided_p(observed: float, null: np.ndarray) -> tuple[float, float]:
    """(p, its floor): the observed statistic against the relabelled ones, two-sided.

    Distances from the mean of all B + 1 statistics: a centre that treats the observed labelling
    like any other (the relabelled vectors of a token concept need not be centred on 0).
    """
    null = np.asarray(null, dtype=np.float64)
    if not np.isfinite(observed) or null.size == 0 or not np.isfinite(null).all():
        return float("nan"), float("nan")
    centre = (null.sum() + observed) / (null.size + 1)
    distance, distances = abs(observed - centre), np.abs(null - centre)
    return permutation_p(distance, distances), minimum_p(distance, distances)
