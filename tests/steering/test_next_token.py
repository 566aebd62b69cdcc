"""The next-token distribution under steering (KL, top tokens, the null) and the steering vectors' readings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from steering_models import texts, tiny_llama, word_tokenizer

from regeo.explain import RunSpace
from regeo.io import save_tensors
from regeo.steering.bootstrap import passage_weights, percentile_interval
from regeo.steering.inject import steer
from regeo.steering.next_token import null_comparison, sweep_passages, top_tokens
from regeo.steering.readings import pair_readings, readings_html
from regeo.steering import score
from regeo.steering.score import Heldout, score_passages, statistic
from regeo.steering.text import encode_texts
from regeo.steering.transfer import load_model

SMALL_WORDS = [f"w{i}" for i in range(30)]


def heldout_of(tokenizer, n: int = 6, seed: int = 2) -> Heldout:
    return Heldout(positive=encode_texts(tokenizer, texts("news", n, seed), 40),
                   negative=encode_texts(tokenizer, texts("opinion", n, seed), 40), target_ids=[])


@pytest.fixture(scope="module")
def model_a(model_dirs):
    return load_model(model_dirs["a"])


def test_a_zero_vector_leaves_the_distribution_as_it_is(model_a):
    model, tokenizer = model_a
    heldout = heldout_of(tokenizer)
    measured = sweep_passages(model, heldout, [(torch.zeros(64), 4.0)], layer=0, batch_size=4)
    weights = np.vstack([np.ones(len(heldout.passages)), passage_weights(heldout.is_positive, 100, 0)])
    kl = statistic(measured.scores[0], "kl", weights)
    low, high = percentile_interval(kl[1:], 0.95)
    assert kl[0] == 0 and low == 0 and high == 0
    assert np.array_equal(measured.mean_probs[0], measured.reference_probs)
    assert measured.n_positions == sum(len(p) for p in heldout.passages)
    assert np.isclose(measured.reference_probs.sum(), 1.0)


def test_sweep_scores_are_those_of_score_passages_bit_for_bit(model_a):
    """The sweep's numbers must not change when the KL is measured in the same passes."""
    model, tokenizer = model_a
    heldout = Heldout(positive=encode_texts(tokenizer, texts("news", 5, 3), 40),
                      negative=encode_texts(tokenizer, texts("opinion", 5, 3), 40),
                      target_ids=[tokenizer.convert_tokens_to_ids("great")])
    torch.manual_seed(0)
    vectors = [torch.randn(64), torch.randn(64)]
    settings = [(vectors[0], -2.0), (vectors[1], 3.0)]
    measured = sweep_passages(model, heldout, settings, layer=0, batch_size=4)
    for (vector, alpha), scores in zip(settings, measured.scores):
        with steer(model, vector, 0, alpha):
            alone = score_passages(model, heldout, batch_size=4)
        for key in ("loglik", "logodds", "mass", "n_predicted", "n_positions"):
            assert np.array_equal(getattr(alone, key), getattr(scores, key)), key
        assert (scores.kl > 0).all()  # a random push of norm 2-3 moves every passage's distribution


def test_a_vector_along_one_tokens_unembedding_raises_that_token_first():
    """Orthonormal unembedding rows and a unit final norm: pushing the last block's output along
    token t's row raises t's logit and lowers no other's relative to it, so t rises most."""
    tokenizer = word_tokenizer(SMALL_WORDS)
    model = tiny_llama(len(tokenizer), 64, 2, seed=5)
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(64, len(tokenizer), generator=torch.Generator().manual_seed(1)))
        model.lm_head.weight.copy_(q.T)  # (V, d), orthonormal rows
        model.model.norm.weight.fill_(1.0)
    rng = np.random.default_rng(0)
    passages = [[int(i) for i in rng.integers(2, len(tokenizer), 12)] for _ in range(6)]
    heldout = Heldout(positive=passages[:3], negative=passages[3:], target_ids=[])
    token = tokenizer.convert_tokens_to_ids("w7")
    measured = sweep_passages(model, heldout, [(model.lm_head.weight[token].clone(), 50.0)], layer=1)
    lists = top_tokens(measured.reference_probs, measured.mean_probs[0], 5)
    assert lists["riser"][0] == token and lists["steered"][0] == token
    assert lists["unsteered"] == top_tokens(measured.reference_probs, measured.reference_probs, 5)["unsteered"]
    assert measured.mean_probs[0][token] > 0.9, measured.mean_probs[0][token]


def test_top_tokens_and_ties():
    reference = np.array([0.4, 0.3, 0.2, 0.1])
    steered = np.array([0.1, 0.3, 0.2, 0.4])
    lists = top_tokens(reference, steered, 2)
    assert lists == {"riser": [3, 1], "unsteered": [0, 1], "steered": [3, 1]}  # 1 and 2 tie at 0: lower id


def test_null_comparison():
    rng = np.random.default_rng(0)
    null = 0.1 + 0.01 * rng.standard_normal((4, 101))  # 4 draws, point value + 100 replicates
    far = 1.0 + 0.01 * rng.standard_normal(101)
    out = null_comparison(far, null, 0.95)
    assert out["above_isotropic_band"] and out["compared_to_null"] and out["n_null_draws"] == 4
    assert out["n_null_directions"] == 4 and null_comparison(far, null, 0.95, n_directions=2)["n_null_directions"] == 2
    assert out["null_isotropic_kl_low"] < 0.1 < out["null_isotropic_kl_high"]
    # Each replicate's difference is one far draw less the mean of four null draws, 0.9 +- 0.01
    # sqrt(1 + 1/4), so the interval's low end is 0.878, estimated from 100 replicates to 0.003
    # (1 sd): seen 0.874, and 0.02 is 6 sd.
    assert out["kl_minus_null_ci_low"] == pytest.approx(0.9 - 1.96 * 0.01 * np.sqrt(1.25), abs=0.02), \
        out["kl_minus_null_ci_low"]
    same = null_comparison(null[0], null, 0.95)
    assert not same["above_isotropic_band"] and same["kl_minus_null_ci_low"] < 0 < same["kl_minus_null_ci_high"]
    assert not null_comparison(far, np.zeros((0, 101)), 0.95)["compared_to_null"]


def test_readings_of_a_token_embedding_list_that_token_first(tmp_path):
    tokenizer = word_tokenizer(SMALL_WORDS)
    q, _ = torch.linalg.qr(torch.randn(64, len(tokenizer), generator=torch.Generator().manual_seed(2)))
    matrix = (3.0 * q.T).numpy().astype(np.float32)  # (V, d) orthogonal rows: the answer is known
    space = RunSpace(run="r", step=20, input=matrix, output=matrix, tokenizer=tokenizer, seen=None,
                     norm_weight=None)
    token = tokenizer.convert_tokens_to_ids("w11")
    other = tokenizer.convert_tokens_to_ids("w3")
    path = tmp_path / "vectors.safetensors"
    save_tensors({"c.source": torch.from_numpy(matrix[token]), "c.native": torch.from_numpy(matrix[other]),
                  "c.transferred": torch.from_numpy(matrix[other] + 0.1 * matrix[token]),
                  "c.hidden_map": torch.zeros(64)}, path)
    table = pair_readings(path, "r", "r", {"r": space}, k=3)
    assert set(table["vector"]) == {"source_native", "target_native", "transferred"}  # hidden_map not read
    first = table[table["rank"] == 1].set_index(["vector", "list"])["token"]
    assert first[("source_native", "nearest")] == first[("source_native", "logit_lens")] == "w11"
    assert first[("target_native", "nearest")] == first[("transferred", "logit_lens")] == "w3"
    source = table[(table["vector"] == "source_native") & (table["list"] == "nearest")]
    assert np.isclose(source["value"].iloc[0], 1.0) and len(source) == 3
    assert (table["n_tokens"] == len(tokenizer)).all() and (table["token_set"] == "all").all()
    html = readings_html(table)
    assert html.count("<tr>") == 3 and "w11" in html  # a row per vector (the header row has a style)


def test_logsumexp_parts_are_torch_logsumexp_bit_for_bit():
    """The sweep's scores are built on logsumexp_parts; they must be those of torch.logsumexp."""
    g = torch.Generator().manual_seed(0)
    for shape, scale in (((2, 7, 2048), 1.0), ((3, 40, 4096), 8.0), ((1, 5, 50257), 3.0)):
        logits = torch.randn(*shape, generator=g) * scale
        logits[0, 0, :3] = -torch.inf  # masked-out logits
        log_all, e, total = score.logsumexp_parts(logits.clone())
        assert torch.equal(log_all, logits.logsumexp(-1))
        torch.testing.assert_close(e / total[..., None], logits.softmax(-1))
