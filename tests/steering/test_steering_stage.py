"""The steering stage: config concepts to texts, one pair job's files, and the summary over pairs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from safetensors import safe_open
from steering_models import POSITIVE_ADJ, texts

from regeo.config import validate_config
from regeo.io import RegeoInputError, load_tensors
from regeo.stages.steering import fit_token_ids, steering_pair
from regeo.steering.concepts import build_concepts
from regeo.steering.config import SteeringConfig
from regeo.steering.passages import passages, subset_texts
from regeo.steering.summary import summarise_files
from regeo.token_sets import relation

RUN = {"name": "news-p64-s0", "subset": "news", "preset": "p64", "seed": 0}


def test_passages_cut_at_whitespace_and_keep_every_word():
    text = "one two three four five six seven"
    pieces = passages(text, 10)
    assert pieces == ["one two", "three four", "five six", "seven"]
    assert all(len(p) <= 10 for p in pieces)
    assert passages("averyveryverylongword tail", 5) == ["averyveryverylongword", "tail"]


def test_subset_texts_split_by_document():
    documents = [f"doc{i} " + " ".join(f"w{i}x{j}" for j in range(30)) for i in range(6)]
    split = subset_texts(documents, passage_chars=40, per_side=4)
    assert len(split.vector) == len(split.heldout) == 4
    vector_docs = {p.split("x")[0] for p in split.vector}
    heldout_docs = {p.split("x")[0] for p in split.heldout}
    assert not ({d.replace("doc", "w") for d in vector_docs} & {d.replace("doc", "w") for d in heldout_docs})
    # Evenly spread: the first and the last passage of the vector side's documents are kept.
    assert split.vector[0].startswith("doc0") and "w4x29" in split.vector[-1]
    single = subset_texts([documents[0]], passage_chars=40, per_side=100)
    assert single.vector and single.heldout and not set(single.vector) & set(single.heldout)
    with pytest.raises(RegeoInputError, match="no non-empty val documents"):
        subset_texts(["   "], 40, 4)


@pytest.fixture(scope="module")
def val_paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("subsets")
    paths = {}
    for subset, kind in (("news", "news"), ("opinion", "opinion")):
        path = root / subset / "val.parquet"
        path.parent.mkdir()
        pd.DataFrame({"text": texts(kind, 24, 5, sentences=6)}).to_parquet(path)
        paths[subset] = str(path)
    return paths


def steering_params(**changes) -> dict:
    """The steering section as the rule passes it: schema defaults, cheap settings, synthetic concepts."""
    section = validate_config({})["steering"]
    section.update(concepts=[
        {"name": "news_vs_opinion", "kind": "contrast", "positive": "news", "negative": "opinion", "texts": None,
         "tokens": [], "prompts": []},
        {"name": "positive_adj", "kind": "tokens", "texts": "opinion", "tokens": POSITIVE_ADJ, "positive": None,
         "negative": None, "prompts": ["i think the film was"]},
    ], passage_chars=120, texts_per_side=10, alphas=[-2, -1, 1, 2], max_length=40, n_null=32, bootstrap_replicates=100, n_generate=1,
        max_new_tokens=4, kl_null_draws=1, device="cpu")
    section.update(changes)
    return {k: v for k, v in section.items() if k not in ("pairs", "all_pairs_among", "threads")}


def test_build_concepts_from_subsets(val_paths):
    params = steering_params()
    contrast, tokens = build_concepts(params["concepts"], val_paths, params["passage_chars"], params["texts_per_side"])
    assert contrast.vector == "texts" and tokens.vector == "tokens"
    assert len(contrast.positive) == len(contrast.heldout_negative) == 10
    assert all("i think" not in t and "honestly" not in t for t in contrast.positive)  # news texts only
    assert not set(contrast.positive) & set(contrast.heldout_positive)
    assert tokens.target_tokens == POSITIVE_ADJ and tokens.prompts == ["i think the film was"]
    assert tokens.heldout_positive and not tokens.heldout_negative
    with pytest.raises(RegeoInputError, match="no val split given for subset 'opinion'"):
        build_concepts(params["concepts"], {"news": val_paths["news"]}, 120, 10)


def test_steering_config_takes_the_library_fields():
    cfg = SteeringConfig.from_params(steering_params())
    assert isinstance(cfg, SteeringConfig)
    assert cfg.alphas == (-2.0, -1.0, 1.0, 2.0) and cfg.max_length == 40 and cfg.device == "cpu"


def test_relation():
    other_seed, other_size = dict(RUN, seed=1, name="news-p64-s1"), dict(RUN, preset="p128", name="news-p128-s0")
    other_register = dict(RUN, subset="opinion", name="opinion-p64-s0")
    assert relation(RUN, RUN) == "self" and relation(RUN, other_seed) == "seeds"
    assert relation(RUN, other_size) == "presets" and relation(RUN, other_register) == "registers"


def _outputs(root, name: str) -> dict:
    return {kind: root / f"{name}.{suffix}" for kind, suffix in (
        ("sweep", "parquet"), ("summary", "summary.parquet"), ("depth", "depth.parquet"),
        ("next_token", "next_token.parquet"), ("top_tokens", "top_tokens.parquet"), ("samples", "samples.jsonl"), ("vectors", "vectors.safetensors"), ("maps", "maps.safetensors"))}


@pytest.fixture(scope="module")
def pair_files(model_dirs, val_paths, tmp_path_factory):
    out = tmp_path_factory.mktemp("steering")
    runs = {"source": dict(RUN), "target": {**RUN, "name": "news-p128-s0", "preset": "p128"}}
    steering_pair(steering_params(), str(model_dirs["a"]), str(model_dirs["b"]), val_paths,
                  {"source": None, "target": None}, runs, _outputs(out, "pair"))
    self_runs = {"source": runs["source"], "target": runs["source"]}
    steering_pair(steering_params(), str(model_dirs["a"]), str(model_dirs["a"]), val_paths,
                  {"source": None, "target": None}, self_runs, _outputs(out, "self"))
    summarise_files([str(out / "pair.summary.parquet"), str(out / "self.summary.parquet")],
                    [str(out / "pair.depth.parquet"), str(out / "self.depth.parquet")],
                    out / "transfer.parquet", out / "depth.parquet")
    return out


def test_pair_job_writes_its_tables_generations_vectors_and_maps(pair_files):
    table = pd.read_parquet(pair_files / "pair.parquet")
    assert set(table["source"]) == {"news-p64-s0"} and set(table["target"]) == {"news-p128-s0"}
    assert set(table["relation"]) == {"presets"}
    # 2 concepts x ((native, transferred, hidden_map) x 4 alphas + 2 checked null draws x 2 alphas)
    assert len(table) == 2 * (3 * 4 + 2 * 2)
    assert table.loc[table["concept"] == "news_vs_opinion", "logodds_shift"].isna().all()  # no target tokens
    # the next-token KL of every swept setting, plus the KL-only null draws at the largest alpha
    kl = pd.read_parquet(pair_files / "pair.next_token.parquet")
    assert len(kl) == len(table) + 2 * steering_params()["kl_null_draws"]
    assert set(kl["relation"]) == {"presets"} and (kl["kl"] >= 0).all()
    tops = pd.read_parquet(pair_files / "pair.top_tokens.parquet")
    assert len(tops) == len(kl) * 3 * steering_params()["top_tokens"]
    records = [json.loads(line) for line in (pair_files / "pair.samples.jsonl").read_text().splitlines()]
    # per concept: 1 prompt x (none + (native, transferred) x 4 alphas)
    assert len(records) == 2 * (1 + 2 * 4)
    assert {r["concept"] for r in records} == {"news_vs_opinion", "positive_adj"}
    assert all(r["source"] == "news-p64-s0" and isinstance(r["completion"], str) for r in records)
    assert {r["prompt"] for r in records if r["concept"] == "positive_adj"} == {"i think the film was"}
    vectors = load_tensors(pair_files / "pair.vectors.safetensors")
    assert vectors["positive_adj.transferred"].shape == (128,) and vectors["positive_adj.source"].shape == (64,)
    with safe_open(pair_files / "pair.maps.safetensors", "pt") as f:
        meta = json.loads(f.metadata()["regeo"])
        assert f.get_tensor("embedding.weight").shape == (128, 64)
    assert meta["source"] == "news-p64-s0" and meta["layer_target"] == "1" and meta["fit_rows"] == "input"


def test_summary_of_pairs(pair_files):
    summary = pd.read_parquet(pair_files / "transfer.parquet").set_index(["target", "concept"])
    assert len(summary) == 4 and set(summary["metric"]) == {"loglik", "logodds"}
    self_rows = summary.loc["news-p64-s0"]
    assert (self_rows["relation"] == "self").all()
    assert np.allclose(self_rows["transfer_ratio"], 1.0) and self_rows["native_significant"].all()
    # Across widths: the native vector acts far beyond the null, so its ratios are defined
    # (how much of it the map carries is what the study measures, not a property to assert here).
    cross = summary.loc[("news-p128-s0", "news_vs_opinion")]
    assert cross["native_significant"] and abs(cross["native_z_first_order"]) > 5
    assert np.isfinite(cross["transfer_ratio"]) and cross["transfer_ratio_ci_low"] <= cross["transfer_ratio_ci_high"]
    assert cross["d_source"] == 64 and cross["d_target"] == 128 and cross["n_layers_target"] == 4
    depth = pd.read_parquet(pair_files / "depth.parquet")
    assert len(depth) == 3 + 3 and set(depth["target"]) == {"news-p128-s0", "news-p64-s0"}


def test_fit_tokens_seen_by_both_runs(model_dirs, tmp_path, tokenizer):
    vocab = len(tokenizer)
    counts = pd.DataFrame({"token_id": np.arange(vocab), "count": np.r_[np.zeros(5), np.ones(vocab - 5)]})
    counts.to_parquet(tmp_path / "counts.parquet")
    ids = fit_token_ids(model_dirs["a"], model_dirs["b"], tmp_path / "counts.parquet", None, min_count=1)
    assert list(ids) == list(range(5, vocab))
    assert fit_token_ids(model_dirs["a"], model_dirs["b"], tmp_path / "counts.parquet", None, min_count=0) is None
