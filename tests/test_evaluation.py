"""Evaluation in nats per token and bits per byte, for trained and external runs alike."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from regeo.external import external_run
from regeo.figures.heatmap import cross_register_measure, plot_cross_register
from regeo.io import write_json, write_parquet
from regeo.loss import loss_totals
from regeo.stages import external as external_stage
from regeo.stages.evaluation import cross_register_eval
from regeo.tokens import encode_documents
from regeo.tokenizer import gpt2_tokenizer, token_byte_lengths
from regeo.tokens import encode_documents, write_tokens

sys.path.insert(0, str(Path(__file__).parent / "external"))
from tiny_models import tiny_llama, tiny_tokenizer  # noqa: E402

TOY = "Café au lait — naïve news from 東京, said the reporter.\nThe old town square sings."


def test_byte_lengths_of_byte_level_tokens_add_up_to_the_utf8_text():
    for tokenizer in (gpt2_tokenizer(), tiny_tokenizer()):
        lengths = token_byte_lengths(tokenizer)
        ids = tokenizer.encode(TOY)
        assert lengths[ids].sum() == len(TOY.encode("utf-8"))  # 東京 is 6 bytes over several tokens
        assert lengths[tokenizer.eos_token_id] == 0


def test_bits_per_byte_is_nats_per_token_times_tokens_over_bytes_over_ln2():
    tokenizer = tiny_tokenizer()
    model = tiny_llama(len(tokenizer), seed=3)
    ids = np.asarray(tokenizer.encode(TOY * 3), dtype=np.int64)
    lengths = token_byte_lengths(tokenizer)
    totals = loss_totals(model, ids, batch_size=2, seq_len=16, max_batches=None, device=torch.device("cpu"),
                         autocast=None, token_bytes=lengths)
    n_windows = (len(ids) - 1) // 16
    targets = np.concatenate([ids[i * 16 + 1:i * 16 + 17] for i in range(n_windows)])
    with torch.no_grad():  # the same windows by hand
        x = torch.from_numpy(np.stack([ids[i * 16:i * 16 + 16] for i in range(n_windows)]))
        nats = torch.nn.functional.cross_entropy(model(x).logits.flatten(0, 1), torch.from_numpy(targets),
                                                 reduction="sum").item()
    assert totals.tokens == len(targets) and totals.bytes == lengths[targets].sum()
    assert totals.nats_per_token == pytest.approx(nats / len(targets), rel=1e-5)
    assert totals.bits_per_byte == pytest.approx(nats / len(targets) * len(targets) / totals.bytes / math.log(2),
                                                 rel=1e-5)


def test_trained_and_external_runs_are_evaluated_on_the_same_documents(tmp_path):
    shared = tiny_tokenizer()
    shared.save_pretrained(tmp_path / "tokenizer")
    trained = tiny_llama(len(shared), seed=1)
    trained.save_pretrained(tmp_path / "runs" / "a-tiny-s0" / "model")
    # the external model's tokenizer is another one: GPT-2's
    gpt2 = gpt2_tokenizer()
    external_dir = tmp_path / "ext-model"
    tiny_llama(len(gpt2), seed=2).save_pretrained(external_dir)
    gpt2.save_pretrained(external_dir)
    settings = external_run({"name": "ext", "model": str(external_dir), "steps": [0]}).settings()
    out = tmp_path / "runs" / "ext"
    external_stage.dump_external_run(settings, [str(out / "embeddings" / "step0000000.safetensors")],
                                     out / "tokenizer", out / "state")
    texts = [TOY, "the crowd sings lyrics about rain and light " * 4, "recipes and reviews of films " * 5]
    write_parquet(pd.DataFrame({"text": texts}), tmp_path / "val.parquet")
    ids = encode_documents(shared, texts, 120, "val")
    meta = {"val": write_tokens(ids, len(shared), tmp_path / "val.bin")}
    write_json(meta, tmp_path / "meta.json")
    runs = {"a-tiny-s0": {"subset": "a", "preset": "tiny", "seed": 0},
            "ext": {"subset": "ext", "preset": "external", "seed": 0}}
    params = {"device": "cpu", "batch_size": 2, "seq_len": 16, "max_batches": None}
    cross_register_eval(params, {"a-tiny-s0": str(tmp_path / "runs" / "a-tiny-s0" / "model")}, runs,
                        {"a": str(tmp_path / "val.bin")}, tmp_path / "eval.parquet", tokenizer_dir=tmp_path / "tokenizer",
                        external={"ext": {"settings": settings, "tokenizer": str(out / "tokenizer")}},
                        val_docs={"a": str(tmp_path / "val.parquet")})
    table = pd.read_parquet(tmp_path / "eval.parquet").set_index("run")
    assert list(table["tokenizer"]) == ["shared", "ext"]
    # the external run read every document in its own ids: their bytes, less the last target's
    gpt2_ids = encode_documents(gpt2, texts, None, "val")
    n = (len(gpt2_ids) - 1) // 16 * 16
    assert table.loc["ext", "tokens"] == n
    assert table.loc["ext", "bytes"] == token_byte_lengths(gpt2)[gpt2_ids[1:n + 1]].sum()
    for run in table.index:
        row = table.loc[run]
        assert row["bits_per_byte"] == pytest.approx(row["loss"] * row["tokens"] / row["bytes"] / math.log(2))
        # an untrained model is near uniform over its vocabulary
        assert row["loss"] == pytest.approx(math.log(len(shared) if run != "ext" else len(gpt2)), rel=0.05)
    assert cross_register_measure(table.reset_index()) == ("bits_per_byte", "bits/byte")
    assert cross_register_measure(table.reset_index().iloc[:1]) == ("loss", "nats/token")
    plot_cross_register(table.reset_index())
