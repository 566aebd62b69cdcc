"""Judged generations: the register judge moves with a register vector, the paired tests give
their known answers, and the cards join, adjust and carry what the pair tables hold."""

import numpy as np
import pandas as pd
import pytest

from regeo.steering.cards import CARRIED_COLUMNS, build_cards, card_alpha
from regeo.steering.concepts import Concept
from regeo.steering.judge_config import JudgeConfig
from regeo.steering.judged import concept_prompts, greedy_batch, judge_concept
from regeo.steering.judges import TfidfJudge, class_labels, heldout_accuracy
from regeo.steering.paired import paired_change, sign_flip_test
from regeo.steering.score import greedy_continuation
from regeo.steering.transfer import load_model
from regeo.steering.vectors import steering_vector
from regeo.io import RegeoInputError

from steering_models import texts

SHARED = {"prompt_tokens": 4, "max_length": 40, "batch_size": 8, "bootstrap_replicates": 200, "confidence": 0.95,
          "seed": 0}


def judge_settings(**overrides) -> JudgeConfig:
    values = dict(judge="tfidf", alphas=(4.0,), vectors=("native", "negated"), n_prompts=8, max_new_tokens=12,
                  train_passages=100, sign_flips=999)
    return JudgeConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def register_judge():
    """news vs opinion, fit on texts of their own seeds (the held-out ones below are others)."""
    return TfidfJudge(["news", "opinion"]).fit({"news": texts("news", 60, 50), "opinion": texts("opinion", 60, 50)})


def test_tfidf_judge_tells_the_registers_apart(register_judge):
    accuracy = heldout_accuracy(register_judge, {"news": texts("news", 30, 51), "opinion": texts("opinion", 30, 51)})
    assert accuracy["accuracy"] == 1.0 and accuracy["n_heldout"] == 60
    scores = register_judge.scores(["i think the film was wonderful .", "the minister said the deal today ."])
    assert scores.shape == (2, 2) and scores[0, 1] > 0.5 > scores[1, 1]
    np.testing.assert_allclose(scores.sum(1), 1.0)


def test_the_judge_moves_towards_a_planted_register_vector(model_dirs, register_judge):
    """A model trained on news and opinion, steered at block 0 by its own opinion-minus-news vector
    from news prompts: the judge's probability of opinion rises for every prompt, and the negated
    vector does not raise it."""
    model, tokenizer = load_model(model_dirs["a"])
    vector = steering_vector(model, tokenizer, texts("opinion", 20, 1), texts("news", 20, 1), layer=0)
    concept = Concept(name="opinion", positive=texts("opinion", 20, 1), negative=texts("news", 20, 1),
                      heldout_positive=texts("opinion", 16, 2), heldout_negative=texts("news", 16, 2))
    rows, records = judge_concept(model, tokenizer, concept, {"native": vector, "negated": -vector}, 0, SHARED,
                                  judge_settings(), register_judge, positive_index=1)
    table = pd.DataFrame(rows).set_index(["vector", "measure"])
    planted = table.loc[("native", "concept")]
    assert planted["reference"] < 0.5 < planted["value"]  # news prompts continue as news unsteered
    assert planted["change"] > 0.3 and planted["change_ci_low"] > 0
    assert planted["p_value"] == pytest.approx(2 / 256) == planted["p_min"]  # every prompt moved one way
    assert table.loc[("negated", "concept"), "change"] < 0.05
    # Text the model does not expect costs fluency and capability.
    assert table.loc[("native", "fluency"), "change"] > 0
    assert table.loc[("native", "loss"), "change"] > 0 and table.loc[("native", "loss"), "unit"] == "passage"
    assert len(records) == 8 * 3 and {r["vector"] for r in records} == {"none", "native", "negated"}


def test_batched_greedy_decoding_is_the_pair_jobs_greedy_decoding(model_dirs, tokenizer):
    model, _ = load_model(model_dirs["a"])
    concept = Concept(name="c", positive=["x"], negative=["y"], heldout_negative=texts("news", 6, 2))
    prompts = concept_prompts(tokenizer, concept, 5, 4, 40)
    assert len(prompts) == 5 and {len(p) for p in prompts} == {4}
    batched = greedy_batch(model, prompts, 10, eos_id=None)
    assert batched == [greedy_continuation(model, p, 10, eos_id=None) for p in prompts]


def test_sign_flip_test_known_answers():
    # All 2^8 patterns: the observed sum is the largest |sum|, tied only by its negation.
    result = sign_flip_test(np.ones(8), 999, 0)
    assert result["flips_exact"] and result["n_flips"] == 255
    assert result["p_value"] == pytest.approx(2 / 256) == result["p_min"]
    # d = (1, -1, 0, 0): |sum| 0; every pattern is at least as large: p = 1.
    assert sign_flip_test(np.array([1.0, -1.0, 0.0, 0.0]), 999, 0)["p_value"] == 1.0
    # d = (3, 1, 1): |sum| 5 is reached by (+,+,+) and (-,-,-) only, of 8 patterns.
    assert sign_flip_test(np.array([3.0, 1.0, 1.0]), 999, 0)["p_value"] == pytest.approx(2 / 8)
    # Too many units to enumerate: random flips, p (1 + b) / (1 + B).
    drawn = sign_flip_test(np.ones(20), 499, 0)
    assert not drawn["flips_exact"] and drawn["n_flips"] == 499 and drawn["p_value"] == pytest.approx(1 / 500, abs=2e-3)


def test_paired_change_is_the_change_of_ratios_on_the_same_replicates():
    values, reference, tokens = np.array([2.0, 4.0, 6.0]), np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])
    weights = np.array([[1.0, 1.0, 1.0], [3.0, 0.0, 0.0], [0.0, 0.0, 3.0]])  # the sample, then two replicates
    out = paired_change(values, reference, tokens, weights, 0.95, 99, 0)
    assert out["value"] == pytest.approx(2.0) and out["reference"] == pytest.approx(1.0)
    assert out["change"] == pytest.approx(1.0)
    assert out["change_ci_low"] == pytest.approx(1.0) and out["change_ci_high"] == pytest.approx(1.0)


def test_judge_config_and_classifier_classes():
    with pytest.raises(RegeoInputError, match="alphas"):
        judge_settings(alphas=(0.0,))
    with pytest.raises(RegeoInputError, match="vectors"):
        judge_settings(vectors=("source",))
    assert JudgeConfig.from_params({"judge": "tfidf", "alphas": [2, 4], "vectors": ["native"], "n_prompts": 8,
                                    "max_new_tokens": 16, "train_passages": 400, "sign_flips": 1999}).alphas == (2, 4)
    assert class_labels("ne") == ("ne",) and class_labels("HI-IN") == ("HI", "IN")
    with pytest.raises(RegeoInputError, match="tfidf"):
        class_labels("HI-IN_HI_dtp")


def _judged_rows(source, target, vector, change_p):
    return [{"source": source, "target": target, "concept": "c", "vector": vector, "alpha": alpha, "measure": m,
             "change": 0.1, "change_ci_low": 0.0, "change_ci_high": 0.2, "value": 0.6, "reference": 0.5,
             "p_value": change_p, "p_min": 2 / 256, "n_units": 8, "judge": "tfidf", "judge_accuracy": 0.9,
             "layer_target": 0, "confidence": 0.95}
            for alpha in (2.0, 4.0) for m in ("concept", "fluency", "loss")]


def test_cards_join_effects_carry_present_columns_and_adjust_each_test_once():
    judged = pd.DataFrame(_judged_rows("a", "b", "native", 0.01) + _judged_rows("a", "b", "transferred", 0.01)
                          + _judged_rows("c", "b", "native", 0.01) + _judged_rows("c", "b", "transferred", 0.01)
                          + _judged_rows("b", "b", "native", 0.01) + _judged_rows("b", "b", "transferred", 0.01))
    native = pd.DataFrame([{"target": "b", "concept": "c", "effect": 0.5, "effect_ci_low": 0.4, "effect_ci_high": 0.6,
                            "p_adjusted": 0.01, "significant": True, "anti_steerable_fraction": 0.2,
                            "anti_steerable_fraction_ci_low": 0.1, "anti_steerable_fraction_ci_high": 0.3}])
    transfer = pd.DataFrame([{"source": s, "target": "b", "concept": "c", "condition": cond, "map": m,
                              "default_map": d, "effect": e, "effect_ci_low": e - 0.1, "effect_ci_high": e + 0.1,
                              "p_adjusted": 0.02, "significant": True}
                             for s in ("a", "c", "b") for cond, m, d, e in
                             (("transferred", "output", True, 0.3), ("transferred", "input", False, 0.1),
                              ("hidden_map", "hidden_states", False, 0.4))])
    cards = build_cards(judged, transfer, native, "holm").set_index(["source", "vector"])
    assert card_alpha(judged["alpha"]) == 4.0 and (cards["alpha"] == 4.0).all()
    assert cards.loc[("a", "transferred"), "effect"] == pytest.approx(0.3)  # the default map's row
    assert cards.loc[("a", "native"), "effect"] == pytest.approx(0.5)
    assert cards.loc[("a", "native"), "anti_steerable_fraction"] == pytest.approx(0.2)  # present: carried
    assert "coherence" not in cards and CARRIED_COLUMNS[-1] == "coherence"  # absent: left out
    # Family: a->b and c->b transferred, b's native once: 3 vectors x 3 measures = 9 tests.
    assert (cards["n_tests"] == 9).all()
    assert cards.loc[("a", "transferred"), "concept_p_adjusted"] == pytest.approx(0.09)
    assert cards.loc[("c", "native"), "concept_p_adjusted"] == cards.loc[("a", "native"), "concept_p_adjusted"]
    assert np.isnan(cards.loc[("b", "transferred"), "concept_p_adjusted"])  # self-transfer: not a test
    assert not cards["concept_significant"].any()  # 9 x 0.01: Holm leaves none below 0.05


def test_cards_without_carried_columns():
    judged = pd.DataFrame(_judged_rows("a", "b", "native", 0.5))
    native = pd.DataFrame([{"target": "b", "concept": "c", "effect": 0.5, "effect_ci_low": 0.4,
                            "effect_ci_high": 0.6, "p_adjusted": 0.01, "significant": True}])
    cards = build_cards(judged, pd.DataFrame(), native, "bh")
    assert not set(CARRIED_COLUMNS) & set(cards.columns)
    assert cards["concept_p_adjusted"].iloc[0] == pytest.approx(0.5) and not cards["concept_significant"].iloc[0]


def test_classifier_judge_is_the_data_stages_classifier(tmp_path):
    """The classifier judge on the data stage's stand-in model (tests/data): a register class's score
    is its label's probability from regeo.data.classifier.classify, a hybrid's the weaker of its two."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "data"))
    from test_classifier import save_classifier  # the stand-in XLM-R with TurkuNLP's labels

    from regeo.config import schema_defaults
    from regeo.data.classifier import classify
    from regeo.registers import METHOD_KEYS
    from regeo.steering.judges import make_judge

    registers = {**schema_defaults("registers"), "classifier_model": str(save_classifier(tmp_path / "clf")),
                 "classifier_tokenizer": None, "classifier_batch_size": 3}
    params = {key: registers[key] for key in METHOD_KEYS["classifier"]}
    judge = make_judge("classifier", ["ne", "OP", "HI-IN"], None, params)
    docs = ["the news of the review", "how to cook", "", "we tested a recipe and the matches in it"]
    scores = judge.scores(docs)
    table = classify(pd.DataFrame({"doc_id": list("abcd"), "text": docs}),
                     judge.config, progress=False)
    np.testing.assert_allclose(scores[:, 0], table["prob_ne"], atol=1e-5)  # other batches, other padding: float noise only
    np.testing.assert_allclose(scores[:, 1], table["prob_OP"], atol=1e-5)  # other batches, other padding: float noise only
    np.testing.assert_allclose(scores[:, 2], np.minimum(table["prob_HI"], table["prob_IN"]), atol=1e-5)  # other batches, other padding: float noise only
