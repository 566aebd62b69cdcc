"""Embedding dumps: names and steps, tied models recorded and resolved once, ID dynamics on a tied model."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from regeo.config import schema_defaults
from regeo.dumps import dump_name, dump_step, list_dumps, model_embeddings, read_dump, steps_of, write_dump
from regeo.io import RegeoInputError, save_tensors
from regeo.stages.id_dynamics import id_dynamics

# The schema's geometry.id section with small settings.
ID_PARAMS = {**schema_defaults("geometry")["id"], "ks": [5], "metrics": ["euclidean"], "estimators": ["mle", "twonn"],
             "local_pca_k": 5, "embeddings": ["input", "output"], "nulls": ["isotropic"]}
BOOT = {"replicates": 0, "seed": 0, "confidence": 0.95}


def tiny_model(tied: bool, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=120, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, tie_word_embeddings=tied)
    return LlamaForCausalLM(config)


def dump_model(model, directory, step: int) -> str:
    tensors, tied = model_embeddings(model)
    path = directory / dump_name(step)
    write_dump(tensors, path, metadata={"run": "r", "step": step, "tied": tied})
    return str(path)


def test_names_and_steps_round_trip(tmp_path):
    assert dump_name(1000) == "step0001000.safetensors"
    assert dump_step(tmp_path / dump_name(143000)) == 143000
    with pytest.raises(RegeoInputError, match="not an embedding dump name"):
        dump_step("model.safetensors")
    assert list(steps_of([f"x/{dump_name(s)}" for s in (50, 0, 8)])) == [0, 8, 50]
    with pytest.raises(RegeoInputError, match="two dumps of step 8"):
        steps_of(["a/" + dump_name(8), "b/" + dump_name(8)])


@pytest.mark.parametrize("tied", [True, False])
def test_tied_is_recorded_and_resolved(tmp_path, tied):
    model = tiny_model(tied)
    path = dump_model(model, tmp_path, 3)
    dump = read_dump(path)
    assert dump.tied is tied and dump.step == 3
    assert torch.equal(dump.input, model.get_input_embeddings().weight.detach())
    assert torch.equal(dump.output, model.get_output_embeddings().weight.detach())
    assert (dump.output is dump.input) is tied
    assert list(dump.matrices(["input", "output"])) == (["input"] if tied else ["input", "output"])
    assert list(list_dumps(tmp_path)) == [3]


def test_inconsistent_dumps_are_refused_by_name(tmp_path):
    tensors, _ = model_embeddings(tiny_model(tied=False))
    with pytest.raises(ValueError, match="must record 'tied'"):
        write_dump(tensors, tmp_path / dump_name(0), metadata={"step": 0})
    with pytest.raises(ValueError, match="tied dump must not hold an 'output'"):
        write_dump(tensors, tmp_path / dump_name(0), metadata={"step": 0, "tied": True})
    path = tmp_path / dump_name(1)
    save_tensors({"input": tensors["input"]}, path, metadata={"step": 1, "tied": False})  # an untied dump without output
    with pytest.raises(RegeoInputError, match=f"{path}: metadata says tied=False"):
        read_dump(path)


def test_id_dynamics_analyses_a_tied_output_matrix_once(tmp_path):
    """A tied model's output matrix is its input matrix: one set of rows, labelled input."""
    dumps = [dump_model(tiny_model(tied=True, seed=step), tmp_path, step) for step in (0, 4)]
    table_path, tokens_path = tmp_path / "id.parquet", tmp_path / "id.tokens.parquet"
    id_dynamics(ID_PARAMS, BOOT, "r", "ne", dumps, None, None, table_path, tokens_path)
    table, tokens = pd.read_parquet(table_path), pd.read_parquet(tokens_path)
    assert set(table["embeddings"]) == {"input"} and set(tokens["embeddings"]) == {"input"}
    assert len(table) == 2 * 2  # steps x (mle k=5, twonn)
    assert len(tokens) == 120  # the last dump's tokens, once


def test_id_dynamics_analyses_both_matrices_of_an_untied_model(tmp_path):
    dumps = [dump_model(tiny_model(tied=False, seed=step), tmp_path, step) for step in (0, 4)]
    id_dynamics(ID_PARAMS, BOOT, "r", "ne", dumps, None, None, tmp_path / "id.parquet", tmp_path / "id.tokens.parquet")
    table = pd.read_parquet(tmp_path / "id.parquet")
    assert table.groupby("embeddings").size().to_dict() == {"input": 4, "output": 4}
