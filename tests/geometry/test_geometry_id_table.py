"""The ID table: one kNN pass, the configured rows, duplicates removed, config validated."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from geometry_data import id_config, sphere

import regeo.geometry.id_table as id_module
from regeo.geometry.id_table import IDConfig, id_suite, id_table, per_token_ids
from regeo.geometry.local_pca import LocalPCA
from regeo.geometry.mle import LevinaBickelMLE
from regeo.geometry.twonn import TwoNN


@pytest.fixture(scope="module")
def X():
    return sphere(600, 3, 32, seed=20, noise=1e-3)


def test_table_rows_values_and_redundancy(X):
    cfg = id_config(ks=(5, 10), local_pca_k=8)
    table = id_table(X, cfg)
    assert list(table.columns) == ["estimator", "k", "value", "ci_low", "ci_high", "null_isotropic",
                                   "null_covariance", "null_mixture", "redundancy", "redundancy_vs_null",
                                   "redundancy_vs_null_ci_low", "redundancy_vs_null_ci_high", "redundancy_vs_mixture",
                                   "ceiling", "n_tokens", "metric"]
    assert list(zip(table["estimator"], table["k"])) == [
        ("mle", 5), ("mle", 10), ("twonn", 2), ("twonn_mle", 2), ("local_pca", 8),
        ("gride", 1), ("gride", 2), ("gride", 4), ("gride", 8), ("gride", 16)]
    value = dict(zip(zip(table["estimator"], table["k"]), table["value"]))
    assert value["mle", 10] == LevinaBickelMLE(k=10).fit(X).dimension_
    twonn = TwoNN().fit(X)
    assert value["twonn", 2] == twonn.dimension_ and value["twonn_mle", 2] == twonn.dimension_mle_
    assert value["local_pca", 8] == LocalPCA(k=8).fit(X).dimension_
    ids = table["estimator"] != "local_pca"  # local PCA has no redundancy (its ceiling is k - 1)
    np.testing.assert_allclose(table["redundancy"][ids], 1 - table["value"][ids] / X.shape[1])
    assert table["redundancy"][~ids].isna().all()
    assert table["k"].dtype == np.int64 and table["value"].dtype == np.float64


def test_one_knn_pass_at_the_largest_k(X, monkeypatch):
    calls = []
    original = id_module.exact_knn

    def counting(*args, **kwargs):
        calls.append(args[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(id_module, "exact_knn", counting)
    id_suite(X, id_config(ks=(5, 12), local_pca_k=30, gride_scales=(1, 2, 4)))
    assert calls == [30]
    calls.clear()
    id_suite(X, id_config(ks=(5, 12), local_pca_k=30, gride_scales=(1, 2, 4, 8, 16)))
    assert calls == [32]  # Gride's n2 = 2 x 16


def test_estimator_subset_and_order(X):
    table = id_table(X, id_config(estimators=("twonn_mle", "mle"), ks=(7,)))
    assert list(table["estimator"]) == ["twonn_mle", "mle"]


def test_per_token_values(X):
    cfg = id_config(ks=(5, 10), local_pca_k=8)
    tokens = per_token_ids(X, cfg)
    assert list(tokens.columns) == ["mle_k5", "mle_k10", "local_pca_k8"] and len(tokens) == len(X)
    np.testing.assert_array_equal(tokens["mle_k5"], LevinaBickelMLE(k=5).fit(X).dimension_pw_)
    np.testing.assert_array_equal(tokens["local_pca_k8"], LocalPCA(k=8).fit(X).dimension_pw_)
    table, tokens2 = id_suite(X, cfg)
    pd.testing.assert_frame_equal(tokens, tokens2)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_duplicates_removed_before_the_search(X, metric):
    cfg = id_config(ks=(5, 10), local_pca_k=8, metric=metric)
    doubled = np.concatenate([X, X[:50], X[:20]])
    table, tokens = id_suite(doubled, cfg)
    table_unique, tokens_unique = id_suite(X, cfg)
    pd.testing.assert_frame_equal(table, table_unique)
    pd.testing.assert_frame_equal(tokens.iloc[:600], tokens_unique)
    pd.testing.assert_frame_equal(tokens.iloc[600:650].reset_index(drop=True), tokens_unique.iloc[:50])
    assert np.isfinite(table["value"]).all()
    with pytest.raises(ValueError, match="duplicate rows"):
        id_table(np.concatenate([X, X[:50]]), dataclasses.replace(cfg, dedupe=False, metric="euclidean"))


def test_config_from_yaml_lists_and_validation():
    cfg = id_config(ks=[10, 20], estimators=["mle"])
    assert cfg.ks == (10, 20) and cfg.estimators == ("mle",) and cfg.max_k == 20
    assert dataclasses.asdict(id_config())["ks"] == (10, 20, 50)
    for bad in [dict(ks=()), dict(ks=(1,)), dict(ks=(5, 5)), dict(metric="l2"), dict(estimators=("pca",)),
                dict(estimators=()), dict(local_pca_k=1), dict(local_pca_variance=0), dict(twonn_discard=1.0),
                dict(block_size=0)]:
        with pytest.raises(ValueError):
            id_config(**bad)


def test_too_few_rows_is_a_clear_error():
    with pytest.raises(ValueError, match="needs k = 50"):
        id_table(np.random.default_rng(0).normal(size=(30, 4)), id_config())
