"""What a reviewer must be able to trust in a steering table (issue 28): the label-permutation null is
calibrated where there is nothing to find, the bootstrap recomputes what it resamples, the ceiling
map never sees the passages it is compared on, identical models transfer everything, and the two
directions of a seed pair agree within their intervals."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from steering_models import POSITIVE_ADJ, save, texts, tiny_llama, train

from regeo.config import schema_defaults
from regeo.stats import adjust
from regeo.steering.activations import UnitActivations, unit_activations
from regeo.steering.bootstrap import passage_weights, unit_weights, with_point
from regeo.steering.concepts import build_concepts
from regeo.steering.conditions import replicate_vectors, rescale_rows
from regeo.steering.config import SteeringConfig
from regeo.steering.emb2emb import fit_linear_map, fit_rows, split_pairs
from regeo.steering.first_order import passage_gradients
from regeo.steering.map_replicates import map_replicates, pairing_draws
from regeo.steering.passages import SIDES, subset_texts
from regeo.steering.permutation import permuted_vectors, relabellings, two_sided_p
from regeo.steering.score import Heldout
from regeo.steering.summary import direction_difference
from regeo.steering.text import encode_texts, target_token_ids
from regeo.steering.transfer import load_model, run_transfer
from regeo.steering.vectors import steering_vector, token_steering_vector
from regeo.token_sets import shared_vocabulary

CFG = SteeringConfig.from_params({**schema_defaults("steering"), "device": "cpu", "alphas": [-1.0, 1.0],
                                  "n_null": 32, "bootstrap_replicates": 100, "n_generate": 0,
                                  "methods": ["mean_difference"], "sweep_depths": []})


def row_of(table: pd.DataFrame, concept: str, condition: str = "transferred", map_: str | None = None):
    rows = table[(table["concept"] == concept) & (table["condition"] == condition)]
    return rows.iloc[0] if map_ is None else rows[rows["map"] == map_].iloc[0]


# --- the label-permutation null ---------------------------------------------------------------


def test_relabellings_keep_the_sides_and_balance_a_contrast():
    units = UnitActivations(np.zeros((12, 2)), np.ones(12), np.arange(12) < 6, np.arange(12), "texts", 12)
    labels = relabellings(units, 500, np.random.default_rng(0))
    assert (labels.sum(1) == 6).all()
    # Balanced: each new positive group holds 3 of the positive passages and 3 of the negative ones.
    assert (labels[:, :6].sum(1) == 3).all() and len({tuple(r) for r in labels}) > 100
    tokens = UnitActivations(np.zeros((9, 2)), np.ones(9), np.array([1, 0, 0, 0, 1, 1, 0, 0, 0], bool),
                             np.array([0, 0, 0, 0, 1, 1, 1, 1, 1]), "tokens", 2)
    labels = relabellings(tokens, 500, np.random.default_rng(0))
    # Within each passage: passage 0 keeps one target among its 4 positions, passage 1 two among 5.
    assert (labels[:, :4].sum(1) == 1).all() and (labels[:, 4:].sum(1) == 2).all()
    assert labels[:, :4].any(0).all()  # every position of passage 0 is a target in some draw


@pytest.fixture(scope="module")
def scored(model_dirs, tokenizer):
    """Model a's gradients on held-out news vs opinion passages (the loglik contrast's scoring set)."""
    model, _ = load_model(model_dirs["a"])
    heldout = Heldout(positive=encode_texts(tokenizer, texts("news", 16, 2), 128),
                      negative=encode_texts(tokenizer, texts("opinion", 16, 2), 128),
                      target_ids=target_token_ids(tokenizer, POSITIVE_ADJ))
    return model, passage_gradients(model, 0, heldout)


def _subset(units: UnitActivations, index: np.ndarray, positive: np.ndarray) -> UnitActivations:
    return UnitActivations(units.sums[index], units.counts[index], positive, np.arange(index.size), "texts",
                           index.size)


def _rejection_rates(p: np.ndarray) -> dict[float, float]:
    return {level: float(np.mean(p <= level)) for level in (0.05, 0.2, 0.5)}


def _assert_uniform(p: np.ndarray, note: str) -> None:
    """Each share of p at or below 0.05, 0.2 and 0.5 within 4 binomial sds of the level (a 6e-5
    chance per level for a uniform p)."""
    n = p.size
    for level, rate in _rejection_rates(p).items():
        assert abs(rate - level) <= 4 * np.sqrt(level * (1 - level) / n), (note, level, rate)


def test_same_register_both_sides_gives_uniform_p(model_dirs, tokenizer, scored):
    """Vectors from two sides of one register (news passages split at random): nothing to find, so the
    permutation p of the native effect (first order, scored on a real contrast) must be uniform.
    400 experiments, each 20 + 20 passages drawn from a pool of 300, 499 relabellings."""
    model, grads = scored
    pool = encode_texts(tokenizer, texts("news", 300, 11), 128)
    units = unit_activations(model, pool, 0, 16, n_positive=150)
    rng = np.random.default_rng(0)
    weights = np.ones((1, len(grads.scores.is_positive)))
    ps = []
    for k in range(400):
        index = rng.choice(len(pool), 40, replace=False)
        experiment = _subset(units, index, np.arange(40) < 20)
        observed = experiment.vector()
        null = rescale_rows(permuted_vectors(experiment, 499, 0, f"e{k}"), np.linalg.norm(observed))
        slopes = grads.slopes("loglik", np.vstack([observed, null]), weights)[0]
        ps.append(two_sided_p(slopes[0], slopes[1:])[0])
    _assert_uniform(np.asarray(ps), "text contrast")

    # A token concept whose "targets" are random positions: the within-passage relabelling is then exact.
    opinion = encode_texts(tokenizer, texts("opinion", 40, 12), 128)
    tokens = unit_activations(model, opinion, 0, 16, target_ids=target_token_ids(tokenizer, POSITIVE_ADJ))
    ps = []
    for k in range(300):
        labels = relabellings(tokens, 1, np.random.default_rng([1, k]))[0]
        experiment = replace(tokens, positive=labels)
        observed = experiment.vector()
        null = rescale_rows(permuted_vectors(experiment, 499, 0, f"t{k}"), np.linalg.norm(observed))
        slopes = grads.slopes("logodds", np.vstack([observed, null]), weights)[0]
        ps.append(two_sided_p(slopes[0], slopes[1:])[0])
    _assert_uniform(np.asarray(ps), "token concept")


def test_unrelated_embeddings_give_uniform_adjusted_p(model_dirs, tokenizer):
    """A trained source and 300 untrained targets of other seeds whose embeddings are unrelated to the
    source's token by token (the target's vocabulary shuffled against the source's before the map is
    fit): the transferred vector's label-permutation p, Holm-adjusted over the pair's two concepts
    (the family the summary forms per map), rejects at 0.05 in at most 6 % of the pairs, and the raw
    p is uniform; so is the token-pairing column's.

    Unshuffled, an untrained target is not a null: through output rows, a concept tied to tokens is
    carried by token identity alone (B's logit of token t is its row t), and the pairing p rejects
    for the contrast in a quarter of such pairs."""
    a, _ = load_model(model_dirs["a"])
    layer = 0
    contrast = unit_activations(a, encode_texts(tokenizer, texts("news", 20, 1) + texts("opinion", 20, 1), 128),
                                layer, 16, n_positive=20)
    tokens = unit_activations(a, encode_texts(tokenizer, texts("opinion", 40, 1), 128), layer, 16,
                              target_ids=target_token_ids(tokenizer, POSITIVE_ADJ))
    heldout = Heldout(positive=encode_texts(tokenizer, texts("news", 12, 2), 64),
                      negative=encode_texts(tokenizer, texts("opinion", 12, 2), 64),
                      target_ids=target_token_ids(tokenizer, POSITIVE_ADJ))
    ids, _ = shared_vocabulary(tokenizer, tokenizer)
    fit, _ = split_pairs(len(ids), 0.2, 0)
    rows_a = fit_rows(a, "output", ids)[fit].numpy()
    raw, pairing, family_rejects = [], [], []
    for seed in range(300):
        b = tiny_llama(len(tokenizer), 64, 2, seed=1000 + seed)
        for param in b.parameters():
            param.requires_grad_(False)
        shuffled = np.random.default_rng(seed).permutation(len(ids))
        rows_b = fit_rows(b, "output", ids).numpy()[shuffled][fit]
        weight = fit_linear_map(rows_a, rows_b).weight.numpy()  # (64, 64)
        replicates = map_replicates(rows_a, rows_b, np.arange(len(fit)), 0.0)
        grads = passage_gradients(b, layer, heldout, batch_size=24)
        family = []
        for units, metric in ((contrast, "loglik"), (tokens, "logodds")):
            v_a = units.vector()
            nulls = {"label": permuted_vectors(units, 199, seed, metric) @ weight.T,
                     "pairing": pairing_draws(replicates, v_a, 199, np.random.default_rng([seed, len(metric)]))}
            for kind, null in nulls.items():
                slopes = grads.slopes(metric, rescale_rows(np.vstack([weight @ v_a, null]), 1.0), np.ones((1, 24)))[0]
                (family if kind == "label" else pairing).append(two_sided_p(slopes[0], slopes[1:])[0])
        raw += family
        family_rejects.append(bool((adjust(family, "holm") < 0.05).any()))
    rate = float(np.mean(family_rejects))
    # Holm keeps the family-wise rate at or below 0.05 for valid p's: the count of rejecting pairs is
    # then at most Binomial(300, 0.05), above 18 (0.06) with probability 0.2 for a new seed; this
    # seed's count is fixed (seen: 0.04 at 150 pairs), and the raw p's are checked against uniform.
    assert rate <= 0.06, rate
    _assert_uniform(np.asarray(raw), "label permutation")
    _assert_uniform(np.asarray(pairing), "token pairing")


def test_pairing_draws_are_refits_on_re_paired_tokens():
    rng = np.random.default_rng(0)
    E_a, E_b = rng.normal(size=(50, 4)), rng.normal(size=(50, 6))
    v = rng.normal(size=4)
    for blocks in (1, 2):  # tokens once, or a token's two rows (input and output stacked)
        A, B = np.vstack([E_a] * blocks), np.vstack([E_b + k for k in range(blocks)])
        replicates = map_replicates(A, B, np.tile(np.arange(50), blocks), 0.0)
        draws = pairing_draws(replicates, v, 3, np.random.default_rng(5))
        inverse = np.random.default_rng(5).permuted(np.tile(np.arange(50), (3, 1)), axis=1)
        for perm, draw in zip(np.argsort(inverse, axis=1), draws):
            rows = np.concatenate([k * 50 + perm for k in range(blocks)])  # A row i paired with B row rows[i]
            np.testing.assert_allclose(draw, fit_linear_map(A, B[rows]).weight.numpy() @ v, atol=1e-10)


# --- the bootstrap ----------------------------------------------------------------------------


def test_bootstrap_recomputes_the_vectors(tokenizer):
    """A replicate's vector is the vector of its resampled passages (each repeated as often as drawn),
    for a text contrast and a token concept."""
    model = tiny_llama(len(tokenizer), 32, 2, seed=5)
    positive, negative = texts("news", 5, 7), texts("opinion", 4, 7)
    units = unit_activations(model, encode_texts(tokenizer, positive + negative, 64), 1, 4, n_positive=5)
    draws = with_point(passage_weights(units.passage_positive, 3, seed=0, key="c"))
    vectors = replicate_vectors(units, draws)
    torch.testing.assert_close(torch.from_numpy(vectors[0]).float(),
                               steering_vector(model, tokenizer, positive, negative, 1, 64, 4), atol=1e-5, rtol=1e-5)
    passages = positive + negative
    for r in range(1, 4):
        resampled = [t for t, k in zip(passages, draws[r]) for _ in range(int(k))]
        pos = [t for t in resampled if t in positive]
        neg = [t for t in resampled if t in negative]
        expected = steering_vector(model, tokenizer, pos, neg, 1, 64, 4)
        torch.testing.assert_close(torch.from_numpy(vectors[r]).float(), expected, atol=1e-5, rtol=1e-5)
        assert not np.allclose(vectors[r], vectors[0])  # a replicate is another vector
    context = texts("opinion", 6, 8)
    target = target_token_ids(tokenizer, POSITIVE_ADJ)
    tokens = unit_activations(model, encode_texts(tokenizer, context, 64), 1, 4, target_ids=target)
    draws = unit_weights(tokens.n_passages, 2, seed=0, key="t")
    vectors = replicate_vectors(tokens, draws)
    for r in (1, 2):
        resampled = [t for t, k in zip(context, draws[r]) for _ in range(int(k))]
        torch.testing.assert_close(torch.from_numpy(vectors[r]).float(),
                                   token_steering_vector(model, tokenizer, resampled, target, 1, 64, 4),
                                   atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("blocks", [False, True])
def test_map_replicates_are_refits_on_the_resampled_units(blocks):
    """A map replicate is the least-squares map refit on its draw of the units (rows repeated as often
    as drawn, centred on their own means): single rows (token pairs) or blocks of rows (passages)."""
    rng = np.random.default_rng(0)
    E_a = rng.normal(size=(120, 6)) * np.linspace(0.5, 2, 6)
    E_b = E_a @ rng.normal(size=(6, 9)) + rng.normal(size=(120, 9)) + 3.0
    unit = np.repeat(np.arange(30), 4) if blocks else np.arange(120)
    for ridge in (0.0, 0.1):
        replicates = map_replicates(E_a, E_b, unit, ridge)
        draws = unit_weights(replicates.n_units, 5, seed=1, key="units")
        for draw, weight in zip(draws, replicates.maps(draws)):
            rows = np.repeat(np.arange(120), draw[unit].astype(int))
            refit = fit_linear_map(E_a[rows], E_b[rows], ridge).weight.numpy()
            np.testing.assert_allclose(weight.numpy(), refit, atol=1e-9)
        # Row 0 of the draws (every unit once) is the map itself.
        np.testing.assert_allclose(next(replicates.maps(draws[:1])).numpy(),
                                   fit_linear_map(E_a, E_b, ridge).weight.numpy(), atol=1e-9)


# --- the ceiling ------------------------------------------------------------------------------


def test_the_ceiling_map_never_sees_the_vector_or_heldout_passages(model_dirs, tmp_path):
    """By passage id: the three sides of every subset share no document (no passage when there are
    fewer than three documents), and the hidden-state map is fit on the ceiling side's passages only."""
    documents = [f"doc{i} " + " ".join(f"w{i}x{j}" for j in range(40)) for i in range(7)]
    split = subset_texts(documents, passage_chars=60, per_side=5)
    docs = {side: {doc for doc, _ in split.ids[side]} for side in SIDES}
    assert not (docs["vector"] & docs["heldout"] or docs["vector"] & docs["ceiling"] or docs["heldout"] & docs["ceiling"])
    two = subset_texts(documents[:2], passage_chars=60, per_side=100)
    pieces = [set(two.ids[side]) for side in SIDES]
    assert all(pieces) and not (pieces[0] & pieces[1] or pieces[0] & pieces[2] or pieces[1] & pieces[2])

    paths, splits = {}, {}
    for subset, kind in (("news", "news"), ("opinion", "opinion")):
        path = tmp_path / f"{subset}.parquet"
        pd.DataFrame({"text": texts(kind, 30, 5, sentences=6)}).to_parquet(path)
        paths[subset] = str(path)
        splits[subset] = subset_texts(texts(kind, 30, 5, sentences=6), 120, 8)
    side_of = {text: (subset, side, pid) for subset, split in splits.items() for side in SIDES
               for text, pid in zip(getattr(split, side), split.ids[side])}
    concepts = build_concepts([{"name": "c", "kind": "contrast", "positive": "news", "negative": "opinion"},
                               {"name": "t", "kind": "tokens", "texts": "opinion", "tokens": POSITIVE_ADJ}],
                              paths, 120, 8)
    result = run_transfer(model_dirs["a"], model_dirs["b"], concepts, replace(CFG, map_variants=(), n_permutations=99))
    fit_ids = {side_of[t] for t in result.ceiling_texts}  # (subset, side, passage id)
    assert {side for _, side, _ in fit_ids} == {"ceiling"} and len(fit_ids) == 16  # 8 passages of each subset
    seen = {(side_of[t][0], side_of[t][2]) for c in concepts
            for t in c.positive + c.negative + c.heldout_positive + c.heldout_negative}
    assert not {(subset, pid) for subset, _, pid in fit_ids} & seen
    hidden = result.summary.set_index(["concept", "condition"]).loc[("c", "hidden_map")]
    # Its fit positions are those of the ceiling passages, its check positions the held-out ones.
    assert hidden.map_fit_unit == "positions" and hidden.n_map_fit == sum(
        len(ids) for ids in (encode_texts(load_model(model_dirs["a"])[1], result.ceiling_texts, CFG.max_length)))


# --- transfers with a known answer ------------------------------------------------------------


@pytest.fixture(scope="module")
def identical_dirs(model_dirs, tmp_path_factory):
    """Model a and a copy of it in another directory: two models (loaded apart), one function."""
    copy = tmp_path_factory.mktemp("runs") / "a_copy" / "model"
    shutil.copytree(model_dirs["a"], copy)
    return model_dirs["a"], copy


def test_identical_models_transfer_the_native_effect_within_its_interval(identical_dirs, concepts):
    result = run_transfer(*identical_dirs, concepts, CFG)
    for concept in ("news_vs_opinion", "positive_adj"):
        native = result.native.set_index("concept").loc[concept]
        for rows in ("output", "input", "both"):  # every map between identical models is the identity
            row = row_of(result.summary, concept, map_=rows)
            assert row.map_r2_heldout == pytest.approx(1.0) and row.map_top1_heldout == 1.0
            assert row.effect == pytest.approx(native.effect, rel=1e-4)
            assert native.effect_ci_low <= row.effect <= native.effect_ci_high
            assert row.effect_ci_low == pytest.approx(native.effect_ci_low, rel=1e-3)
            assert row.p_value == pytest.approx(native.p_value, abs=1e-9)  # the same relabellings
            assert row.transfer_ratio == pytest.approx(1.0, abs=1e-4)
            assert row.transfer_ratio_ci_low == pytest.approx(1.0, abs=1e-3)
            assert row.transfer_ratio_ci_high == pytest.approx(1.0, abs=1e-3)
        hidden = row_of(result.summary, concept, "hidden_map")
        assert hidden.map_r2_heldout == pytest.approx(1.0) and hidden.transfer_ratio == pytest.approx(1.0, abs=1e-3)
        assert row_of(result.summary, concept).ceiling_share == pytest.approx(1.0, abs=1e-3)
    # The token concept's native direction is far beyond its permutation null (first order holds for it).
    assert result.native.set_index("concept").loc["positive_adj", "p_value"] < 0.01


@pytest.fixture(scope="module")
def near_copy(model_dirs, tmp_path_factory):
    """Model a with every weight moved by Gaussian noise of 5 % of that weight matrix's spread: a second
    model whose two directions of transfer with a do not differ but for the draw of the noise."""
    model, tokenizer = load_model(model_dirs["a"])
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * param.std() * torch.randn(param.shape, generator=generator))
    return save(model, tokenizer, tmp_path_factory.mktemp("runs") / "a_near" / "model")


@pytest.fixture(scope="module")
def seed_pair(model_dirs, tokenizer, tmp_path_factory):
    """Model a (seed 1) and a model like it of another seed (2), trained the same way."""
    other = train(tiny_llama(len(tokenizer), 64, 2, seed=2), tokenizer, seed=2)
    return model_dirs["a"], save(other, tokenizer, tmp_path_factory.mktemp("runs") / "a_seed2" / "model")


def _both_ways(a, b, concepts) -> pd.DataFrame:
    """Both directions' default-map rows, with what the summary's paired comparison needs."""
    cfg = replace(CFG, map_variants=(), n_permutations=199)
    rows = []
    for source, target in ((a, b), (b, a)):
        summary = run_transfer(source, target, concepts, cfg, source=str(source), target=str(target)).summary
        rows.append(summary[summary["default_map"]])
    return pd.concat(rows, ignore_index=True)


def _overlap(one, two) -> bool:
    return one.transfer_ratio_ci_low <= two.transfer_ratio_ci_high and two.transfer_ratio_ci_low <= one.transfer_ratio_ci_high


def test_the_two_directions_of_a_pair_overlap_unless_they_differ(model_dirs, near_copy, seed_pair, concepts):
    """Intervals over everything that varies (vectors, maps, held-out passages; a held-out-only bootstrap
    gave +-0.01 and disjoint intervals for the two directions of one seed pair, issue 28):

    - two models that differ only by a small perturbation: neither direction is privileged, so the
      two directions' transfer ratios have overlapping intervals, and their paired difference
      (regeo.steering.summary.direction_difference: replicate r of both jobs resamples the same
      passages and tokens) contains 0;
    - two seeds, whose maps of a few hundred tokens differ: where their intervals do not overlap,
      the paired difference says that the directions really differ."""
    near = _both_ways(model_dirs["a"], near_copy, concepts)
    for concept, part in near.groupby("concept"):
        one, two = part.iloc[0], part.iloc[1]
        difference = direction_difference(one, two, 0.95)
        assert _overlap(one, two), (concept, one.transfer_ratio, two.transfer_ratio)
        assert difference["direction_difference_ci_low"] <= 0 <= difference["direction_difference_ci_high"], \
            (concept, difference)
    seeds = _both_ways(*seed_pair, concepts)
    for concept, part in seeds.groupby("concept"):
        one, two = part.iloc[0], part.iloc[1]
        difference = direction_difference(one, two, 0.95)
        assert _overlap(one, two) or difference["directions_differ"], (concept, difference)
