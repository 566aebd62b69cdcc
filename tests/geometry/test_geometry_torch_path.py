"""The torch row loops (what a GPU runs) give the numpy results, run here on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
from geometry_data import brute_knn, swiss_roll

import regeo.geometry._row_loops as checks
from regeo.geometry.knn import exact_knn
from regeo.geometry.lle import barycenter_weights, reconstruction_error
from regeo.geometry.local_pca import LocalPCA


@pytest.fixture
def torch_loops(monkeypatch):
    monkeypatch.setattr(checks, "TORCH_ROW_LOOPS_ON_CPU", True)


@pytest.fixture(scope="module")
def X():
    roll = swiss_roll(400, 12, seed=50, noise=1e-2).astype(np.float32)
    return np.concatenate([roll, roll[:7]])  # with duplicates


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("screen", ["float32", "bfloat16"])
def test_knn(X, metric, screen, torch_loops):
    knn = exact_knn(X, 9, metric=metric, block_size=64, margin=0, screen=screen)  # margin 0: fallbacks too
    D, I = brute_knn(X, 9, metric)
    np.testing.assert_array_equal(knn.indices, I)
    np.testing.assert_allclose(knn.distances, D, rtol=1e-12, atol=1e-15)


def test_local_grams_users(X, torch_loops, monkeypatch):
    ind = exact_knn(X, 8).indices
    torch_w = barycenter_weights(X, ind)
    torch_err = reconstruction_error(X, ind, torch_w)
    torch_pca = LocalPCA(k=8).fit(X).dimension_pw_
    monkeypatch.setattr(checks, "TORCH_ROW_LOOPS_ON_CPU", False)
    np.testing.assert_allclose(torch_w, barycenter_weights(X, ind), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(torch_err, reconstruction_error(X, ind, torch_w), rtol=1e-10)
    np.testing.assert_array_equal(torch_pca, LocalPCA(k=8).fit(X).dimension_pw_)
