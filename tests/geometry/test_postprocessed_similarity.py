"""Similarity that survives the rogue dimensions (issue 29): the postprocessings inside the
global similarity and LLE tables, their intervals, and the per-pair-type test of the change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

from regeo.analyses.postprocessed import pair_type, postprocess_tests, sign_flip_test
from regeo.figures.common import save_figure
from regeo.figures.postprocessed import plot_postprocessed
from regeo.geometry.intervals import TokenBootstrap
from regeo.geometry.postprocess import (postprocess, raw_rows, remove_top_components, standardise, top_components,
                                        weighted_postprocess)
from regeo.geometry.similarity import global_similarity, global_similarity_intervals
from regeo.io import save_tensors
from regeo.stages.cross_model import global_similarity_table, lle_comparison_table

BOOT = {"replicates": 100, "seed": 0, "confidence": 0.95}
POST = {"methods": ["standardised", "abtt"], "components": 1}


def rogue_pair(n=400, d=12, seed=0):
    """Two unrelated Gaussian matrices that share one coordinate scaled by 50 (a rogue dimension
    both models carry, e.g. a frequency direction), each with its own offset."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=n)
    A, B = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    A[:, 3], B[:, 7] = 50 * shared + 5, 50 * shared - 8
    return A, B


def test_top_components_follows_mu_and_viswanath():
    assert top_components(64, None) == 1 and top_components(300, None) == 3 and top_components(2048, None) == 20
    assert top_components(8, 2) == 2 and top_components(4, 10) == 3  # something is always left


def test_weighted_postprocess_equals_postprocess_of_the_repeated_rows():
    """Weights are a resample's multiplicities: the result must equal the postprocessing refitted on
    the rows repeated that many times (rows of weight 0 transformed with the others' statistics)."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 5)) * [1, 2, 3, 4, 5] + 7
    counts = rng.integers(0, 3, size=30)
    counts[0] = 1
    repeated = np.repeat(X, counts, axis=0)
    for method in ("raw", "standardised", "abtt"):
        np.testing.assert_allclose(weighted_postprocess(X, np.ones(30), method, 2).numpy(),
                                   postprocess(X, method, 2), atol=1e-10)
        weighted = weighted_postprocess(X, counts, method, 2).numpy()
        direct = postprocess(repeated, method, 2)
        kept = np.repeat(weighted[counts > 0], counts[counts > 0], axis=0)
        if method == "abtt":  # directions have a sign; the projection removed does not
            np.testing.assert_allclose(kept, direct, atol=1e-8)
        else:
            np.testing.assert_allclose(kept, direct, atol=1e-10)
    assert np.allclose(postprocess(X, "standardised"), standardise(X))
    assert np.allclose(postprocess(X, "abtt", 2), remove_top_components(X, 2))
    with pytest.raises(ValueError, match="postprocess must be one of"):
        postprocess(X, "whitened")


def test_a_shared_rogue_dimension_makes_raw_similarity_that_postprocessing_removes():
    A, B = rogue_pair()
    raw = global_similarity(A, B)
    assert raw["cosine_similarity_correlation"] > 0.5 and raw["linear_cka"] > 0.99  # one shared direction
    # standardised, the shared dimension is one of d = 12 equal ones (seen 0.08 and 0.11 over
    # seeds 0-4: about 1/d); all-but-the-top removes it (seen |corr| < 0.01, CKA < 0.04)
    standardised = global_similarity(A, B, postprocess="standardised")
    assert abs(standardised["cosine_similarity_correlation"]) < 0.15 and standardised["linear_cka"] < 0.2
    abtt = global_similarity(A, B, postprocess="abtt", components=1)
    assert abs(abtt["cosine_similarity_correlation"]) < 0.05 and abtt["linear_cka"] < 0.1


def test_a_shared_geometry_survives_postprocessing():
    """B is A with every dimension rescaled, shifted and the dimensions reordered: standardised,
    they are one matrix up to the column order, so both measures stay 1."""
    rng = np.random.default_rng(2)
    A = rng.normal(size=(300, 10)) * np.arange(1, 11)
    B = (A * rng.uniform(0.5, 3, size=10) + rng.normal(size=10))[:, rng.permutation(10)]
    post = global_similarity(A, B, postprocess="standardised")
    np.testing.assert_allclose([post["cosine_similarity_correlation"], post["linear_cka"]], 1.0, rtol=1e-9)


@pytest.mark.parametrize("method", ["standardised", "abtt"])
def test_linearised_interval_of_postprocessed_similarity_matches_resamples_that_refit_it(method):
    """The first-order interval carries the postprocessing's own variation: it must match a
    bootstrap that refits the postprocessing in every resample. All-but-the-top removes one
    dominant direction here: the first-order variation of a top subspace is 1 / the eigengap
    after it, so it holds only where that gap is large (as for a rogue dimension)."""
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(200, 8))
    A = Z * np.linspace(1, 4, 8) + 3
    A[:, 0] *= 15
    B = Z @ rng.normal(size=(8, 6)) + 0.7 * rng.normal(size=(200, 6))
    boot = TokenBootstrap(200, 0, 0.95)
    lin = global_similarity_intervals(A, B, boot, postprocess=method, components=1)
    res = global_similarity_intervals(A, B, boot, method="resample", postprocess=method, components=1)
    for name in ("cosine_similarity_correlation", "linear_cka"):
        width_lin = lin[f"{name}_ci_high"] - lin[f"{name}_ci_low"]
        width_res = res[f"{name}_ci_high"] - res[f"{name}_ci_low"]
        assert width_lin == pytest.approx(width_res, rel=0.15), (name, width_lin, width_res)
    # the postprocessing's variation is not negligible: holding it fixed would give another width
    fixed = global_similarity_intervals(postprocess(A, method, 1), postprocess(B, method, 1), boot)
    assert fixed["linear_cka_ci_high"] - fixed["linear_cka_ci_low"] != pytest.approx(
        lin["linear_cka_ci_high"] - lin["linear_cka_ci_low"], rel=1e-3)


def _runs(tmp_path):
    """ne-s0 and ne-s1 share the rogue direction only; OP-s1 is ne-s0's matrix rescaled per dimension."""
    A, B = rogue_pair(n=120, d=8, seed=4)
    C = A * np.linspace(0.5, 2, 8) + 1
    init = np.random.default_rng(5).normal(size=(120, 8))
    vocab = {f"w{i}": i for i in range(120)}  # one word-level tokenizer: tokens pair by id
    PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="w0")),
                            unk_token="w0").save_pretrained(tmp_path / "tok")
    runs = {}
    for name, subset, seed, X in (("ne-micro-s0", "ne", 0, A), ("ne-micro-s1", "ne", 1, B), ("OP-micro-s1", "OP", 1, C)):
        dump = tmp_path / f"{name}.safetensors"
        save_tensors({"input": torch.tensor(X, dtype=torch.float32)}, dump)
        first = tmp_path / f"{name}-init.safetensors"
        save_tensors({"input": torch.tensor(init + seed, dtype=torch.float32)}, first)
        runs[name] = dict(subset=subset, preset="micro", seed=seed, tokenizer=str(tmp_path / "tok"), counts=None, dump=str(dump),
                          init_dump=str(first))
    return runs


def test_tables_keep_their_raw_rows_and_add_each_postprocessing(tmp_path):
    runs = _runs(tmp_path)
    sim_params = {"sample_size": None, "seed": 0, "embeddings": ["input"]}
    lle_params = {"k": 5, "reg": 1e-3, "metric": "euclidean", "seed": 0, "sample_size": None, "embeddings": ["input"]}
    for make, params, name in ((global_similarity_table, sim_params, "sim"), (lle_comparison_table, lle_params, "lle")):
        raw = make(params, 1, BOOT, runs, tmp_path / f"{name}_raw.parquet")
        both = make(params, 1, BOOT, runs, tmp_path / f"{name}.parquet", POST)
        assert list(both["postprocess"].unique()) == ["raw", "standardised", "abtt"]
        pd.testing.assert_frame_equal(raw_rows(both).reset_index(drop=True), raw.reset_index(drop=True))
        abtt = both[both["postprocess"] == "abtt"]
        assert (abtt["abtt_components_a"] == 1).all() and both.loc[both["postprocess"] != "abtt", "abtt_components_a"].isna().all()
    sim = pd.read_parquet(tmp_path / "sim.parquet")
    seeds = sim[(sim["run_a"] == "ne-micro-s0") & (sim["run_b"] == "ne-micro-s1")].set_index("postprocess")
    assert seeds.loc["raw", "cosine_similarity_correlation"] > 0.5  # the shared rogue direction
    assert abs(seeds.loc["abtt", "cosine_similarity_correlation"]) < 0.2
    assert abs(seeds.loc["abtt", "cosine_similarity_correlation_null_permuted"]) < 0.2
    # the null at initialisation is postprocessed too: one seed's start is one matrix up to a shift
    same_init = sim[(sim["run_a"] == "ne-micro-s1") & (sim["run_b"] == "OP-micro-s1")].set_index("postprocess")
    np.testing.assert_allclose(same_init.loc["standardised", "linear_cka_at_init"], 1.0)
    rescaled = sim[(sim["run_a"] == "ne-micro-s0") & (sim["run_b"] == "OP-micro-s1")].set_index("postprocess")
    np.testing.assert_allclose(rescaled.loc["standardised", "linear_cka"], 1.0, rtol=1e-6)
    for name in ("cosine_similarity_correlation", "linear_cka"):
        assert (sim[f"{name}_ci_low"] <= sim[name] + 1e-9).all() and (sim[name] <= sim[f"{name}_ci_high"] + 1e-9).all()


def test_sign_flip_test_known_answers():
    # three pairs all down by 1: of the 8 sign patterns only the all-flipped one ties |mean| = 1
    p, floor, flips = sign_flip_test(np.array([-1.0, -1.0, -1.0]), 99, 0)
    assert (p, floor, flips) == (pytest.approx(2 / 8), pytest.approx(2 / 8), 7)
    p, _, _ = sign_flip_test(np.array([1.0, -1.0, 2.0, -2.0]), 99, 0)  # mean 0: every pattern is as extreme
    assert p == 1.0
    changes = np.full(20, -0.5)  # past 14 pairs the patterns are drawn
    p, floor, flips = sign_flip_test(changes, 999, 0)
    assert flips == 999 and p == pytest.approx(1 / 1000) and floor == pytest.approx(1 / 1000)


def _pair_rows(kind_rows, measure):
    rows = []
    for run_a, run_b, relation, seed_a, seed_b, raw, post in kind_rows:
        for method, value in (("raw", raw), ("standardised", post)):
            rows.append({"run_a": run_a, "run_b": run_b, "relation": relation, "seed_a": seed_a, "seed_b": seed_b,
                         "embeddings": "input", "postprocess": method, measure: value,
                         f"{measure}_null_permuted": 0.0})
    return pd.DataFrame(rows)


def test_postprocess_tests_per_pair_type_with_adjustment(tmp_path):
    sim = _pair_rows([("a-s0", "a-s1", "seeds", 0, 1, 0.9, 0.2), ("b-s0", "b-s1", "seeds", 0, 1, 0.8, 0.1),
                      ("c-s0", "c-s1", "seeds", 0, 1, 0.7, 0.3), ("a-s0", "b-s1", "registers", 0, 1, 0.5, 0.5),
                      ("a-s0", "b-s0", "registers", 0, 0, 0.9, 0.9)], "cosine_similarity_correlation")
    sim["linear_cka"] = sim["cosine_similarity_correlation"]
    sim["linear_cka_null_permuted"] = 0.0
    assert list(pair_type(sim)[::2]) == ["seeds"] * 3 + ["registers, other seed", "registers, same seed"]
    lle = _pair_rows([("a-s0", "a-s1", "seeds", 0, 1, 1.1, 1.5), ("a-s1", "a-s0", "seeds", 1, 0, 1.3, 1.7)],
                     "relative_error")
    lle["jaccard"], lle["jaccard_null_permuted"] = 0.5, 0.0
    tests = postprocess_tests({"global_similarity": sim, "lle_comparison": lle}, "holm", 99, 0)
    seeds = tests[(tests["measure"] == "cosine_similarity_correlation") & (tests["pair_type"] == "seeds")].iloc[0]
    assert seeds["n_pairs"] == 3 and seeds["change"] == pytest.approx(-0.6) and seeds["share_of_pairs_shrinking"] == 1
    assert seeds["p"] == pytest.approx(0.25) and seeds["p_floor"] == pytest.approx(0.25)
    # the LLE pair's two directions are one pair: error up by 0.4, shared geometry shrinks
    rel = tests[tests["measure"] == "relative_error"].iloc[0]
    assert rel["n_pairs"] == 1 and rel["change"] == pytest.approx(0.4) and rel["share_of_pairs_shrinking"] == 1
    assert rel["p"] == 1.0  # one pair: its flip is as extreme, nothing can be shown
    # Holm over the whole table: two p of 0.25 among eight tests adjust to min(1, 8 x 0.25)
    assert len(tests) == 8 and (tests["adjustment"] == "holm").all() and (tests["p_adjusted"] == 1).all()
    assert (tests["p_adjusted"] >= tests["p"]).all() and not tests["significant"].any()
    fig = plot_postprocessed({"global_similarity": sim, "lle_comparison": lle}, tests)
    save_figure(fig, tmp_path / "f.pdf", tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 0
