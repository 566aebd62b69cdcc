"""Per-passage steerability: each held-out passage's own effect, and the share that moves the wrong way.

A mean effect can hide that steering moves many inputs the other way: Tan et al. (arXiv
2407.12404) find up to about half of the inputs anti-steerable. A passage's effect is the
statistic of :func:`regeo.steering.score.statistic` on that passage alone, oriented so that a
positive value is the intended direction:

- ``loglik`` (a text contrast): the change in the passage's mean log-likelihood per token, signed
  + for a positive passage and - for a negative one (steering towards the positive side should
  raise the first and lower the second);
- ``logodds`` (a token concept): the change in the passage's mean target log-odds.

Per unit alpha, as the effect of a condition is (:mod:`regeo.steering.effects`): the odd part of
the swept change, least squares through the origin; its first-order counterpart is the passage's
gradient projection. The ``anti_steerable_fraction`` is the share of passages whose effect is
below 0. Its interval resamples everything the effect depends on, as the effect's does: replicate
r reweights the held-out passages by their draw counts and adds to each passage's swept effect
what replicate r's vector changes at first order.
"""

from __future__ import annotations

import numpy as np

from regeo.steering.bootstrap import percentile_interval
from regeo.steering.effects import odd_slope
from regeo.steering.first_order import PassageGradients
from regeo.steering.score import PassageScores


def _orientation(scores: PassageScores, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(sign, denominator) per passage (P,): the intended direction and the token count of its mean."""
    if metric == "loglik":
        return np.where(scores.is_positive, 1.0, -1.0), scores.n_predicted
    if metric in ("logodds", "mass"):
        return np.ones(scores.is_positive.size), scores.n_positions
    raise ValueError(f"no per-passage effect of metric {metric!r}")


def passage_values(scores: PassageScores, metric: str, sums: np.ndarray) -> np.ndarray:
    """Per-passage sums (P, ...) of ``metric`` turned into oriented per-token means (P, ...); NaN for an
    empty passage."""
    sign, denominator = _orientation(scores, metric)
    shape = (-1,) + (1,) * (np.ndim(sums) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sign.reshape(shape) * sums / np.where(denominator > 0, denominator, np.nan).reshape(shape)


def swept_passage_effects(base: PassageScores, swept: list[PassageScores], alphas: np.ndarray, metric: str
                          ) -> np.ndarray:
    """(P,) each passage's swept effect per unit alpha (odd part where the grid has +-alpha pairs)."""
    changes = np.stack([getattr(s, metric) - getattr(base, metric) for s in swept], axis=1)  # (P, n_alpha)
    return passage_values(base, metric, odd_slope(changes, np.asarray(alphas, dtype=np.float64)))


def first_order_passage_effects(grads: PassageGradients, metric: str, vectors: np.ndarray) -> np.ndarray:
    """(P, K) each passage's first-order effect per unit alpha of each row of ``vectors`` (K, d)."""
    return passage_values(grads.scores, metric, getattr(grads, metric) @ np.asarray(vectors, dtype=np.float64).T)


def anti_steerable(effects: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(R,) the weighted share of passages with an effect below 0: ``effects`` (R, P) or (P,)
    broadcast, ``weights`` (R, P) draw counts; passages without an effect (NaN) are left out."""
    effects = np.broadcast_to(np.atleast_2d(effects), weights.shape)
    counted = np.where(np.isfinite(effects), weights, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (counted * (effects < 0)).sum(1) / counted.sum(1)


def steerability_columns(swept: np.ndarray, first: np.ndarray, weights: np.ndarray, confidence: float) -> dict:
    """The anti-steerable fraction with its interval: ``swept`` (P,) the point's per-passage effects,
    ``first`` (P, 1 + R) per-passage first-order effects of the point (column 0) and of each
    replicate's vector, ``weights`` (1 + R, P) held-out draws (row 0 the sample)."""
    replicate = swept[None, :] + (first - first[:, :1]).T  # (1 + R, P)
    fraction = anti_steerable(replicate, weights)
    low, high = percentile_interval(fraction[1:], confidence)
    return {"anti_steerable_fraction": float(fraction[0]), "anti_steerable_fraction_ci_low": float(low),
            "anti_steerable_fraction_ci_high": float(high)}
