"""Cosine metric: ratio estimators use the chord, so cosine IDs of unit rows equal Euclidean ones."""

from __future__ import annotations

import numpy as np
import pytest
from geometry_data import linear_subspace, sphere

from regeo.geometry.knn import exact_knn, unit_rows
from regeo.geometry.lle import compare_lle
from regeo.geometry.local_pca import LocalPCA
from regeo.geometry.mle import LevinaBickelMLE
from regeo.geometry.twonn import TwoNN


def unit_sphere(n: int, dim: int, D: int, seed: int) -> np.ndarray:
    """Uniform points on S^dim, rotated into R^D, rows of norm exactly 1 up to rounding."""
    return unit_rows(sphere(n, dim, D, seed, noise=0.0))


def ids(X, metric: str, k: int = 20) -> dict:
    knn = exact_knn(X, k, metric=metric)
    twonn = TwoNN(metric=metric).fit(X, knn)
    return {"mle": LevinaBickelMLE(k, metric=metric).fit(X, knn).dimension_,
            "twonn": twonn.dimension_, "twonn_mle": twonn.dimension_mle_}


def test_chord_is_the_euclidean_distance_of_unit_rows():
    X = np.random.default_rng(0).normal(size=(200, 16)) * np.random.default_rng(1).uniform(0.1, 10, (200, 1))
    cos = exact_knn(X, 5, metric="cosine")
    euc = exact_knn(unit_rows(X), 5)
    assert (cos.indices == euc.indices).all()
    np.testing.assert_allclose(cos.ratio_distances(), euc.distances, rtol=1e-12)
    assert euc.ratio_distances() is euc.distances


def test_cosine_equals_euclidean_on_a_unit_sphere_and_recovers_it():
    # S^9 in R^64, the case where 1 - cos reported half the dimension (4.1 for 8.3).
    X = unit_sphere(3000, 9, 64, seed=3)
    euclidean, cosine = ids(X, "euclidean"), ids(X, "cosine")
    for name in euclidean:
        np.testing.assert_allclose(cosine[name], euclidean[name], rtol=1e-9, err_msg=name)
        assert 7.5 < cosine[name] < 10.5, (name, cosine[name])


def test_cosine_equals_euclidean_after_normalisation_of_a_linear_subspace():
    # A 5-D subspace away from the origin: its unit rows are a 5-D patch of a sphere.
    X = linear_subspace(3000, 5, 40, seed=4, noise=0.0) + 3.0 * np.eye(40)[0]
    U = unit_rows(X)
    euclidean, cosine = ids(U, "euclidean"), ids(X, "cosine")
    for name in euclidean:
        np.testing.assert_allclose(cosine[name], euclidean[name], rtol=1e-9, err_msg=name)
        assert 4.0 < cosine[name] < 6.0, (name, cosine[name])


def test_cosine_local_pca_is_the_pca_of_unit_rows():
    rng = np.random.default_rng(5)
    X = unit_sphere(1500, 2, 16, seed=5) * rng.uniform(0.2, 5.0, size=(1500, 1))  # norms spread
    cosine = LocalPCA(k=15, metric="cosine").fit(X)
    euclidean = LocalPCA(k=15).fit(unit_rows(X))
    np.testing.assert_array_equal(cosine.dimension_pw_, euclidean.dimension_pw_)
    assert cosine.n_features_in_ == 16
    assert cosine.dimension_ < 2.5  # the 2-sphere's patches, without the norms' radial spread


def test_cosine_lle_is_the_comparison_of_unit_rows():
    rng = np.random.default_rng(6)
    A = rng.normal(size=(400, 12)) * rng.uniform(0.2, 5.0, size=(400, 1))
    B = A @ rng.normal(size=(12, 10)) * rng.uniform(0.2, 5.0, size=(400, 1))
    cosine = compare_lle(A, B, k=8, metric="cosine")
    euclidean = compare_lle(unit_rows(A), unit_rows(B), k=8)
    for key in ("cross_error", "own_error", "random_error", "jaccard"):
        np.testing.assert_allclose(cosine[key], euclidean[key], rtol=1e-9, err_msg=key)
