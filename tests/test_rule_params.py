"""One owner per config section: each rule's params are its owner's keys, every key has an owner,
and the owners' own checks fail the dry run, not a job hours in."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import yaml

from regeo import rule_params
from regeo.config import ConfigError, section_keys, validate_config
from regeo.params import owned_keys

sys.path.insert(0, str(Path(__file__).parent / "pipeline"))
from snakemake_helpers import REPO, snakemake, write_config  # noqa: E402


def default_config() -> dict:
    return validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))


def test_each_rules_params_are_exactly_its_owners_keys():
    from regeo.data.classifier import RENAME, ClassifierConfig
    from regeo.data.subsets import SubsetSpec
    from regeo.registers import METHOD_KEYS, LabelingRules
    from regeo.steering.config import PIPELINE_KEYS, SteeringConfig
    from regeo.tokenizer import KIND_FIELDS
    from regeo.train.config import EXECUTION_KEYS, RUN_FIELDS, TrainConfig

    cfg = default_config()
    assert set(rule_params.labeling_params(cfg)) == set(owned_keys(LabelingRules))
    assert set(rule_params.subset_params(cfg)) == set(owned_keys(SubsetSpec, given=("name", "shares"))) & set(
        section_keys("subsets"))
    classifier = rule_params.probability_params({**cfg, "registers": {**cfg["registers"], "method": "classifier"}})
    assert set(classifier) - {"method"} == set(owned_keys(ClassifierConfig, rename=RENAME)) & set(
        section_keys("registers")) == set(METHOD_KEYS["classifier"])
    for kind in KIND_FIELDS:
        params = rule_params.tokenizer_params({**cfg, "tokenizer": {**cfg["tokenizer"], "kind": kind}})
        assert set(params) == {"kind", *KIND_FIELDS[kind]}
    run_name, run = next(iter(rule_params.runs(cfg).items()))
    training = rule_params.train_params(cfg, run, run_name)["training"]
    assert set(training) | set(EXECUTION_KEYS) == set(owned_keys(TrainConfig, given=RUN_FIELDS))
    from regeo.runs import steering_pairs

    steering = rule_params.steering_params(cfg, *steering_pairs(cfg)[0])
    assert set(steering) == set(section_keys("steering")) - set(PIPELINE_KEYS)
    from regeo.harness.config import HarnessConfig

    assert set(rule_params.harness_params(cfg)) == set(owned_keys(HarnessConfig))
    assert set(rule_params.harness_task_params(cfg)) == {"local_tasks", "tasks"}
    assert {f.name for f in dataclasses.fields(SteeringConfig)} <= set(steering)


def test_every_key_of_the_owned_sections_has_one_owner():
    """The schema's keys of each section = its owners' keys + the keys the workflow reads itself,
    with no key claimed twice."""
    from regeo.data.classifier import RENAME, ClassifierConfig
    from regeo.data.fineweb import FineWebConfig
    from regeo.data.subsets import SubsetSpec
    from regeo.harness.config import HarnessConfig
    from regeo.registers import METHOD_KEYS, LabelingRules
    from regeo.steering.config import PIPELINE_KEYS
    from regeo.tokenizer import TokenizerConfig
    from regeo.train.config import RUN_FIELDS, TrainConfig

    owners = {
        "corpus": [owned_keys(FineWebConfig, given=("source_name",)), ["builtin_sources"]],
        "registers": [owned_keys(LabelingRules), ["method"],
                      *[keys for method, keys in METHOD_KEYS.items() if method != "classifier"],
                      owned_keys(ClassifierConfig, rename=RENAME, given=[f.name for f in dataclasses.fields(
                          ClassifierConfig) if f.name not in RENAME.values()])],
        "subsets": [owned_keys(SubsetSpec, given=("name", "shares", "margin")), ["registers", "mixes"]],
        "tokenizer": [owned_keys(TokenizerConfig)],
        "training": [owned_keys(TrainConfig, given=RUN_FIELDS), ["runs", "presets"]],
        "steering": [set(section_keys("steering")) - set(PIPELINE_KEYS), PIPELINE_KEYS],
        "harness": [owned_keys(HarnessConfig), ["local_tasks"]],
    }
    for section, claims in owners.items():
        keys = [key for claim in claims for key in claim]
        assert len(keys) == len(set(keys)), (section, sorted(k for k in keys if keys.count(k) > 1))
        assert set(keys) == set(section_keys(section)), section


@pytest.mark.parametrize("change, named", [
    ({"steering": {"bootstrap_replicates": 50}}, "bootstrap_replicates"),
    ({"steering": {"null_checks": 10, "kl_null_draws": 60}}, "kl_null_draws"),
    ({"steering": {"pairs": [{"source": "ne-tiny-s0", "target": "ne-tiny-s1", "settings": {"max_length": 1}}]}},
     r"pairs\[0\]\.settings"),
    ({"steering": {"pairs": [{"source": "ne-tiny-s0", "target": "ne-tiny-s1", "settings": {"threads": 2}}]}},
     "'threads' cannot be set per pair"),
    ({"training": {"warmup_steps": 10_000}}, "training.warmup_steps"),
    ({"registers": {"method": "classifier", "classifier_batch_size": 0}}, "classifier_batch_size"),
    ({"harness": {"tasks": ["regeo_next_sentence_same_subset", "hellaswg"]}},
     r"config\.harness\.tasks\[1\]: unknown task 'hellaswg'"),
    ({"harness": {"local_tasks": {"max_sentence_chars": 500}}}, r"max_sentence_chars: 500 characters are about 167 tokens"),
    ({"harness": {"tasks": ["hellaswag"]}}, r"config\.harness\.tasks\[0\]: task 'hellaswag' reads its data from the hub"),
])
def test_an_owners_check_fails_the_validation(change, named):
    raw = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for section, values in change.items():
        raw.setdefault(section, {}).update(values)
    with pytest.raises(ConfigError, match=named):
        validate_config(raw)


SECTIONS = ["corpus", "registers", "subsets", "tokenizer", "training", "geometry", "evaluation", "steering",
            "analyses", "figures"]


@pytest.mark.slow
@pytest.mark.parametrize("change, named", [
    ({"steering": {"bootstrap_replicates": 50}}, ["config.steering: .*'bootstrap_replicates'"]),
    ({"steering": {"null_checks": 10, "kl_null_draws": 60}}, ["config.steering: .*'kl_null_draws'"]),
    # an unknown key in every section at once: one dry run names each of them
    ({section: {"no_such_key": 1} for section in SECTIONS},
     [rf"config\.{section}: .*'no_such_key' was unexpected" for section in SECTIONS]),
], ids=["steering.bootstrap_replicates", "steering.kl_null_draws", "unknown key in every section"])
def test_the_dry_run_fails_naming_the_key(tmp_path, change, named):
    import re

    write_config(tmp_path, change)
    proc = snakemake(tmp_path, "--dry-run", check=False)
    assert proc.returncode != 0
    for pattern in named:
        assert re.search(pattern, proc.stdout + proc.stderr), (pattern, (proc.stdout + proc.stderr)[-3000:])
