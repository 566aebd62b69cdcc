"""The parts on their own: text batches, hooks, layer matching, CAA vectors, the least-squares map, guards."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from steering_models import POSITIVE_ADJ, WORDS, texts, tiny_llama, word_tokenizer

from regeo.config import schema_defaults
from regeo.io import RegeoInputError
from regeo.steering.concepts import Concept
from regeo.steering.config import SteeringConfig
from regeo.steering.emb2emb import fit_linear_map
from regeo.token_sets import shared_vocabulary
from regeo.steering.inject import decoder_layers, layer_at_depth, match_layer, steer
from regeo.steering.text import encode_texts, padded_batches, target_token_ids
from regeo.steering.vectors import mean_activation, steering_vector, token_steering_vector


@pytest.fixture(scope="module")
def random_model(tokenizer):
    return tiny_llama(len(tokenizer), 32, 3, seed=11)


def hidden_states(model, tokenizer, text_list):
    encoded = encode_texts(tokenizer, text_list, 64)
    [(ids, mask)] = list(padded_batches(encoded, len(encoded)))
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    return out, mask.bool()


# --- texts ------------------------------------------------------------------------------------


def test_padded_batches_right_pad_with_mask(tokenizer):
    encoded = encode_texts(tokenizer, ["the bank said", "", "i think the film was great ."], max_length=4)
    assert [len(x) for x in encoded] == [3, 4]  # the empty text is dropped, the long one truncated
    batches = list(padded_batches(encoded, batch_size=8))
    assert len(batches) == 1
    ids, mask = batches[0]
    assert ids.shape == mask.shape == (2, 4)
    assert mask.tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]
    assert ids[0, :3].tolist() == encoded[0]


def test_target_token_ids_single_tokens_only(tokenizer, caplog):
    ids = target_token_ids(tokenizer, ["great", "wonderful", "not a word"])
    vocab = tokenizer.get_vocab()
    assert ids == sorted([vocab["great"], vocab["wonderful"]])  # "not a word" is 3 tokens: dropped
    assert "not a word" in caplog.text
    assert target_token_ids(tokenizer, None) == []
    with pytest.raises(ValueError, match="single token"):
        target_token_ids(tokenizer, ["two words"])


# --- layers and hooks -------------------------------------------------------------------------


@pytest.mark.parametrize("depth, n, layer", [(0.5, 2, 0), (0.5, 4, 1), (0.5, 24, 11), (1.0, 4, 3),
                                             (0.25, 4, 0), (0.01, 12, 0), (0.75, 4, 2)])
def test_layer_at_depth(depth, n, layer):
    assert layer_at_depth(depth, n) == layer


def test_match_layer_across_depths():
    assert [match_layer(l, 2, 4) for l in range(2)] == [1, 3]
    assert [match_layer(l, 4, 2) for l in range(4)] == [0, 0, 1, 1]
    assert [match_layer(l, 4, 4) for l in range(4)] == [0, 1, 2, 3]
    assert [match_layer(l, 12, 24) for l in (0, 5, 11)] == [1, 11, 23]
    with pytest.raises(IndexError):
        match_layer(2, 2, 4)
    with pytest.raises(ValueError):
        layer_at_depth(0.0, 4)


def captured_block_output(model, tokenizer, text_list, layer):
    """Output (B, T, d) of block ``layer`` as the next block receives it (a hook registered last sees it)."""
    captured = []
    handle = decoder_layers(model)[layer].register_forward_hook(lambda m, i, o: captured.append(o))
    try:
        out, _ = hidden_states(model, tokenizer, text_list)
    finally:
        handle.remove()
    return (captured[0][0] if isinstance(captured[0], tuple) else captured[0]), out


def test_steer_adds_alpha_v_at_every_position_of_that_block_only(random_model, tokenizer):
    text_list = texts("news", 3, seed=5)
    base, base_out = captured_block_output(random_model, tokenizer, text_list, 1)
    v = torch.randn(32, generator=torch.Generator().manual_seed(0))
    with steer(random_model, v, layer=1, alpha=2.5):
        steered, steered_out = captured_block_output(random_model, tokenizer, text_list, 1)
    # Blocks before the steered one are untouched; the steered block's output moves by exactly 2.5 v
    # at every position (pads included: they come after the real tokens, so nothing reads them).
    for i in (0, 1):
        torch.testing.assert_close(steered_out.hidden_states[i], base_out.hidden_states[i])
    shift = steered - base  # (B, T, d)
    torch.testing.assert_close(shift, (2.5 * v).expand_as(shift), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(steered_out.logits, base_out.logits)
    # Not compared: steered_out.hidden_states[2]. transformers 5 records it with its own hook,
    # registered before ours, so it shows the block output before steering (4.x: after).


def test_hooks_removed_after_context_even_on_error(random_model, tokenizer):
    text_list = texts("opinion", 2, seed=5)
    base, _ = hidden_states(random_model, tokenizer, text_list)
    layers = decoder_layers(random_model)
    hooks_before = [len(layer._forward_hooks) for layer in layers]
    with steer(random_model, torch.ones(32), layer=-1, alpha=3.0):
        assert len(layers[2]._forward_hooks) == hooks_before[2] + 1
    with pytest.raises(RuntimeError, match="boom"):
        with steer(random_model, torch.ones(32), layer=0, alpha=3.0):
            raise RuntimeError("boom")
    assert [len(layer._forward_hooks) for layer in layers] == hooks_before
    after, _ = hidden_states(random_model, tokenizer, text_list)
    torch.testing.assert_close(after.logits, base.logits, rtol=0, atol=0)


def test_steer_rejects_wrong_width_and_layer(random_model):
    with pytest.raises(ValueError, match="shape"):
        with steer(random_model, torch.ones(31), layer=0):
            pass
    with pytest.raises(IndexError):
        with steer(random_model, torch.ones(32), layer=3):
            pass


# --- vectors ----------------------------------------------------------------------------------


def test_caa_vector_is_difference_of_token_means_of_block_output(random_model, tokenizer):
    positive, negative = texts("news", 5, seed=3), texts("opinion", 7, seed=3)
    v = steering_vector(random_model, tokenizer, positive, negative, layer=1, batch_size=2)
    assert v.shape == (32,) and v.dtype == torch.float32
    out_p, mask_p = hidden_states(random_model, tokenizer, positive)
    out_n, mask_n = hidden_states(random_model, tokenizer, negative)
    # Block 1 of 3 is not the last, so its output is hidden_states[2] (index 0: embeddings).
    expected = out_p.hidden_states[2][mask_p].mean(0) - out_n.hidden_states[2][mask_n].mean(0)
    torch.testing.assert_close(v, expected, atol=1e-5, rtol=1e-5)


def test_last_block_vector_is_taken_before_the_final_norm(random_model, tokenizer):
    text_list = texts("news", 3, seed=8)
    mean = mean_activation(random_model, tokenizer, text_list, layer=2)
    out, mask = hidden_states(random_model, tokenizer, text_list)
    # transformers' hidden_states[-1] is after the final norm; ours is the block's own output.
    normed = out.hidden_states[3][mask].mean(0)
    assert not torch.allclose(mean, normed, atol=1e-3)
    block_out, _ = captured_block_output(random_model, tokenizer, text_list, 2)
    torch.testing.assert_close(random_model.model.norm(block_out)[mask].mean(0), normed, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(mean, block_out[mask].mean(0), atol=1e-5, rtol=1e-5)


def test_token_vector_contrasts_positions_before_targets(random_model, tokenizer):
    text_list = texts("opinion", 6, seed=4)
    target = target_token_ids(tokenizer, POSITIVE_ADJ)
    v = token_steering_vector(random_model, tokenizer, text_list, target, layer=0)
    out, mask = hidden_states(random_model, tokenizer, text_list)
    encoded = encode_texts(tokenizer, text_list, 64)
    [(ids, _)] = list(padded_batches(encoded, len(encoded)))
    h = out.hidden_states[1]  # (B, T, d)
    has_next = torch.zeros_like(mask)
    has_next[:, :-1] = mask[:, 1:]
    before = torch.zeros_like(mask)
    before[:, :-1] = torch.isin(ids[:, 1:], torch.tensor(target))
    expected = h[has_next & before].mean(0) - h[has_next & ~before].mean(0)
    torch.testing.assert_close(v, expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="followed by a target"):
        token_steering_vector(random_model, tokenizer, texts("news", 3, seed=4), target, layer=0)


def test_vectors_can_leave_out_each_texts_first_positions(random_model, tokenizer):
    """The attention-sink position of a real Llama dwarfs the others (docs/pretrained.md): with
    skip_first every mean is over the later positions only, for both kinds of vector."""
    positive, negative = texts("news", 5, seed=3), texts("opinion", 7, seed=3)
    out_p, mask_p = hidden_states(random_model, tokenizer, positive)
    out_n, mask_n = hidden_states(random_model, tokenizer, negative)
    later_p, later_n = mask_p.clone(), mask_n.clone()
    later_p[:, 0] = later_n[:, 0] = False
    h_p, h_n = out_p.hidden_states[2], out_n.hidden_states[2]
    v = steering_vector(random_model, tokenizer, positive, negative, layer=1, batch_size=2, skip_first=1)
    torch.testing.assert_close(v, h_p[later_p].mean(0) - h_n[later_n].mean(0), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(v, h_p[mask_p].mean(0) - h_n[mask_n].mean(0), atol=1e-4)

    target = target_token_ids(tokenizer, POSITIVE_ADJ)
    opinion = texts("opinion", 6, seed=4)
    out, mask = hidden_states(random_model, tokenizer, opinion)
    [(ids, _)] = list(padded_batches(encode_texts(tokenizer, opinion, 64), len(opinion)))
    has_next = torch.zeros_like(mask)
    has_next[:, :-1] = mask[:, 1:]
    has_next[:, 0] = False
    before = torch.zeros_like(mask)
    before[:, :-1] = torch.isin(ids[:, 1:], torch.tensor(target))
    h = out.hidden_states[1]
    expected = h[has_next & before].mean(0) - h[has_next & ~before].mean(0)
    v = token_steering_vector(random_model, tokenizer, opinion, target, layer=0, skip_first=1)
    torch.testing.assert_close(v, expected, atol=1e-5, rtol=1e-5)


def test_skipped_positions_are_a_checked_setting():
    params = schema_defaults("steering")
    assert SteeringConfig.from_params(params).vector_skip_positions == 0
    assert SteeringConfig.from_params({**params, "vector_skip_positions": 1}).vector_skip_positions == 1
    with pytest.raises(RegeoInputError, match="vector_skip_positions"):
        SteeringConfig.from_params({**params, "vector_skip_positions": params["max_length"]})


# --- the map ----------------------------------------------------------------------------------


def test_map_recovers_a_known_linear_map_across_widths():
    rng = np.random.default_rng(0)
    E_a = rng.normal(size=(300, 16))
    A = rng.normal(size=(24, 16))  # (d_b, d_a)
    E_b = E_a @ A.T + rng.normal(size=24)  # plus an offset the centring removes
    m = fit_linear_map(E_a, E_b)
    assert m.weight.shape == (24, 16) and (m.d_a, m.d_b) == (16, 24)
    np.testing.assert_allclose(m.weight.numpy(), A, atol=1e-10)
    assert m.r2 == pytest.approx(1.0) and m.rank_a == 16 and m.n_tokens == 300
    v = rng.normal(size=16)
    # A direction maps without the offset; a point maps with it.
    np.testing.assert_allclose(m.apply(torch.from_numpy(v)).numpy(), A @ v, atol=1e-10)
    np.testing.assert_allclose(m.transform(torch.from_numpy(E_a[:3])).numpy(), E_b[:3], atol=1e-9)
    assert m.apply(torch.ones(5, 16)).shape == (5, 24)  # batched directions
    with pytest.raises(ValueError, match="width"):
        m.apply(torch.ones(24))


def test_map_ridge_shrinks_and_rank_deficient_is_min_norm():
    rng = np.random.default_rng(1)
    E_a = rng.normal(size=(200, 8))
    E_b = E_a @ rng.normal(size=(8, 8))
    plain, ridged = fit_linear_map(E_a, E_b), fit_linear_map(E_a, E_b, ridge=1.0)
    assert ridged.weight.norm() < plain.weight.norm() and ridged.r2 < plain.r2
    # Fewer tokens than the width: the self-map is the projection onto the rows' span, not the identity.
    few = rng.normal(size=(5, 8))
    m = fit_linear_map(few, few)
    assert m.rank_a == 4  # 5 centred rows span 4 dimensions
    X = few - few.mean(0)
    projection = X.T @ np.linalg.pinv(X.T)
    np.testing.assert_allclose(m.weight.numpy(), projection, atol=1e-10)
    with pytest.raises(ValueError, match="same rows"):
        fit_linear_map(E_a, E_b[:10])


def test_shared_vocabulary_same_ids_or_string_intersection(tokenizer):
    ids_a, ids_b = shared_vocabulary(tokenizer, word_tokenizer())
    assert np.array_equal(ids_a, ids_b) and np.array_equal(ids_a, np.arange(len(tokenizer)))
    other = word_tokenizer(["extra"] + list(reversed(WORDS[:50])))
    ids_a, ids_b = shared_vocabulary(tokenizer, other)
    assert len(ids_a) == 52  # EOS, UNK and 50 words; "extra" and the other 150 words are not shared
    inv_a = {i: s for s, i in tokenizer.get_vocab().items()}
    inv_b = {i: s for s, i in other.get_vocab().items()}
    assert [inv_a[i] for i in ids_a] == [inv_b[i] for i in ids_b]
    assert list(ids_a) == sorted(ids_a)


# --- guards and validation --------------------------------------------------------------------


def test_config_and_concept_validation():
    defaults = schema_defaults("steering")
    assert SteeringConfig.from_params(defaults).layer_relative_depth == 0.5
    for bad in (dict(alphas=[]), dict(alphas=[float("inf")]), dict(embeddings="hidden"), dict(n_null=8), dict(null_checks=100), dict(bootstrap_replicates=50), dict(map_heldout_fraction=1.0), dict(confidence=1.0), dict(ridge=-1.0),
                dict(layer_relative_depth=0.0), dict(batch_size=0), dict(device="tpu")):
        with pytest.raises(RegeoInputError):
            SteeringConfig.from_params({**defaults, **bad})
    # Errors name the key.
    assert SteeringConfig.from_params(defaults).embeddings == "output"  # Lee et al.'s rows
    for bad, key in ((dict(map_variants=["output"]), "map_variants"), (dict(map_variants=["input", "input"]),
                     "map_variants"), (dict(map_variants=["hidden"]), "map_variants"),
                     (dict(n_permutations=50), "n_permutations"), (dict(n_permutations=200, null_checks=300),
                                                                   "null_checks")):
        with pytest.raises(RegeoInputError, match=f"'{key}'"):
            SteeringConfig.from_params({**defaults, **bad})
    assert SteeringConfig.from_params({**defaults, "embeddings": "input", "map_variants": ["output"]}).map_variants \
        == ("output",)
    good = dict(name="c", positive=["a"], negative=["b"], heldout_positive=["c"])
    assert Concept.from_dict(good).primary_metric == "loglik"
    for bad in ({**good, "positve": ["a"]}, {**good, "positive": "a b"}, {**good, "vector": "tokens"},
                {**good, "heldout_positive": []}, {**good, "name": ""}, {**good, "negative": []}):
        with pytest.raises(RegeoInputError):
            Concept.from_dict(bad)
    tokens = Concept.from_dict({**good, "vector": "tokens", "target_tokens": ["great"]})
    assert tokens.primary_metric == "logodds"
    with pytest.raises(RegeoInputError, match="'ceiling' shares texts"):  # the ceiling needs texts of its own
        Concept.from_dict({**good, "ceiling": ["d", "c"]})
