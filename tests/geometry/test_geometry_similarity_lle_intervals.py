"""Bootstrap intervals of the global similarity measures and of the LLE comparison."""

from __future__ import annotations

import numpy as np
import pytest

from regeo.geometry.intervals import TokenBootstrap
from regeo.geometry.lle import compare_lle, compare_lle_both_ways
from regeo.geometry.similarity import _unit_rows, _weighted_measures, global_similarity, global_similarity_intervals, linear_cka


def pair(n: int, seed: int):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, 12)) * np.linspace(1, 3, 12)
    B = np.tanh(A @ rng.normal(size=(12, 9))) + 0.5 * rng.normal(size=(n, 9))
    return A, B


def test_weighted_measures_are_the_resample_without_self_pairs():
    A, B = pair(40, 0)
    U, V = _unit_rows(A, "A"), _unit_rows(B, "B")
    full = global_similarity(A, B)
    ones = [float(x) for x in _weighted_measures(U, V, A, B, np.ones(40))]
    np.testing.assert_allclose(ones, [full["cosine_similarity_correlation"], full["linear_cka"]], rtol=1e-10)
    idx = np.random.default_rng(1).integers(0, 40, 40)
    c = np.bincount(idx, minlength=40).astype(float)
    corr, cka = (float(x) for x in _weighted_measures(U, V, A, B, c))
    # explicit: every pair of positions of the resample whose tokens differ
    i, j = np.triu_indices(40, 1)
    keep = idx[i] != idx[j]
    su, sv = (U @ U.T)[idx[i], idx[j]][keep], (V @ V.T)[idx[i], idx[j]][keep]
    np.testing.assert_allclose(corr, np.corrcoef(su, sv)[0, 1], rtol=1e-10)
    np.testing.assert_allclose(cka, linear_cka(A[idx], B[idx]), rtol=1e-10)


def test_similarity_intervals_contain_the_value_and_shrink_with_n():
    boot = TokenBootstrap(100, 0, 0.95)
    widths = []
    for n in (150, 1200):
        A, B = pair(n, 2)
        full = global_similarity(A, B)
        ci = global_similarity_intervals(A, B, boot)
        for name in ("cosine_similarity_correlation", "linear_cka"):
            assert ci[f"{name}_ci_low"] <= full[name] <= ci[f"{name}_ci_high"], (n, name)
        widths.append([ci[f"{m}_ci_high"] - ci[f"{m}_ci_low"] for m in ("cosine_similarity_correlation", "linear_cka")])
    assert (np.array(widths[1]) < 0.6 * np.array(widths[0])).all(), widths
    assert global_similarity_intervals(A, B, boot) == ci  # seeded


def test_lle_intervals_contain_the_value_shrink_with_n_and_leave_values_unchanged():
    boot = TokenBootstrap(100, 0, 0.95)
    names = ("cross_error", "own_error", "random_error", "relative_error", "random_relative_error", "jaccard")
    widths = []
    for n in (300, 2400):
        A, B = pair(n, 3)
        plain = compare_lle(A, B, k=8)
        withci = compare_lle(A, B, k=8, bootstrap=boot)
        assert {key: withci[key] for key in plain} == plain
        for name in names:
            assert withci[f"{name}_ci_low"] <= plain[name] <= withci[f"{name}_ci_high"], (n, name)
        widths.append([withci[f"{m}_ci_high"] - withci[f"{m}_ci_low"] for m in names])
    # 8x the tokens: a mean's interval narrows to 1/sqrt(8) = 0.35 of its width. The two ratios
    # of errors narrow less, as their value grows with density (own_error falls): over 40 data
    # seeds their width ratios reached 0.77 and 0.86 (seed 3: 0.57 and 0.64, 9% under 0.7), the
    # other four at most 0.52; an interval that ignored n would keep its width (ratio ~1).
    limit = np.array([0.9 if name.endswith("relative_error") else 0.7 for name in names])
    assert (np.array(widths[1]) < limit * np.array(widths[0])).all(), np.array(widths[1]) / np.array(widths[0])
    ab, _ = compare_lle_both_ways(A, B, k=8, bootstrap=boot)
    assert ab == withci
    with pytest.raises(ValueError, match="dependence"):
        compare_lle(A[:100], B[:100], k=8, bootstrap=boot, dependence="blocks")


def test_batched_resamples_equal_one_at_a_time():
    from regeo.geometry.similarity import _weighted_measures_batch

    A, B = pair(120, 4)
    U, V = _unit_rows(A, "A"), _unit_rows(B, "B")
    counts = np.stack([np.bincount(np.random.default_rng(s).integers(0, 120, 120), minlength=120)
                       for s in range(5)]).astype(float)
    one_by_one = np.array([[float(x) for x in _weighted_measures(U, V, A, B, c)] for c in counts])
    np.testing.assert_allclose(_weighted_measures_batch(U, V, A, B, counts), one_by_one, rtol=1e-10)


@pytest.mark.parametrize("n, seed", [(300, 5), (1500, 6)])
def test_linearised_interval_matches_the_resampling_bootstrap(n, seed):
    """The default interval (one gradient) has the width of 400 real resamples, within 15 %."""
    A, B = pair(n, seed)
    boot = TokenBootstrap(400, 0, 0.95)
    linear, resampled = (global_similarity_intervals(A, B, boot, method=m) for m in ("linearised", "resample"))
    for name in ("cosine_similarity_correlation", "linear_cka"):
        ratio = ((linear[f"{name}_ci_high"] - linear[f"{name}_ci_low"])
                 / (resampled[f"{name}_ci_high"] - resampled[f"{name}_ci_low"]))
        assert 0.85 < ratio < 1.15, (name, ratio)
