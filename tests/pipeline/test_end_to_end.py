"""The workflow itself, through Snakemake, on the small config: outputs, reruns, kill and resume."""

import json
import os
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForCausalLM

from regeo.io import load_tensors
from snakemake_helpers import REPO, SNAKEMAKE, planned_jobs, snakemake, write_config

RUNS = ["ne-micro-s0", "ne-micro-s1", "NA-micro-s0", "NA-micro-s1"]
# The geometry jobs after new final models: the pair tables, each run's similarity over training
# and properties, the redundancy figure and the cross-model figures.
CROSS_MODEL = {"global_similarity": 1, "lle_comparison": 1, "global_similarity_merge": 1, "lle_comparison_merge": 1,
               "similarity_over_training": 4, "id_comparison": 1,
               "figure_redundancy_over_training": 1, "figure_global_similarity": 1, "figure_lle_comparison": 1,
               "figure_similarity_over_training": 1, "figure_id_comparison": 1, "properties": 4,
               "figure_properties_over_training": 1, "figure_redundancy_by_width": 1, "properties_comparison": 1,
               "postprocessed_similarity": 1}
# The ID jobs and figures after a change of what the ID measures.
ID_JOBS = {"id_dynamics": 4, "id_comparison": 1, "figure_id_over_training": 1, "figure_redundancy_over_training": 1,
           "figure_id_comparison": 1, "figure_redundancy_by_width": 1}
# The steering jobs after new final models or val splits: the two pairs of the small config, the
# summary, the tables over pairs (next-token, readings, transfer predictors) and the figures; each
# pair's judged generations, the cards and the control vectors.
STEERING = {"steering": 2, "steering_summary": 1, "figure_steering_effects": 1, "figure_steering_transfer": 1,
            "figure_steering_alignment": 1, "steering_next_token": 1, "steering_readings": 1,
            "figure_steering_next_token": 1, "steering_predictors": 1, "steering_judge": 2, "steering_cards": 1,
            "figure_steering_cards": 1, "steering_control_vectors": 1}
# The study's analyses after new final models (workflow/rules/analyses.smk), and the benchmarks of
# every final model (workflow/rules/harness.smk).
STUDY = {"figure_loss_curves": 1, "neighbourhoods": 1, "rank_knee": 1, "across_runs": 1, "harness": 1,
         "harness_summary": 1}
# ... and after new ID tables: the ones that read them.
STUDY_ID = {"neighbourhoods": 1, "across_runs": 1, "rank_knee": 1}


# `pipeline` (tests/conftest.py): the small config run once per session, shared with the SLURM tests.


def test_every_stage_produced_its_outputs(pipeline):
    results = pipeline / "results"
    for name in ("id_over_training", "id_comparison", "cross_register_loss", "register_distribution", "redundancy_over_training",
                 "global_similarity", "lle_comparison", "similarity_over_training", "steering_effects",
                 "steering_transfer", "steering_alignment", "steering_next_token", "steering_cards", "loss_curves",
                 "neighbourhood_settling", "low_high_id", "rank_knee", "rq3_correlations", "redundancy_vs_size",
                 "properties_over_training", "redundancy_by_width"):
        for ext in ("pdf", "png"):
            assert (results / "figures" / f"{name}.{ext}").stat().st_size > 5000
    for subset in ("ne", "NA"):
        assert (results / "subsets" / subset / "stats.json").is_file()
        assert (results / "tokens" / subset / "train.bin").stat().st_size == 12000 * 2
    evaluation = pd.read_parquet(results / "eval" / "cross_register.parquet")
    assert sorted(evaluation["run"].unique()) == sorted(RUNS)
    assert len(evaluation) == 8 and evaluation["loss"].between(0, 10).all()
    table = pd.read_parquet(results / "geometry" / "id" / "ne-micro-s0.parquet")
    mle = table[(table["estimator"] == "mle") & (table["embeddings"] == "input") & (table["metric"] == "euclidean")]
    assert sorted(mle["step"].unique()) == [0, 1, 2, 4, 8, 10, 20]
    assert sorted(mle["k"].unique()) == [5, 10]
    properties = pd.read_parquet(results / "geometry" / "properties" / "ne-micro-s0.parquet")
    assert sorted(properties["step"].unique()) == [0, 1, 2, 4, 8, 10, 20]
    assert (properties["token_set"] == "seen_by_step").all()
    final = properties[properties["step"] == 20]
    assert final["value"].notna().all() and final["ci_low"].notna().any()
    # The token set of each dump: the tokens that had been an input by then; none at step 0.
    assert (table["token_set"] == "seen_by_step").all() and set(table["metric"]) == {"euclidean", "cosine"}
    n_by_step = mle[mle["k"] == 5].set_index("step")["n_tokens"]
    assert n_by_step[0] == 0 and n_by_step.is_monotonic_increasing and n_by_step[20] > 100
    trained = mle[mle["step"] > 0]
    assert mle.loc[mle["step"] == 0, "value"].isna().all()
    assert trained["value"].between(1, 16).all()  # at most the width of the micro model
    assert ((trained["ci_low"] <= trained["value"]) & (trained["value"] <= trained["ci_high"])).all()
    assert trained[["null_isotropic", "null_covariance", "redundancy_vs_null"]].notna().all().all()
    comparison = pd.read_parquet(results / "geometry" / "id_comparison.parquet")
    assert sorted(comparison["run"].unique()) == sorted(RUNS) and (comparison["token_set"] == "common").all()
    assert comparison["n_tokens"].nunique() == 1  # every run analysed on the same tokens



def test_every_jobs_time_is_within_the_cost_models_factor_of_its_prediction(pipeline):
    """Each heavy job against regeo.costs on the same config: its wall time (Snakemake's benchmark
    file) under the declared runtime, its CPU time (the last line of its log) within SAFETY of the
    prediction either way. CPU time, not wall, for the factor: on a shared machine the wall time
    measures the neighbours (on a cluster a job has its cores), and the prediction is of one job
    alone on the 2-core machine of docs/benchmarks.md."""
    from regeo.costs import SAFETY
    from regeo.job_costs import measured_jobs
    from snakemake_helpers import effective_config

    jobs = measured_jobs(pipeline, effective_config(pipeline / "config.yaml"))
    assert (jobs["wall_s"] <= 60 * jobs["declared_min"]).all(), jobs
    ratio = jobs["cpu_s"] / jobs["predicted_s"]
    assert ratio.between(1 / SAFETY, SAFETY).all(), jobs.assign(ratio=ratio)
    checked = jobs["rule"].value_counts().to_dict()
    assert checked == {"id_dynamics": 4, "properties": 4, "similarity_over_training": 4, "id_comparison": 1,
                       "global_similarity": 1, "lle_comparison": 1, "evaluate": 1, "harness": 1, "steering": 2,
                       "steering_judge": 2, "properties_comparison": 1, "neighbourhoods": 1, "rank_knee": 1}


def test_cross_model_tables(pipeline):
    """Every pair of final models once (similarity) or in both orders (LLE), seed pairs present."""
    geometry = pipeline / "results" / "geometry"
    similarity = pd.read_parquet(geometry / "global_similarity.parquet")
    assert set(similarity["postprocess"]) == {"raw", "standardised", "abtt"}  # geometry.postprocess's defaults
    similarity = similarity[similarity["postprocess"] == "raw"]
    pairs = {frozenset(p) for p in zip(similarity["run_a"], similarity["run_b"])}
    assert len(pairs) == 6 and all(len(p) == 2 for p in pairs)  # 4 runs: 6 unordered pairs, no self pair
    assert sorted(similarity["embeddings"].unique()) == ["input", "output"]  # the micro preset is untied
    assert len(similarity) == 12
    assert similarity["cosine_similarity_correlation"].between(-1, 1).all()
    assert similarity["linear_cka"].between(0, 1).all()
    seeds = similarity[similarity["relation"] == "seeds"]
    assert sorted(seeds["subset_a"]) == ["NA", "NA", "ne", "ne"]  # both registers' seed pairs, input and output
    assert (seeds["subset_a"] == seeds["subset_b"]).all()
    assert (similarity.loc[similarity["relation"] == "registers", "subset_a"]
            != similarity.loc[similarity["relation"] == "registers", "subset_b"]).all()
    # Both runs' seen tokens; the vocabulary is 512, so some tokens drop out but most remain.
    assert similarity["n_tokens"].between(100, 512).all()
    lle = pd.read_parquet(geometry / "lle_comparison.parquet")
    assert set(lle["postprocess"]) == {"raw", "standardised", "abtt"}
    lle = lle[lle["postprocess"] == "raw"]
    assert len(lle) == 24 and set(zip(lle["run_a"], lle["run_b"])) == {(a, b) for a in RUNS for b in RUNS if a != b}
    assert (lle["relative_error"] > 0).all() and lle["jaccard"].between(0, 1).all()
    # After 20 steps the initialisation (set by the seed) still dominates: models of one seed share
    # far more neighbours than models of different seeds, whatever their register.
    same_seed = lle["seed_a"] == lle["seed_b"]
    assert lle.loc[same_seed, "jaccard"].min() > 2 * lle.loc[~same_seed, "jaccard"].max()
    over = pd.read_parquet(geometry / "similarity_over_training" / "ne-micro-s1.parquet")
    assert sorted(over["step"].unique()) == [0, 1, 2, 4, 8, 10, 20]
    last = over[over["step"] == 20]
    assert len(last) == 2 and (last["linear_cka"] - 1).abs().max() < 1e-9


def test_steering_tables_and_generations(pipeline):
    """Both pairs of the small config: the sweep with intervals, the native and transfer tables with
    permutation tests, adjusted p and map checks, depth alignment, readable samples, vectors and maps."""
    steering = pipeline / "results" / "steering"
    pair = pd.read_parquet(steering / "ne-micro-s0__ne-micro-s1.parquet")
    assert {"source", "target", "concept", "condition", "map", "draw", "alpha", "effect", "ci_low", "ci_high",
            "first_order", "loglik_shift", "logodds_shift", "mass_shift", "relation"} <= set(pair.columns)
    assert set(pair["relation"]) == {"seeds"}
    assert set(pair["concept"]) == {"news_vs_narrative", "the_token"}
    assert set(pair["condition"]) == {"native", "transferred", "hidden_map", "null_label", "null_pairing",
                                      "null_isotropic"}
    assert set(pair.loc[pair["condition"] == "transferred", "map"]) == {"output", "input", "both"}
    for (concept, condition, map_), rows in pair.groupby(["concept", "condition", "map"]):
        assert sorted(rows["alpha"]) == [-2.0, 2.0], (concept, condition, map_)
    assert ((pair["ci_low"] <= pair["effect"]) & (pair["effect"] <= pair["ci_high"])).all()
    samples = [json.loads(line) for line in (steering / "NA-micro-s0__ne-micro-s0.samples.jsonl").read_text().splitlines()]
    # per concept: one prompt, without steering and under (native, transferred) x 2 alphas
    assert len(samples) == 2 * (1 + 2 * 2)
    assert all(s["source"] == "NA-micro-s0" and s["target"] == "ne-micro-s0" and s["prompt"] for s in samples)
    summary = pd.read_parquet(steering / "transfer.parquet")
    # per pair and concept: the three Emb2Emb fit rows, the hidden-state map and the shuffled map
    assert len(summary) == 2 * 2 * 5 and set(zip(summary["source"], summary["target"])) == {
        ("ne-micro-s0", "ne-micro-s1"), ("NA-micro-s0", "ne-micro-s0")}
    assert set(summary["metric"]) == {"loglik", "logodds"} and (summary["n_permutations"] == 2000).all()
    assert (summary["p_adjusted"] >= summary["p_value"]).all() and (summary["adjustment"] == "holm").all()
    for column in ("effect", "first_order", "transfer_ratio", "ceiling_share"):
        both = summary[[f"{column}_ci_low", f"{column}_ci_high"]].dropna()
        assert (both[f"{column}_ci_low"] <= both[f"{column}_ci_high"]).all(), column
    emb = summary[summary["condition"] == "transferred"]
    assert (emb.groupby(["source", "target", "concept"])["default_map"].sum() == 1).all()
    assert emb["map_r2_heldout"].between(-1, 1).all() and emb["map_top10_heldout"].between(0, 1).all()
    # the maps are fit on the tokens both runs saw: most of the 512-token vocabulary, a fifth held out
    assert summary["n_shared_tokens"].between(200, 512).all()
    assert (emb["n_map_heldout"] == (0.2 * emb["n_shared_tokens"]).round()).all()
    assert summary["flag"].isin(["ok", "native_not_significant", "first_order_null_off"]).all()
    native = pd.read_parquet(steering / "native.parquet")  # once per (target, concept)
    assert len(native) == 2 * 2 and (native["p_adjusted"] >= native["p_value"]).all()
    assert len(pd.read_parquet(steering / "transfer_by_relation.parquet")) == 2 * 2 * 5  # relations x concepts x maps
    depth = pd.read_parquet(steering / "alignment_depth.parquet")
    assert len(depth) == 2 * 2 and depth["fitted_map_r2"].between(-1, 1).all()  # micro: 1 block + embeddings
    vectors = load_tensors(steering / "vectors" / "ne-micro-s0__ne-micro-s1.safetensors")
    assert set(vectors) == {f"{c}.{v}" for c in ("news_vs_narrative", "the_token")
                            for v in ("source", "native", "transferred", "transferred_input", "transferred_both",
                                      "hidden_map", "shuffled_map")}
    maps = load_tensors(steering / "maps" / "ne-micro-s0__ne-micro-s1.safetensors")
    assert maps["embedding.weight"].shape == (16, 16) and maps["hidden.weight"].shape == (16, 16)
    # the next-token distribution: every swept setting's KL with its interval, the null at |alpha| 2
    kl = pd.read_parquet(steering / "next_token_kl.parquet")
    assert len(kl) == 2 * len(pair)  # both pairs' swept settings (kl_null_draws: 0)
    assert (kl["kl"] >= 0).all() and (kl["kl_ci_low"] <= kl["kl_ci_high"]).all()
    compared = kl[kl["compared_to_null"]]
    assert set(compared["condition"]) == {"native", "transferred", "hidden_map"} and (compared["n_null_draws"] == 2).all()
    assert (compared["n_null_directions"] == 1).all()
    tops = pd.read_parquet(steering / "top_tokens.parquet")
    assert len(tops) == len(kl) * 3 * 5 and tops["token"].map(type).eq(str).all()
    readings = pd.read_parquet(steering / "vector_readings.parquet")
    assert set(readings["vector"]) == {"source_native", "target_native", "transferred"}
    assert len(readings) == 2 * 2 * 3 * 2 * 10  # pairs x concepts x vectors x (nearest, logit lens) x k
    assert set(readings.loc[readings["vector"] == "source_native", "run"]) == {"ne-micro-s0", "NA-micro-s0"}
    assert "<table" in (steering / "vector_readings.html").read_text()
    # Judged generations: per pair, concept, judged vector, alpha and measure; one card per (pair,
    # concept, vector) at the largest alpha, each judged test adjusted once across the table.
    judged = pd.read_parquet(steering / "judged.parquet")
    assert set(judged["measure"]) == {"concept", "fluency", "loss"} and set(judged["vector"]) == {"native", "transferred"}
    assert len(judged) == 2 * 2 * 2 * 1 * 3  # pairs x concepts x vectors x alphas x measures
    assert ((judged["change_ci_low"] <= judged["change"]) & (judged["change"] <= judged["change_ci_high"])).all()
    assert (judged["p_value"] >= judged["p_min"]).all() and judged["judge_accuracy"].dropna().between(0, 1).all()
    cards = pd.read_parquet(steering / "cards.parquet")
    assert len(cards) == 2 * 2 * 2 and cards["effect"].notna().all()
    assert (cards["n_tests"] == 2 * 2 * 2 * 3).all()  # no self pair; each native vector has one target
    assert cards["concept_p_adjusted"].notna().all() and "<table" in (steering / "cards.html").read_text()
    # (Snakemake keeps a .snakemake_timestamp in a directory output)
    gguf_files = sorted(p.name for p in (steering / "vectors" / "ne-micro-s0__ne-micro-s1").glob("*.gguf"))
    assert gguf_files == sorted(f"{name}.gguf" for name in vectors)  # one control vector per saved vector


def test_study_analyses(pipeline):
    """Neighbourhoods, the rank knee and the across-run tables of the small config's four runs."""
    analyses = pipeline / "results" / "analyses"
    settling = pd.read_parquet(analyses / "neighbourhood_settling.parquet")
    everyone = settling[settling["token"] == "<all>"].set_index(["run", "step"])["jaccard"]
    assert (everyone.xs(20, level="step") == 1).all()  # the final dump against itself
    start = everyone.xs(0, level="step")
    assert (start < 0.9).all() and (start > settling["chance"].max()).all()  # 20 steps keep part of the init
    settled = pd.read_parquet(analyses / "neighbourhood_settled.parquet")
    assert settled["settled_step"].isin([0, 1, 2, 4, 8, 10, 20]).all() and (settled["token"] != "<all>").any()
    coherence = pd.read_parquet(analyses / "id_coherence.parquet")
    assert set(zip(coherence["run"], coherence["partner"])) == {
        ("ne-micro-s0", "ne-micro-s1"), ("ne-micro-s1", "ne-micro-s0"),
        ("NA-micro-s0", "NA-micro-s1"), ("NA-micro-s1", "NA-micro-s0")}
    assert coherence[["jaccard_low", "jaccard_high"]].stack().between(0, 1).all()
    assert (coherence["difference_ci_low"] <= coherence["difference"]).all()
    listed = pd.read_parquet(analyses / "low_high_id.parquet")
    for run, rows in listed.groupby("run"):
        assert len(rows) == 20 and rows.loc[rows["group"] == "low", "id_value"].max() < \
            rows.loc[rows["group"] == "high", "id_value"].min()
        assert all(len(n) == 10 for n in rows["neighbours"])
    knee = pd.read_parquet(analyses / "rank_knee_summary.parquet")
    assert sorted(knee["run"]) == sorted(RUNS) and (knee["d"] == 16).all()
    assert knee["knee_svd"].between(1, 16).all() and knee["null_rank"].between(1, 15).all()
    curve = pd.read_parquet(analyses / "rank_knee.parquet")
    assert curve.loc[curve["rank"] == 16, "excess"].abs().max() < 1e-4  # rank d is the full model
    rq3 = pd.read_parquet(analyses / "rq3_correlations.parquet")
    assert rq3["verdict"].str.startswith("too few subsets: 2").all() and (rq3["n_runs"] == 4).all()
    differences = pd.read_parquet(pipeline / "results" / "geometry" / "id_comparison_differences.parquet")
    assert set(zip(differences["subset_a"], differences["subset_b"])) == {("NA", "ne")}
    assert (differences["ci_low"] <= differences["ci_high"]).all() and (differences["seed_spread"] >= 0).all()
    registers = pd.read_parquet(analyses / "register_tests.parquet")
    # 2 subsets x 2 seeds, labels permuted within seeds: 2! x 2! orders, 2 of which only rename
    assert (registers["design"] == "seed-blocked").all() and (registers["n_permutations"] == 3).all()
    np.testing.assert_allclose(registers["p_min"], 0.5)
    assert (registers["p_adjusted"] >= registers["p_value"]).all() and not registers["significant"].any()
    size = pd.read_parquet(analyses / "redundancy_by_size.parquet")
    assert set(size["d"]) == {16} and (size["token_set"] == "common").all()


def test_regeo_explain_reads_the_pipelines_results(pipeline, capsys):
    from regeo.cli import main

    args = ["explain", "--results", str(pipeline / "results"), "--config", str(pipeline / "config.yaml"), "--run",
            "ne-micro-s0", "--json", "--k", "5"]
    assert main([*args, "--token", " the"]) == 0
    reading = json.loads(capsys.readouterr().out)
    assert reading["step"] == 20 and len(reading["nearest"]) == len(reading["logit_lens"]) == 5
    assert " the" not in [r["token"] for r in reading["nearest"]] and reading["lens_norm"].startswith("final")
    assert main([*args, "--text", "The minister said", "--layer", "1"]) == 0
    assert len(json.loads(capsys.readouterr().out)["logit_lens"]) == 5


def test_final_model_loads_and_matches_last_dump(pipeline):
    run = pipeline / "results" / "runs" / "NA-micro-s1"
    model = AutoModelForCausalLM.from_pretrained(run / "model")
    last = load_tensors(run / "embeddings" / "step0000020.safetensors")
    assert torch.equal(model.get_input_embeddings().weight, last["input"])


def test_unchanged_config_plans_nothing(pipeline):
    assert planned_jobs(pipeline) == {}


@pytest.mark.parametrize(
    "change, expected",
    [
        # a geometry value: ID jobs and the figure after them, never training
        ({"geometry": {"id": {"ks": [5, 8, 10]}}}, {**ID_JOBS, **STUDY_ID, "manifest": 1, "all": 1}),
        # a null: the ID jobs and figures only
        ({"geometry": {"id": {"nulls": ["isotropic"]}}}, {**ID_JOBS, **STUDY_ID, "manifest": 1, "all": 1}),
        # a null of the register comparison only: that table and what reads it, no ID over training
        ({"geometry": {"id": {"comparison_nulls": ["isotropic"]}}},
         {"id_comparison": 1, "figure_id_comparison": 1, "across_runs": 1, "rank_knee": 1, "manifest": 1, "all": 1}),
        # the comparison's distances likewise
        ({"geometry": {"id": {"comparison_metrics": ["euclidean"]}}},
         {"id_comparison": 1, "figure_id_comparison": 1, "across_runs": 1, "rank_knee": 1, "manifest": 1, "all": 1}),
        # the bootstrap: every geometry table with intervals and its figure, nothing before them
        ({"geometry": {"bootstrap": {"replicates": 100}}},
         {**ID_JOBS, **CROSS_MODEL, **STUDY_ID, "rank_knee": 1, "manifest": 1, "all": 1}),
        # the global similarity: its pair table, each run's table over training, their figures, the
        # raw-against-postprocessed test
        ({"geometry": {"similarity": {"sample_size": 50}}},
         {"global_similarity": 1, "global_similarity_merge": 1, "similarity_over_training": 4, "figure_global_similarity": 1,
          "figure_similarity_over_training": 1, "across_runs": 1, "postprocessed_similarity": 1, "manifest": 1,
          "all": 1}),
        # the LLE comparison: its table and figure only
        ({"geometry": {"lle": {"k": 6}}}, {"lle_comparison": 1, "lle_comparison_merge": 1, "figure_lle_comparison": 1,
                                           "postprocessed_similarity": 1, "manifest": 1, "all": 1}),
        # the property suite: each run's properties table, their figure and RQ3, which reads them
        ({"geometry": {"properties": {"tops": [1, 3]}}},
         {"properties": 4, "figure_properties_over_training": 1, "properties_comparison": 1, "across_runs": 1,
          "manifest": 1, "all": 1}),
        # a training value: every run and everything downstream, but no data or tokenizer job
        ({"training": {"lr": 0.002}}, {"train": 4, "id_dynamics": 4, "evaluate": 1, "evaluate_merge": 1, **CROSS_MODEL, **STEERING, **STUDY,
                                        "figure_id_over_training": 1, "figure_cross_register": 1, "manifest": 1, "all": 1}),
        # a labeling rule: labels and everything after them, never the corpus or its probabilities
        ({"registers": {"min_chars": 300}}, {"registers": 1, "subset": 2, "tokenizer": 1, "tokens": 2, "train": 4,
                                              "harness_tasks": 1,

                                              "id_dynamics": 4, "evaluate": 1, "evaluate_merge": 1, "figure_register_distribution": 1,
                                              **CROSS_MODEL, **STEERING, **STUDY,
                                              "figure_id_over_training": 1, "figure_cross_register": 1,
                                              "manifest": 1, "all": 1}),
        # an evaluation value: evaluation and its figure only
        ({"evaluation": {"max_batches": 1}}, {"evaluate": 1, "evaluate_merge": 1, "figure_cross_register": 1, "across_runs": 1,
                                              "harness_summary": 1, "manifest": 1, "all": 1}),
        # the token budget: token files and everything after them
        ({"subsets": {"val_tokens": 2500}}, {"subset": 2, "tokenizer": 1, "tokens": 2, "train": 4, "id_dynamics": 4,
                                             "harness_tasks": 1,

                                             "evaluate": 1, "evaluate_merge": 1, "figure_id_over_training": 1, **CROSS_MODEL, **STEERING, **STUDY,
                                             "figure_cross_register": 1, "manifest": 1, "all": 1}),
        # one more seed: only the new run's jobs and the tables that gather all runs
        ({"training": {"runs": [{"subsets": "all", "presets": ["micro"], "seeds": [0, 1, 2]}]}},
         {"train": 2, "id_dynamics": 2, "evaluate": 1, "evaluate_merge": 1, "figure_id_over_training": 1,
          **CROSS_MODEL, **STUDY, "similarity_over_training": 2, "properties": 2,
          "figure_cross_register": 1,
          "manifest": 1, "all": 1}),
        # the steering alphas: the pair jobs, their summary and figures, nothing before them
        ({"steering": {"alphas": [-1, 1]}}, {**STEERING, "manifest": 1, "all": 1}),
        # one more pair: that pair's job, the summary and the figures, not the other pairs
        ({"steering": {"pairs": [{"source": "ne-micro-s0", "target": "ne-micro-s1"},
                                 {"source": "NA-micro-s0", "target": "ne-micro-s0"},
                                 {"source": "ne-micro-s1", "target": "ne-micro-s0"}]}},
         {**STEERING, "steering": 1, "steering_judge": 1, "manifest": 1, "all": 1}),
        # one pair's own settings: that pair's job and what gathers all pairs, not the other pair
        ({"steering": {"pairs": [{"source": "ne-micro-s0", "target": "ne-micro-s1"},
                                 {"source": "NA-micro-s0", "target": "ne-micro-s0",
                                  "settings": {"texts_per_side": 4, "vector_skip_positions": 1}}]}},
         {**STEERING, "steering": 1, "steering_judge": 1, "manifest": 1, "all": 1}),
        # a judge setting: the judge jobs, the cards and their figure, never the pair jobs
        ({"steering": {"judge": {"alphas": [1]}}},
         {"steering_judge": 2, "steering_cards": 1, "figure_steering_cards": 1, "manifest": 1, "all": 1}),
        # the study's analyses: each value reruns its own rule (and the figures drawn from it) only
        ({"analyses": {"neighbourhoods": {"k": 6}}}, {"neighbourhoods": 1, "manifest": 1, "all": 1}),
        ({"analyses": {"rank_knee": {"tolerance": 0.05}}}, {"rank_knee": 1, "across_runs": 1, "manifest": 1, "all": 1}),
        ({"analyses": {"across_runs": {"min_subsets": 5}}}, {"across_runs": 1, "manifest": 1, "all": 1}),
        # a benchmark setting: every model's benchmark job and what reads them, nothing before them
        ({"harness": {"num_fewshot": 1}}, {"harness": 1, "harness_summary": 1, "across_runs": 1, "manifest": 1,
                                           "all": 1}),
    ],
    ids=["geometry.id.ks", "geometry.id.nulls", "geometry.id.comparison_nulls", "geometry.id.comparison_metrics", "geometry.bootstrap.replicates", "geometry.similarity.sample_size", "geometry.lle.k", "geometry.properties.tops", "training.lr", "registers.min_chars", "evaluation.max_batches", "subsets.val_tokens", "training.runs", "steering.alphas", "steering.pairs", "steering.pairs[].settings", "steering.judge.alphas", "analyses.neighbourhoods.k", "analyses.rank_knee.tolerance", "analyses.across_runs.min_subsets", "harness.num_fewshot"],
)
def test_a_config_change_reruns_only_what_uses_it(pipeline, change, expected):
    write_config(pipeline, change)
    try:
        assert planned_jobs(pipeline) == expected
    finally:
        write_config(pipeline)


def test_sigkill_of_the_whole_workflow_resumes_training(pipeline, tmp_path):
    """Kill Snakemake and its training job mid-run; the rerun resumes and ends where a clean run ends."""
    slow = {"training": {"steps": 400, "checkpoint_every": 100, "state_every": 20,
                         "runs": [{"subsets": ["ne"], "presets": ["micro"], "seeds": [0]}]},
            "steering": {"pairs": []}}  # the small config's pairs name runs this one lacks
    target = "results/runs/ne-micro-s0/train_log.csv"
    clean = tmp_path / "clean"
    clean.mkdir()
    write_config(clean, slow)
    snakemake(clean, target)

    killed = tmp_path / "killed"
    killed.mkdir()
    write_config(killed, slow)
    progress = killed / "results/runs/ne-micro-s0/state/latest/progress.json"
    command = [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(killed),
               "--configfile", str(killed / "config.yaml"), "--cores", "2", target]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while not progress.is_file() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert progress.is_file(), "training never saved a state"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / target).exists()

    snakemake(killed, "--unlock")  # a killed Snakemake leaves its lock, as for any user
    snakemake(killed, target)  # the default profile has rerun-incomplete
    log = (killed / "logs/train/ne-micro-s0.log").read_text()
    assert "resuming from the state saved at step" in log
    for step in (0, 100, 400):
        name = f"results/runs/ne-micro-s0/embeddings/step{step:07d}.safetensors"
        a, b = load_tensors(clean / name), load_tensors(killed / name)
        assert torch.equal(a["input"], b["input"]) and torch.equal(a["output"], b["output"])


def test_manifest_records_every_output_with_its_params(pipeline):
    import json

    manifest = json.loads((pipeline / "results" / "manifest.json").read_text())
    outputs = manifest["outputs"]
    train = outputs["results/runs/ne-micro-s1/train_log.csv"]
    assert train["rule"] == "train" and train["params"]["train"]["seed"] == 1
    assert train["params"]["train"]["training"]["steps"] == 20
    assert set(train["inputs"]) >= {"results/tokens/ne/train.bin", "results/tokenizer"}
    assert outputs["results/geometry/id/NA-micro-s0.parquet"]["params"]["id"]["ks"] == [5, 10]
    assert manifest["software"]["packages"]["torch"]
    assert all(len(entry["sha256"]) == 64 for entry in outputs.values())
