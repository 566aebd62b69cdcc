"""The properties of a space (issue 29): known answers, the reference IsoScore, nulls, intervals, CLI.

Margins come from the sampling distribution of the statistic on the seeded data (each test says
which), never from what the code happened to print.
"""

from __future__ import annotations

import json
from math import exp, lgamma, sqrt

import numpy as np
import pandas as pd
import pytest
import torch

from regeo.cli import main
from regeo.geometry.postprocess import remove_top_components, standardise
from regeo.geometry.properties import (TABLE_COLUMNS, cosine_contributions, effective_rank, isoscore,
                                       mean_pairwise_cosine, partition_isotropy, participation_ratio,
                                       property_null_sample, property_table, property_values, rogue_dimensions,
                                       spectral_alpha)
from regeo.io import save_tensors


def gaussian(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d))


def known_spectrum(n: int, singular: np.ndarray, d: int, seed: int) -> np.ndarray:
    """(n, d) centred rows whose centred singular values are exactly ``singular``: orthonormal
    centred columns (QR of a centred Gaussian: every column is orthogonal to the ones vector)
    scaled, then turned by a random orthonormal (k, d) map."""
    rng = np.random.default_rng(seed)
    k = len(singular)
    A = rng.standard_normal((n, k))
    Q = np.linalg.qr(A - A.mean(0))[0]  # (n, k)
    R = np.linalg.qr(rng.standard_normal((d, k)))[0]  # (d, k) orthonormal columns
    return (Q * singular) @ R.T


@pytest.fixture(scope="module")
def isotropic():
    return gaussian(4000, 128, seed=1)


def test_isotropic_gaussian_is_isotropic_and_has_no_rogue_dimension(isotropic):
    n, d = isotropic.shape
    values = property_values(isotropic)
    # IsoScore of a sample of n isotropic rows is about 1 - d/n (the eigenvalues spread as
    # Marchenko-Pastur's): 0.968 here.
    assert values["isoscore"] == pytest.approx(1 - d / n, abs=0.01)
    # The mean cosine of isotropic rows has sd sqrt(2/d)/n (n |mean unit row|^2 is chi2_d / d):
    # 3e-5 here; 5 sd.
    assert abs(values["mean_cosine"]) < 5 * sqrt(2 / d) / n
    # No dimension carries a cosine of any size: C_i = (chi2_1 - 1) / (n d) in law, and the
    # largest of 128 such chi2_1 stayed below 16 in 100 seeded draws (P(chi2_1 > 24) < 1e-6 each).
    assert cosine_contributions(isotropic).max() < 24 / (n * d)
    # The top share of noise is not 0: it is the largest of 128 noise terms (0.11 median,
    # 0.26 the largest in 100 seeded draws); a planted rogue dimension reads > 0.95 (below).
    assert values["rogue_share_top1"] < 0.3
    assert values["effective_rank"] > 0.98 * d and values["participation_ratio"] > d / (1 + d / n) - 3


def test_mean_cosine_and_contributions_equal_brute_force():
    X = gaussian(300, 12, seed=2) + 0.3
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    n = len(X)
    off_diagonal = ~np.eye(n, dtype=bool)
    per_dim = np.array([(np.outer(U[:, i], U[:, i]))[off_diagonal].mean() for i in range(X.shape[1])])
    np.testing.assert_allclose(cosine_contributions(X), per_dim, rtol=1e-10, atol=1e-14)
    assert mean_pairwise_cosine(X) == pytest.approx((U @ U.T)[off_diagonal].mean(), rel=1e-10)


def test_an_offset_raises_anisotropy_and_centring_removes_it(isotropic):
    n, d = isotropic.shape
    offset = isotropic + 1.0  # |offset|^2 = d: cosines of about d / (d + d) = 0.5
    values = property_values(offset)
    assert values["mean_cosine"] == pytest.approx(0.5, abs=0.02)
    assert values["mean_vector_ratio"] > 0.6  # ~ sqrt(d) / sqrt(2 d) = 0.71; 0.01 without the offset
    assert property_values(isotropic)["mean_vector_ratio"] < 0.05
    assert values["partition_isotropy"] < 1e-6 < property_values(isotropic)["partition_isotropy"]
    assert values["isoscore"] == pytest.approx(property_values(isotropic)["isoscore"], abs=1e-9)  # a covariance measure
    # Centred rows sum to 0, so their dot products average -mean|x|^2 / (n - 1): the mean cosine
    # sits near -1/(n - 1), 5 sd (as above) either way.
    for centred in (offset - offset.mean(0), remove_top_components(offset, 0), standardise(offset)):
        assert abs(mean_pairwise_cosine(centred) + 1 / (n - 1)) < 5 * sqrt(2 / d) / n


def test_a_planted_rogue_dimension_is_found_and_dominates_the_cosine():
    rng = np.random.default_rng(3)
    X = 1.0 + rng.standard_normal((3000, 64))  # every dimension's mean is 1: each carries 1/64
    X[:, 17] *= 50
    share, dims = rogue_dimensions(X, 1)
    assert dims.tolist() == [17]
    # Dimension 17 carries 0.90 of the mean cosine in the population (0.900-0.904 in five
    # 100,000-row samples; about 0.012 sd at 3,000 rows): 4 sd of margin. The 63 others 0.0016 each.
    contributions = cosine_contributions(X)
    assert share == pytest.approx(0.90, abs=0.05)
    assert contributions[17] == share * contributions.sum() and np.delete(contributions, 17).max() < 0.01
    table = property_table(X, bootstrap_replicates=0).set_index("property")
    assert table.loc["rogue_share_top1", "detail"] == "dimensions 17"
    assert table.loc["rogue_share_top3", "detail"].startswith("dimensions 17, ")
    assert table.loc["rogue_share_top1", "null_isotropic"] < 0.5  # noise of the same shape has no rogue
    # Timkey's postprocessing takes the dimension's dominance away, and all-but-the-top its direction
    # (both centre, so every contribution is about -1/(n (n - 1) d) then: no positive part to share)
    assert abs(cosine_contributions(standardise(X))).max() < 1e-3
    assert abs(cosine_contributions(remove_top_components(X, 1))[17]) < 1e-3


def test_effective_rank_and_participation_ratio_known_answers():
    n, d, r = 2000, 64, 8
    equal = known_spectrum(n, np.full(r, 3.0), d, seed=4)
    assert effective_rank(equal) == pytest.approx(r, rel=1e-9)
    assert participation_ratio(equal) == pytest.approx(r, rel=1e-9)
    s = np.array([4.0, 3.0, 2.0, 1.0, 0.5])
    X = known_spectrum(n, s, d, seed=5)
    p = s / s.sum()
    assert effective_rank(X) == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-9)
    lam = s ** 2
    assert participation_ratio(X) == pytest.approx(lam.sum() ** 2 / (lam ** 2).sum(), rel=1e-9)
    # A rank-r Gaussian (well conditioned: singular values sqrt(n) (1 +- sqrt(r/n))) loses
    # about r var/2 = 0.01 of entropy rank: within 2 %.
    rng = np.random.default_rng(6)
    low_rank = rng.standard_normal((n, r)) @ np.linalg.qr(rng.standard_normal((d, r)))[0].T
    assert effective_rank(low_rank) == pytest.approx(r, rel=0.02)


def test_spectral_alpha_recovers_a_power_law_on_the_stated_range():
    d = 64
    lam = np.arange(1, d + 1) ** -1.5
    X = known_spectrum(3000, np.sqrt(lam), d, seed=7)
    alpha, first, last = spectral_alpha(X, (0.01, 0.5))
    assert (first, last) == (1, 32) and alpha == pytest.approx(1.5, rel=1e-8)
    table = property_table(X, bootstrap_replicates=0, nulls=()).set_index("property")
    assert table.loc["spectral_alpha", "detail"] == "log-log least squares on eigenvalues 1-32 of 64"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the package passes numpy into torch arithmetic
def test_isoscore_equals_the_isoscore_package():
    IsoScore = pytest.importorskip("IsoScore.IsoScore")
    rng = np.random.default_rng(8)
    X = rng.standard_normal((500, 24)) * np.linspace(0.2, 3.0, 24) + 0.4
    # The package takes sqrt(d) of an int tensor, in float32: agreement to float32's 1e-7.
    assert isoscore(X) == pytest.approx(float(IsoScore.IsoScore(X)), rel=1e-7)
    star = IsoScore.IsoScore_star(X, np.eye(24), 0.3)
    assert isoscore(X, shrinkage=0.3) == pytest.approx(float(star), rel=1e-7)
    assert isoscore(X) != pytest.approx(isoscore(X, shrinkage=0.3), rel=1e-3)


def test_partition_isotropy_equals_its_definition():
    X = gaussian(400, 6, seed=9) * 0.5 + 0.2
    directions = np.linalg.eigh(X.T @ X)[1]
    Z = np.exp(X @ np.concatenate([directions, -directions], axis=1)).sum(0)
    assert partition_isotropy(X) == pytest.approx(Z.min() / Z.max(), rel=1e-5)  # Z summed in float32


def test_nulls_have_the_shape_and_the_covariance_of_the_matrix():
    rng = np.random.default_rng(10)
    X = (rng.standard_normal((3000, 16)) * np.linspace(0.5, 4, 16)) @ np.linalg.qr(rng.standard_normal((16, 16)))[0] + 2
    C = np.cov(X.T, ddof=0)
    iso, cov = property_null_sample("isotropic", X, 0), property_null_sample("covariance", X, 0)
    assert iso.shape == cov.shape == X.shape
    # Sample covariances of n = 3000 rows: entries off by about sqrt(2 / n) = 2.6 % of the scale
    np.testing.assert_allclose(np.cov(iso.T), np.trace(C) / 16 * np.eye(16), atol=0.1 * np.trace(C) / 16)
    assert np.linalg.norm(np.cov(cov.T) - C) < 0.1 * np.linalg.norm(C)
    assert abs(cov.mean(0)).max() < 0.3  # no mean: the offset of 2 is the structure the nulls lack
    table = property_table(X, bootstrap_replicates=0).set_index("property")
    assert table.loc["isoscore", "null_isotropic"] == pytest.approx(1 - 16 / 3000, abs=0.01)
    for spectrum_row in ("participation_ratio", "effective_rank", "isoscore"):  # functions of C: the null repeats them
        assert table.loc[spectrum_row, "null_covariance"] == pytest.approx(table.loc[spectrum_row, "value"], rel=0.05)
    assert table.loc["mean_cosine", "value"] > 0.1 and abs(table.loc["mean_cosine", "null_covariance"]) < 0.01
    np.testing.assert_array_equal(property_null_sample("covariance", X, 0), cov)  # seeded


def test_bootstrap_intervals_cover_the_population_value():
    # A percentile interval at 95 % covers in 38 of 40 draws on average; 34 or more fail with
    # probability 0.3 % (binomial) when it really covers 95 %. Measured on 200 draws: 95.5 % (PR)
    # and 94.5 % (mean norm).
    d, n = 8, 400
    lam = np.array([4, 2, 1, 1, 0.5, 0.5, 0.25, 0.25])
    truth_pr = lam.sum() ** 2 / (lam ** 2).sum()
    truth_norm = sqrt(2) * exp(lgamma((d + 1) / 2) - lgamma(d / 2))  # E|z|, z ~ N(0, I_d)
    covered_pr = covered_norm = 0
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        pr = property_table(rng.standard_normal((n, d)) * np.sqrt(lam), nulls=(), bootstrap_replicates=100,
                            bootstrap_seed=seed).set_index("property").loc["participation_ratio"]
        covered_pr += pr["ci_low"] <= truth_pr <= pr["ci_high"]
        norm = property_table(rng.standard_normal((n, d)), nulls=(), bootstrap_replicates=100,
                              bootstrap_seed=seed).set_index("property").loc["norm_mean"]
        covered_norm += norm["ci_low"] <= truth_norm <= norm["ci_high"]
    assert covered_pr >= 34 and covered_norm >= 34


def test_basic_intervals_of_the_spectrum_rows_cover_where_percentile_ones_do_not():
    # The resamples repeat the d/n bias of IsoScore and the effective rank: their percentile
    # interval covered the population value in 74 % and 71 % of 200 seeded draws of this design,
    # the basic one in 92 % (IsoScore) and 94 % (effective rank) (docs/benchmarks.md). At 92 %, 31
    # or fewer of 40 happen with probability 0.4 % (binomial); at 74 %, 32 or more with 25 %, so
    # this design tells them apart only on average: the isotropic case below is the sharp one.
    d, n = 8, 400
    lam = np.linspace(1, 3, d) ** 2
    truth = {"isoscore": _isoscore_of(lam), "effective_rank": float(np.exp(-(p := np.sqrt(lam) / np.sqrt(lam).sum())
                                                                          @ np.log(p)))}
    covered = {name: 0 for name in truth}
    percentile = {name: 0 for name in truth}
    for seed in range(40):
        rng = np.random.default_rng(300 + seed)
        reps: dict = {}
        table = property_table(rng.standard_normal((n, d)) * np.sqrt(lam), nulls=(), bootstrap_replicates=100,
                               bootstrap_seed=seed, replicates=reps).set_index("property")
        for name, value in truth.items():
            assert table.loc[name, "ci_method"] == "basic"
            covered[name] += table.loc[name, "ci_low"] <= value <= table.loc[name, "ci_high"]
            low, high = np.quantile(reps[name], [0.025, 0.975])
            percentile[name] += low <= value <= high
            # the basic interval is the percentile one reflected about the value
            assert table.loc[name, "ci_low"] == pytest.approx(2 * table.loc[name, "value"] - high)
    assert table.loc["participation_ratio", "ci_method"] == "percentile"
    assert min(covered.values()) >= 32, covered
    assert all(covered[name] > percentile[name] for name in truth), (covered, percentile)
    # the case the module docstring names: an isotropic Gaussian's IsoScore interval holds 1
    iso = property_table(np.random.default_rng(7).standard_normal((2000, 32)), nulls=()).set_index("property")
    assert iso.loc["isoscore", "ci_low"] <= 1.0 <= iso.loc["isoscore", "ci_high"], iso.loc["isoscore"]


def _isoscore_of(eigenvalues) -> float:
    """IsoScore of a population spectrum (the isoscore package's arithmetic on its eigenvalues)."""
    d = len(eigenvalues)
    normalised = eigenvalues * sqrt(d) / np.linalg.norm(eigenvalues)
    defect = np.linalg.norm(normalised - 1) / sqrt(2 * (d - sqrt(d)))
    return float(((d - defect ** 2 * (d - sqrt(d))) ** 2 - d) / (d * (d - 1)))


def test_table_columns_rows_counts_and_paired_replicates():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((600, 20)) + 0.5
    counts = rng.integers(1, 1000, 600)
    X *= ((1 + np.log(counts)) / np.linalg.norm(X, axis=1))[:, None]  # norm = 1 + log count: rho = 1
    reps: dict = {}
    table = property_table(X, counts, bootstrap_replicates=100, replicates=reps)
    assert list(table.columns) == TABLE_COLUMNS
    assert table["property"].tolist() == [
        "mean_cosine", "mean_vector_ratio", "isoscore", "partition_isotropy", "rogue_share_top1", "rogue_share_top3",
        "rogue_share_top10", "effective_rank", "participation_ratio", "spectral_alpha", "norm_mean", "norm_sd",
        "norm_q05", "norm_q50", "norm_q95", "norm_frequency_spearman"]
    assert (table["n_rows"] == 600).all() and (table["d"] == 20).all()
    # Means sit inside their percentile interval; the top-k shares and the spectrum rows need not
    # (selection and d/n biases that the resamples repeat: module docstring).
    smooth = table.set_index("property").loc[["mean_cosine", "mean_vector_ratio", "norm_mean"]]
    assert (smooth["ci_low"] < smooth["value"]).all() and (smooth["value"] < smooth["ci_high"]).all()
    row = table.set_index("property").loc["norm_frequency_spearman"]
    # Null norms ignore frequency: rho ~ N(0, 1/n), sd 0.04 here, and 0.15 is 3.7 sd
    assert row["value"] == pytest.approx(1.0, abs=1e-4)  # equal counts tie, their float norms need not
    assert abs(row["null_isotropic"]) < 0.15
    assert set(reps) == set(table["property"]) and all(len(v) == 100 for v in reps.values())
    # Same n and seed: the same resampled rows, so a second matrix's replicates pair with these
    again: dict = {}
    property_table(X, counts, bootstrap_replicates=100, replicates=again, nulls=())
    np.testing.assert_array_equal(again["mean_cosine"], reps["mean_cosine"])
    assert "norm_frequency_spearman" not in property_table(X, bootstrap_replicates=0, nulls=())["property"].tolist()
    assert np.isnan(property_table(X, bootstrap_replicates=0, nulls=("isotropic",))["null_covariance"]).all()


def test_invalid_inputs_are_refused():
    X = gaussian(50, 4, seed=12)
    with pytest.raises(ValueError, match="norm 0"):
        property_values(np.vstack([X, np.zeros(4)]))
    with pytest.raises(ValueError, match="counts"):
        property_table(X, counts=np.ones(49), bootstrap_replicates=0)
    with pytest.raises(ValueError, match=">= 100"):
        property_table(X, bootstrap_replicates=50)
    with pytest.raises(ValueError, match="alpha_fit_range"):
        property_values(X, alpha_fit_range=(0.5, 0.1))
    with pytest.raises(ValueError, match="at least 2 columns"):
        property_values(X[:, :1])


def test_standardise_and_remove_top_components():
    rng = np.random.default_rng(13)
    X = rng.standard_normal((500, 6)) * [1, 2, 3, 4, 5, 50] + 7
    X[:, 2] = 0.1  # constant: becomes 0, not noise
    Z = standardise(X)
    np.testing.assert_allclose(Z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(0), [1, 1, 0, 1, 1, 1], atol=1e-12)
    R = remove_top_components(X, 2)
    np.testing.assert_allclose(R.mean(0), 0, atol=1e-9)
    top = np.linalg.eigh(np.cov(X.T))[1][:, ::-1][:, :2]
    np.testing.assert_allclose(R @ top, 0, atol=1e-9)
    assert np.linalg.matrix_rank(R) == 6 - 1 - 2  # a constant column, two directions removed
    np.testing.assert_allclose(remove_top_components(X, 0), X - X.mean(0))


def test_cli_prints_the_table_of_a_npy_or_safetensors_matrix(tmp_path, capsys):
    X = gaussian(300, 16, seed=14) + 1.0
    np.save(tmp_path / "m.npy", X)
    np.save(tmp_path / "counts.npy", np.arange(300))
    assert main(["properties", str(tmp_path / "m.npy"), "--counts", str(tmp_path / "counts.npy"),
                 "--replicates", "100", "--json"]) == 0
    table = pd.DataFrame(json.loads(capsys.readouterr().out)).set_index("property")
    assert table.loc["mean_cosine", "value"] == pytest.approx(mean_pairwise_cosine(X))
    assert table.loc["mean_cosine", "ci_low"] < table.loc["mean_cosine", "value"] < table.loc["mean_cosine", "ci_high"]
    assert "norm_frequency_spearman" in table.index
    save_tensors({"output": torch.from_numpy(X).float()}, tmp_path / "m.safetensors")
    assert main(["properties", str(tmp_path / "m.safetensors"), "--key", "output", "--replicates", "0",
                 "--no-nulls"]) == 0
    out = capsys.readouterr().out
    assert "300 rows x 16" in out and "rogue_share_top1" in out
    np.save(tmp_path / "short.npy", np.arange(3))
    assert main(["properties", str(tmp_path / "m.npy"), "--counts", str(tmp_path / "short.npy")]) == 2
    assert "(3,) counts for 300 rows" in capsys.readouterr().err
