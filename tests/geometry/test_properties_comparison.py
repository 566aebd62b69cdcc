"""Rule properties_comparison: every final model on the tokens all of them saw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

from regeo.config import schema_defaults
from regeo.io import save_tensors
from regeo.stages.properties import properties_comparison

BOOT = {"replicates": 100, "seed": 0, "confidence": 0.9}
VOCAB, WIDTH = 120, 10


def _tokenizer(path, strings):
    vocab = {s: i for i, s in enumerate(strings)}
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token=strings[0])),
                                  unk_token=strings[0])
    tok.save_pretrained(path)
    return str(path)


def _counts(path, counts):
    pd.DataFrame({"token_id": np.arange(len(counts)), "count": counts}).to_parquet(path, index=False)
    return str(path)


def test_runs_are_measured_on_the_same_tokens_and_a_rotation_changes_no_invariant(tmp_path):
    rng = np.random.default_rng(0)
    strings = [f"w{i}" for i in range(VOCAB)]
    tokenizer = _tokenizer(tmp_path / "tok", strings)
    X = rng.normal(size=(VOCAB, WIDTH)) * np.linspace(3, 0.5, WIDTH) + 2.0  # anisotropic: an offset
    rotation, _ = np.linalg.qr(rng.normal(size=(WIDTH, WIDTH)))
    rogue = X.copy()
    rogue[:, 3] *= 50  # a rogue dimension
    counts_a, counts_b = np.full(VOCAB, 5), np.full(VOCAB, 5)
    counts_a[:30] = 0  # unseen by A
    counts_b[100:] = 0  # unseen by B
    runs = {}
    for name, subset, seed, matrix, counts in (("ne-micro-s0", "ne", 0, X, counts_a),
                                               ("NA-micro-s0", "NA", 0, X @ rotation, counts_b),
                                               ("OP-micro-s0", "OP", 0, rogue, counts_a)):
        dump = tmp_path / f"{name}.safetensors"
        save_tensors({"input": torch.tensor(matrix, dtype=torch.float32)}, dump)
        runs[name] = dict(subset=subset, preset="micro", seed=seed, dump=str(dump), tokenizer=tokenizer,
                          counts=_counts(tmp_path / f"{name}.parquet", counts))
    params = {**schema_defaults("geometry")["properties"], "min_count": 1, "null_seed": 0}
    table = properties_comparison(params, BOOT, runs, tmp_path / "out.parquet")
    assert pd.read_parquet(tmp_path / "out.parquet").equals(table)
    assert list(table.columns[:5]) == ["run", "subset", "preset", "seed", "embeddings"]
    assert (table["token_set"] == "common").all() and (table["n_tokens"] == 70).all()  # ids 30..99

    def value(run, prop):
        row = table[(table["run"] == run) & (table["property"] == prop)]
        assert len(row) == 1, (run, prop)
        return row.iloc[0]

    for prop in ("mean_cosine", "effective_rank", "participation_ratio"):
        assert np.isclose(value("ne-micro-s0", prop)["value"], value("NA-micro-s0", prop)["value"], rtol=1e-4), prop
    anisotropic = value("ne-micro-s0", "mean_cosine")
    assert anisotropic["value"] > 0.5 and anisotropic["ci_low"] <= anisotropic["value"] <= anisotropic["ci_high"]
    assert value("OP-micro-s0", "rogue_share_top1")["value"] > 0.9 > value("ne-micro-s0", "rogue_share_top1")["value"]
