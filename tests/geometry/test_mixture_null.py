"""The Gaussian-mixture null of the ID (issue 27): clusters kept, no manifold inside them."""

from __future__ import annotations

import numpy as np
import pytest

from regeo.geometry.id_table import IDConfig, id_table
from regeo.geometry.nulls import fit_mixture, mixture_grid, null_key, null_sample


def config(**changes) -> IDConfig:
    fields = dict(ks=(10, 20), metric="euclidean", estimators=("mle", "twonn"), local_pca_k=20,
                  local_pca_variance=0.9, nulls=("isotropic", "covariance", "mixture"), null_seed=0,
                  bootstrap_replicates=0, bootstrap_seed=0, confidence=0.95)
    return IDConfig(**{**fields, **changes})


def forty_clusters(seed: int = 0) -> np.ndarray:
    """Forty isotropic 64-d Gaussian clusters of 50 rows: no low-dimensional structure at all."""
    rng = np.random.default_rng(seed)
    return np.repeat(rng.standard_normal((40, 64)), 50, axis=0) + 0.3 * rng.standard_normal((2000, 64))


def test_clusters_alone_sit_on_their_mixture_null():
    """Against the covariance null the clusters look redundant; against their mixture they do not
    (seen: MLE 17.3 at k = 20 against 21.8 covariance and 16.8 mixture; redundancy vs the mixture
    -0.03 at k = 10 and 20, 0.002 for TwoNN)."""
    table = id_table(forty_clusters(), config()).set_index(["estimator", "k"])
    below_covariance = table.loc[("mle", 20), "value"] / table.loc[("mle", 20), "null_covariance"]
    assert below_covariance < 0.85, below_covariance
    assert table["redundancy_vs_mixture"].abs().max() < 0.1, table["redundancy_vs_mixture"]


def test_a_manifold_lies_below_its_mixture_null_at_scales_inside_a_component():
    """Five dimensions inside 64: the mixture's spherical components tile the manifold, so at
    neighbourhoods as large as a component the null itself reads the manifold (seen: mixture null
    7.1 at k = 20, against 5.0); below that scale it cannot (12.6 at k = 10, 23.6 for TwoNN)."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((1500, 5)) @ rng.standard_normal((5, 64)) + 0.01 * rng.standard_normal((1500, 64))
    table = id_table(X, config()).set_index(["estimator", "k"])
    assert (table["value"] < 6).all(), table["value"]
    small = table.loc[[("mle", 10), ("twonn", 2)], "redundancy_vs_mixture"]
    assert (small > 0.45).all(), small


def test_the_fit_keeps_the_clusters_and_the_sample_their_sizes():
    X = forty_clusters()
    mixture = fit_mixture(X, "euclidean")
    assert mixture["counts"].sum() == 2000 and 40 <= len(mixture["counts"]) <= 64
    sample = null_sample("mixture", 2000, 64, 0, mixture=mixture)
    assert sample.shape == (2000, 64)
    # every fitted component keeps its centre and its spread
    first = slice(0, int(mixture["counts"][0]))
    np.testing.assert_allclose(sample[first].mean(0), mixture["centres"][0], atol=6 * np.sqrt(mixture["variances"][0] / mixture["counts"][0]))
    again = fit_mixture(X, "euclidean")
    assert all(np.array_equal(again[key], mixture[key]) for key in mixture)  # seeded: the same fit
    cosine = fit_mixture(X, "cosine")
    norms = np.linalg.norm(cosine["centres"], axis=1)
    assert ((norms > 0.85) & (norms <= 1.0)).all(), norms  # clusters of unit rows: centres just inside the sphere
    key = null_key("mixture", 2000, {}, 0, mixture=mixture)
    assert key != null_key("mixture", 2000, {}, 0, mixture={**mixture, "variances": 2 * mixture["variances"]})
    with pytest.raises(ValueError, match="fitted mixture of 1999 rows"):
        null_sample("mixture", 1999, 64, 0, mixture=mixture)
    assert mixture_grid(2000, 128)[:6] == [1, 2, 3, 4, 6, 8] and mixture_grid(2000, 128)[-1] == 128
    assert mixture_grid(50, 128) == [1, 2, 3, 4, 5]


def test_a_sampled_fit_keeps_every_row_and_the_clusters():
    """Above fit_rows the BIC search runs on a sample; every row is then assigned, so the counts are
    all rows' and the forty clusters are still found."""
    X = forty_clusters()
    mixture = fit_mixture(X, "euclidean", fit_rows=800)
    assert mixture["counts"].sum() == 2000 and 40 <= len(mixture["counts"]) <= 64, len(mixture["counts"])
    table = id_table(X, config(nulls=("mixture",)))  # the table's own fit (no sample at this n)
    sampled = null_sample("mixture", 2000, 64, 0, mixture=mixture)
    resampled = id_table(sampled, config(nulls=()))
    np.testing.assert_allclose(resampled["value"], table["null_mixture"], rtol=0.1)

