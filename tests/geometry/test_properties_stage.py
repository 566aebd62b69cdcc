"""Rule properties' stage: the ID table's token sets per dump, intervals on the chosen dumps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from regeo.config import schema_defaults
from regeo.dumps import dump_name, write_dump
from regeo.io import write_json
from regeo.stages.properties import properties
from regeo.token_sets import seen_by_dump

VOCAB = 300
STEPS = [0, 1, 2, 4, 8, 16]
SCHEDULE = {"seed": 0, "batch_size": 2, "seq_len": 8, "steps": STEPS}
BOOT = {"replicates": 100, "seed": 0, "confidence": 0.9}


def suite_params(**overrides) -> dict:
    return {**schema_defaults("geometry")["properties"], "min_count": 1, "null_seed": 0, **overrides}


def write_tokens(directory):
    tokens = np.random.default_rng(1).zipf(1.3, size=20000) % VOCAB
    path = directory / "train.bin"
    tokens.astype(np.uint16).tofile(path)
    write_json({"vocab_size": VOCAB, "train": {"dtype": "uint16", "n_tokens": len(tokens)}}, directory / "meta.json")
    counts = np.bincount(tokens, minlength=VOCAB)
    pd.DataFrame({"token_id": np.arange(VOCAB), "count": counts}).to_parquet(directory / "counts.parquet")
    return path, directory / "counts.parquet"


def write_dumps(directory, tied: bool, steps=STEPS) -> list[str]:
    rng = np.random.default_rng(2)
    paths = []
    for step in steps:
        tensors = {"input": torch.from_numpy(rng.normal(size=(VOCAB, 12)).astype(np.float32))}
        if not tied:
            tensors["output"] = torch.from_numpy(rng.normal(size=(VOCAB, 12)).astype(np.float32))
        path = directory / dump_name(step)
        write_dump(tensors, path, metadata={"step": step, "tied": tied})
        paths.append(str(path))
    return paths


def test_a_trained_run_uses_the_seen_tokens_of_each_dump(tmp_path):
    train_bin, counts = write_tokens(tmp_path)
    dumps = write_dumps(tmp_path, tied=False)
    properties(suite_params(), BOOT, "ne-micro-s0", "ne", dumps, SCHEDULE, train_bin, counts, tmp_path / "p.parquet")
    table = pd.read_parquet(tmp_path / "p.parquet")
    masks = seen_by_dump(SCHEDULE, train_bin, VOCAB, 1)
    assert list(table.columns[:4]) == ["run", "subset", "step", "embeddings"]
    assert list(table.columns[-2:]) == ["token_set", "n_tokens"]
    assert (table["token_set"] == "seen_by_step").all() and set(table["embeddings"]) == {"input", "output"}
    per_step = table.groupby("step")["n_tokens"].first()
    assert per_step.tolist() == [int(masks[s].sum()) for s in STEPS]
    # every step lists the same properties; step 0 has no seen token, so its values are NaN
    names = table.groupby(["step", "embeddings"])["property"].apply(tuple)
    assert names.nunique() == 1 and "norm_frequency_spearman" in names.iloc[0]
    assert table.loc[table["step"] == 0, "value"].isna().all()
    assert table.loc[table["step"] == 16, "value"].notna().all()
    # intervals on the final dump only (the default interval_dumps)
    with_intervals = table.groupby("step")["ci_low"].apply(lambda c: c.notna().any())
    assert with_intervals.to_dict() == {s: s == 16 for s in STEPS}
    final = table[(table["step"] == 16) & (table["property"] == "isoscore")].iloc[0]
    assert final["ci_low"] <= final["ci_high"] and final["null_isotropic"] > 0.5


def test_interval_dumps_all_gives_every_analysed_dump_intervals(tmp_path):
    train_bin, counts = write_tokens(tmp_path)
    dumps = write_dumps(tmp_path, tied=True)
    properties(suite_params(interval_dumps="all", nulls=[]), BOOT, "r", "ne", dumps, SCHEDULE, train_bin, counts,
               tmp_path / "p.parquet")
    table = pd.read_parquet(tmp_path / "p.parquet")
    assert set(table["embeddings"]) == {"input"}  # tied: the output matrix is the input
    analysed = table[table["n_tokens"] >= 3]
    assert analysed["ci_low"].notna().any() and analysed.groupby("step")["ci_low"].count().gt(0).all()
    assert table["null_isotropic"].isna().all()


def test_an_external_run_analyses_every_row_without_counts(tmp_path):
    dumps = write_dumps(tmp_path, tied=True, steps=[0, 100])
    properties(suite_params(), BOOT, "ext", "external", dumps, None, None, None, tmp_path / "p.parquet")
    table = pd.read_parquet(tmp_path / "p.parquet")
    assert (table["token_set"] == "all").all() and (table["n_tokens"] == VOCAB).all()
    assert "norm_frequency_spearman" not in set(table["property"])
    assert table["value"].notna().all()


def test_dumps_off_the_schedule_are_an_input_error(tmp_path):
    from regeo.io import RegeoInputError

    train_bin, counts = write_tokens(tmp_path)
    dumps = write_dumps(tmp_path, tied=True, steps=[0, 1])
    with pytest.raises(RegeoInputError, match="schedule"):
        properties(suite_params(), BOOT, "r", "ne", dumps, SCHEDULE, train_bin, counts, tmp_path / "p.parquet")


def test_the_figure_draws_a_panel_per_property_over_training(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from regeo.stages.figures import properties_over_training

    train_bin, counts = write_tokens(tmp_path)
    dumps = write_dumps(tmp_path, tied=False)
    runs, tables = {}, []
    for seed in (0, 1):
        run = f"ne-micro-s{seed}"
        runs[run] = {"subset": "ne", "preset": "micro", "seed": seed}
        tables.append(tmp_path / f"{run}.parquet")
        properties(suite_params(), BOOT, run, "ne", dumps, SCHEDULE, train_bin, counts, tables[-1])
    properties_over_training(tables, runs, tmp_path / "f.pdf", tmp_path / "f.png", 50)
    assert (tmp_path / "f.pdf").stat().st_size > 0 and (tmp_path / "f.png").stat().st_size > 0
