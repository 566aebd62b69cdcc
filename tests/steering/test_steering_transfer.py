"""``run_transfer`` end to end on saved tiny models: the sanity the method must pass (issue 3).

The models are trained for a few dozen steps on two synthetic registers, so native steering has
real effects (several nats of log-likelihood shift per token, tenths of target probability mass)
against which transfer and the random baseline are measured.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from steering_models import texts

from regeo.config import schema_defaults
from regeo.io import RegeoInputError
from regeo.steering.config import SteeringConfig
from regeo.steering.emb2emb import fit_models_map
from regeo.steering.transfer import load_model, run_transfer
from regeo.vocab import shared_vocabulary
from regeo.steering.vectors import steering_vector


def steering_config(**changes) -> SteeringConfig:
    """The schema's steering defaults on the CPU, with ``changes``."""
    return SteeringConfig.from_params({**schema_defaults("steering"), "device": "cpu", **changes})


CFG = steering_config(alphas=(-1.0, 1.0, 2.0), n_random=3, n_generate=2, max_new_tokens=6)
COLUMNS = ["source", "target", "concept", "condition", "draw", "alpha", "vector_norm", "cosine_to_native",
           "loglik_positive", "loglik_negative", "target_mass", "loglik_shift", "target_mass_shift",
           "efficiency_loglik", "efficiency_mass", "efficiency", "efficiency_flag", "vector_kind",
           "layer_source", "n_layers_source", "layer_target", "n_layers_target", "d_source", "d_target",
           "embeddings", "map_r2", "map_rank", "n_shared_tokens", "source_vector_norm", "mapped_vector_norm"]


def rows(df: pd.DataFrame, condition: str, concept: str = "news_vs_opinion") -> pd.DataFrame:
    return df[(df.condition == condition) & (df.concept == concept)]


@pytest.fixture(scope="module")
def self_transfer(model_dirs, concepts):
    return run_transfer(model_dirs["a"], model_dirs["a"], concepts, CFG, source="a", target="a")


@pytest.fixture(scope="module")
def perm_transfer(model_dirs, concepts):
    return run_transfer(model_dirs["a"], model_dirs["perm"], concepts, CFG)


def test_table_shape_and_native_effects_are_real(self_transfer):
    df, _ = self_transfer
    assert list(df.columns) == COLUMNS
    # 2 concepts x (none + native + transferred + 3 random) x 3 alphas
    assert len(df) == 2 * 6 * 3
    assert set(df.source) == set(df.target) == {"a"}  # the names the caller gives
    assert df.attrs["steering_config"]["alphas"] == CFG.alphas
    native = rows(df, "native").set_index("alpha")
    # Steering towards news makes held-out news likelier than opinion, by more with larger alpha.
    assert native.loglik_shift[1.0] > 1.0 and native.loglik_shift[2.0] > native.loglik_shift[1.0]
    assert native.loglik_shift[-1.0] < -0.5
    tokens = rows(df, "native", "positive_adj").set_index("alpha")
    assert tokens.target_mass_shift[1.0] > 0.05 and tokens.target_mass_shift[2.0] > tokens.target_mass_shift[1.0]
    assert (rows(df, "none").loglik_shift == 0).all()


def test_self_transfer_is_identity_with_efficiency_one(model_dirs, self_transfer):
    df, _ = self_transfer
    model, tok = load_model(model_dirs["a"])
    ids_a, ids_b = shared_vocabulary(tok, tok)
    emb_map = fit_models_map(model, model, ids_a, ids_b, "input")
    torch.testing.assert_close(emb_map.weight, torch.eye(64, dtype=torch.float64), atol=1e-8, rtol=0)
    transferred = df[df.condition == "transferred"]
    np.testing.assert_allclose(transferred.efficiency, 1.0, atol=1e-4)
    np.testing.assert_allclose(transferred.cosine_to_native, 1.0, atol=1e-6)
    assert (transferred.efficiency_flag == "ok").all()
    assert (transferred.map_rank == 64).all() and transferred.map_r2.iloc[0] == pytest.approx(1.0)


def test_permuted_model_computes_the_same_function(model_dirs, tokenizer):
    a, _ = load_model(model_dirs["a"])
    p, _ = load_model(model_dirs["perm"])
    ids = torch.tensor([tokenizer.encode(texts("news", 1, seed=9)[0])])
    with torch.no_grad():
        torch.testing.assert_close(p(input_ids=ids).logits, a(input_ids=ids).logits, atol=1e-4, rtol=1e-4)
    assert not torch.equal(p.model.embed_tokens.weight, a.model.embed_tokens.weight)


@pytest.mark.parametrize("which", ["input", "output"])
def test_map_recovers_the_permutation(model_dirs, which):
    a, tok = load_model(model_dirs["a"])
    p, _ = load_model(model_dirs["perm"])
    perm = model_dirs["perm_index"]
    ids_a, ids_b = shared_vocabulary(tok, tok)
    emb_map = fit_models_map(a, p, ids_a, ids_b, which)
    expected = torch.zeros(64, 64, dtype=torch.float64)
    expected[torch.arange(64), perm] = 1.0  # B's dimension j is A's dimension perm[j]
    torch.testing.assert_close(emb_map.weight, expected, atol=1e-6, rtol=0)
    assert torch.equal(emb_map.weight.argmax(dim=1), perm)
    # ... and carries A's CAA vector onto B's own, dimension for dimension.
    concept = dict(positive=texts("news", 10, 1), negative=texts("opinion", 10, 1))
    v_a = steering_vector(a, tok, concept["positive"], concept["negative"], layer=0)
    v_b = steering_vector(p, tok, concept["positive"], concept["negative"], layer=0)
    torch.testing.assert_close(emb_map.apply(v_a), v_b, atol=1e-3, rtol=1e-4)


def test_permutation_transfer_efficiency_one_random_near_zero(perm_transfer):
    df, _ = perm_transfer
    transferred = df[df.condition == "transferred"]
    np.testing.assert_allclose(transferred.efficiency, 1.0, atol=1e-3)
    np.testing.assert_allclose(transferred.efficiency_loglik, 1.0, atol=1e-3)
    np.testing.assert_allclose(transferred.cosine_to_native, 1.0, atol=1e-5)
    random = rows(df, "random")  # text concept: the primary effect is the log-likelihood shift
    assert random.efficiency.abs().max() < 0.3
    assert random.efficiency.abs().mean() < 0.15
    assert random.cosine_to_native.abs().max() < 0.5
    np.testing.assert_allclose(random.vector_norm, rows(df, "native").vector_norm.iloc[0], rtol=1e-5)
    # The token concept, where raising the targets is the point (alpha > 0).
    random_tokens = rows(df, "random", "positive_adj")
    assert random_tokens[random_tokens.alpha > 0].efficiency.abs().max() < 0.3


def test_across_widths_and_depths(model_dirs, concepts):
    df, records = run_transfer(model_dirs["a"], model_dirs["b"], concepts, CFG, source="a", target="b")
    assert (df.d_source == 64).all() and (df.d_target == 128).all()
    assert (df.n_layers_source == 2).all() and (df.n_layers_target == 4).all()
    assert (df.layer_source == 0).all() and (df.layer_target == 1).all()  # relative depth 0.5 in both
    assert (df.map_rank == 64).all() and 0 < df.map_r2.iloc[0] < 1
    vectors = df[df.condition != "none"]
    effects = vectors[["loglik_shift", "target_mass_shift", "cosine_to_native", "efficiency"]]
    assert np.isfinite(effects).all().all()
    native_norm = rows(df, "native").vector_norm.iloc[0]
    np.testing.assert_allclose(rows(df, "transferred").vector_norm, native_norm, rtol=1e-5)  # rescaled
    back, _ = run_transfer(model_dirs["b"], model_dirs["a"], concepts, CFG)
    assert (back.d_source == 128).all() and (back.d_target == 64).all()
    assert (back.layer_source == 1).all() and (back.layer_target == 0).all()
    assert (back.map_rank == 128).all()
    assert np.isfinite(back[back.condition != "none"].efficiency).all()
    assert records and all(r["target"] == "b" for r in records)


def test_tied_embeddings(model_dirs, concepts):
    tied, _ = load_model(model_dirs["tied"])
    assert tied.get_input_embeddings().weight is tied.get_output_embeddings().weight
    by_input, _ = run_transfer(model_dirs["tied"], model_dirs["a"], concepts, CFG)
    by_output, _ = run_transfer(model_dirs["tied"], model_dirs["a"],
                                concepts, replace(CFG, embeddings="output"))
    assert by_input.map_r2.iloc[0] != by_output.map_r2.iloc[0]  # a's untied input and output differ
    self_df, _ = run_transfer(model_dirs["tied"], model_dirs["tied"], concepts, CFG)
    np.testing.assert_allclose(self_df[self_df.condition == "transferred"].efficiency, 1.0, atol=1e-4)


def test_string_intersection_vocabulary(model_dirs, reordered_dir, concepts):
    """Model a under a tokenizer with other ids (and extra words): the map over shared strings is the identity."""
    a, tok_a = load_model(model_dirs["a"])
    b, tok_b = load_model(reordered_dir)
    ids_a, ids_b = shared_vocabulary(tok_a, tok_b)
    assert len(ids_a) == len(tok_a) and not np.array_equal(ids_a, ids_b)
    torch.testing.assert_close(fit_models_map(a, b, ids_a, ids_b).weight, torch.eye(64, dtype=torch.float64),
                               atol=1e-8, rtol=0)
    df, _ = run_transfer(model_dirs["a"], reordered_dir, concepts, CFG)
    assert (df.n_shared_tokens == len(tok_a)).all()
    np.testing.assert_allclose(df[df.condition == "transferred"].efficiency, 1.0, atol=1e-4)


def test_generation_records(self_transfer):
    _, records = self_transfer
    # per concept: 2 prompts x (none once + (native, transferred, random draw 0) x 3 alphas)
    assert len(records) == 2 * 2 * (1 + 3 * 3)
    assert set(records[0]) == {"source", "target", "concept", "condition", "draw", "alpha", "prompt", "completion"}
    assert {r["condition"] for r in records} == {"none", "native", "transferred", "random"}
    json.dumps(records)  # JSONL-ready
    news = [r for r in records if r["concept"] == "news_vs_opinion" and r["prompt"] == records[0]["prompt"]]
    completions = {(r["condition"], r["alpha"]): r["completion"] for r in news}
    # The prompts start held-out opinion texts; steering towards news changes the continuation.
    assert completions[("native", 2.0)] != completions[("none", 0.0)]
    assert all(len(r["completion"].split()) <= 6 for r in records)


def test_zero_native_effect_and_missing_metrics_give_flagged_nan(model_dirs, concepts):
    concept = {**concepts[0], "heldout_negative": [], "target_tokens": None}
    df, _ = run_transfer(model_dirs["a"], model_dirs["a"], [concept],
                         steering_config(alphas=(0.0, 1.0), n_random=1, n_generate=0))
    vectors = df[df.condition != "none"]
    assert vectors.efficiency.isna().all() and (vectors.efficiency_flag == "metric_undefined").all()
    assert df.target_mass.isna().all() and df.loglik_negative.isna().all()
    df, _ = run_transfer(model_dirs["a"], model_dirs["a"], [concepts[0]],
                         steering_config(alphas=(0.0, 1.0), n_random=1, n_generate=0))
    at_zero = df[(df.alpha == 0.0) & (df.condition != "none")]
    assert at_zero.efficiency.isna().all() and (at_zero.efficiency_flag == "native_effect_near_zero").all()
    assert (df[(df.alpha == 1.0) & (df.condition == "native")].efficiency == 1.0).all()


def test_fit_token_ids_restricts_the_map(model_dirs, concepts, tokenizer):
    seen = [i for s, i in tokenizer.get_vocab().items() if not s.startswith(("city", "title"))]
    df, _ = run_transfer(model_dirs["a"], model_dirs["b"], concepts[:1], CFG, fit_token_ids=seen)
    assert (df.n_shared_tokens == len(seen)).all() and (df.map_rank == len(seen) - 1).all()


def test_bad_inputs(model_dirs, concepts, tmp_path):
    with pytest.raises(RegeoInputError, match="not a saved model"):
        run_transfer(tmp_path, model_dirs["a"], concepts, CFG)
    with pytest.raises(RegeoInputError, match="unique"):
        run_transfer(model_dirs["a"], model_dirs["a"], [concepts[0], concepts[0]], CFG)
