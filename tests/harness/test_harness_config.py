"""The harness section: its defaults in the schema, taken whole by the dataclasses of its jobs."""

from __future__ import annotations

import dataclasses

import pytest

from regeo.config import ConfigError, schema_defaults, validate_config
from regeo.harness.config import PIPELINE_KEYS, HarnessConfig, next_sentence_spec
from regeo.harness.local_tasks import LOCAL_TASKS
from regeo.harness.next_sentence import NextSentenceSpec
from regeo.io import RegeoInputError


def test_the_jobs_take_the_whole_harness_section():
    section = schema_defaults("harness")
    cfg = HarnessConfig.from_params(section)
    assert cfg.tasks == tuple(LOCAL_TASKS) and cfg.offline is True and cfg.num_fewshot == 0
    assert {f.name for f in dataclasses.fields(HarnessConfig)} | {"local_tasks", *PIPELINE_KEYS} == set(section)
    spec = next_sentence_spec(section["local_tasks"])
    assert dataclasses.asdict(spec) == section["local_tasks"]
    with pytest.raises(RegeoInputError, match=r"unknown key harness\.task;"):
        HarnessConfig.from_params(dict(section, task=["hellaswag"]))
    with pytest.raises(RegeoInputError, match=r"missing harness\.local_tasks\.seed"):
        next_sentence_spec({k: v for k, v in section["local_tasks"].items() if k != "seed"})
    assert {f.name for f in dataclasses.fields(NextSentenceSpec)} == set(section["local_tasks"])


def test_the_schema_refuses_unknown_harness_keys():
    with pytest.raises(ConfigError, match=r"config\.harness\.local_tasks: Additional properties"):
        validate_config({"harness": {"local_tasks": {"sentences": 2}}})
    with pytest.raises(ConfigError, match=r"config\.harness\.num_fewshot: -1"):
        validate_config({"harness": {"num_fewshot": -1}})
    assert validate_config({"harness": {"tasks": ["hellaswag"], "offline": False}})["harness"]["limit"] is None
