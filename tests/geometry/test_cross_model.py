"""Cross-model stage: token alignment across tokenizers, the pair tables, similarity over training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from geometry_data import random_rotation, swiss_roll
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

from regeo.geometry.lle import compare_lle, compare_lle_both_ways
from regeo.io import RegeoInputError, save_tensors
from regeo.pairs import RunFiles
from regeo.stages.cross_model import global_similarity_table, lle_comparison_table, similarity_over_training
from regeo.token_sets import relation, shared_seen_ids

WIDTH = 8
BOOT = {"replicates": 100, "seed": 0, "confidence": 0.95}


def save_tokenizer(path, strings: list[str]) -> None:
    """A word-level tokenizer whose ids are the positions of ``strings``."""
    vocab = {s: i for i, s in enumerate(strings)}
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token=strings[0])),
                                  unk_token=strings[0])
    tok.save_pretrained(path)


def save_counts(path, counts) -> str:
    pd.DataFrame({"token_id": np.arange(len(counts)), "count": counts}).to_parquet(path, index=False)
    return str(path)


def save_dump(path, input_rows, output_rows=None) -> str:
    tensors = {"input": torch.tensor(input_rows, dtype=torch.float32)}
    if output_rows is not None:
        tensors["output"] = torch.tensor(output_rows, dtype=torch.float32)
    save_tensors(tensors, path)
    return str(path)


def test_shared_seen_ids_keeps_tokens_both_saw_and_both_have_rows():
    ids_a = np.array([0, 1, 2, 3, 4, 9])
    ids_b = np.array([5, 4, 3, 2, 1, 0])
    seen_a = np.array([True, True, False, True, True])  # id 9 lies past A's counts: unseen
    seen_b = np.array([True, True, True, True, True, False])
    a, b = shared_seen_ids(ids_a, ids_b, rows_a=10, rows_b=6, seen_a=seen_a, seen_b=seen_b)
    np.testing.assert_array_equal(a, [1, 3, 4])
    np.testing.assert_array_equal(b, [4, 2, 1])
    a, b = shared_seen_ids(ids_a, ids_b, rows_a=4, rows_b=6, seen_a=None, seen_b=None)  # rows cut A at id 4
    np.testing.assert_array_equal(a, [0, 1, 2, 3])


def test_relation_of_runs():
    run = lambda subset, preset, seed: RunFiles(f"{subset}-{preset}-s{seed}", subset, preset, seed, "", "").identity()
    assert relation(run("ne", "tiny", 0), run("ne", "tiny", 1)) == "seeds"
    assert relation(run("ne", "tiny", 0), run("NA", "tiny", 0)) == "registers"
    assert relation(run("ne", "tiny", 0), run("ne", "mini", 0)) == "presets"


def test_lle_both_ways_equals_two_one_way_comparisons():
    X = swiss_roll(120, 6, seed=3, noise=1e-2)
    Y = X + np.random.default_rng(4).normal(scale=0.3, size=X.shape)
    forward, backward = compare_lle_both_ways(X, Y, k=7, reg=1e-3, seed=5)
    assert forward == compare_lle(X, Y, k=7, reg=1e-3, seed=5)
    assert backward == compare_lle(Y, X, k=7, reg=1e-3, seed=5)


@pytest.fixture(scope="module")
def three_models(tmp_path_factory):
    """A and C share a tokenizer; B's vocabulary is another, permuted, partly overlapping one.

    B's embedding of every string is A's rotated and scaled, so A and B have the same geometry on
    their shared strings; C is unrelated noise. A has its own output matrix, B and C are tied.
    """
    root = tmp_path_factory.mktemp("cross_model")
    rng = np.random.default_rng(0)
    strings = [f"w{i}" for i in range(90)]
    table = {s: row for s, row in zip(strings, swiss_roll(90, WIDTH, seed=1, noise=1e-2))}
    vocab_a = strings[:70]
    vocab_b = list(rng.permutation(strings[20:]))  # w20..w89, shuffled: shared strings are w20..w69
    save_tokenizer(root / "tok_a", vocab_a)
    save_tokenizer(root / "tok_b", vocab_b)
    rotation = 2.5 * random_rotation(rng, WIDTH)
    counts_a = np.full(70, 5)
    counts_a[[25, 30, 31]] = 0  # unseen by A: three shared strings drop out
    counts_b = np.full(70, 5)
    counts_b[vocab_b.index("w40")] = 1  # below min_count 2
    noise_c = rng.normal(size=(70, WIDTH))
    noise_c[5] = 0  # a row that never trained (a pad token's): no direction, left out
    runs = {
        "ne-micro-s0": dict(subset="ne", preset="micro", seed=0, tokenizer=str(root / "tok_a"),
                            counts=save_counts(root / "counts_a.parquet", counts_a),
                            dump=save_dump(root / "a.safetensors", np.stack([table[s] for s in vocab_a]),
                                           rng.normal(size=(70, WIDTH)))),
        "NA-micro-s0": dict(subset="NA", preset="micro", seed=0, tokenizer=str(root / "tok_b"),
                            counts=save_counts(root / "counts_b.parquet", counts_b),
                            dump=save_dump(root / "b.safetensors", np.stack([table[s] for s in vocab_b]) @ rotation)),
        "ne-micro-s1": dict(subset="ne", preset="micro", seed=1, tokenizer=str(root / "tok_a"), counts=None,
                            dump=save_dump(root / "c.safetensors", noise_c)),
    }
    return root, runs


def test_global_similarity_aligns_tokens_by_string(three_models):
    root, runs = three_models
    params = {"sample_size": None, "seed": 0, "embeddings": ["input", "output"]}
    table = global_similarity_table(params, 2, BOOT, runs, root / "similarity.parquet")
    assert table.equals(pd.read_parquet(root / "similarity.parquet"))
    pairs = set(zip(table["run_a"], table["run_b"], table["embeddings"]))
    # B and C are both tied: their output pair would repeat the input pair and is left out.
    assert pairs == {("ne-micro-s0", "NA-micro-s0", "input"), ("ne-micro-s0", "NA-micro-s0", "output"),
                     ("ne-micro-s0", "ne-micro-s1", "input"), ("ne-micro-s0", "ne-micro-s1", "output"),
                     ("NA-micro-s0", "ne-micro-s1", "input")}
    ab = table[(table["run_b"] == "NA-micro-s0") & (table["embeddings"] == "input")].iloc[0]
    assert ab["n_tokens"] == 50 - 3 - 1  # shared w20..w69, minus A's unseen three and B's rare one
    assert ab["relation"] == "registers"
    np.testing.assert_allclose([ab["cosine_similarity_correlation"], ab["linear_cka"]], 1.0, rtol=1e-6)
    ac = table[(table["run_b"] == "ne-micro-s1") & (table["embeddings"] == "input")].iloc[0]
    assert ac["relation"] == "seeds"
    assert ac["n_tokens"] == 70 - 3 - 1  # one tokenizer: every id, C has no counts (all seen) but a zero row
    assert abs(ac["cosine_similarity_correlation"]) < 0.5 and ac["linear_cka"] < 0.7
    assert table["cosine_similarity_correlation"].between(-1, 1).all() and table["linear_cka"].between(0, 1).all()
    for name in ("cosine_similarity_correlation", "linear_cka"):  # intervals hold the value; nulls are there
        assert (table[f"{name}_ci_low"] <= table[name] + 1e-9).all() and (table[name] <= table[f"{name}_ci_high"] + 1e-9).all()
        assert table[f"{name}_at_init"].isna().all()  # these runs have no first dump
    assert abs(ab["cosine_similarity_correlation_null_permuted"]) < 0.2  # same geometry, tokens unpaired


def test_similarity_nulls_at_initialisation(three_models, tmp_path):
    """Two runs of one seed start from one initialisation: their value at init is 1, whatever they became."""
    _, runs = three_models
    rng = np.random.default_rng(9)
    init = save_dump(tmp_path / "init.safetensors", rng.normal(size=(70, WIDTH)), rng.normal(size=(70, WIDTH)))
    other = save_dump(tmp_path / "other.safetensors", rng.normal(size=(70, WIDTH)))
    pair = {"ne-micro-s0": dict(runs["ne-micro-s0"], init_dump=init),
            "NA-micro-s0": dict(runs["ne-micro-s0"], subset="NA", init_dump=init),
            "ne-micro-s1": dict(runs["ne-micro-s1"], init_dump=other)}
    table = global_similarity_table({"sample_size": None, "seed": 0, "embeddings": ["input"]}, 2, BOOT, pair,
                                    tmp_path / "similarity.parquet")
    same = table[table["run_b"] == "NA-micro-s0"].iloc[0]
    np.testing.assert_allclose([same["cosine_similarity_correlation_at_init"], same["linear_cka_at_init"]], 1.0)
    unrelated = table[(table["run_a"] == "ne-micro-s0") & (table["run_b"] == "ne-micro-s1")].iloc[0]
    assert abs(unrelated["cosine_similarity_correlation_at_init"]) < 0.3
    lle = lle_comparison_table({"k": 5, "reg": 1e-3, "metric": "euclidean", "seed": 0, "sample_size": None,
                                "embeddings": ["input"]}, 2, BOOT, pair, tmp_path / "lle.parquet")
    same = lle[(lle["run_a"] == "ne-micro-s0") & (lle["run_b"] == "NA-micro-s0")].iloc[0]
    assert same["jaccard"] == 1.0 and same["jaccard_null_permuted"] < 0.3 and same["relative_error_null_permuted"] > 1.2


def test_lle_permuted_null_equals_a_search_on_the_permuted_rows():
    """The permuted null reuses B's neighbours and weights; it must equal comparing against B[perm] outright."""
    X = swiss_roll(150, 6, seed=7, noise=1e-2)
    Y = X @ random_rotation(np.random.default_rng(8), 6) + 0.05 * np.random.default_rng(9).normal(size=X.shape)
    perm = np.random.default_rng(10).permutation(150)
    forward, backward = compare_lle_both_ways(X, Y, k=6, reg=1e-3, seed=1, null_permutation=perm)
    direct_f, direct_b = compare_lle_both_ways(X, Y[perm], k=6, reg=1e-3, seed=1)
    np.testing.assert_allclose(forward["relative_error_null_permuted"], direct_f["relative_error"], rtol=1e-9)
    np.testing.assert_allclose(backward["relative_error_null_permuted"], direct_b["relative_error"], rtol=1e-9)
    assert forward["jaccard_null_permuted"] == pytest.approx(direct_f["jaccard"])
    # Y is X rotated plus 5x X's noise, so X's weights rebuild Y a little worse than Y's own: seen
    # 1.36 here, 0.80-2.14 over 1000 draws of roll and noise (21% of them above 1.5; log-normal,
    # sd 0.13 of the log), so 3 is 6 sd away, while rows paired at random give thousands.
    assert forward["relative_error"] < 3 < forward["relative_error_null_permuted"], \
        (forward["relative_error"], forward["relative_error_null_permuted"])


def test_global_similarity_on_a_sample(three_models):
    root, runs = three_models
    params = {"sample_size": 20, "seed": 3, "embeddings": ["input"]}
    table = global_similarity_table(params, 2, BOOT, runs, root / "sampled.parquet")
    assert (table["n_sampled"] == 20).all() and (table["n_tokens"] > 20).all()
    ab = table[table["run_b"] == "NA-micro-s0"].iloc[0]
    np.testing.assert_allclose(ab["cosine_similarity_correlation"], 1.0, rtol=1e-6)


def test_lle_comparison_aligns_tokens_by_string_in_both_directions(three_models):
    root, runs = three_models
    params = {"k": 5, "reg": 1e-3, "metric": "euclidean", "seed": 0, "sample_size": None, "embeddings": ["input"]}
    table = lle_comparison_table(params, 2, BOOT, runs, root / "lle.parquet")
    assert len(table) == 6  # ordered pairs of three models
    assert set(zip(table["run_a"], table["run_b"])) == {(a, b) for a in runs for b in runs if a != b}
    for a, b in (("ne-micro-s0", "NA-micro-s0"), ("NA-micro-s0", "ne-micro-s0")):
        row = table[(table["run_a"] == a) & (table["run_b"] == b)].iloc[0]
        assert row["jaccard"] == 1.0 and row["n_tokens"] == 46
        np.testing.assert_allclose(row["relative_error"], 1.0, rtol=1e-6)
        assert row["random_relative_error"] > 1.5
    noise = table[table["run_a"] == "ne-micro-s1"]
    assert (noise["relative_error"] > 1.2).all() and (noise["jaccard"] < 0.5).all()
    assert (table["k"] == 5).all() and (table["metric"] == "euclidean").all()
    for name in ("relative_error", "jaccard"):
        assert (table[f"{name}_ci_low"] <= table[name] + 1e-9).all() and (table[name] <= table[f"{name}_ci_high"] + 1e-9).all()


@pytest.mark.parametrize("blocks", [[[("ne-micro-s0", "NA-micro-s0")], [("ne-micro-s0", "ne-micro-s1"),
                                                                      ("NA-micro-s0", "ne-micro-s1")]],
                                    [[("ne-micro-s0", "NA-micro-s0"), ("ne-micro-s0", "ne-micro-s1")],
                                     [("NA-micro-s0", "ne-micro-s1")]]])
def test_pair_tables_in_blocks_merge_into_the_single_jobs_table(three_models, tmp_path, blocks):
    """Each block job reads only its runs; the merged blocks are the one job's table, frame for frame."""
    from regeo.io import merge_tables

    root, runs = three_models
    similarity = {"sample_size": None, "seed": 0, "embeddings": ["input", "output"]}
    lle = {"k": 5, "reg": 1e-3, "metric": "euclidean", "seed": 0, "sample_size": None, "embeddings": ["input", "output"]}
    for name, make, params in (("similarity", global_similarity_table, similarity), ("lle", lle_comparison_table, lle)):
        whole = make(params, 2, BOOT, runs, tmp_path / f"{name}.parquet")
        parts = []
        for i, block in enumerate(blocks):
            in_block = {run: files for run, files in runs.items() if any(run in pair for pair in block)}
            parts.append(tmp_path / f"{name}_{i}.parquet")
            make(params, 2, BOOT, in_block, parts[-1], pairs=block)
        merged = merge_tables(parts, tmp_path / f"{name}_merged.parquet")
        pd.testing.assert_frame_equal(merged, whole)
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"{name}_merged.parquet"),
                                      pd.read_parquet(tmp_path / f"{name}.parquet"))
    with pytest.raises(RegeoInputError, match="not pairs"):
        global_similarity_table(similarity, 2, BOOT, runs, tmp_path / "x.parquet", pairs=[("ne-micro-s1", "ne-micro-s0")])


def test_similarity_over_training_reaches_one_at_the_final_dump(tmp_path):
    rng = np.random.default_rng(2)
    final = rng.normal(size=(40, WIDTH))
    final[10] = 0  # an all-zero row (a pad token's, which nn.Embedding keeps at 0): left out, not an error
    dumps = [save_dump(tmp_path / f"step{s:07d}.safetensors", final + noise * rng.normal(size=final.shape),
                       final[::-1] + noise * rng.normal(size=final.shape))
             for s, noise in ((0, 3.0), (5, 0.3), (10, 0.0))]
    counts = np.full(40, 3)
    counts[:4] = 0
    table = similarity_over_training({"sample_size": None, "seed": 0, "embeddings": ["input", "output"]}, 1, BOOT,
                                     "ne-micro-s0", "ne", dumps[::-1], save_counts(tmp_path / "c.parquet", counts),
                                     tmp_path / "over.parquet")
    assert sorted(table["step"].unique()) == [0, 5, 10] and (table["n_tokens"] == 35).all()
    for _, rows in table.groupby("embeddings"):
        rows = rows.sort_values("step")
        np.testing.assert_allclose(rows["cosine_similarity_correlation"].iloc[-1], 1.0, rtol=1e-9)
        np.testing.assert_allclose(rows["linear_cka"].iloc[-1], 1.0, rtol=1e-9)
        assert rows["linear_cka"].is_monotonic_increasing  # less noise, closer to the final state
