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
    assert len(split.vector) == len(split.heldout) == len(split.ceiling) == 4
    # Documents dealt in turn: 0 and 3 to the vectors, 1 and 4 held out, 2 and 5 to the ceiling.
    assert {doc for doc, _ in split.ids["vector"]} == {0, 3} and {doc for doc, _ in split.ids["ceiling"]} == {2, 5}
    assert {doc for doc, _ in split.ids["heldout"]} == {1, 4}
    assert all(text.split()[0] in ("doc1", "doc4") or text.split()[0][1] in "14" for text in split.heldout)
    # Evenly spread: the first and the last passage of the vector side's documents are kept.
    assert split.vector[0].startswith("doc0") and "w3x29" in split.vector[-1]
    single = subset_texts([documents[0]], passage_chars=40, per_side=100)
    sides = [set(single.vector), set(single.heldout), set(single.ceiling)]
    assert all(sides) and not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
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
        max_new_tokens=4, kl_null_draws=1, device="cpu", methods=["mean_difference", "probe"], method_permutations=99,
        sweep_depths=[0.5, 1.0])
    section.update(changes)
    return {k: v for k, v in section.items() if k not in ("pairs", "all_pairs_among", "threads")}


def test_build_concepts_from_subsets(val_paths):
    params = steering_params()
    contrast, tokens = build_concepts(params["concepts"], val_paths, params["passage_chars"], params["texts_per_side"])
    assert contrast.vector == "texts" and tokens.vector == "tokens"
    assert len(contrast.positive) == len(contrast.heldout_negative) == 10
    assert all("i think" not in t and "honestly" not in t for t in contrast.positive)  # news texts only
    assert not set(contrast.positive) & set(contrast.heldout_positive)
    assert len(contrast.ceiling) == 20 and not set(contrast.ceiling) & set(contrast.positive + contrast.heldout_positive)
    assert set(tokens.ceiling) <= set(contrast.ceiling)  # the opinion subset's ceiling passages
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
        ("sweep", "parquet"), ("summary", "summary.parquet"), ("native", "native.parquet"), ("depth", "depth.parquet"),
        ("next_token", "next_token.parquet"), ("top_tokens", "top_tokens.parquet"), ("samples", "samples.jsonl"),
        ("vectors", "vectors.safetensors"), ("maps", "maps.safetensors"), ("passages", "passages.parquet"),
        ("depth_effects", "depth_effects.parquet"))}


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
                    [str(out / "pair.native.parquet"), str(out / "self.native.parquet")],
                    [str(out / "pair.depth.parquet"), str(out / "self.depth.parquet")],
                    out / "transfer.parquet", out / "native.parquet", out / "by_relation.parquet", out / "depth.parquet",
                    "holm", depth_effect_paths=[str(out / f"{n}.depth_effects.parquet") for n in ("pair", "self")],
                    depth_effect_path=out / "depth_effects.parquet",
                    passage_paths=[str(out / f"{n}.passages.parquet") for n in ("pair", "self")],
                    passage_path=out / "passages.parquet")
    return out


def test_pair_job_writes_its_tables_generations_vectors_and_maps(pair_files):
    table = pd.read_parquet(pair_files / "pair.parquet")
    assert set(table["source"]) == {"news-p64-s0"} and set(table["target"]) == {"news-p128-s0"}
    assert set(table["relation"]) == {"presets"}
    # 2 concepts x ((native, transferred through 3 maps, hidden_map) x 4 alphas + 3 checked null
    # draws (permutation in B and through the default map, isotropic) x 2 alphas), and for the
    # probe method (native, default map's transfer) x 4 alphas
    assert len(table) == 2 * (5 * 4 + 3 * 2) + 2 * 2 * 4
    assert set(table["method"]) == {"mean_difference", "probe"}
    table = table[table["method"] == "mean_difference"]
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
    assert vectors["positive_adj.transferred@probe"].shape == (128,) and "positive_adj.hidden_map@probe" not in vectors
    with safe_open(pair_files / "pair.maps.safetensors", "pt") as f:
        meta = json.loads(f.metadata()["regeo"])
        assert f.get_tensor("embedding.weight").shape == (128, 64)
    assert meta["source"] == "news-p64-s0" and meta["layer_target"] == "1" and meta["fit_rows"] == "output"
    native = pd.read_parquet(pair_files / "pair.native.parquet")
    assert len(native) == 2 * 2 and set(native["target_preset"]) == {"p128"} and "relation" not in native
    for column in ("anti_steerable_fraction", "anti_steerable_fraction_ci_low", "anti_steerable_fraction_ci_high",
                   "coherence"):
        assert native[column].between(-1, 1).all()
    # Per held-out passage: every swept condition of each method (5 for the default, 2 for the probe).
    passages = pd.read_parquet(pair_files / "pair.passages.parquet")
    n_heldout = int(native["n_heldout_positive"].iloc[0] + native["n_heldout_negative"].iloc[0])
    assert len(passages[passages["concept"] == "news_vs_opinion"]) == (5 + 2) * n_heldout
    # The layer sweep: 2 depths (blocks 0 and 1 of 2 into blocks 1 and 3 of 4), 2 conditions, 2 concepts.
    sweep = pd.read_parquet(pair_files / "pair.depth_effects.parquet")
    assert len(sweep) == 2 * 2 * 2 and set(sweep["layer_target"]) == {1, 3}
    assert (sweep.groupby(["concept", "condition"])["is_best"].sum() == 1).all()
    assert (sweep["best_depth_ci_low"] <= sweep["best_depth_ci_high"]).all()


def test_summary_of_pairs(pair_files):
    transfer = pd.read_parquet(pair_files / "transfer.parquet")
    native = pd.read_parquet(pair_files / "native.parquet")
    probe = transfer[transfer["method"] == "probe"]
    assert len(probe) == 2 * 2 and set(probe["map"]) == {"output"}
    assert set(probe.loc[probe["relation"] != "self", "family"]) == {"transfer: output / probe"}
    assert set(native.loc[native["method"] == "probe", "family"]) == {"native / probe"}
    assert (probe["n_permutations"] == 99).all()
    transfer = transfer[transfer["method"] == "mean_difference"]
    native = native[native["method"] == "mean_difference"].set_index(["target", "concept"])
    # A row per pair, concept and map (3 embedding maps, the hidden-state map, the shuffled map).
    assert len(transfer) == 2 * 2 * 5 and set(transfer["metric"]) == {"loglik", "logodds"}
    assert set(transfer["map"]) == {"output", "input", "both", "hidden_states", "shuffled_output"}
    # Native results once per (target, concept), whatever the number of pairs into the target.
    assert len(native) == 4 and (native["n_pair_jobs"] == 1).all() and (native["family"] == "native").all()
    self_rows = transfer[transfer["relation"] == "self"]
    assert np.allclose(self_rows["transfer_ratio"].dropna(), 1.0) and self_rows["p_adjusted"].isna().all()
    cross = transfer[transfer["relation"] == "presets"]
    # Holm within each map's family of non-self tests (here one pair x two concepts).
    for map_, family in cross.groupby("map"):
        assert (family["family"] == f"transfer: {map_}").all() and len(family) == 2
        assert (family["p_adjusted"] >= family["p_value"]).all() and family["p_adjusted"].max() <= 1
        assert (family["significant"] == (family["p_adjusted"] < 0.05)).all()
    assert (cross["n_permutations"] == 2000).all() and (cross["p_min"] == 1 / 2001).all()
    # The native table's verdicts, on the adjusted p, reach the transfer rows.
    tokens = native.loc[("news-p128-s0", "positive_adj")]
    assert tokens["p_adjusted"] >= tokens["p_value"] and tokens["significant"] == (tokens["p_adjusted"] < 0.05)
    row = cross[(cross["concept"] == "positive_adj") & cross["default_map"]].iloc[0]
    assert row["native_significant"] == tokens["significant"]
    assert row["flag"] == ("ok" if row["native_significant"] and row["null_check_error"] <= 1 else
                           "native_not_significant" if not row["native_significant"] else "first_order_null_off")
    assert row["d_source"] == 64 and row["d_target"] == 128 and row["n_layers_target"] == 4
    assert row["transfer_ratio_ci_low"] <= row["transfer_ratio_ci_high"]
    relations = pd.read_parquet(pair_files / "by_relation.parquet")
    assert set(relations["relation"]) == {"presets"} and (relations["n_pairs"] == 1).all()
    assert set(relations["method"]) == {"mean_difference", "probe"}
    sweep = pd.read_parquet(pair_files / "depth_effects.parquet")
    native_sweep = sweep[sweep["condition"] == "native"]
    # Native rows: one test per (target, concept, depth), whichever pair job computed it.
    assert native_sweep.drop_duplicates(["target", "concept", "layer_target"])["p_adjusted"].notna().sum() == 2 * 2 * 2
    assert sweep.loc[sweep["source"] == sweep["target"], "family"].isin(["depth: native",
                                                                        "not tested (self-transfer)"]).all()
    assert (sweep["p_adjusted"].dropna() >= sweep.loc[sweep["p_adjusted"].notna(), "p_value"]).all()
    assert len(pd.read_parquet(pair_files / "passages.parquet")) > 0
    depth = pd.read_parquet(pair_files / "depth.parquet")
    assert len(depth) == 3 + 3 and set(depth["target"]) == {"news-p128-s0", "news-p64-s0"}


def test_fit_tokens_seen_by_both_runs(model_dirs, tmp_path, tokenizer):
    vocab = len(tokenizer)
    counts = pd.DataFrame({"token_id": np.arange(vocab), "count": np.r_[np.zeros(5), np.ones(vocab - 5)]})
    counts.to_parquet(tmp_path / "counts.parquet")
    ids = fit_token_ids(model_dirs["a"], model_dirs["b"], tmp_path / "counts.parquet", None, min_count=1)
    assert list(ids) == list(range(5, vocab))
    assert fit_token_ids(model_dirs["a"], model_dirs["b"], tmp_path / "counts.parquet", None, min_count=0) is None
