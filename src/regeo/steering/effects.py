"""From a concept's vectors to its effects: first-order slopes per replicate, the swept effect with
its full bootstrap, tests against the nulls, and ratios.

The effect of a condition (its "effect per unit alpha") is the least-squares slope through the
origin of its swept effect on alpha, on the part odd in alpha where the grid has +-alpha pairs:
(e(a) - e(-a)) / 2 cancels what any push of the residual stream costs whatever its direction.
Its first-order counterpart is g . v (:mod:`regeo.steering.first_order`).

Intervals. The sweep scores one vector per condition, so its held-out passages can be resampled
directly (the per-passage sums reweighted) but its vector cannot: a replicate's recomputed
vector (:mod:`regeo.steering.conditions`) would need its own sweep. Replicate r of a swept
effect is therefore the swept effect of the point vector under held-out draw r plus, at first
order, what replicate r's vector changes: g_r . v_r - g_r . v_0 (both under held-out draw r).
For an effect that saturates over the sweep (a token concept's: its swept slope is about half its
first-order one) the added term is larger than the change it stands for, so its intervals are on
the wide side.

Tests. A condition's first-order slope at the samples as they are is compared with the same
slope of each of its null draws (like for like; the swept effect is not, where it saturates),
two-sided (:func:`regeo.steering.permutation.two_sided_p`): the label permutation of the
vector's passages (in B for B's own vector, in A and through the map for a transfer) is every
condition's test; the token-pairing permutation of the map and the random directions are extra
columns (:mod:`regeo.steering.conditions`).
"""

from __future__ import annotations

import numpy as np

from regeo.steering.bootstrap import percentile_interval
from regeo.steering.first_order import PassageGradients
from regeo.steering.nulls import z_score
from regeo.steering.permutation import two_sided_p


def paired_slopes(grads: PassageGradients, metric: str, vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(K,) first-order slope of row k of ``vectors`` (K, d) under row k of held-out ``weights`` (K, P)."""
    return np.diagonal(grads.slopes(metric, vectors, weights)).copy()


def odd_slope(effects: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """(R,) least-squares slopes through the origin of ``effects`` (R, n_alpha) on alpha (odd parts if possible)."""
    positive = [i for i, a in enumerate(alphas) if a > 0 and -a in alphas]
    if positive:
        negative = [int(np.flatnonzero(alphas == -alphas[i])[0]) for i in positive]
        values, grid = (effects[:, positive] - effects[:, negative]) / 2, alphas[positive]
    else:
        values, grid = effects, alphas
    return values @ grid / float(grid @ grid)


def interval_columns(name: str, values: np.ndarray, confidence: float) -> dict:
    """``name``, ``name_ci_low``, ``name_ci_high`` of (1 + R,) values: the point, then the replicates' interval."""
    low, high = percentile_interval(values[1:], confidence)
    return {name: float(values[0]), f"{name}_ci_low": float(low), f"{name}_ci_high": float(high)}


# The null each condition's significance reads; the others are columns.
PRIMARY = {"native": "label", "transferred": "label", "hidden_map": "label", "shuffled_map": "label"}
NULL_NAMES = {"label": "label permutation of the vector passages",
              "pairing": "token-pairing permutation of the map"}


def null_test_columns(condition: str, observed: float, null_slopes: dict[str, np.ndarray]) -> dict:
    """The first-order slope ``observed`` of a ``condition`` against each of its nulls (kind -> (n,)
    slopes): ``p_value`` with ``p_min``, ``n_permutations``, ``z_permutation`` and ``null_test`` for
    its primary null (:data:`PRIMARY`); ``p_{kind}``, ``z_{kind}`` for each other; every null's mean and sd."""
    primary = PRIMARY.get(condition)
    out = {"null_test": NULL_NAMES.get(primary, "none"), "p_value": np.nan, "p_min": np.nan, "n_permutations": 0,
           "z_permutation": np.nan, "null_permutation_mean": np.nan, "null_permutation_sd": np.nan}
    for kind, null in null_slopes.items():
        p, p_min = two_sided_p(observed, null)
        z = float(z_score(observed, null))
        mean, sd = float(null.mean()), float(null.std(ddof=1)) if null.size > 1 else float("nan")
        if kind == primary:
            out.update(p_value=p, p_min=p_min, n_permutations=int(null.size), z_permutation=z,
                       null_permutation_mean=mean, null_permutation_sd=sd)
        else:
            out.update({f"p_{kind}": p, f"z_{kind}": z, f"null_{kind}_mean": mean, f"null_{kind}_sd": sd})
    return out


def ratio_columns(name: str, top: np.ndarray, bottom: np.ndarray, confidence: float) -> dict:
    """A ratio of two (1 + R,) effects on the same replicates, with its interval."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return interval_columns(name, top / bottom, confidence)
