"""The source papers' configs (config/kataiwa2025.yaml, config/lee2025.yaml) against the figure map
of docs/reproduce.md: each plans offline with every mapped output, and each runs end to
end on tiny stand-ins built from the config file itself, so that a broken paper config fails here."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from figure_map import mapped_outputs
from regeo.config import external_runs, steering_pairs, validate_config
from snakemake_helpers import (REPO, SMALL_CONFIG, effective_config, job_counts, merge_config, offline_env,
                               snakemake, write_config)

sys.path.insert(0, str(Path(__file__).parents[1] / "external"))
from tiny_models import save_revisions  # noqa: E402

PAPERS = ["config/kataiwa2025.yaml", "config/lee2025.yaml"]
# What the stand-ins take from the tests' small config instead of the paper config: the data and
# the trained runs (the pipeline fixture has made them already).
TRAINED_SIDE = {"corpus", "registers", "subsets", "tokenizer", "training"}
# The real models' architectures, by hub id: Pythia is GPT-NeoX (untied), GPT-2 is GPT-2 (tied);
# the rest of the papers' models are Llama-architecture.
ARCHITECTURES = (("EleutherAI/pythia", "neox"), ("openai-community/gpt2", "gpt2"))


def architecture(model: str) -> str:
    return next((arch for prefix, arch in ARCHITECTURES if model.startswith(prefix)), "llama")


@pytest.mark.parametrize("paper", PAPERS)
def test_the_paper_config_plans_offline_with_every_mapped_output(paper, tmp_path):
    cfg = effective_config(REPO / paper)
    write_config(tmp_path, base=REPO / paper)
    plan = (lambda proc: proc.stdout + proc.stderr)(snakemake(tmp_path, "--dry-run", env=offline_env(tmp_path)))
    counts = job_counts(plan)
    for name in external_runs(cfg):
        assert counts["external_dump_" + re.sub(r"\W", "_", name)] == 1
    assert counts.get("steering", 0) == len(steering_pairs(cfg))
    outputs = mapped_outputs(paper)
    assert len(outputs) >= 5
    assert [path for path in outputs if path not in plan] == []


def stand_in_config(paper: Path, root: Path, tokenizer) -> dict:
    """``paper`` with every external model replaced by tiny random models of its architecture saved
    under ``root``, one directory per revision, thinned to its first and last revision (widths grow
    with the order of a family's models, as the real sizes do); the trained side is the small config's."""
    written = yaml.safe_load(paper.read_text())
    config = yaml.safe_load(SMALL_CONFIG.read_text())
    merge_config(config, {key: value for key, value in written.items() if key not in TRAINED_SIDE})
    entries = []
    widths: dict[str, int] = {}
    for run in external_runs(effective_config(paper)).values():
        arch = architecture(run.model)
        widths[arch] = widths.get(arch, 8) + 8
        steps = sorted({run.steps[0], run.steps[-1]})
        save_revisions(root / run.name, steps, arch=arch, tokenizer=tokenizer, hidden_size=widths[arch])
        entries.append({"name": run.name, "model": str(root / run.name / "step{step}"), "steps": steps,
                        "tokens_per_step": run.tokens_per_step})
    config["external"] = entries
    return config


@pytest.fixture(scope="module", params=PAPERS)
def stand_in(request, pipeline, small_tokenizer, tmp_path_factory):
    """The paper config run on stand-ins beside the finished small workflow: its mapped outputs."""
    paper = request.param
    workdir = tmp_path_factory.mktemp(Path(paper).stem)
    shutil.copytree(pipeline, workdir, dirs_exist_ok=True, symlinks=True, ignore=shutil.ignore_patterns("locks"))
    config = stand_in_config(REPO / paper, workdir / "checkpoints", small_tokenizer)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    outputs = mapped_outputs(paper)
    snakemake(workdir, *outputs, env=offline_env(workdir))
    return paper, workdir, validate_config(config)


def test_every_mapped_output_exists_on_stand_ins(stand_in):
    paper, workdir, _ = stand_in
    assert [path for path in mapped_outputs(paper) if not (workdir / path).is_file()] == []


def test_the_stand_ins_keep_the_paper_configs_runs(stand_in):
    """Every external run of the paper config is in the results under its own name, at the steps it
    was given, on its whole vocabulary; where the map names the redundancy-by-width table, it has
    every run at its last dump, one width each."""
    paper, workdir, cfg = stand_in
    external = external_runs(cfg)
    assert set(external) == set(external_runs(effective_config(REPO / paper)))
    for name, run in external.items():
        table = pd.read_parquet(workdir / "results" / "geometry" / "id" / f"{name}.parquet")
        assert sorted(table["step"].unique()) == list(run.steps)
        assert (table["token_set"] == "all").all()
    width_table = "results/analyses/redundancy_by_width.parquet"
    if width_table in mapped_outputs(paper):
        size = pd.read_parquet(workdir / width_table)
        assert set(external) <= set(size["run"])
        assert size["redundancy"].between(0, 1).all() and size["null_redundancy"].between(0, 1).all()
        assert (size.groupby("run")["d"].nunique() == 1).all()


def test_the_stand_ins_steer_the_paper_configs_pairs(stand_in):
    """Lee et al.'s config steers its pairs with the three fit rows; Kataiwa et al.'s steers nothing."""
    paper, workdir, cfg = stand_in
    pairs = set(steering_pairs(cfg))
    assert bool(pairs) == (paper == "config/lee2025.yaml")
    if pairs:
        transfer = pd.read_parquet(workdir / "results" / "steering" / "transfer.parquet")
        crossing = {(a, b) for a, b in pairs if a != b}
        assert set(zip(transfer["source"], transfer["target"])) == crossing
        assert {"output", "input", "both"} <= set(transfer["map"])  # beside the ceiling and shuffled maps
