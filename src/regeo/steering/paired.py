"""A score under steering against the same score at alpha 0, on the same units (prompts or passages).

Every judged score is a ratio of per-unit sums, sum_i w_i x_i / sum_i w_i n_i (``n_i`` 1 for a
mean over prompts, a passage's predicted tokens for a token-weighted loss), so that a bootstrap
replicate is a reweighting of the units (:func:`regeo.steering.bootstrap.unit_weights`). The
change from alpha 0 is computed on the same replicate for both settings (a paired interval: the
units' own spread cancels), and tested by sign flips of the per-unit differences x_i - x0_i,
which under "steering changes nothing" are symmetric about 0 (a paired randomisation test):
statistic |sum_i s_i (x_i - x0_i)| (the denominators do not change with the signs), every one
of the 2^n sign patterns when n <= ``MAX_EXACT_UNITS``, else random patterns; p = (1 + b) / (1 + B)
over the patterns other than the observed one, with its floor beside it (n prompts: 2 / 2^n, the
observed pattern and its negation tie).
"""

from __future__ import annotations

import itertools

import numpy as np

from regeo.stats import minimum_p, permutation_p
from regeo.steering.bootstrap import percentile_interval

# 2^12 = 4,096 patterns enumerated; beyond, random flips (a valid test too: Phipson & Smyth 2010).
MAX_EXACT_UNITS = 12


def sign_patterns(n: int, draws: int, seed: int) -> tuple[np.ndarray, bool]:
    """(B, n) sign patterns other than all +1, and whether they are every pattern."""
    if n <= MAX_EXACT_UNITS:
        patterns = np.array(list(itertools.product((1.0, -1.0), repeat=n)), dtype=np.float64).reshape(-1, n)
        return patterns[1:], True  # row 0 is all +1: the observed labelling
    rng = np.random.default_rng(seed)
    return rng.choice((1.0, -1.0), size=(draws, n)), False


def sign_flip_test(differences: np.ndarray, draws: int, seed: int) -> dict:
    """Two-sided paired test of per-unit differences (n,): p, its floor, the patterns, exact or not."""
    d = np.asarray(differences, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size < 2:
        return {"p_value": np.nan, "p_min": np.nan, "n_flips": 0, "flips_exact": False}
    patterns, exact = sign_patterns(d.size, draws, seed)
    observed = abs(float(d.sum()))
    null = np.abs(patterns @ d)  # (B,)
    return {"p_value": permutation_p(observed, null), "p_min": minimum_p(observed, null),
            "n_flips": int(len(null)), "flips_exact": exact}


def ratio(weights: np.ndarray, values: np.ndarray, denominators: np.ndarray) -> np.ndarray:
    """sum_i w_ri x_i / sum_i w_ri n_i per replicate row r of ``weights`` (R, n): (R,)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights @ values) / (weights @ denominators)


def paired_change(values: np.ndarray, reference: np.ndarray, denominators: np.ndarray, weights: np.ndarray,
                  confidence: float, draws: int, seed: int) -> dict:
    """A score and its change from the reference setting on the same units.

    ``values``, ``reference`` (n,) per-unit sums under the setting and at alpha 0; ``denominators``
    (n,); ``weights`` (1 + R, n), row 0 the units as they are. Returns the score with its interval
    (``value``, ``ci_low``, ``ci_high``), the reference's (``reference``), the change with its
    paired interval (``change``, ``change_ci_low``, ``change_ci_high``) and the sign-flip test of
    :func:`sign_flip_test` on the per-unit differences.
    """
    values, reference = np.asarray(values, np.float64), np.asarray(reference, np.float64)
    denominators = np.asarray(denominators, np.float64)
    score, base = ratio(weights, values, denominators), ratio(weights, reference, denominators)  # (1 + R,)
    change = score - base
    low, high = percentile_interval(score[1:], confidence)
    change_low, change_high = percentile_interval(change[1:], confidence)
    return {"value": float(score[0]), "ci_low": float(low), "ci_high": float(high), "reference": float(base[0]),
            "change": float(change[0]), "change_ci_low": float(change_low), "change_ci_high": float(change_high),
            **sign_flip_test(values - reference, draws, seed)}
