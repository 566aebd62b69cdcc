"""Steering-vector methods, the layer sweep, per-passage steerability and the transfer predictors
(issue 31): known answers on toy models with a planted direction, reference libraries on the same
input, and the default method's rows unchanged by the further methods."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression
from steering_models import WORDS, identity_llama, plant_at_layer, texts, word_tokenizer
from threadpoolctl import threadpool_limits

from regeo.config import schema_defaults
from regeo.io import RegeoInputError
from regeo.steering.bootstrap import passage_weights, with_point
from regeo.steering.concept_tables import concept_units
from regeo.steering.concepts import Concept
from regeo.steering.config import SteeringConfig
from regeo.steering.depth_sweep import depth_effects, sweep_layers
from regeo.steering.first_order import passage_gradients
from regeo.steering.inject import layer_at_depth
from regeo.steering.maps import pair_maps
from regeo.steering.methods import METHODS, coherence, method_vectors
from regeo.steering.next_token import sweep_passages
from regeo.steering.permutation import permutation_rng, permuted_vectors, relabellings
from regeo.steering.predictors import logit_lens_agreement, predictor_table
from regeo.steering.score import Heldout
from regeo.steering.steerability import (anti_steerable, first_order_passage_effects, steerability_columns,
                                         swept_passage_effects)
from regeo.steering.text import encode_texts
from regeo.steering.transfer import run_transfer

CFG = SteeringConfig.from_params({**schema_defaults("steering"), "device": "cpu", "alphas": [-1.0, 1.0],
                                  "n_null": 32, "bootstrap_replicates": 100, "n_generate": 0,
                                  "n_permutations": 199, "method_permutations": 99})
MARKER, FLIP = "marker", "flipmark"
D, LAYERS, PLANTED = 64, 4, 1  # the concept lives at block 1 of 4 (relative depth 0.5)


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(1):  # the machine's cores are shared: no BLAS thread pool fighting torch's one thread
        yield


@pytest.fixture(scope="module")
def marker_tokenizer():
    return word_tokenizer(WORDS + [MARKER, FLIP])


def _direction(seed: int = 5) -> torch.Tensor:
    u = torch.randn(D, generator=torch.Generator().manual_seed(seed))
    return u / u.norm()


@pytest.fixture(scope="module")
def planted(marker_tokenizer):
    """(model, tokenizer, u): blocks that write nothing, "marker" a copy of "the" in the input embedding,
    u written at the marker's positions at block PLANTED only, and read by the head: the marker's
    output row points along u, so adding u raises the marker's probability."""
    tok = marker_tokenizer
    model = identity_llama(tok, D, LAYERS, seed=2)
    u = _direction()
    ids = tok.get_vocab()
    with torch.no_grad():
        model.model.embed_tokens.weight[ids[MARKER]] = model.model.embed_tokens.weight[ids["the"]]
        model.lm_head.weight[ids[MARKER]] += 4.0 * u
    plant_at_layer(model, ids[MARKER], PLANTED, u, scale=20.0)
    for param in model.parameters():
        param.requires_grad_(False)
    return model, tok, u


def _marked(passages: list[str]) -> list[str]:
    return [" ".join(MARKER if w == "the" else w for w in p.split()) for p in passages]


def planted_concept() -> Concept:
    """Positive passages are the negative ones with "the" replaced by the marker: the same states at
    every layer but the planted one."""
    vector, heldout, ceiling = texts("news", 24, 1), texts("news", 16, 2), texts("news", 12, 3)
    return Concept.from_dict(dict(name="planted", positive=_marked(vector), negative=vector,
                                  heldout_positive=_marked(heldout), heldout_negative=heldout,
                                  ceiling=ceiling + _marked(ceiling)))


def cos(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_every_method_recovers_the_planted_direction(planted):
    model, tok, u = planted
    units = concept_units(model, tok, planted_concept(), PLANTED, CFG)
    mean_difference = units.vector()
    assert cos(mean_difference, u) > 0.999  # the states differ only along u at this layer
    for method in METHODS:
        vector = method_vectors(units, method, units.positive[None], probe_l2=CFG.probe_l2)[0]
        assert cos(vector, u) > 0.95, method  # oriented towards the positive side, not merely parallel
        assert np.linalg.norm(vector) == pytest.approx(np.linalg.norm(mean_difference))  # alphas comparable


def _units(seed: int, n_pos: int, n_neg: int, d: int = 6):
    """Synthetic text units: positives shifted along the first axis and stretched along the second."""
    from regeo.steering.activations import UnitActivations

    rng = np.random.default_rng(seed)
    means = rng.normal(size=(n_pos + n_neg, d))
    means[:n_pos, 0] += 1.5
    means[:, 1] *= 3.0
    counts = rng.integers(5, 20, size=n_pos + n_neg).astype(float)
    return UnitActivations(means * counts[:, None], counts, np.arange(n_pos + n_neg) < n_pos,
                           np.arange(n_pos + n_neg), "texts", n_pos + n_neg)


def test_pca_difference_is_the_first_component_of_every_cross_pair_difference():
    _check_pca(_units(0, 7, 11))  # sides of different sizes: every positive paired with every negative


@pytest.mark.parametrize("n_pos, n_neg, d", [(7, 11, 40), (100, 200, 150)], ids=["span", "lanczos"])
def test_pca_difference_at_every_width(n_pos, n_neg, d):
    """Fewer units than dimensions (the units' span) and a wide model (Lanczos on the moments)."""
    _check_pca(_units(4, n_pos, n_neg, d), weighted=False)


def _check_pca(units, weighted: bool = True):
    means = units.sums / units.counts[:, None]
    pos, neg = means[units.positive], means[~units.positive]
    differences = np.array([p - n for p, n in itertools.product(pos, neg)])
    reference = np.linalg.svd(differences, full_matrices=False)[2][0]  # uncentred first component
    vector = method_vectors(units, "pca_difference", units.positive[None])[0]
    assert abs(cos(vector, reference)) == pytest.approx(1.0, abs=1e-9)
    assert cos(vector, units.vector()) > 0  # signed towards the mean difference
    if not weighted:
        return
    # Passage weights are draw counts: a weight of 2 is the passage listed twice.
    weights = np.ones((1, units.n_passages))
    weights[0, [0, 9]] = 2
    doubled = np.vstack([pos, pos[:1]]), np.vstack([neg, neg[9 - 7:9 - 7 + 1]])
    reference = np.linalg.svd(np.array([p - n for p, n in itertools.product(*doubled)]), full_matrices=False)[2][0]
    weighted = method_vectors(units, "pca_difference", units.positive[None], weights)[0]
    assert abs(cos(weighted, reference)) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("direct", [True, False], ids=["newton", "newton-cg"])
def test_probe_is_scikit_learns_balanced_l2_logistic_regression(direct, monkeypatch):
    if not direct:  # wide models solve each Newton step by conjugate gradients
        monkeypatch.setattr("regeo.steering.methods.DIRECT_NEWTON", 2)
    units = _units(1, 9, 15)
    means = units.sums / units.counts[:, None]
    centred = means - means.mean(0)
    scaled = centred / np.sqrt((centred ** 2).mean())
    y = units.positive
    balance = np.where(y, 0.5 / y.sum(), 0.5 / (~y).sum())
    for l2 in (0.01, 1.0):
        # scikit-learn minimises C * sum(weight * loss) + |w|^2 / 2: C = 1 / l2 with weights summing to 1.
        reference = LogisticRegression(C=1 / l2, tol=1e-12, max_iter=100_000).fit(scaled, y, sample_weight=balance)
        vector = method_vectors(units, "probe", y[None], probe_l2=l2)[0]
        assert cos(vector, reference.coef_[0]) == pytest.approx(1.0, abs=1e-8)


def test_the_null_rebuilds_each_method_from_the_relabellings():
    units = _units(2, 10, 10)
    for method in METHODS:
        null = permuted_vectors(units, 50, 0, "c", method)
        labels = relabellings(units, 50, permutation_rng(0, "c"))
        assert np.allclose(null, method_vectors(units, method, labels))
        assert np.allclose(np.linalg.norm(null, axis=1), np.linalg.norm(units.vectors(labels), axis=1))


def test_config_checks_the_methods():
    with pytest.raises(RegeoInputError, match="methods"):
        SteeringConfig.from_params({**schema_defaults("steering"), "methods": ["probe", "mean_difference"]})
    with pytest.raises(RegeoInputError, match="methods"):
        SteeringConfig.from_params({**schema_defaults("steering"), "methods": ["lda"]})
    with pytest.raises(RegeoInputError, match="sweep_depths"):
        SteeringConfig.from_params({**schema_defaults("steering"), "sweep_depths": [0.0]})


def test_sweep_layers_skip_depths_on_the_same_blocks():
    assert sweep_layers([1.0, 0.25, 0.5, 0.75], 2, 4) == [(0.25, 0, 1), (0.75, 1, 3)]
    assert [layer for _, layer, _ in sweep_layers([0.25, 0.5, 0.75, 1.0], 4, 4)] == [0, 1, 2, 3]


def test_layer_sweep_peaks_where_the_concept_is_written(planted):
    model, tok, _ = planted
    concept = planted_concept()
    cfg = CFG
    layer = layer_at_depth(cfg.layer_relative_depth, LAYERS)
    ids = np.arange(len(tok))
    maps = pair_maps(model, tok, model, tok, ids, ids, [concept], layer, layer, cfg, "cpu")
    draws = with_point(passage_weights(np.zeros(maps.default.n_fit, dtype=bool), cfg.bootstrap_replicates, cfg.seed,
                                       "map tokens"))
    table = depth_effects(model, tok, model, tok, [concept], maps, draws, cfg, "cpu")
    assert sorted(table["layer_target"]) == [0, 0, 1, 1, 2, 2, 3, 3]
    for condition, rows in table.groupby("condition"):
        rows = rows.set_index("layer_target")
        # (No p is asserted: at the planted layer u is also the one direction along which the units vary,
        # so the relabelled vectors, rescaled to the native norm, point along +-u as well.)
        assert rows.loc[PLANTED, "effect"] > 0 and rows.loc[PLANTED, "effect_ci_low"] > 0
        assert rows["n_permutations"].eq(cfg.n_permutations).all()
        others = rows.drop(index=PLANTED)
        assert (others["effect"].abs() < 1e-6 * rows.loc[PLANTED, "effect"]).all(), condition  # no concept there
        assert (rows["best_depth"] == 0.5).all() and rows.loc[PLANTED, "is_best"] and rows["is_best"].sum() == 1
        assert (rows["best_depth_ci_low"] == 0.5).all() and (rows["best_depth_ci_high"] == 0.5).all()
        assert (rows["best_depth_share"] == 1.0).all()
        assert rows.loc[PLANTED, "best_effect"] == rows.loc[PLANTED, "effect"]


def test_anti_steerable_fraction_is_a_half_when_half_the_passages_flip(marker_tokenizer):
    """Passages with the flip mark read u with the opposite sign: steering along u moves them the wrong way."""
    tok = marker_tokenizer
    model = identity_llama(tok, D, 2, seed=3)
    u, ids = _direction(7), tok.get_vocab()
    with torch.no_grad():
        model.lm_head.weight[ids[MARKER]] += 6.0 * u

    def reflect(_module, args):  # before the final norm: u becomes -u in passages with the flip mark
        (hidden,) = args
        flip = state["flip"]  # (B, 1, 1)
        return (hidden - 2 * flip * (hidden @ u)[..., None] * u,)

    state = {}
    model.register_forward_pre_hook(lambda _m, args, kwargs: state.update(
        flip=(kwargs["input_ids"] == ids[FLIP]).any(1)[:, None, None].float()), with_kwargs=True)
    model.model.norm.register_forward_pre_hook(reflect)
    for param in model.parameters():
        param.requires_grad_(False)
    base = _marked(texts("news", 16, 4))
    flipped = [f"{FLIP} {t}" if i % 2 else t for i, t in enumerate(base)]
    # A token concept: the marker's log-odds at every position, which u raises and -u lowers.
    heldout = Heldout(positive=encode_texts(tok, flipped, 128), negative=[], target_ids=[ids[MARKER]])
    alphas = np.array([-1.0, 1.0])
    vector = (0.01 * u).numpy().astype(np.float64)
    grads = passage_gradients(model, 1, heldout, 8)
    measured = sweep_passages(model, heldout, [(torch.from_numpy(vector).float(), a) for a in alphas], 1, 8)
    swept = swept_passage_effects(grads.scores, measured.scores, alphas, "logodds")  # (P,)
    assert (np.sign(swept) == np.where(np.arange(16) % 2, -1, 1)).all()  # the flipped half moves the wrong way
    first = first_order_passage_effects(grads, "logodds", np.repeat(vector[None], 201, axis=0))  # (P, 1 + R)
    assert np.allclose(first[:, 0], swept, rtol=0.05)  # a small vector: first order holds
    weights = with_point(passage_weights(heldout.is_positive, 200, 0, "flip"))
    columns = steerability_columns(swept, first, weights, 0.95)
    assert columns["anti_steerable_fraction"] == 0.5
    assert columns["anti_steerable_fraction_ci_low"] < 0.5 < columns["anti_steerable_fraction_ci_high"]
    assert 0.15 < columns["anti_steerable_fraction_ci_low"] and columns["anti_steerable_fraction_ci_high"] < 0.85
    # Without the flipped half, nothing is anti-steerable.
    assert anti_steerable(swept[::2], np.ones((1, 8)))[0] == 0.0


def test_coherence_of_parallel_and_of_scattered_differences():
    units = _units(3, 8, 8)
    means = units.sums / units.counts[:, None]
    tight = means.copy()
    tight[units.positive] = tight[~units.positive].mean(0) + np.array([5.0, 0, 0, 0, 0, 0])
    from regeo.steering.activations import UnitActivations

    aligned = UnitActivations(tight * units.counts[:, None], units.counts, units.positive, units.block, "texts", 16)
    assert coherence(aligned, aligned.vector()) > coherence(units, units.vector()) > 0


def test_further_methods_leave_the_default_rows_as_they_were(model_dirs, concepts):
    only = SteeringConfig(**{**CFG.__dict__, "methods": ("mean_difference",), "sweep_depths": ()})
    base = run_transfer(model_dirs["a"], model_dirs["tied"], concepts, only, source="a", target="t")
    full = run_transfer(model_dirs["a"], model_dirs["tied"], concepts, CFG, source="a", target="t")
    for table in ("native", "summary"):
        before, after = getattr(base, table), getattr(full, table)
        after = after[after["method"] == "mean_difference"].reset_index(drop=True)
        columns = [c for c in before if c not in ("transfer_ratio_replicates",)]
        pd.testing.assert_frame_equal(before[columns], after[columns])
    assert set(full.native["method"]) == set(METHODS)
    further = full.summary[full.summary["method"] != "mean_difference"]
    assert set(further["condition"]) == {"transferred"} and further["default_map"].all()
    assert (further["n_permutations"] == CFG.method_permutations).all()
    for column in ("anti_steerable_fraction", "anti_steerable_fraction_ci_low", "anti_steerable_fraction_ci_high",
                   "coherence"):
        assert full.native[column].notna().all() and full.summary.loc[full.summary["condition"] != "shuffled_map",
                                                                      column].notna().all()
    assert not full.depth_effects.empty and set(full.depth_effects["condition"]) == {"native", "transferred"}
    assert set(full.passages["method"]) == set(METHODS)
    assert "positive_adj.native@probe" in full.vectors and "positive_adj.hidden_map@probe" not in full.vectors


def _transfer_rows(ratios: dict, r2: dict) -> pd.DataFrame:
    rows = []
    for (source, target), values in ratios.items():
        for concept, ratio in values.items():
            rows.append(dict(source=source, target=target, concept=concept, method="mean_difference",
                             default_map=True, transfer_ratio=ratio, map_r2_heldout=r2[source, target],
                             map_top1_heldout=0.5, confidence=0.95))
    return pd.DataFrame(rows)


def test_transfer_predictors_rank_correlation_and_pair_permutation():
    pairs = [("a", "b"), ("b", "a"), ("a", "c"), ("c", "a"), ("b", "c")]
    r2 = {p: 0.1 * (i + 1) for i, p in enumerate(pairs)}
    ratios = {p: {"x": r2[p], "y": 2 * r2[p]} for p in pairs}  # the ratio rises with R^2 in every concept
    table = predictor_table(_transfer_rows(ratios, r2), pd.DataFrame(), 10_000, 0, "holm").set_index("predictor")
    row = table.loc["map_r2_heldout"]
    rows = _transfer_rows(ratios, r2)
    assert row["rho"] == pytest.approx(spearmanr(rows["map_r2_heldout"], rows["transfer_ratio"])[0])
    # All 120 permutations of 5 pairs (exact), a pair's rows moving together: the identity's 119 others
    # are the null; only one other assignment of the pairs' R^2 ranks the ratios as well (up to sign).
    assert row["exhaustive"] and row["n_permutations"] == 119 and row["n_pairs"] == 5
    assert row["p_value"] == pytest.approx(2 / 120) and row["p_min"] <= row["p_value"]
    unrelated = {p: {"x": v, "y": v} for p, v in zip(pairs, [0.3, 0.1, 0.5, 0.2, 0.4])}
    loose = predictor_table(_transfer_rows(unrelated, r2), pd.DataFrame(), 10_000, 0, "holm").set_index("predictor")
    assert loose.loc["map_r2_heldout", "p_value"] > 0.2 and not loose.loc["map_r2_heldout", "significant"]
    assert np.isnan(table.loc["map_top1_heldout", "rho"])  # constant: no ranks to correlate
    assert table["family"].eq("transfer predictors").all() and (table["p_adjusted"].dropna() >= row["p_value"]).all()


def test_logit_lens_agreement_counts_shared_tokens():
    readings = pd.DataFrame(dict(source="a", target="b", concept="c", list="logit_lens",
                                 vector=["source_native"] * 4 + ["transferred"] * 4 + ["target_native"] * 4,
                                 token=list("wxyz") + list("wxpq") + list("abcd")))
    assert logit_lens_agreement(readings)["logit_lens_agreement"].tolist() == [0.5]
