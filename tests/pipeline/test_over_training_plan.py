"""The benchmarks over training plan from the config alone (issue 30): off by default; with
training.save_models_at every trained run saves those steps and the harness scores each, and an
external run's save_models_at saves and scores its checkpoints the same way."""

from __future__ import annotations

import os
import re

import pytest

from snakemake_helpers import job_counts, snakemake, write_config

EXTERNAL = {"name": "tiny-neox", "model": "/checkpoints/step{step}", "steps": [0, 1, 2, 4],
            "save_models_at": [1, 4]}


def _plan(workdir, changes):
    write_config(workdir, changes)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = snakemake(workdir, "--dry-run", env=env)
    return proc.stdout + proc.stderr


def test_off_by_default(tmp_path):
    counts = job_counts(_plan(tmp_path, {}))
    assert counts["train"] > 0 and not {"harness_step", "harness_over_training", "external_step_model"} & set(counts)


def test_steps_of_trained_and_external_runs_are_saved_and_scored(tmp_path):
    text = _plan(tmp_path, {"training": {"save_models_at": [0, 10]}, "external": [EXTERNAL]})
    counts = job_counts(text)
    trained = counts["train"]
    assert counts["harness_step"] == 2 * trained + 2 and counts["harness_over_training"] == 1
    assert counts["external_step_model"] == 2
    steps = set(re.findall(r"wildcards: run=([^,\s]+), name=(step\d{7})", text))
    assert ("tiny-neox", "step0000001") in steps and ("tiny-neox", "step0000004") in steps
    assert "results/harness/over_training.parquet" in text and "benchmarks_over_training.png" in text


def test_a_step_past_training_stops_the_dry_run(tmp_path):
    write_config(tmp_path, {"training": {"save_models_at": [10_000]}})
    proc = snakemake(tmp_path, "--dry-run", check=False)
    assert proc.returncode != 0 and "training.save_models_at: steps [10000] are outside" in proc.stdout + proc.stderr
