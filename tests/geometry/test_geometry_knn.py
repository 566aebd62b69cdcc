"""Exact kNN: equal to a float64 brute force and to scikit-learn, near-ties and duplicates included."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from geometry_data import brute_knn, linear_subspace
from sklearn.neighbors import NearestNeighbors

from regeo.geometry.knn import KNN, exact_knn, unique_rows


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("block_size", [None, 37, 5])  # 5: tiles narrower than k + margin
def test_equals_float64_brute_force(metric, dtype, block_size):
    rng = np.random.default_rng(1)
    # Offset far from the origin: float32 products lose digits there, the result must not.
    X = (rng.normal(size=(300, 24)) + 50.0).astype(dtype)
    knn = exact_knn(X, 12, metric=metric, block_size=block_size, device="cpu")
    D, I = brute_knn(X, 12, metric)
    assert knn.distances.dtype == np.float64 and knn.indices.dtype == np.int64
    assert knn.distances.shape == knn.indices.shape == (300, 12)
    np.testing.assert_array_equal(knn.indices, I)
    np.testing.assert_allclose(knn.distances, D, rtol=1e-12, atol=1e-14)
    assert (np.diff(knn.distances, axis=1) >= 0).all()
    assert not (knn.indices == np.arange(300)[:, None]).any()  # self excluded


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("margin", [None, 0])
def test_near_ties_below_float32_resolution(metric, margin):
    """Neighbours whose distances differ by ~1e-10 relative: float32 cannot order them."""
    rng = np.random.default_rng(2)
    base = rng.normal(size=(60, 16))
    # Every point gets 5 near-copies at distances 1 + j * 1e-10 (j shuffled), in random directions.
    dirs = rng.normal(size=(60, 5, 16))
    dirs /= np.linalg.norm(dirs, axis=2, keepdims=True)
    radii = 1e-3 * (1 + 1e-10 * rng.permuted(np.tile(np.arange(5), (60, 1)), axis=1))
    X = np.concatenate([base, (base[:, None, :] + radii[..., None] * dirs).reshape(-1, 16)])
    # margin=0 leaves no spare candidate: every near-tie goes through the certified fallback.
    knn = exact_knn(X, 3, metric=metric, block_size=64, margin=margin)
    D, I = brute_knn(X, 3, metric)
    np.testing.assert_array_equal(knn.indices, I)
    np.testing.assert_allclose(knn.distances, D, rtol=1e-12)


@pytest.mark.parametrize("k", [1, 6, 20])
def test_exact_ties_on_a_lattice_broken_by_index(k):
    """Integer grid: many neighbours at exactly equal distances, more than the spare candidates."""
    grid = np.stack(np.meshgrid(*[np.arange(5)] * 3, indexing="ij"), -1).reshape(-1, 3).astype(float)
    X = np.random.default_rng(8).permutation(grid)
    knn = exact_knn(X, k, block_size=32)
    D, I = brute_knn(X, k)
    np.testing.assert_array_equal(knn.indices, I)
    np.testing.assert_array_equal(knn.distances, D)


def test_equals_sklearn_nearest_neighbors():
    X = linear_subspace(500, 4, 30, seed=3, noise=1e-3)
    knn = exact_knn(X, 15)
    dist, ind = NearestNeighbors(n_neighbors=15).fit(X).kneighbors()
    np.testing.assert_array_equal(knn.indices, ind)
    np.testing.assert_allclose(knn.distances, dist, rtol=1e-6)


def test_cosine_distance_is_one_minus_cos():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(100, 8)) * rng.uniform(0.1, 10, size=(100, 1))  # norms must not matter
    knn = exact_knn(X, 5, metric="cosine")
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    cos = np.einsum("id,ikd->ik", U, U[knn.indices])
    np.testing.assert_allclose(knn.distances, 1 - cos, atol=1e-14)
    assert (knn.indices == exact_knn(U * 7.0, 5, metric="cosine").indices).all()


def test_duplicates_are_neighbours_at_distance_zero():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(50, 6))
    X = np.concatenate([X, X[:10], X[:10]])  # rows 0-9 appear three times
    knn = exact_knn(X, 3, block_size=16)
    zero = knn.zero_distance_mask()
    assert zero.sum() == 30 and zero[:10].all() and not zero[10:50].any()
    # Self is excluded by index: row 0's two copies come first, in index order, at distance 0.
    np.testing.assert_array_equal(knn.indices[0, :2], [50, 60])
    np.testing.assert_array_equal(knn.distances[0, :2], [0.0, 0.0])
    assert not (knn.indices == np.arange(70)[:, None]).any()
    first, inverse = unique_rows(X)
    np.testing.assert_array_equal(first, np.arange(50))
    np.testing.assert_array_equal(X[first][inverse], X)


def test_all_rows_candidates_when_k_is_n_minus_1():
    X = np.random.default_rng(6).normal(size=(9, 3))
    knn = exact_knn(X, 8)
    D, I = brute_knn(X, 8)
    np.testing.assert_array_equal(knn.indices, I)


def test_head_and_torch_input():
    X = torch.randn(80, 5, generator=torch.Generator().manual_seed(0))
    knn = exact_knn(X, 10)
    head = knn.head(4)
    assert isinstance(head, KNN) and head.k == 4 and head.n == 80 and head.metric == "euclidean"
    np.testing.assert_array_equal(head.indices, exact_knn(X.numpy(), 4).indices)


@pytest.mark.parametrize(
    "X, k, kwargs, match",
    [
        (np.zeros(10), 2, {}, "2-D"),
        (np.full((10, 3), np.nan), 2, {}, "NaN"),
        (np.ones((1, 3)), 1, {}, "at least 2 rows"),
        (np.ones((10, 3)), 0, {}, "k must be"),
        (np.ones((10, 3)), 10, {}, "k must be"),
        (np.ones((10, 3)), 2.5, {}, "integer"),
        (np.ones((10, 3)), 2, {"metric": "manhattan"}, "metric"),
        (np.vstack([np.zeros(3), np.ones((9, 3))]), 2, {"metric": "cosine"}, "norm 0"),
        (np.array([["a", "b"], ["c", "d"]]), 1, {}, "numeric"),
    ],
)
def test_bad_input_raises_value_error(X, k, kwargs, match):
    with pytest.raises(ValueError, match=match):
        exact_knn(X, k, **kwargs)
