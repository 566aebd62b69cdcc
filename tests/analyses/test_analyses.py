"""The study's analyses on tiny inputs with known answers."""

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from regeo.devices import resolve_device
from regeo.geometry.intervals import TokenBootstrap
from regeo.loss import window_losses
from regeo.analyses.neighbourhoods import probe_tokens
from regeo.analyses.across_runs import (at_last_dump, final_properties, redundancy_by_size, rq3_correlations,
                                       spearman)
from regeo.analyses.neighbourhoods import chance_jaccard, coherence, id_groups, settled_step, settling
from regeo.analyses.rank_knee import knee, measured_id, rank_curve, rank_grid, svd_rank, window_starts

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
    assert rank_grid(64) == [1, 2, 4, 8, 16, 32, 40, 48, 56, 64]  # no ID: powers, d/2..d in steps of d/8
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
    table = rq3_correlations(many, TokenBootstrap(200, 0, 0.95), 10, "holm", 20_000).set_index("performance")
    assert table.loc["loss_own", "rho"] == pytest.approx(-1.0)
    assert table.loc["loss_own", "verdict"] == "significant" and table.loc["loss_own", "ci_high"] < -0.9
    assert table.loc["loss_own", "null_low"] > -0.7 and table.loc["loss_own", "n_subsets"] == 12
    # subsets are the units: 12 of them, 12! orders too many to enumerate, 200 drawn; Holm over the 2 tests
    row = table.loc["loss_own"]
    assert (row["unit"], row["n_runs"], row["n_permutations"], row["exact"]) == ("subset", 24, 200, False)
    assert row["p_value"] == pytest.approx(1 / 201) and row["p_adjusted"] == pytest.approx(2 / 201)
    assert table.loc["loss_mean", "verdict"] == "not significant"
    five = many[many["subset"].isin(["s0", "s1", "s2", "s3", "s4"])]
    few = rq3_correlations(five, TokenBootstrap(200, 0, 0.95), 10, "holm", 20_000)
    assert few["verdict"].str.startswith("too few subsets: 5").all()
    # five units: every order enumerated, and |rho| = 1 is reached by 2 of the 120: the floor is 2/120
    assert few["exact"].all() and (few["n_permutations"] == 119).all()
    np.testing.assert_allclose(few["p_min"], 2 / 120)
    assert (few["null_high"] > 0.7).all()  # the null band spans most of [-1, 1]


def test_the_partial_correlation_keeps_only_what_effective_rank_does_not_explain():
    """A variable that is a monotone function of effective rank has nothing left beyond it; one that
    drives the loss independently of it keeps its partial correlation."""
    rng = np.random.default_rng(0)
    n = 12
    runs = pd.DataFrame({"subset": [f"s{i}" for i in range(n)], "preset": "tiny", "seed": 0})
    runs["prop_effective_rank"] = rng.permutation(n) + 1.0
    driver = rng.permutation(n) * 1.0  # independent of effective rank
    runs["prop_mean_cosine"] = np.exp(-runs["prop_effective_rank"])  # monotone in it
    runs["prop_isoscore"] = driver
    runs["loss_own"] = 2 * driver + 0.5 * runs["prop_effective_rank"]
    runs["loss_mean"] = runs["loss_own"]
    table = rq3_correlations(runs, TokenBootstrap(200, 0, 0.95), 10, "holm", 20_000)
    own = table[table["performance"] == "loss_own"].set_index("geometry")
    assert abs(own.loc["prop_mean_cosine", "rho"]) > 0.2  # marginally it tracks the loss through the rank
    assert own.loc["prop_mean_cosine", "rho_partial_effective_rank"] == pytest.approx(0.0, abs=1e-9)
    assert own.loc["prop_mean_cosine", "p_partial_effective_rank"] == pytest.approx(1.0)
    assert own.loc["prop_isoscore", "rho_partial_effective_rank"] > 0.9
    assert own.loc["prop_isoscore", "p_partial_effective_rank"] == pytest.approx(1 / 201)
    # effective rank itself has no partial row; the family adjustment covers the partial p's
    assert np.isnan(own.loc["prop_effective_rank", "rho_partial_effective_rank"])
    family = table["p_partial_effective_rank"].notna().sum()
    assert family == 4 and own.loc["prop_isoscore", "p_partial_adjusted"] == pytest.approx(family / 201)


def test_final_properties_take_each_runs_last_dump_of_the_input_embeddings():
    rows = [{"run": run, "step": step, "embeddings": which, "property": name, "value": value}
            for run in ("a", "b") for step in (0, 10) for which in ("input", "output")
            for name, value in (("effective_rank", step + (run == "b") + (which == "output") * 100),
                                ("mean_cosine", 0.5), ("norm_mean", 3.0))]
    wide = final_properties(pd.DataFrame(rows))
    assert list(wide.columns) == ["prop_effective_rank", "prop_mean_cosine", "prop_isoscore", "prop_rogue_share_top1"]
    assert wide.loc["a", "prop_effective_rank"] == 10 and wide.loc["b", "prop_effective_rank"] == 11
    assert wide["prop_isoscore"].isna().all()


def test_redundancy_by_size_reads_the_width_from_the_ceiling():
    rows = pd.DataFrame({"run": ["a", "a", "b"], "subset": "x", "preset": ["tiny", "tiny", "mini"], "seed": 0,
                         "embeddings": "input", "estimator": ["mle", "local_pca", "mle"], "k": [20, 20, 20],
                         "value": [20.0, 9.0, 30.0], "ci_low": 0, "ci_high": 0, "null_isotropic": [32.0, 15.0, 48.0],
                         "redundancy": [1 - 20 / 64, np.nan, 1 - 30 / 128], "redundancy_vs_null": [0.375, np.nan, 0.375],
                         "redundancy_vs_null_ci_low": 0, "redundancy_vs_null_ci_high": 1, "ceiling": [64.0, 19.0, 128.0],
                         "n_tokens": 100, "metric": "euclidean", "token_set": "common"})
    size = redundancy_by_size(rows)
    assert size["d"].tolist() == [64, 128] and size["null_redundancy"].tolist() == [0.5, 0.625]


def test_redundancy_by_width_takes_each_run_at_its_own_last_dump_and_marks_the_published_range():
    """Runs on different schedules (a trained run's 20 steps, a Pythia run's 143000): each at its own
    last step, on its own token set; the figure shades the reference range on the raw-redundancy panel."""
    from regeo.figures.analyses import plot_redundancy_vs_size

    def rows(run, steps, d, n_tokens, token_set):
        return pd.DataFrame({"run": run, "subset": run, "preset": run, "seed": 0, "step": steps, "embeddings": "input",
                             "estimator": "mle", "k": 20, "value": [d / 2.0] * (len(steps) - 1) + [d / 20.0],
                             "ci_low": 0.0, "ci_high": 1.0, "null_isotropic": d / 2.0,
                             "redundancy": [0.5] * (len(steps) - 1) + [0.95], "redundancy_vs_null": 0.9,
                             "redundancy_vs_null_ci_low": 0.8, "redundancy_vs_null_ci_high": 0.95, "ceiling": float(d),
                             "n_tokens": n_tokens, "metric": "euclidean", "token_set": token_set})

    tables = pd.concat([rows("ne-tiny-s0", [0, 10, 20], 64, 1500, "seen_by_step"),
                        rows("pythia-70m", [0, 512, 143000], 512, 50277, "all")], ignore_index=True)
    last = at_last_dump(tables)
    assert dict(zip(last["run"], last["step"])) == {"ne-tiny-s0": 20, "pythia-70m": 143000}
    size = redundancy_by_size(last)
    assert size["d"].tolist() == [64, 512] and size["redundancy"].tolist() == [0.95, 0.95]
    assert size["n_tokens"].tolist() == [1500, 50277]
    fig = plot_redundancy_vs_size(size, {"low": 0.9, "high": 0.98, "label": "Kataiwa et al. 2025"})
    (band,) = [p for p in fig.axes[0].patches if p.get_label().startswith("Kataiwa")]
    assert band.get_label() == "Kataiwa et al. 2025: 90%-98%"
    assert "own tokens (1500-50277)" in fig._suptitle.get_text()
    assert not [p for p in plot_redundancy_vs_size(size).axes[0].patches if p.get_label().startswith("Kataiwa")]


def test_probe_tokens_are_each_registers_over_represented_words():
    texts = ["<eos>", " said", " film", " the", " of", "ab", " told"]
    counts = {"ne": np.array([0, 50, 1, 100, 80, 9, 30]), "OP": np.array([0, 2, 60, 100, 80, 9, 1])}
    probes = probe_tokens(counts, texts, per_register=2, extra=["the", "nope"])
    assert probes == [(" told", "ne"), (" said", "ne"), (" film", "OP"), (" the", "OP")]  # told: 30 of 31 in ne


def _planted_model(W_in: np.ndarray, W_out: np.ndarray):
    """A one-layer Llama whose blocks add nothing (zero output projections): logits = out @ RMSNorm(in[x])."""
    torch.manual_seed(0)
    V, d = W_in.shape
    model = LlamaForCausalLM(LlamaConfig(vocab_size=V, hidden_size=d, num_hidden_layers=1, num_attention_heads=2,
                                         intermediate_size=32, tie_word_embeddings=False)).eval()
    model.model.layers[0].self_attn.o_proj.weight.data.zero_()
    model.model.layers[0].mlp.down_proj.weight.data.zero_()
    model.get_input_embeddings().weight.data.copy_(torch.from_numpy(W_in).float())
    model.get_output_embeddings().weight.data.copy_(torch.from_numpy(W_out).float())
    return model


def _following_text(W_in, W_out, ids, n, rng, p=0.9):
    """n tokens among ``ids`` that follow the model's most likely next token among them with probability p."""
    h = W_in / np.sqrt((W_in ** 2).mean(1, keepdims=True) + 1e-6)
    follow = ids[(h[ids] @ W_out[ids].T).argmax(1)]  # next token of each of ids
    where = {t: i for i, t in enumerate(ids)}
    tokens = [ids[0]]
    for _ in range(n - 1):
        tokens.append(follow[where[tokens[-1]]] if rng.random() < p else rng.choice(ids))
    return np.array(tokens, dtype=np.int64)


def test_default_rank_grid_has_the_powers_the_upper_range_and_the_ranks_around_the_id():
    grid = rank_grid(64, None, 20.4)
    assert grid == [1, 2, 4, 8, 16, 18, 20, 22, 32, 40, 48, 56, 64]
    assert {1, 2, 4, 8, 16, 32, 64} <= set(grid) and {40, 48, 56} <= set(grid)
    assert rank_grid(64, None, 29.6, (-1, 0, 1)) == [1, 2, 4, 8, 16, 29, 30, 31, 32, 40, 48, 56, 64]
    assert rank_grid(64, None, 62) == [1, 2, 4, 8, 16, 32, 40, 48, 56, 60, 62, 64]  # none at or past d
    assert rank_grid(64) == rank_grid(64, None, float("nan")) == [1, 2, 4, 8, 16, 32, 40, 48, 56, 64]
    assert rank_grid(48, [3, 100], 20) == [3, 48]  # an explicit grid overrides the default, ID included
    table = pd.DataFrame({"run": ["a", "a", "a", "a", "b"], "embeddings": ["input", "input", "output", "input", "input"],
                          "metric": "euclidean", "estimator": ["mle", "mle", "mle", "twonn", "mle"],
                          "k": [10, 50, 20, 2, 20], "value": [18.0, 24.0, 99.0, 12.0, np.nan]})
    assert measured_id(table, "a", "mle", 20) == 18.0  # the nearest k (10 and 50 tie: the first)
    assert measured_id(table, "a", "mle", 40) == 24.0 and measured_id(table, "a", "twonn", 2) == 12.0
    assert measured_id(table, "b") is None and measured_id(table, "c") is None


def test_the_rank_basis_ignores_unseen_rows():
    """Seen tokens' input rows of exact rank 4, unseen tokens' rows huge random vectors (their
    random initialisation): the basis of the seen rows finds the planted rank, one of every row
    does not."""
    rng = np.random.default_rng(0)
    V, d, seen_ids = 64, 16, np.arange(32)
    W_in = rng.standard_normal((V, 4)) @ rng.standard_normal((4, d))
    W_in[32:] = 30 * rng.standard_normal((32, d))  # never seen: they dominate an SVD of every row
    W_out = 3 * rng.standard_normal((V, 4)) @ rng.standard_normal((4, d))
    tokens = _following_text(W_in, W_out, seen_ids, 4 * 16 * 8 + 1, rng)
    seen = np.zeros(V, dtype=bool)
    seen[seen_ids] = True
    model = _planted_model(W_in, W_out)
    ranks = rank_grid(d, [1, 2, 3, 4, 6, 8, 12])
    curve, summary = rank_curve(model, tokens, ranks, 0.02, 8, 16, None, resolve_device("cpu"), BOOT, 0, seen=seen)
    svd = curve[curve["method"] == "svd"].set_index("rank")["excess"]
    assert summary["knee_svd"] == 4 and abs(svd[4]) < 1e-4 and svd[3] > 0.02 and summary["n_basis_rows"] == 32
    every, all_rows = rank_curve(model, tokens, ranks, 0.02, 8, 16, None, resolve_device("cpu"), BOOT, 0)
    every_svd = every[every["method"] == "svd"].set_index("rank")["excess"]
    assert all_rows["knee_svd"] > 4 and every_svd[4] > 0.1 and all_rows["n_basis_rows"] == V


def test_validation_windows_are_drawn_across_the_split():
    starts = window_starts(16 * 64 + 1, 8, 16, 1, seed=0)  # 8 of the split's 64 windows
    assert len(starts) == len(set(starts)) == 8 and (np.diff(starts) >= 16).all() and (starts % 16 == 0).all()
    assert starts.max() >= 16 * 32 and not np.array_equal(starts, np.arange(8) * 16)  # not the first 8
    assert np.array_equal(starts, window_starts(16 * 64 + 1, 8, 16, 1, seed=0))
    assert not np.array_equal(starts, window_starts(16 * 64 + 1, 8, 16, 1, seed=1))
    assert np.array_equal(window_starts(16 * 64 + 1, 8, 16, None, 0), np.arange(64) * 16)  # the whole split
    assert len(window_starts(16 * 4 + 1, 8, 16, 3, 0)) == 4  # a split with fewer windows: all of them
    # a split whose second half is noise: the windows drawn include it, the first consecutive ones do not
    rng = np.random.default_rng(0)
    V, d = 64, 16
    W_in = rng.standard_normal((V, 4)) @ rng.standard_normal((4, d))
    W_out = 3 * rng.standard_normal((V, 4)) @ rng.standard_normal((4, d))
    tokens = np.concatenate([_following_text(W_in, W_out, np.arange(V), 16 * 32, rng, p=1.0),
                             rng.integers(0, V, 16 * 32 + 1)])
    model = _planted_model(W_in, W_out)
    first = window_losses(model, tokens, 8, 16, 1, resolve_device("cpu"))
    curve, summary = rank_curve(model, tokens, rank_grid(d, [4]), 0.02, 8, 16, 1, resolve_device("cpu"), BOOT, 0)
    later = starts >= 16 * 32
    assert summary["n_windows"] == 8 and later.any()
    assert summary["loss_full"] > first.mean() + 0.5


def _structureless_pair(spectrum: str, seed: int, n: int = 1200, d: int = 32, noise: float = 0.4):
    """A: Gaussian rows (flat or decaying spectrum), no structure; B: A plus isotropic noise (a
    "second seed" with nothing shared beyond A itself); the low/high groups from A's per-token
    MLE (k = 20, cosine) among 1,000 frequent tokens, 20 % each, as the pipeline does."""
    from regeo.geometry.mle import LevinaBickelMLE

    rng = np.random.default_rng(seed)
    scale = np.ones(d) if spectrum == "flat" else np.exp(-np.arange(d) / 6)
    A = rng.standard_normal((n, d)) * scale
    radius = np.sqrt(((A - A.mean(0)) ** 2).sum(1).mean())
    B = A + noise * radius / np.sqrt(d) * rng.standard_normal((n, d))
    ids = LevinaBickelMLE(20, metric="cosine").fit(A).dimension_pw_
    low, high = id_groups(ids, rng.integers(1, 1000, n), 1000, 0.2)
    return A, B, low, high


def test_coherence_of_structureless_pairs_sits_on_the_matched_noise_null():
    # The audit's case: with no shared structure, low-ID tokens still keep more neighbours (the
    # old reading, difference_ci_low > 0, says "coherent"); against noise pairs of the same
    # overall overlap the difference is null. 2 spectra x 3 seeds, 20 draws (the default).
    z, log_p, raw, excess = [], [], [], []
    for spectrum in ("flat", "decaying"):
        for seed in range(3):
            A, B, low, high = _structureless_pair(spectrum, seed)
            r = coherence(A, B, low, high, 10, "cosine", BOOT, null_draws=20, null_seed=seed)
            note = (f"{spectrum} seed {seed}: difference {r['difference']:.4f} [{r['difference_ci_low']:.4f}, "
                    f"{r['difference_ci_high']:.4f}], null {r['null_mean']:.4f} sd {r['null_sd']:.4f} "
                    f"[{r['null_low']:.4f}, {r['null_high']:.4f}], vs null {r['difference_vs_null']:.4f} "
                    f"[{r['difference_vs_null_ci_low']:.4f}, {r['difference_vs_null_ci_high']:.4f}], "
                    f"p {r['p_value']:.3f}, overlap {r['overlap']:.4f} / null {r['null_overlap']:.4f}")
            # The mechanical effect is there (values 0.08-0.17, ~8 interval half-widths from 0) ...
            assert r["difference_ci_low"] > 0 and r["null_low"] > 0, note
            # ... the null draws reach the observed overall overlap (within the 0.004 tolerance) ...
            assert abs(r["null_overlap"] - r["overlap"]) <= 0.004, note
            # ... and the observed difference is one more draw of it: z = (difference - null mean) /
            # null sd is about N(0, 1) here (30 seeds per spectrum off-line: mean 0.14 and -0.21, sd
            # 1.15 and 0.97), so |z| < 4 fails with probability < 1e-3.
            assert r["p_min"] == pytest.approx(1 / 21) and r["n_null_draws"] == 20, note
            z.append(r["difference_vs_null"] / r["null_sd"])
            assert abs(z[-1]) < 4, note
            log_p.append(np.log(r["p_value"]))
            raw.append(r["difference"])
            excess.append(r["difference_vs_null"])
    # Over the 6 pairs the null absorbs the raw difference: the mean excess over the null is under
    # a quarter of the mean raw difference (seen: 0.012 of 0.147; the bound, 0.037, is ~8 sds of
    # the mean excess, 0.011 / sqrt(6), away from 0). Fisher's -2 sum ln p is chi2 with 12 degrees
    # of freedom for uniform p, its 0.999 quantile 32.9 (seen 16.5; p at the floor everywhere
    # would give 6 x -2 ln(1/21) = 36.5).
    note = f"z {np.round(z, 2)}, raw {np.round(raw, 4)}, excess {np.round(excess, 4)}, p {np.round(np.exp(log_p), 3)}"
    assert abs(np.mean(excess)) < 0.25 * np.mean(raw), note
    assert -2 * np.sum(log_p) < 32.9, note


def test_coherence_of_a_planted_effect_stands_out_of_the_matched_noise_null():
    # Low-ID tokens keep their rows in B (shared structure), high-ID tokens take each other's
    # rows (scrambled), the rest move by noise: far beyond what matched noise gives.
    A, _, low, high = _structureless_pair("flat", 5)
    rng = np.random.default_rng(5)
    n, d = A.shape
    B = A + 0.4 * rng.standard_normal((n, d))
    B[low] = A[low] + 0.05 * rng.standard_normal((len(low), d))
    B[high] = A[rng.permutation(high)] + 0.05 * rng.standard_normal((len(high), d))
    r = coherence(A, B, low, high, 10, "cosine", BOOT, null_draws=20, null_seed=5)
    note = (f"low {r['jaccard_low']:.3f} high {r['jaccard_high']:.3f}, null {r['null_mean']:.4f} sd "
            f"{r['null_sd']:.4f}, vs null {r['difference_vs_null']:.4f} [{r['difference_vs_null_ci_low']:.4f}, "
            f"{r['difference_vs_null_ci_high']:.4f}], p {r['p_value']:.4f}")
    # vs null ~0.59 with an interval from ~0.56: bounds at half of that and at 10 null sds (~48 seen).
    assert r["difference_vs_null_ci_low"] > 0.3 and r["difference_vs_null"] > 10 * r["null_sd"], note
    assert r["p_value"] == r["p_min"] == pytest.approx(1 / 21), note  # beyond every draw: the floor


def test_cluster_bootstrap_is_wider_than_the_token_one_where_neighbours_move_together():
    from regeo.analyses.neighbourhoods import token_clusters

    # 60 blobs of 20 tokens; every other blob is reshuffled inside itself in B, so a token's
    # overlap is its blob's: the groups (20 blobs each) hold ~20 independent units, not 400.
    rng = np.random.default_rng(7)
    blobs, size, d = 60, 20, 16
    centres = rng.standard_normal((blobs, d)) * 4
    label = np.repeat(np.arange(blobs), size)
    A = centres[label] + rng.standard_normal((blobs * size, d))
    B = A + 0.05 * rng.standard_normal(A.shape)
    scrambled = np.isin(label, np.arange(1, blobs, 2))
    B[scrambled] = centres[label[scrambled]] + rng.standard_normal((scrambled.sum(), d))
    low, high = np.flatnonzero(label < 20), np.flatnonzero((label >= 20) & (label < 40))
    cells = token_clusters(A, size, "euclidean", 0)
    assert cells.max() + 1 == blobs
    result = {unit: coherence(A, B, low, high, 5, "euclidean", BOOT, null_draws=0, unit=unit, cluster_size=size)
              for unit in ("cluster", "token")}
    assert result["cluster"]["jaccard_low"] == result["token"]["jaccard_low"]
    assert result["cluster"]["bootstrap_unit"] == "cluster" and np.isnan(result["cluster"]["p_value"])
    for key in ("low", "difference"):
        width = {unit: r[f"{key}_ci_high"] - r[f"{key}_ci_low"] for unit, r in result.items()}
        # sqrt(design effect) ~ sqrt(20 tokens per blob, overlaps nearly equal within one): ~4.5
        # seen (0.36 vs 0.079 for the low group); 2 is far below it and far above 1.
        assert width["cluster"] > 2 * width["token"], f"{key}: {width}"
