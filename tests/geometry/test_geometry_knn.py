"""Exact kNN: equal to a float64 brute force and to scikit-learn, near-ties and duplicates included.

Every search test runs with both candidate screens (float32 products, bfloat16 lower bounds):
the machine's "auto" choice must never decide what is tested.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from geometry_data import brute_knn, linear_subspace
from sklearn.neighbors import NearestNeighbors

from regeo.geometry.knn import KNN, _bf16_lower_bound, _bf16_screen, _scaled_rows, exact_knn, unique_rows

SCREENS = pytest.mark.parametrize("screen", ["float32", "bfloat16"])


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("block_size", [None, 37, 5])  # 5: tiles narrower than k + margin
@SCREENS
def test_equals_float64_brute_force(metric, dtype, block_size, screen):
    rng = np.random.default_rng(1)
    # Offset far from the origin: float32 products lose digits there, the result must not.
    X = (rng.normal(size=(300, 24)) + 50.0).astype(dtype)
    knn = exact_knn(X, 12, metric=metric, block_size=block_size, device="cpu", screen=screen)
    D, I = brute_knn(X, 12, metric)
    assert knn.distances.dtype == np.float64 and knn.indices.dtype == np.int64
    assert knn.distances.shape == knn.indices.shape == (300, 12)
    np.testing.assert_array_equal(knn.indices, I)
    np.testing.assert_allclose(knn.distances, D, rtol=1e-12, atol=1e-14)
    assert (np.diff(knn.distances, axis=1) >= 0).all()
    assert not (knn.indices == np.arange(300)[:, None]).any()  # self excluded


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("margin", [None, 0])
@SCREENS
def test_near_ties_below_float32_resolution(metric, margin, screen):
    """Neighbours whose distances differ by ~1e-10 relative: float32 cannot order them."""
    rng = np.random.default_rng(2)
    base = rng.normal(size=(60, 16))
    # Every point gets 5 near-copies at distances 1 + j * 1e-10 (j shuffled), in random directions.
    dirs = rng.normal(size=(60, 5, 16))
    dirs /= np.linalg.norm(dirs, axis=2, keepdims=True)
    radii = 1e-3 * (1 + 1e-10 * rng.permuted(np.tile(np.arange(5), (60, 1)), axis=1))
    X = np.concatenate([base, (base[:, None, :] + radii[..., None] * dirs).reshape(-1, 16)])
    # margin=0 leaves no spare candidate: every near-tie goes through the certified fallback.
    knn = exact_knn(X, 3, metric=metric, block_size=64, margin=margin, screen=screen)
    D, I = brute_knn(X, 3, metric)
    np.testing.assert_array_equal(knn.indices, I)
    np.testing.assert_allclose(knn.distances, D, rtol=1e-12)


@pytest.mark.parametrize("k", [1, 6, 20])
@SCREENS
def test_exact_ties_on_a_lattice_broken_by_index(k, screen):
    """Integer grid: many neighbours at exactly equal distances, more than the spare candidates."""
    grid = np.stack(np.meshgrid(*[np.arange(5)] * 3, indexing="ij"), -1).reshape(-1, 3).astype(float)
    X = np.random.default_rng(8).permutation(grid)
    knn = exact_knn(X, k, block_size=32, screen=screen)
    D, I = brute_knn(X, k)
    np.testing.assert_array_equal(knn.indices, I)
    np.testing.assert_array_equal(knn.distances, D)


def test_equals_sklearn_nearest_neighbors():
    X = linear_subspace(500, 4, 30, seed=3, noise=1e-3)
    knn = exact_knn(X, 15)
    dist, ind = NearestNeighbors(n_neighbors=15).fit(X).kneighbors()
    np.testing.assert_array_equal(knn.indices, ind)
    np.testing.assert_allclose(knn.distances, dist, rtol=1e-6)


@SCREENS
def test_cosine_distance_is_one_minus_cos(screen):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(100, 8)) * rng.uniform(0.1, 10, size=(100, 1))  # norms must not matter
    knn = exact_knn(X, 5, metric="cosine", screen=screen)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    cos = np.einsum("id,ikd->ik", U, U[knn.indices])
    np.testing.assert_allclose(knn.distances, 1 - cos, atol=1e-14)
    assert (knn.indices == exact_knn(U * 7.0, 5, metric="cosine").indices).all()


@SCREENS
def test_duplicates_are_neighbours_at_distance_zero(screen):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(50, 6))
    X = np.concatenate([X, X[:10], X[:10]])  # rows 0-9 appear three times
    knn = exact_knn(X, 3, block_size=16, screen=screen)
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
        (np.ones((10, 3)), 2, {"screen": "float16"}, "screen"),
        (np.vstack([np.zeros(3), np.ones((9, 3))]), 2, {"metric": "cosine"}, "norm 0"),
        (np.array([["a", "b"], ["c", "d"]]), 1, {}, "numeric"),
    ],
)
def test_bad_input_raises_value_error(X, k, kwargs, match):
    with pytest.raises(ValueError, match=match):
        exact_knn(X, k, **kwargs)


def _screen_matrices():
    rng = np.random.default_rng(11)
    spread = rng.normal(size=(400, 64)) * np.logspace(-3, 0, 400)[:, None]  # norms over 3 decades
    offset = rng.normal(size=(300, 48)) + 1e4  # far from the origin: centring must carry it
    base = rng.normal(size=(40, 32))
    near = np.concatenate([base, base + 1e-6 * rng.normal(size=base.shape)])  # distances ~1e-6 |x|
    spiky = rng.standard_t(1.5, size=(300, 40))  # heavy tails: a few huge coordinates per row
    return {"spread": spread, "offset": offset, "near copies": near, "heavy tails": spiky}


@pytest.mark.parametrize("name", list(_screen_matrices()))
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_bfloat16_screen_never_exceeds_the_squared_distance(name, metric):
    """The certificate rests on this: every bfloat16 screen value, as read back by
    ``_bf16_lower_bound``, is at most the float64 squared distance (scaled units), for every pair."""
    X = _screen_matrices()[name]
    Z, znorm, scale, inv_norm = _scaled_rows(X, metric)
    left, right, c = _bf16_screen(torch.from_numpy(Z), znorm)
    values = torch.mm(left, right.T).float().numpy()  # (n, n) as the tiles hold them
    U = X * inv_norm[:, None] if inv_norm is not None else X / scale
    exact = ((U[:, None, :] - U[None, :, :]) ** 2).sum(-1)  # (n, n) float64
    bound = _bf16_lower_bound(values)
    assert (bound <= exact).all(), float((bound - exact).max())
    # ... and is useful: within a small multiple of the stated width c |z_i||z_j| (plus bf16
    # rounding) of it. The gap is the offset (c, times at most 1 + 7u once rounded) plus the
    # rounding of z to bfloat16, which c is built to exceed and nearly reaches where one coordinate
    # carries a row's norm (heavy tails, a row against itself: 1.84 widths, 1.85 with every product
    # rounded down), plus the product's own rounding: at most about 2.03 widths. So 2 left 8%, and
    # 2.25, above that ceiling, fails only a broken screen (an offset twice too large: 2.2-2.9).
    width = c * np.outer(znorm, znorm) + 2 * 2.0**-8 * exact + 1e-12
    assert (exact - bound <= 2.25 * width).all(), float(((exact - bound) / width).max())


def test_bfloat16_and_float32_screens_agree_on_a_larger_embedding_like_matrix():
    """Hundreds of rows per tile with near-ties among them: the screens' candidates differ, the
    results may not (default margins; some rows go through the float32 redo)."""
    rng = np.random.default_rng(12)
    X = (rng.normal(size=(3000, 96)) * np.arange(1, 97) ** -0.5).astype(np.float32)
    a = exact_knn(X, 10, block_size=512, screen="bfloat16")
    b = exact_knn(X, 10, block_size=512, screen="float32")
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.distances, b.distances)
    D, I = brute_knn(X, 10)
    np.testing.assert_array_equal(a.indices, I)
