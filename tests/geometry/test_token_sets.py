"""Token sets of the geometry stages: per-dump input counts, and every run on the same tokens."""

from __future__ import annotations

import numpy as np
import pytest
import pandas as pd
import torch

from regeo.config import schema_defaults
from regeo.dumps import dump_name, write_dump
from regeo.io import write_json
from regeo.stages.id_comparison import id_comparison_table
from regeo.stages.id_dynamics import id_dynamics
from regeo.tokenizer import train_bpe
from regeo.train.data import input_counts, train_batch
from regeo.token_sets import seen_by_dump

# The schema's geometry.id section with small settings.
ID_PARAMS = {**schema_defaults("geometry")["id"], "ks": [5], "metrics": ["euclidean"], "estimators": ["mle", "twonn"],
             "local_pca_k": 5, "embeddings": ["input"], "nulls": ["isotropic", "covariance"]}
BOOT = {"replicates": 100, "seed": 0, "confidence": 0.95}


def test_input_counts_replay_the_batches():
    tokens = np.random.default_rng(0).integers(0, 50, size=5000).astype(np.uint16)
    steps = [0, 1, 2, 4, 10, 25]
    counts = input_counts(tokens, steps, seed=3, batch_size=4, seq_len=16, vocab_size=50)
    expected, running = [], np.zeros(50, dtype=np.int64)
    for step in range(26):
        if step in steps:
            expected.append(running.copy())
        x, _ = train_batch(tokens, step, 3, 4, 16)
        running += np.bincount(x.numpy().ravel(), minlength=50)
    np.testing.assert_array_equal(counts, np.stack(expected))
    assert counts[0].sum() == 0  # the dump at step 0 precedes every update
    assert (np.diff(counts, axis=0) >= 0).all()  # counts only grow


def write_tokens(directory, tokens: np.ndarray, vocab_size: int):
    path = directory / "train.bin"
    tokens.astype(np.uint16).tofile(path)
    write_json({"vocab_size": vocab_size, "train": {"dtype": "uint16", "n_tokens": len(tokens)}}, directory / "meta.json")
    return path, directory / "meta.json"


def test_seen_sets_per_dump_start_empty_and_grow(tmp_path):
    tokens = np.random.default_rng(1).zipf(1.3, size=20000) % 300
    train_bin, meta = write_tokens(tmp_path, tokens, 300)
    steps = [0, 1, 2, 4, 8, 16]
    schedule = {"seed": 0, "batch_size": 2, "seq_len": 8, "steps": steps}
    masks = seen_by_dump(schedule, train_bin, 300, min_count=1)
    sizes = [int(masks[s].sum()) for s in steps]
    assert sizes[0] == 0 and sizes == sorted(sizes) and sizes[-1] > sizes[1]
    for a, b in zip(steps, steps[1:]):
        assert not (masks[a] & ~masks[b]).any()  # a token seen by one dump stays seen

    rng = np.random.default_rng(2)
    dumps = []
    for step in steps:
        path = tmp_path / dump_name(step)
        write_dump({"input": torch.from_numpy(rng.normal(size=(300, 8)).astype(np.float32))}, path,
                   metadata={"step": step, "tied": True})
        dumps.append(str(path))
    id_dynamics(ID_PARAMS, BOOT, "r", "ne", dumps, schedule, train_bin, tmp_path / "id.parquet",
                tmp_path / "id.tokens.parquet")
    table = pd.read_parquet(tmp_path / "id.parquet")
    mle = table[table["estimator"] == "mle"].set_index("step")
    assert mle["n_tokens"].tolist() == sizes
    assert mle["value"].isna().tolist() == [n < 7 for n in sizes]  # too few tokens for k = 5: NaN, n recorded
    analysed = mle[mle["value"].notna()]
    assert len(analysed) >= 2 and (analysed["null_isotropic"] > 0).all()
    tokens_table = pd.read_parquet(tmp_path / "id.tokens.parquet")
    np.testing.assert_array_equal(tokens_table["token_id"], np.flatnonzero(masks[16]))


def test_id_comparison_analyses_every_run_on_the_same_tokens(tmp_path):
    texts = ["the cat sat on the mat", "a dog ran in the park", "news of the day"] * 30
    tokenizer = train_bpe(texts, vocab_size=120)
    tokenizer.save_pretrained(tmp_path / "tok")
    vocab = len(tokenizer)
    rng = np.random.default_rng(3)
    runs = {}
    for i, (subset, seed) in enumerate((("ne", 0), ("ne", 1), ("NA", 0))):
        counts = rng.integers(0, 4, size=vocab)
        pd.DataFrame({"token_id": np.arange(vocab), "count": counts}).to_parquet(tmp_path / f"c{i}.parquet")
        path = tmp_path / f"d{i}.safetensors"
        write_dump({"input": torch.from_numpy(rng.normal(size=(vocab, 8)).astype(np.float32))}, path,
                   metadata={"step": 10, "tied": True})
        runs[f"{subset}-micro-s{seed}"] = dict(subset=subset, preset="micro", seed=seed, dump=str(path),
                                               tokenizer=str(tmp_path / "tok"), counts=str(tmp_path / f"c{i}.parquet"))
    common = np.ones(vocab, dtype=bool)
    for i in range(3):
        common &= pd.read_parquet(tmp_path / f"c{i}.parquet")["count"].to_numpy() >= 1
    table = id_comparison_table({**ID_PARAMS, "embeddings": ["input", "output"]}, BOOT, runs, tmp_path / "c.parquet",
                                tmp_path / "d.parquet", tmp_path / "s.parquet")
    strata = pd.read_parquet(tmp_path / "s.parquet")
    assert sorted(strata["run"].unique()) == sorted(runs) and (strata["token_set"] == "frequency_strata").all()
    assert strata["n_tokens"].nunique() == 1 and 0 < strata["n_tokens"].iloc[0] <= common.sum()
    differences = pd.read_parquet(tmp_path / "d.parquet")
    assert set(zip(differences["subset_a"], differences["subset_b"])) == {("NA", "ne")}
    assert len(differences) == table.groupby(["metric", "estimator", "k"]).ngroups
    mle = table[(table["estimator"] == "mle") & (table["metric"] == "euclidean")]
    row = differences[(differences["estimator"] == "mle") & (differences["metric"] == "euclidean")].iloc[0]
    means = mle.groupby("subset")["value"].mean()
    assert row["difference"] == pytest.approx(means["NA"] - means["ne"]) and row["ci_low"] <= row["ci_high"]
    assert row["seed_spread"] == pytest.approx(np.ptp(mle.loc[mle["subset"] == "ne", "value"]))
    assert sorted(table["run"].unique()) == sorted(runs)
    assert (table["n_tokens"] == common.sum()).all() and (table["token_set"] == "common").all()
    assert set(table["embeddings"]) == {"input"}  # tied: the output matrix is the input
    assert {"value", "ci_low", "ci_high", "null_isotropic", "null_covariance", "subset", "seed"} <= set(table.columns)


def test_subset_differences_pair_the_token_resamples():
    """Two runs whose matrices differ by a little noise on the same tokens: their marginal intervals
    overlap almost entirely, the paired interval of the difference is a fraction of their width."""
    from regeo.geometry.id_table import IDConfig, id_table
    from regeo.stages.id_comparison import subset_differences

    rng = np.random.default_rng(0)
    X = rng.standard_normal((1200, 6)) @ rng.standard_normal((6, 24))
    cfg = IDConfig(ks=(10,), metric="euclidean", estimators=("mle",), local_pca_k=10, local_pca_variance=0.9,
                   nulls=(), null_seed=0, bootstrap_replicates=200, bootstrap_seed=0, confidence=0.95)
    rows, reps = [], {}
    for run, subset, M in (("a-micro-s0", "a", X), ("b-micro-s0", "b", X + 0.02 * rng.standard_normal(X.shape))):
        own: dict = {}
        part = id_table(M, cfg, replicates=own).assign(run=run, subset=subset, preset="micro", seed=0,
                                                         embeddings="input")
        reps[run, "input", "euclidean", "mle", 10] = own["mle", 10]
        rows.append(part)
    table = pd.concat(rows, ignore_index=True)
    row = subset_differences(table, reps, 0.95).iloc[0]
    marginal = (table["ci_high"] - table["ci_low"]).min()
    paired = row["ci_high"] - row["ci_low"]
    assert paired < 0.5 * marginal, (paired, marginal)
    assert row["ci_low"] <= row["difference"] <= row["ci_high"] and row["seed_spread"] == 0


def test_frequency_strata_give_every_run_the_same_n_and_frequency_profile():
    from regeo.token_sets import frequency_strata

    rng = np.random.default_rng(1)
    counts = {"news": rng.zipf(1.6, 3000).clip(max=10**5), "opinion": rng.zipf(2.2, 3000).clip(max=10**5)}
    picked = frequency_strata(counts, 5, seed=0)
    assert len(picked["news"]) == len(picked["opinion"]) > 100
    pooled = np.log1p(np.concatenate(list(counts.values())).astype(float))
    edges = np.unique(np.quantile(pooled, np.linspace(0, 1, 6)[1:-1]))
    profile = {run: np.bincount(np.searchsorted(edges, np.log1p(counts[run][p].astype(float)), side="right"),
                                minlength=len(edges) + 1) for run, p in picked.items()}
    np.testing.assert_array_equal(profile["news"], profile["opinion"])  # the same count in every bin
    assert len(np.unique(picked["news"])) == len(picked["news"])  # without replacement

