"""The hub switched off for one call, and on again after it."""

from __future__ import annotations

import os

import datasets
import datasets.config
import huggingface_hub.constants
import pytest

from regeo.harness.offline import hub_offline


def _state():
    return (huggingface_hub.constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE,
            os.environ.get("HF_HUB_OFFLINE"), os.environ.get("HF_DATASETS_OFFLINE"))


def test_a_hub_dataset_fails_at_once_inside_and_the_settings_come_back_after():
    before = _state()
    with pytest.raises(Exception, match="OfflineModeIsEnabled|offline"):
        with hub_offline(True):
            assert _state() == (True, True, "1", "1")
            datasets.load_dataset("regeo-no-such-user/no-such-dataset")
    assert _state() == before
    with hub_offline(False):
        assert _state() == before
