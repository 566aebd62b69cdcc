"""training.save_models_at: whole models saved during training, for the harness over training (issue 30)."""

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from regeo.dumps import dump_name, step_model_name
from regeo.io import load_tensors
from regeo.train.config import EXECUTION_KEYS, TrainConfig
from regeo.train.job import step_models_dir
from regeo.train.loop import train
from train_helpers import micro_config, run_paths, write_token_files


@pytest.fixture(scope="module")
def token_files(tmp_path_factory, small_corpus, small_tokenizer):
    return write_token_files(tmp_path_factory.mktemp("tokens"), small_corpus, small_tokenizer)


def test_step_models_hold_the_state_of_their_step_and_change_nothing_else(tmp_path, token_files):
    plain, saving = tmp_path / "plain", tmp_path / "saving"
    train(micro_config(), *token_files, **run_paths(plain))
    cfg = micro_config(save_models_at=[40, 0, 20])
    assert cfg.save_models_at == (0, 20, 40) and cfg.fingerprint() == micro_config().fingerprint()
    assert "save_models_at" in EXECUTION_KEYS  # not a train param: naming steps reruns runs through outputs
    train(cfg, *token_files, **run_paths(saving), models_dir=saving / "models")
    assert sorted(p.name for p in (saving / "models").iterdir()) == [step_model_name(s) for s in (0, 20, 40)]
    for step in (0, 20, 40):  # the state before the step's update, as the dump of that step
        model = AutoModelForCausalLM.from_pretrained(saving / "models" / step_model_name(step), use_safetensors=True)
        dump = load_tensors(saving / "embeddings" / dump_name(step))
        assert torch.equal(model.get_input_embeddings().weight, dump["input"])
        assert torch.equal(model.get_output_embeddings().weight, dump["output"])
        assert (saving / "models" / step_model_name(step) / "tokenizer.json").is_file()
    for step in (0, 10, 20, 30, 40):  # the run itself is the same
        a, b = load_tensors(plain / "embeddings" / dump_name(step)), load_tensors(saving / "embeddings" / dump_name(step))
        assert torch.equal(a["input"], b["input"])
    assert (saving / "model" / "regeo_train_config.json").read_bytes() == \
        (plain / "model" / "regeo_train_config.json").read_bytes()
    assert json.loads((saving / "model" / "regeo_train_config.json").read_text()).get("save_models_at") is None
    assert not (saving / "state").exists()


def test_steps_past_the_run_are_refused_naming_the_key():
    with pytest.raises(ValueError, match=r"training.save_models_at: steps \[41\] are outside 0..training.steps = 40"):
        micro_config(save_models_at=[10, 41])
    with pytest.raises(ValueError, match="no models directory"):
        train(micro_config(save_models_at=[10]), "train.bin", "val.bin", "tok", **run_paths(Path("/nonexistent")))


def test_the_train_rule_passes_the_step_models_parent():
    assert step_models_dir([]) is None
    assert step_models_dir(["r/runs/a/models/step0000000", "r/runs/a/models/step0000010"]) == "r/runs/a/models"
    with pytest.raises(ValueError):
        step_models_dir(["a/models/step0000000", "b/models/step0000000"])
    assert isinstance(TrainConfig.__dataclass_fields__["save_models_at"].default, tuple)
