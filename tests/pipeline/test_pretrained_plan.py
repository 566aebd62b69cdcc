"""config/pretrained.yaml plans SmolLM2 beside the default's runs: its dump, its model for steering,
and the three steering pairs with it (onto itself, into and out of ne-tiny-s0), offline."""

from __future__ import annotations

import os
import re

import pytest
import yaml

from regeo.config import steering_pairs, validate_config
from regeo.steering.inject import layer_at_depth, match_layer
from snakemake_helpers import REPO, job_counts, snakemake, write_config
from snakemake_helpers import effective_config as merged_over_default

PRETRAINED = REPO / "config" / "pretrained.yaml"
SMOLLM2 = "smollm2-135m"
SMOLLM2_PAIRS = {(SMOLLM2, SMOLLM2), (SMOLLM2, "ne-tiny-s0"), ("ne-tiny-s0", SMOLLM2)}


def effective_config() -> dict:
    return merged_over_default(PRETRAINED)


@pytest.fixture(scope="module")
def plan(tmp_path_factory) -> str:
    workdir = tmp_path_factory.mktemp("pretrained-plan")
    write_config(workdir, base=PRETRAINED)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return (lambda proc: proc.stdout + proc.stderr)(snakemake(workdir, "--dry-run", env=env))


def _jobs(text: str, rule: str) -> list[str]:
    """The dry run's blocks of ``rule``'s jobs (from "rule NAME:" to the next blank line)."""
    return re.findall(rf"^rule {rule}:\n(.*?)(?:\n\s*\n|\Z)", text, flags=re.M | re.S)


def _planned_pairs(text: str) -> set[tuple[str, str]]:
    return {match for block in _jobs(text, "steering")
            for match in re.findall(r"wildcards: source=([^,\s]+), target=([^,\s]+)", block)}


def test_the_config_names_the_three_smollm2_pairs_beside_the_default_ones():
    cfg = effective_config()
    pairs = set(steering_pairs(cfg))
    default = set(steering_pairs(validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))))
    assert SMOLLM2_PAIRS <= pairs
    assert pairs - SMOLLM2_PAIRS == default  # the default's pairs stay in transfer.parquet


def test_the_default_pairs_keep_their_params_so_a_finished_default_reruns_none_of_them():
    """The pretrained settings are the SmolLM2 pairs' own: every default pair's steering params
    (what Snakemake compares for a rerun) are the same under both configs."""
    from regeo.rule_params import steering_params

    cfg = effective_config()
    default = validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    for source, target in steering_pairs(default):
        assert steering_params(cfg, source, target) == steering_params(default, source, target), (source, target)
    for source, target in SMOLLM2_PAIRS:
        params = steering_params(cfg, source, target)
        assert (params["texts_per_side"], params["max_length"], params["vector_skip_positions"]) == (12, 48, 1)


def test_smollm2_is_steered_at_the_middle_block_and_meets_a_tiny_model_there():
    depth = effective_config()["steering"]["layer_relative_depth"]
    assert layer_at_depth(depth, 30) == 14  # 15 of SmolLM2's 30 blocks passed
    assert match_layer(14, 30, 2) == 0 and match_layer(0, 2, 30) == 14


def test_the_plan_steers_smollm2_both_ways_and_onto_itself(plan):
    counts = job_counts(plan)
    cfg = effective_config()
    assert counts["steering"] == len(steering_pairs(cfg))
    assert SMOLLM2_PAIRS <= _planned_pairs(plan)
    assert counts["external_model"] == 1 and counts["external_dump_smollm2_135m"] == 1
    assert f"results/runs/{SMOLLM2}/model" in plan
    trained = [block for block in _jobs(plan, "train")]
    assert len(trained) == counts["train"] == 11 and not any(SMOLLM2 in block for block in trained)
