"""The config dataclasses take what the rules pass: the schema writes every default once."""

import dataclasses

import pytest

from regeo.config import schema_defaults
from regeo.io import RegeoInputError
from regeo.train.config import TrainConfig


def test_train_config_takes_the_whole_training_section():
    training = schema_defaults("training")
    cfg = TrainConfig.from_params("ne-tiny-s0", "tiny", {"hidden_size": 8}, 0, training)
    assert cfg.lr == training["lr"] == 3e-3 and cfg.steps == 300
    # Every key of the section is a field, or the run table's (runs, presets).
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"run", "preset", "model", "seed", "data_seed"}
    assert fields | {"runs", "presets"} == set(training)


def test_the_train_rules_params_leave_the_execution_settings_out():
    """The params of a default run are what they were before the execution settings existed (no
    finished run reruns), and the train script adds those settings back."""
    from regeo.train.config import EXECUTION_KEYS, rule_training_params, with_execution_settings

    training = schema_defaults("training")
    params = rule_training_params(training)
    assert set(params) == {"steps", "batch_size", "seq_len", "lr", "min_lr_ratio", "warmup_steps", "weight_decay",
                           "grad_clip", "checkpoint_every", "eval_every", "eval_batches", "state_every", "device",
                           "precision", "threads"}
    rule = {"run": "ne-tiny-s0", "preset": "tiny", "seed": 0, "model": {"hidden_size": 8}, "training": params}
    restored = with_execution_settings(rule, dict(training, compile=True))
    assert restored["training"] == {k: v for k, v in dict(training, compile=True).items()
                                    if k not in ("runs", "presets")}
    assert set(restored["training"]) - set(params) == set(EXECUTION_KEYS)
    cfg = TrainConfig.from_params(restored["run"], restored["preset"], restored["model"], restored["seed"],
                                  restored["training"])
    assert cfg.compile is True and cfg.fingerprint() == TrainConfig.from_params(
        "ne-tiny-s0", "tiny", {"hidden_size": 8}, 0, training).fingerprint()


def test_train_config_refuses_unknown_and_missing_keys():
    training = schema_defaults("training")
    with pytest.raises(RegeoInputError, match=r"unknown key training\.optimizer"):
        TrainConfig.from_params("r", "tiny", {}, 0, dict(training, optimizer="sgd"))
    with pytest.raises(RegeoInputError, match=r"unknown key training\.seed"):  # the run's, not the section's
        TrainConfig.from_params("r", "tiny", {}, 0, dict(training, seed=1))
    del training["lr"]
    with pytest.raises(RegeoInputError, match=r"missing training\.lr"):
        TrainConfig.from_params("r", "tiny", {}, 0, training)


def test_schema_defaults_names_unknown_sections():
    with pytest.raises(KeyError, match="no config section 'trainer'"):
        schema_defaults("trainer")


def test_steering_config_takes_the_steering_section():
    from regeo.steering.config import PIPELINE_KEYS, SteeringConfig, pair_job_params

    section = schema_defaults("steering")
    cfg = SteeringConfig.from_params(section)
    assert cfg.alphas == (-4.0, -2.0, -1.0, 1.0, 2.0, 4.0) and all(isinstance(a, float) for a in cfg.alphas)
    assert cfg.n_null == section["n_null"] and cfg.device == "auto"
    # The pair job's keys: SteeringConfig's fields, the concepts and passages, the map's token filter.
    assert {f.name for f in dataclasses.fields(SteeringConfig)} | {"concepts", "passage_chars", "texts_per_side",
                                                                    "min_count"} | set(PIPELINE_KEYS) == set(section)
    assert set(pair_job_params(section)) == set(section) - set(PIPELINE_KEYS)
    with pytest.raises(RegeoInputError, match=r"unknown key steering\.alpha;"):
        SteeringConfig.from_params(dict(section, alpha=[1]))


def test_tokenizer_labeling_and_classifier_configs_take_their_sections():
    from regeo.data.classifier import ClassifierConfig
    from regeo.registers import LabelingRules
    from regeo.tokenizer import TokenizerConfig

    tokenizer = schema_defaults("tokenizer")
    assert TokenizerConfig.from_params(tokenizer).vocab_size == 4096
    # The tokenizer rule passes only the kind's own keys.
    assert TokenizerConfig.from_params({"kind": "gpt2", "gpt2_source": "package"}).vocab_size is None
    with pytest.raises(RegeoInputError, match=r"tokenizer kind 'bpe' needs tokenizer\.sample_chars"):
        TokenizerConfig.from_params({"kind": "bpe", "vocab_size": 300})
    with pytest.raises(RegeoInputError, match=r"unknown key tokenizer\.vocab;"):
        TokenizerConfig.from_params(dict(tokenizer, vocab=1))

    registers = schema_defaults("registers")
    rules = LabelingRules.from_params(registers)
    assert rules.threshold == 0.4 and rules.keep_hybrids == ("HI-IN",)
    with pytest.raises(RegeoInputError, match=r"unknown key registers\.treshold"):
        LabelingRules.from_params(dict(registers, treshold=0.5))

    classifier = ClassifierConfig.from_params(registers, device="cpu")
    assert (classifier.model, classifier.batch_size) == (registers["classifier_model"], 64)
    with pytest.raises(RegeoInputError, match=r"unknown key registers\.model;"):  # the field's name is not a key
        ClassifierConfig.from_params(dict(registers, model="x"))
    with pytest.raises(RegeoInputError, match="batch_size come from the config"):
        ClassifierConfig.from_params(registers, batch_size=8)


def test_fineweb_config_takes_the_corpus_section():
    from regeo.data.fineweb import FineWebConfig

    corpus = dict(schema_defaults("corpus"), source="hub", max_documents=10)
    cfg = FineWebConfig.from_params(corpus)
    assert (cfg.dataset, cfg.name, cfg.source_name) == ("HuggingFaceFW/fineweb", "sample-10BT", None)
    with pytest.raises(RegeoInputError, match=r"unknown key corpus\.source_name"):
        FineWebConfig.from_params(dict(corpus, source_name="x"))
