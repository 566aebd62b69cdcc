"""An external run's save_models_at: its checkpoints at those steps saved whole for the harness over
training (issue 30), on revisioned stand-ins."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM

from regeo.config import ConfigError, validate_config
from regeo.external import external_run, save_final_model, step_models_at
from tiny_models import save_revisions, tiny_tokenizer

REPO = Path(__file__).resolve().parents[2]
STEPS = [0, 1, 2, 4]


@pytest.fixture(scope="module")
def revisions(tmp_path_factory):
    tokenizer = tiny_tokenizer()
    root = tmp_path_factory.mktemp("tiny-neox")
    tokenizer.save_pretrained(root / "tokenizer")
    return save_revisions(root, STEPS, tokenizer=tokenizer), root / "tokenizer"


def test_a_step_model_is_that_revision_and_the_final_model_the_last(revisions, tmp_path):
    dirs, tokenizer_dir = revisions
    settings = external_run({"name": "ext", "model": str(dirs[0].parent / "step{step}"), "steps": STEPS}).settings()
    save_final_model(settings, str(tokenizer_dir), tmp_path / "step2", step=2)
    save_final_model(settings, str(tokenizer_dir), tmp_path / "final")
    for out, step in ((tmp_path / "step2", 2), (tmp_path / "final", 4)):
        saved = AutoModelForCausalLM.from_pretrained(out, use_safetensors=True)
        original = AutoModelForCausalLM.from_pretrained(dirs[step])
        for (name, a), (_, b) in zip(saved.state_dict().items(), original.state_dict().items()):
            assert torch.equal(a, b), (step, name)
        assert (out / "tokenizer.json").is_file()


def _config(entry: dict) -> dict:
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["external"] = [entry]
    return cfg


def test_save_models_at_must_name_the_runs_steps():
    entry = {"name": "ext", "model": "org/m", "steps": [0, 10, 20], "save_models_at": [20, 10]}
    assert step_models_at(validate_config(_config(entry))["external"][0]) == (10, 20)
    assert step_models_at(validate_config(_config({**entry, "save_models_at": []}))["external"][0]) == ()
    with pytest.raises(ConfigError, match=r"config.external\[0\].save_models_at: steps \[5\] are not among"):
        validate_config(_config({**entry, "save_models_at": [5, 10]}))
    # the dumps' params do not carry it: adding steps reruns no dump job
    assert "save_models_at" not in external_run(entry).settings()
