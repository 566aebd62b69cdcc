"""LLE weights (equal to scikit-learn), the cross-model LLE comparison, global similarity, token filter."""

from __future__ import annotations

import numpy as np
import pytest
from geometry_data import random_rotation, swiss_roll
from scipy.stats import pearsonr
from sklearn.manifold._locally_linear import barycenter_weights as sklearn_barycenter_weights

from regeo.geometry.knn import exact_knn
from regeo.geometry.lle import barycenter_weights, compare_lle, reconstruction_error
from regeo.geometry.similarity import cosine_similarity_correlation, global_similarity, linear_cka
from regeo.tokens import token_counts
from regeo.token_sets import seen_mask


@pytest.fixture(scope="module")
def roll():
    return swiss_roll(500, 16, seed=30, noise=1e-2)


# --- LLE --------------------------------------------------------------------------------------


@pytest.mark.parametrize("k, reg", [(5, 1e-3), (10, 1e-3), (20, 1e-1), (24, 1e-3)])  # k=24 > d=16
def test_barycenter_weights_equal_sklearn(roll, k, reg):
    ind = exact_knn(roll, k).indices
    ours = barycenter_weights(roll, ind, reg=reg)
    ref = sklearn_barycenter_weights(roll, roll, ind, reg=reg)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9 * np.abs(ref).max())
    np.testing.assert_allclose(ours.sum(1), 1.0, rtol=1e-12)


def test_barycenter_weights_with_duplicates_equal_sklearn(roll):
    X = np.concatenate([roll, roll[:10], roll[:10]])
    ind = exact_knn(X, 6).indices
    np.testing.assert_allclose(barycenter_weights(X, ind), sklearn_barycenter_weights(X, X, ind), rtol=1e-6, atol=1e-9)
    same = np.repeat(roll[:3], 5, axis=0)  # every neighbourhood collapses to the point: trace 0
    ind = exact_knn(same, 4).indices
    np.testing.assert_allclose(barycenter_weights(same, ind), 0.25)
    np.testing.assert_allclose(sklearn_barycenter_weights(same, same, ind), 0.25)


def test_reconstruction_error_definition(roll):
    ind = exact_knn(roll, 8).indices
    W = barycenter_weights(roll, ind)
    rebuilt = np.einsum("ik,ikd->id", W, roll[ind])
    expected = ((roll - rebuilt) ** 2).sum() / ((roll - roll.mean(0)) ** 2).sum()
    np.testing.assert_allclose(reconstruction_error(roll, ind, W), expected, rtol=1e-10)
    uniform = np.full_like(W, 1 / 8)
    assert reconstruction_error(roll, ind, W) < reconstruction_error(roll, ind, uniform)


def test_compare_lle_self_and_similarity_transforms(roll):
    same = compare_lle(roll, roll, k=8)
    assert same["jaccard"] == 1.0
    np.testing.assert_allclose(same["relative_error"], 1.0, rtol=1e-9)
    assert same["random_relative_error"] > 2.0  # random convex weights are much worse
    # LLE weights are invariant to rotation, scale and translation: same neighbours, same weights.
    moved = 3.0 * roll @ random_rotation(np.random.default_rng(31), 16) + 5.0
    result = compare_lle(roll, moved, k=8)
    assert result["jaccard"] == 1.0
    np.testing.assert_allclose(result["relative_error"], 1.0, rtol=1e-6)
    assert set(result) >= {"cross_error", "own_error", "random_error", "relative_error",
                           "random_relative_error", "jaccard", "k", "reg", "n"}


def test_compare_lle_different_geometry(roll):
    other = np.random.default_rng(32).permutation(roll)  # same cloud, tokens shuffled
    result = compare_lle(roll, other, k=8, seed=1)
    assert result["jaccard"] < 0.1 and result["relative_error"] > 10
    with pytest.raises(ValueError, match="same rows"):
        compare_lle(roll, roll[:-1], k=8)


def test_lle_bad_input(roll):
    ind = exact_knn(roll, 5).indices
    with pytest.raises(ValueError, match="shape"):
        barycenter_weights(roll, ind[:-1])
    with pytest.raises(ValueError, match=r"lie in"):
        barycenter_weights(roll, ind + 1000)
    with pytest.raises(ValueError, match="reg"):
        barycenter_weights(roll, ind, reg=-1.0)
    with pytest.raises(ValueError, match="same shape"):
        reconstruction_error(roll, ind, np.ones((500, 4)))


# --- global similarity ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(40)
    A = rng.normal(size=(80, 12)) + 0.5
    B = A @ rng.normal(size=(12, 20)) + 0.3 * rng.normal(size=(80, 20))  # related, wider
    return A, B


def _cos(X):
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    return U @ U.T


def test_cosine_similarity_correlation_equals_explicit_pearson(pair):
    A, B = pair
    iu = np.triu_indices(len(A), k=1)
    expected = pearsonr(_cos(A)[iu], _cos(B)[iu])[0]
    np.testing.assert_allclose(cosine_similarity_correlation(A, B), expected, rtol=1e-10)
    rows = np.sort(np.random.default_rng(7).choice(80, size=30, replace=False))
    iu = np.triu_indices(30, k=1)
    expected = pearsonr(_cos(A[rows])[iu], _cos(B[rows])[iu])[0]
    np.testing.assert_allclose(cosine_similarity_correlation(A, B, sample_size=30, seed=7), expected, rtol=1e-10)


def test_linear_cka_equals_explicit_hsic(pair):
    A, B = pair
    H = np.eye(80) - 1 / 80
    K, L = H @ A @ A.T @ H, H @ B @ B.T @ H
    expected = (K * L).sum() / np.sqrt((K * K).sum() * (L * L).sum())
    np.testing.assert_allclose(linear_cka(A, B), expected, rtol=1e-10)


def test_rotated_copy_is_identical(pair):
    A, _ = pair
    rotated = A @ random_rotation(np.random.default_rng(41), 12)
    np.testing.assert_allclose(cosine_similarity_correlation(A, rotated), 1.0, rtol=1e-12)
    np.testing.assert_allclose(linear_cka(A, rotated), 1.0, rtol=1e-12)
    result = global_similarity(A, 2.5 * rotated)
    np.testing.assert_allclose([result["cosine_similarity_correlation"], result["linear_cka"]], 1.0, rtol=1e-12)
    assert result["n"] == 80


def test_cka_invariances(pair):
    A, B = pair
    rng = np.random.default_rng(42)
    base = linear_cka(A, B)
    np.testing.assert_allclose(linear_cka(A, 7.0 * B @ random_rotation(rng, 20) - 3.0), base, rtol=1e-10)
    np.testing.assert_allclose(linear_cka(B, A), base, rtol=1e-12)  # symmetric
    stretched = A * np.array([10.0] + [1.0] * 11)  # anisotropic scaling: not an invariance
    assert linear_cka(A, stretched) < 0.99
    assert 0 < base < 1


def test_similarity_bad_input(pair):
    A, B = pair
    with pytest.raises(ValueError, match="same rows"):
        linear_cka(A, B[:-1])
    with pytest.raises(ValueError, match="norm 0"):
        cosine_similarity_correlation(np.vstack([np.zeros(12), A[1:]]), B)
    with pytest.raises(ValueError, match="zero variance"):
        linear_cka(np.ones((80, 3)), B)


# --- token filter -----------------------------------------------------------------------------


def test_seen_token_mask_and_counts():
    counts = token_counts(np.array([[0, 1, 1], [3, 3, 3]]), vocab_size=5)
    np.testing.assert_array_equal(counts, [1, 2, 0, 3, 0])
    np.testing.assert_array_equal(seen_mask(counts, 1), [True, True, False, True, False])
    np.testing.assert_array_equal(seen_mask(counts, 3), [False, False, False, True, False])
    assert seen_mask(counts, 0).all()
    with pytest.raises(ValueError):
        seen_mask(counts, -1)
    with pytest.raises(ValueError):
        seen_mask(np.array([1, -2]), 1)
    with pytest.raises(ValueError):
        seen_mask(counts.reshape(1, -1), 1)
    with pytest.raises(ValueError):
        token_counts(np.array([5]), vocab_size=5)
