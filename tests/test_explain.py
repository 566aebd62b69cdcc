"""regeo explain and regeo id on a toy run whose embeddings are built so the readings are known."""

import json
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from regeo.cli import main
from regeo.dumps import dump_name, write_dump
from regeo.explain import open_space, parse_expression
from regeo.io import save_tensors, write_parquet
from regeo.tokenizer import train_bpe

WORDS = ["said", "says", "told", "film", "news", "sport", "rare"]
D = 16


def _unit(i: int) -> np.ndarray:
    e = np.zeros(D, dtype=np.float32)
    e[i] = 1.0
    return e


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """results/ with a tokenizer, a count table, and run toy-tiny-s0: a random step-0 dump and a
    final dump + model whose rows put ' says' next to ' said' and ' film' in the lens of ' said'."""
    root = tmp_path_factory.mktemp("explain") / "results"
    texts = [" ".join(WORDS[(i + j) % len(WORDS)] for j in range(30)) for i in range(40)]
    tok = train_bpe(texts, vocab_size=300)
    tok.save_pretrained(root / "tokenizer")
    ids = {w: tok.encode(" " + w, add_special_tokens=False) for w in WORDS}
    assert all(len(v) == 1 for v in ids.values()), ids
    ids = {w: v[0] for w, v in ids.items()}
    V = len(tok)
    rng = np.random.default_rng(0)
    inp = (0.01 * rng.standard_normal((V, D))).astype(np.float32)
    out = (0.01 * rng.standard_normal((V, D))).astype(np.float32)
    inp[ids["said"]] = _unit(0)
    inp[ids["says"]] = _unit(0) + 0.1 * _unit(1)
    inp[ids["told"]] = _unit(0) + 0.5 * _unit(2)
    inp[ids["rare"]] = _unit(0)  # identical to ' said', but never in the training data
    inp[ids["film"]] = _unit(3)
    inp[ids["news"]] = _unit(0) + _unit(3)
    inp[ids["sport"]] = _unit(3) + 0.1 * _unit(1)
    out[ids["film"]] = 10 * _unit(0)
    counts = np.ones(V, dtype=np.int64)
    counts[ids["rare"]] = 0
    write_parquet(pd.DataFrame({"token_id": np.arange(V), "count": counts}), root / "tokens/toy/counts.parquet")
    run = root / "runs/toy-tiny-s0"
    write_dump({"input": torch.randn(V, D), "output": torch.randn(V, D)}, run / "embeddings" / dump_name(0),
               {"run": "toy-tiny-s0", "step": 0, "tied": False})
    final = {"input": torch.from_numpy(inp), "output": torch.from_numpy(out)}
    write_dump(final, run / "embeddings" / dump_name(10), {"run": "toy-tiny-s0", "step": 10, "tied": False})
    model = LlamaForCausalLM(LlamaConfig(vocab_size=V, hidden_size=D, num_hidden_layers=1, num_attention_heads=2,
                                         intermediate_size=32, tie_word_embeddings=False))
    model.get_input_embeddings().weight.data.copy_(final["input"])
    model.get_output_embeddings().weight.data.copy_(final["output"])
    model.save_pretrained(run / "model")
    save_tensors({"vector": torch.from_numpy(3 * _unit(0))}, root / "said.safetensors",
                 metadata={"run": "toy-tiny-s0", "layer": 1})
    return root


def explain(results, capsys, *args):
    assert main(["explain", "--results", str(results), "--run", "toy-tiny-s0", "--subset", "toy", "--json", "--k", "3",
                 *args]) == 0
    return json.loads(capsys.readouterr().out)


def tokens(reading, key):
    return [r["token"] for r in reading[key]]


def test_token_reading_is_the_built_neighbour_and_lens(results, capsys):
    reading = explain(results, capsys, "--token", " said")
    # ' rare' has the same row as ' said' but is unseen: the token set leaves it out
    assert tokens(reading, "nearest")[:2] == [" says", " told"]
    assert reading["nearest"][0]["cosine"] == pytest.approx(1 / np.sqrt(1.01), abs=1e-6)
    assert tokens(reading, "logit_lens")[0] == " film" and reading["logit_lens"][0]["prob"] > 0.5
    assert reading["lens_norm"].startswith("final RMSNorm") and reading["token_set"] == "seen"
    everything = explain(results, capsys, "--token", " said", "--min-count", "0", "--keep-query")
    assert set(tokens(everything, "nearest")[:2]) == {" said", " rare"}


def test_text_hidden_state_at_layer_0_is_the_last_tokens_embedding(results, capsys):
    reading = explain(results, capsys, "--text", " film said", "--layer", "0")
    assert tokens(reading, "nearest")[:3] == [" said", " says", " told"]
    assert tokens(reading, "logit_lens")[0] == " film"


def test_between_expression_and_vector_file(results, capsys):
    assert tokens(explain(results, capsys, "--between", " said", " film", "--t", "0.5"), "nearest")[0] == " news"
    assert tokens(explain(results, capsys, "--expr", '" says" - " said" + " film"'), "nearest")[0] == " sport"
    reading = explain(results, capsys, "--vector", str(results / "said.safetensors"))
    assert tokens(reading, "nearest")[0] == " said" and tokens(reading, "logit_lens")[0] == " film"
    assert "layer 1" in reading["vector"]["description"]
    # the steering stage's layout: several named vectors in one file
    save_tensors({"c.native": torch.from_numpy(3 * _unit(3)), "c.source": torch.zeros(8)},
                 results / "pair.safetensors", metadata={"source": "a", "target": "toy-tiny-s0"})
    named = explain(results, capsys, "--vector", str(results / "pair.safetensors"), "--vector-name", "c.native")
    assert tokens(named, "nearest")[0] == " film"
    assert main(["explain", "--results", str(results), "--run", "toy-tiny-s0", "--vector",
                 str(results / "pair.safetensors")]) == 2
    assert "c.native, c.source" in capsys.readouterr().err


def test_an_earlier_dump_has_no_model(results, capsys):
    reading = explain(results, capsys, "--step", "0", "--token", " said")
    assert reading["step"] == 0 and reading["lens_norm"].startswith("RMS only")
    assert main(["explain", "--results", str(results), "--run", "toy-tiny-s0", "--step", "0",
                 "--text", "said", "--layer", "0"]) == 2
    assert "no model of this step" in capsys.readouterr().err


def test_errors_name_the_problem(results, capsys):
    assert main(["explain", "--results", str(results), "--run", "toy-tiny-s0", "--token", "said film"]) == 2
    assert "not one" in capsys.readouterr().err
    assert main(["explain", "--results", str(results), "--run", "nope", "--token", " said"]) == 2
    assert "toy-tiny-s0" in capsys.readouterr().err
    with pytest.raises(Exception, match="cannot read"):
        parse_expression('" a" " b"')
    assert parse_expression('" a" - 0.5 * @v.st') == [(1.0, "token", " a"), (-0.5, "vector", "v.st")]


def test_the_table_output_is_readable(results, capsys):
    assert main(["explain", "--results", str(results), "--run", "toy-tiny-s0", "--subset", "toy", "--token", " said",
                 "--k", "2"]) == 0
    text = capsys.readouterr().out
    assert "nearest tokens" in text and "logit lens" in text and "' says'" in text and "' film'" in text
    # The subset's counts give the seen rows; without a subset (an external run) every row counts.
    assert open_space(results, "toy-tiny-s0", subset="toy").seen.sum() == open_space(
        results, "toy-tiny-s0", subset="toy").input.shape[0] - 1
    assert open_space(results, "toy-tiny-s0").seen is None
    with pytest.raises(Exception, match="no token counts of subset 'nope'"):
        open_space(results, "toy-tiny-s0", subset="nope")


def test_id_of_a_matrix_on_a_plane_is_two_with_nulls(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((800, 2)) @ rng.standard_normal((2, 12))  # a 2-D plane in R^12
    np.save(tmp_path / "m.npy", X)
    assert main(["id", str(tmp_path / "m.npy"), "--ks", "10", "--replicates", "100", "--json"]) == 0
    table = pd.DataFrame(json.loads(capsys.readouterr().out)).set_index("estimator")
    assert table.loc["mle", "value"] == pytest.approx(2.0, abs=0.3)
    assert table.loc["mle", "ci_low"] <= table.loc["mle", "value"] <= table.loc["mle", "ci_high"]
    assert table.loc["mle", "null_isotropic"] > 8  # noise of the same shape fills far more dimensions
    save_tensors({"input": torch.from_numpy(X).float()}, tmp_path / "m.safetensors")
    assert main(["id", str(tmp_path / "m.safetensors"), "--ks", "10", "--replicates", "0", "--no-nulls"]) == 0
    assert "mle" in capsys.readouterr().out


def test_regeo_is_a_console_script():
    text = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert '[project.scripts]\nregeo = "regeo.cli:main"' in text
