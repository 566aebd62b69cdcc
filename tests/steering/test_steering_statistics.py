"""The statistics of a steering effect on their own: per-passage scores, first-order slopes, nulls,
the passage bootstrap, the map's checks and position pairing across tokenizations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from steering_models import POSITIVE_ADJ, texts, tiny_llama

from regeo.steering.bootstrap import passage_weights, percentile_interval
from regeo.steering.emb2emb import fit_linear_map, r2_of, retrieval, split_pairs
from regeo.steering.first_order import passage_gradients
from regeo.steering.hidden import paired_positions
from regeo.steering.inject import steer
from regeo.steering.nulls import isotropic_draws, mapped_draws, z_score
from regeo.steering.permutation import two_sided_p
from regeo.steering.score import Heldout, score_passages, statistic
from regeo.steering.text import encode_texts, target_token_ids


@pytest.fixture(scope="module")
def model(tokenizer):
    return tiny_llama(len(tokenizer), 32, 2, seed=5)


@pytest.fixture(scope="module")
def heldout(tokenizer):
    return Heldout(positive=encode_texts(tokenizer, texts("news", 6, 3), 40),
                   negative=encode_texts(tokenizer, texts("opinion", 5, 3), 40),
                   target_ids=target_token_ids(tokenizer, POSITIVE_ADJ))


def test_passage_scores_pool_tokens_within_each_side(model, heldout):
    scores = score_passages(model, heldout, batch_size=4)
    assert scores.is_positive.sum() == 6 and (~scores.is_positive).sum() == 5
    ones = np.ones((1, 11))
    pos, neg = scores.is_positive, ~scores.is_positive
    expected = (scores.loglik[pos].sum() / scores.n_predicted[pos].sum()
                - scores.loglik[neg].sum() / scores.n_predicted[neg].sum())
    assert statistic(scores, "loglik", ones)[0] == pytest.approx(expected)
    # Log-odds and mass agree: the mean mass lies between the masses the extreme log-odds give.
    mass = statistic(scores, "mass", ones)[0]
    assert 0 < mass < 1 and np.isfinite(statistic(scores, "logodds", ones)[0])
    # Batching does not change a passage's sums.
    np.testing.assert_allclose(score_passages(model, heldout, batch_size=1).loglik, scores.loglik, rtol=1e-5)


@pytest.mark.parametrize("metric", ["loglik", "logodds"])
def test_first_order_slope_is_the_derivative_of_the_effect(model, heldout, metric):
    """g . v from the per-passage gradients equals a central finite difference of the steered statistic,
    for the full sample and for a reweighted (bootstrap-like) one."""
    torch.manual_seed(0)
    vector = torch.randn(32)
    vector *= 0.05 / vector.norm()  # small beside the residual stream of a fresh model, where it is linear
    grads = passage_gradients(model, 0, heldout, batch_size=4)
    weights = np.vstack([np.ones(11), passage_weights(heldout.is_positive, 1, 3)])
    slope = grads.slopes(metric, vector[None].numpy(), weights)[:, 0]  # (2,)
    eps = 0.05
    values = []
    for alpha in (eps, -eps):
        with steer(model, vector, 0, alpha):
            values.append(statistic(score_passages(model, heldout, 4), metric, weights))
    finite_difference = (values[0] - values[1]) / (2 * eps)
    np.testing.assert_allclose(slope, finite_difference, rtol=2e-2, atol=1e-4)
    # The gradient pass scores the unsteered model as score_passages does.
    np.testing.assert_allclose(grads.scores.loglik, score_passages(model, heldout, 4).loglik, rtol=1e-5)
    assert not any(p.grad is not None for p in model.parameters())


def test_bootstrap_resamples_passages_within_each_side():
    side = np.array([True] * 4 + [False] * 3)
    weights = passage_weights(side, 500, seed=0, key="c")
    assert weights.shape == (500, 7) and np.allclose(weights, weights.round())  # whole passages, counted
    np.testing.assert_array_equal(weights[:, side].sum(1), 4)
    np.testing.assert_array_equal(weights[:, ~side].sum(1), 3)
    np.testing.assert_array_equal(passage_weights(side, 500, 0, "c"), weights)  # seeded
    assert not np.array_equal(passage_weights(side, 500, 0, "d"), weights)
    # A toy score, the mean of per-passage values: its bootstrap spread is the textbook sd / sqrt(n).
    values = np.random.default_rng(1).normal(size=40)
    w = passage_weights(np.ones(40, dtype=bool), 4000, seed=2)
    means = w @ values / 40
    assert means.std() == pytest.approx(values.std() / np.sqrt(40), rel=0.06)
    low, high = percentile_interval(means, 0.95)
    assert low < values.mean() < high
    assert np.isnan(percentile_interval(np.zeros((0, 2)), 0.95)[0]).all()  # no replicates, no interval


def test_nulls_have_the_norm_and_the_span_asked_for():
    iso = isotropic_draws(16, 64, 3.0, seed=0, concept="c")
    np.testing.assert_allclose(np.linalg.norm(iso, axis=1), 3.0)
    weight = np.zeros((16, 4))
    weight[:4, :4] = np.diag([1.0, 2.0, 3.0, 4.0])  # reaches only B's first four dimensions
    mapped = mapped_draws(weight, 64, 3.0, seed=0, concept="c")
    np.testing.assert_allclose(np.linalg.norm(mapped, axis=1), 3.0)
    assert np.abs(mapped[:, 4:]).max() == 0
    assert not np.array_equal(isotropic_draws(16, 64, 3.0, 0, "d"), iso)
    null = np.random.default_rng(0).normal(size=999)
    assert z_score(null.mean() + 2 * null.std(ddof=1), null) == pytest.approx(2.0)
    # Two-sided about the centre of all 1 + B statistics, p = (1 + b) / (1 + B) (regeo.stats), with its floor.
    assert two_sided_p(0.0, null)[0] > 0.9
    assert two_sided_p(10.0, null) == pytest.approx((1 / 1000, 1 / 1000))
    assert two_sided_p(-10.0, null)[0] == pytest.approx(1 / 1000)  # either sign
    assert np.isnan(two_sided_p(float("nan"), null)[0])


def test_held_out_map_checks_and_the_shuffled_baseline():
    rng = np.random.default_rng(0)
    E_a = rng.normal(size=(300, 8))
    true = rng.normal(size=(8, 12))
    E_b = E_a @ true + 0.01 * rng.normal(size=(300, 12))
    fit, held = split_pairs(300, 0.2, seed=0)
    assert len(held) == 60 and len(np.intersect1d(fit, held)) == 0
    emb_map = fit_linear_map(E_a[fit], E_b[fit])
    assert r2_of(emb_map, E_a[held], E_b[held]) > 0.999
    ranks = retrieval(emb_map, E_a[held], E_b, held)
    assert ranks[1] == 1.0 and ranks[10] == 1.0
    shuffled = fit_linear_map(E_a[fit], E_b[rng.permutation(fit)])
    assert r2_of(shuffled, E_a[held], E_b[held]) < 0.05
    assert retrieval(shuffled, E_a[held], E_b, held)[1] < 0.1


def test_positions_pair_where_tokens_end_at_the_same_character():
    # "the cat sat": word tokens end at 3, 7, 11; a finer tokenization ends at 1, 3, 5, 7, 9, 11.
    a, b = paired_positions(np.array([3, 7, 11]), np.array([1, 3, 5, 7, 9, 11]))
    assert list(a) == [0, 1, 2] and list(b) == [1, 3, 5]
