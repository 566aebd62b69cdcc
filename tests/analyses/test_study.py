"""The study's analyses on tiny inputs with known answers."""

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from regeo.devices import resolve_device
from regeo.geometry.intervals import TokenBootstrap
from regeo.stages.study import probe_tokens
from regeo.study.across_runs import redundancy_by_size, rq3_correlations, spearman
from regeo.study.neighbourhoods import chance_jaccard, coherence, id_groups, settled_step, settling
from regeo.study.rank_knee import knee, rank_curve, rank_grid, svd_rank

BOOT = TokenBootstrap(200, 0, 0.95)


def test_unchanged_neighbourhoods_overlap_1_and_settle_at_once():
    X = np.random.default_rng(0).standard_normal((300, 8))
    curve, settle = settling({0: X, 5: X, 10: X}, 5, "cosine", {"a": 3}, 0.5, BOOT)
    assert np.allclose(curve["jaccard"], 1.0)
    assert (settle["settled_step"] == 0).all()
    everyone = curve[curve["token"] == "<all>"]
    assert (everyone["ci_low"] <= 1).all() and (everyone["ci_high"] >= 1 - 1e-12).all()


def test_unrelated_spaces_overlap_at_chance():
    rng = np.random.default_rng(1)
    n, k = 2000, 10
    curve, settle = settling({0: rng.standard_normal((n, 8)), 1: rng.standard_normal((n, 8))}, k, "euclidean", {},
                             0.5, BOOT)
    start = curve[(curve["step"] == 0) & (curve["token"] == "<all>")].iloc[0]
    assert start["jaccard"] == pytest.approx(chance_jaccard(n, k), rel=0.2)
    assert start["ci_low"] <= chance_jaccard(n, k) <= start["ci_high"]
    assert settle.loc[settle["token"] == "<all>", "settled_step"].item() == 1  # only the final dump matches


def test_settled_step_is_the_first_step_from_which_the_overlap_stays_up():
    steps = [0, 1, 2, 4, 8]
    assert settled_step(steps, [0.1, 0.6, 0.4, 0.7, 1.0], 0.5) == 4
    assert settled_step(steps, [0.6, 0.6, 0.9, 0.7, 1.0], 0.5) == 0
    assert settled_step(steps, [0.1, 0.1, 0.1, 0.1, 1.0], 0.5) == 8


def test_chance_jaccard_matches_random_sets():
    rng = np.random.default_rng(2)
    n, k = 200, 10
    draws = [len(set(rng.choice(n - 1, k, replace=False)) & set(rng.choice(n - 1, k, replace=False)))
             for _ in range(4000)]
    simulated = np.mean([i / (2 * k - i) for i in draws])
    assert chance_jaccard(n, k) == pytest.approx(simulated, rel=0.1)


def test_id_groups_pick_the_extremes_among_frequent_tokens():
    ids = np.array([5.0, 1.0, 9.0, 2.0, 8.0, 0.5])
    counts = np.array([10, 10, 10, 10, 10, 1])  # the lowest ID (row 5) is rare: not among the frequent
    low, high = id_groups(ids, counts, frequent=5, fraction=0.4)
    assert low.tolist() == [1, 3] and high.tolist() == [2, 4]


def test_coherence_separates_kept_from_scrambled_neighbourhoods():
    rng = np.random.default_rng(3)
    n, d = 600, 6
    X_a = rng.standard_normal((n, d))
    X_b = X_a.copy()
    high = np.arange(300, 400)
    X_b[high] = rng.standard_normal((len(high), d)) * 3  # the high group moves away: new neighbourhoods
    low = np.arange(0, 100)
    same = coherence(X_a, X_a, low, high, 5, "euclidean", BOOT)
    assert same["jaccard_low"] == same["jaccard_high"] == 1.0
    result = coherence(X_a, X_b, low, high, 5, "euclidean", BOOT)
    assert result["jaccard_high"] < 0.2 < 0.6 < result["jaccard_low"]
    assert result["difference_ci_low"] > 0 and result["n_low"] == result["n_high"] == 100


def test_rank_grid_and_knee():
    assert rank_grid(64) == [1, 2, 4, 8, 16, 32, 64]
    assert rank_grid(48, [3, 100]) == [3, 48]
    assert knee([1, 2, 4, 8], [0.5, 0.1, 0.01, 0.0], 0.02) == 4
    W = np.random.default_rng(0).standard_normal((50, 3)) @ np.random.default_rng(1).standard_normal((3, 10))
    assert np.allclose(svd_rank(W, 3), W) and not np.allclose(svd_rank(W, 2), W)


def test_a_rank_4_embedding_has_its_knee_at_4():
    """Blocks that add nothing (zero output projections) leave logits = out @ RMSNorm(in[x]); with
    rank-4 matrices and text that follows the full model's most likely next token, every rank
    below 4 loses the ranking and rank 4 is exact."""
    torch.manual_seed(0)
    V, d = 64, 16
    model = LlamaForCausalLM(LlamaConfig(vocab_size=V, hidden_size=d, num_hidden_layers=1, num_attention_heads=2,
                                         intermediate_size=32, tie_word_embeddings=False)).eval()
    layer = model.model.layers[0]
    layer.self_attn.o_proj.weight.data.zero_()
    layer.mlp.down_proj.weight.data.zero_()
    rng = np.random.default_rng(0)
    W_in = rng.standard_normal((V, 4)) @ rng.standard_normal((4, d))  # exactly rank 4
    W_out = 3 * rng.standard_normal((V, 4)) @ rng.standard_normal((4, d))
    model.get_input_embeddings().weight.data.copy_(torch.from_numpy(W_in).float())
    model.get_output_embeddings().weight.data.copy_(torch.from_numpy(W_out).float())
    h = W_in / np.sqrt((W_in ** 2).mean(1, keepdims=True) + 1e-6)
    follow = (h @ W_out.T).argmax(1)  # (V,) the full model's most likely next token
    tokens = [0]
    for _ in range(4 * 16 * 8):
        tokens.append(follow[tokens[-1]] if rng.random() < 0.9 else rng.integers(V))
    tokens = np.array(tokens, dtype=np.int64)
    curve, summary = rank_curve(model, tokens, rank_grid(d), 0.02, 8, 16, None, resolve_device("cpu"), BOOT, 0)
    svd = curve[curve["method"] == "svd"].set_index("rank")["excess"]
    assert summary["knee_svd"] == 4 and abs(svd[4]) < 1e-4 and svd[2] > 0.1
    assert summary["knee_svd_ci_low"] == summary["knee_svd_ci_high"] == 4
    # the null at the knee's rank: a random 4-dimensional subspace misses most of the row space
    assert summary["null_rank"] == 4 and summary["excess_random_ci_low"] > 0.1
    assert summary["n_windows"] == 32 and not summary["tied"]


def test_spearman_and_the_verdict_on_few_or_many_runs():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    rng = np.random.default_rng(0)
    many = pd.DataFrame({"subset": [f"s{i}" for i in range(12) for _ in (0, 1)], "preset": "tiny",
                         "seed": [0, 1] * 12})
    many["id_mle_k20"] = np.repeat(np.arange(12.0), 2) + 0.1 * rng.standard_normal(24)
    many["loss_own"] = -many["id_mle_k20"]
    many["loss_mean"] = np.abs(np.repeat(np.arange(12.0), 2) - 5.5) + 0.01 * rng.standard_normal(24)  # V-shaped: no monotone trend
    table = rq3_correlations(many, TokenBootstrap(200, 0, 0.95), min_subsets=10).set_index("loss")
    assert table.loc["loss_own", "rho"] == pytest.approx(-1.0)
    assert table.loc["loss_own", "verdict"] == "significant" and table.loc["loss_own", "ci_high"] < -0.9
    assert table.loc["loss_own", "null_low"] > -0.7 and table.loc["loss_own", "n_subsets"] == 12
    # subsets are the units: 12 of them, 12! orders too many to enumerate, 200 drawn; Holm over the 2 tests
    row = table.loc["loss_own"]
    assert (row["unit"], row["n_runs"], row["n_permutations"], row["exact"]) == ("subset", 24, 200, False)
    assert row["p_value"] == pytest.approx(1 / 201) and row["p_adjusted"] == pytest.approx(2 / 201)
    assert table.loc["loss_mean", "verdict"] == "not significant"
    few = rq3_correlations(many[many["subset"].isin(["s0", "s1", "s2", "s3", "s4"])], TokenBootstrap(200, 0, 0.95), 10)
    assert few["verdict"].str.startswith("too few subsets: 5").all()
    # five units: every order enumerated, and |rho| = 1 is reached by 2 of the 120: the floor is 2/120
    assert few["exact"].all() and (few["n_permutations"] == 119).all()
    np.testing.assert_allclose(few["p_min"], 2 / 120)
    assert (few["null_high"] > 0.7).all()  # the null band spans most of [-1, 1]


def test_redundancy_by_size_reads_the_width_from_the_ceiling():
    rows = pd.DataFrame({"run": ["a", "a", "b"], "subset": "x", "preset": ["tiny", "tiny", "mini"], "seed": 0,
                         "embeddings": "input", "estimator": ["mle", "local_pca", "mle"], "k": [20, 20, 20],
                         "value": [20.0, 9.0, 30.0], "ci_low": 0, "ci_high": 0, "null_isotropic": [32.0, 15.0, 48.0],
                         "redundancy": [1 - 20 / 64, np.nan, 1 - 30 / 128], "redundancy_vs_null": [0.375, np.nan, 0.375],
                         "redundancy_vs_null_ci_low": 0, "redundancy_vs_null_ci_high": 1, "ceiling": [64.0, 19.0, 128.0],
                         "n_tokens": 100, "metric": "euclidean", "token_set": "common"})
    size = redundancy_by_size(rows)
    assert size["d"].tolist() == [64, 128] and size["null_redundancy"].tolist() == [0.5, 0.625]


def test_probe_tokens_are_each_registers_over_represented_words():
    texts = ["<eos>", " said", " film", " the", " of", "ab", " told"]
    counts = {"ne": np.array([0, 50, 1, 100, 80, 9, 30]), "OP": np.array([0, 2, 60, 100, 80, 9, 1])}
    probes = probe_tokens(counts, texts, per_register=2, extra=["the", "nope"])
    assert probes == [(" told", "ne"), (" said", "ne"), (" film", "OP"), (" the", "OP")]  # told: 30 of 31 in ne
