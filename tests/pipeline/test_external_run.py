"""An external model's checkpoints as a run, through Snakemake: the small config plus an `external`
entry pointing at tiny random GPT-NeoX checkpoints saved locally, one directory per revision."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from regeo.dumps import dump_name, read_dump
from regeo.config import external_runs, runs, validate_config
from regeo.io import tensor_metadata
from regeo.tokenizer import load_tokenizer
from snakemake_helpers import job_counts, snakemake, write_config

sys.path.insert(0, str(Path(__file__).parents[1] / "external"))
from tiny_models import PAD_ROWS, save_revisions, tiny_tokenizer  # noqa: E402

NAME = "tiny-neox"
STEPS = [0, 1, 2, 4, 8]
OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("external-run")
    tokenizer = tiny_tokenizer()
    save_revisions(workdir / "checkpoints", STEPS, tokenizer=tokenizer)
    write_config(workdir, {"external": [{"name": NAME, "model": str(workdir / "checkpoints" / "step{step}"),
                                         "steps": STEPS, "tokens_per_step": 128}]})
    return workdir


def config(workdir) -> dict:
    return validate_config(yaml.safe_load((workdir / "config.yaml").read_text()))


def test_external_run_is_planned_beside_the_trained_runs_never_trained(workdir):
    cfg = config(workdir)
    counts = job_counts(snakemake(workdir, "--dry-run", env=OFFLINE).stdout)
    trained, external = runs(cfg), external_runs(cfg)
    assert NAME in external and NAME not in trained
    assert counts["train"] == len(trained)
    assert counts["external_dump_" + re.sub(r"\W", "_", NAME)] == 1
    assert counts["id_dynamics"] == counts["similarity_over_training"] == len(trained) + 1
    assert counts["evaluate"] == 1 and counts["global_similarity"] == 1


@pytest.fixture(scope="module")
def analysed(workdir):
    """The external run's ID table and similarity over training: its dumps, no data chain, no training."""
    targets = [f"results/geometry/id/{NAME}.parquet", f"results/geometry/similarity_over_training/{NAME}.parquet"]
    snakemake(workdir, *targets, env=OFFLINE)
    return workdir / "results"


def test_dumps_and_tokenizer(analysed, workdir):
    tokenizer = tiny_tokenizer()
    for step in STEPS:
        path = analysed / "runs" / NAME / "embeddings" / dump_name(step)
        assert read_dump(path).input.shape == read_dump(path).output.shape == (len(tokenizer), 16)
        meta = tensor_metadata(path)
        assert (meta["run"], meta["step"], meta["tokens"], meta["tied"]) == (NAME, step, step * 128, False)
        assert meta["rows_dropped"] == PAD_ROWS
    assert len(load_tokenizer(analysed / "runs" / NAME / "tokenizer")) == len(tokenizer)
    assert not (analysed / "runs" / NAME / "external_state").exists()
    assert not (analysed / "tokens").exists() and not (analysed / "corpus").exists()  # nothing else ran


def test_id_table_covers_every_step_and_token(analysed):
    table = pd.read_parquet(analysed / "geometry" / "id" / f"{NAME}.parquet")
    assert sorted(table["step"].unique()) == STEPS
    assert sorted(table["embeddings"].unique()) == ["input", "output"]
    assert (table["run"] == NAME).all() and (table["subset"] == NAME).all()
    assert (table["token_set"] == "all").all() and (table["min_count"] == 0).all()
    assert (table["n_tokens"] == len(tiny_tokenizer())).all()
    mle = table[table["estimator"] == "mle"]
    assert mle["value"].between(1, 16).all()  # at most the width of the tiny model
    over = pd.read_parquet(analysed / "geometry" / "similarity_over_training" / f"{NAME}.parquet")
    assert sorted(over["step"].unique()) == STEPS
    last = over[over["step"] == STEPS[-1]]
    assert (last["linear_cka"] - 1).abs().max() < 1e-9


def test_pair_tables_set_the_external_run_beside_the_trained_ones(pipeline, tmp_path):
    """Added to the finished small workflow, the external run reruns the pair tables, never training."""
    import shutil

    workdir = tmp_path / "with-external"
    shutil.copytree(pipeline, workdir, symlinks=True, ignore=shutil.ignore_patterns("locks"))
    save_revisions(workdir / "checkpoints", STEPS, tokenizer=tiny_tokenizer())
    write_config(workdir, {"external": [{"name": NAME, "model": str(workdir / "checkpoints" / "step{step}"),
                                         "steps": STEPS}]})
    targets = ["results/geometry/global_similarity.parquet", "results/geometry/lle_comparison.parquet"]
    planned = job_counts(snakemake(workdir, "--dry-run", *targets, env=OFFLINE).stdout)
    assert planned == {"external_dump_" + re.sub(r"\W", "_", NAME): 1, "global_similarity": 1, "lle_comparison": 1,
                       "global_similarity_merge": 1, "lle_comparison_merge": 1}
    snakemake(workdir, *targets, env=OFFLINE)
    trained = sorted(runs(config(workdir)))
    similarity = pd.read_parquet(workdir / targets[0])
    with_external = similarity[(similarity["run_a"] == NAME) | (similarity["run_b"] == NAME)]
    # One row per trained partner, matrix (both models are untied) and reading (raw and each of
    # geometry.postprocess's methods); another tokenizer, so the tokens are the string intersection
    # of the two vocabularies, with no count filter on this side.
    readings = 1 + len(config(workdir)["geometry"]["postprocess"]["methods"])
    assert len(with_external) == 2 * len(trained) * readings and (with_external["relation"] == "presets").all()
    assert (with_external["postprocess"].value_counts() == 2 * len(trained)).all()
    assert with_external["n_tokens"].between(20, len(tiny_tokenizer())).all()
    assert with_external["linear_cka"].between(0, 1).all()
    lle = pd.read_parquet(workdir / targets[1])
    pairs = set(zip(lle["run_a"], lle["run_b"]))
    assert {(NAME, run) for run in trained} <= pairs and {(run, NAME) for run in trained} <= pairs
