"""regeo.costs: the jobs of a config, their batches and blocks, and the cost report the README quotes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from regeo.cli import main
from regeo.config import load_config_files
from regeo.costs import MIN_RUNTIME_MINUTES, SAFETY, Costs, cost_report, declared_minutes

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "config" / "config.yaml"
PAPER = REPO / "config" / "paper.yaml"
# the analysis rules with a CUDA path, and those without one (NumPy or CPU torch)
HEAVY = ("id_dynamics", "id_comparison", "lle_comparison", "evaluate", "neighbourhoods", "rank_knee")
HOST = ("properties", "similarity_over_training", "global_similarity", "properties_comparison")


@pytest.fixture(scope="module")
def paper():
    return load_config_files([DEFAULT, PAPER])


def test_declared_minutes_are_the_safety_factor_over_the_prediction_and_grow_with_the_attempt():
    assert declared_minutes(1) == MIN_RUNTIME_MINUTES
    assert declared_minutes(3600) == 60 * SAFETY
    assert declared_minutes(3600, attempt=2) == 2 * 60 * SAFETY


def test_batches_are_consecutive_and_as_large_as_fit(paper):
    costs = Costs(paper)
    costs.max_minutes = 30  # 600 s of prediction: SAFETY 3 makes it 30 declared minutes
    seconds = {"a": 300, "b": 300, "c": 300, "d": 1200, "e": 100, "f": 100}
    assert costs.batches(0, list(seconds), seconds.get) == [["a", "b"], ["c"], ["d"], ["e", "f"]]
    assert costs.batches(200, list(seconds), seconds.get) == [["a"], ["b"], ["c"], ["d"], ["e", "f"]]


def test_the_paper_plan_fits_the_walltime_and_sends_the_heavy_rules_to_a_gpu(paper):
    costs = Costs(paper)
    jobs = costs.jobs()
    assert costs.max_minutes == 1440 and costs.analysis_gpu
    assert all(job.runtime <= costs.max_minutes for job in jobs), [j for j in jobs if j.runtime > 1440]
    for rule in HEAVY:
        assert all(job.gpu for job in jobs if job.rule == rule), rule
    for rule in HOST:
        assert not any(job.gpu for job in jobs if job.rule == rule), rule
    runs = list(costs.models)
    assert len(runs) == 43
    # every model in exactly one batch, every pair in exactly one block, in table order
    for batches in (costs.evaluate_batches(), costs.harness_batches()):
        assert [run for batch in batches.values() for run in batch] == runs
    for blocks in (costs.global_similarity_blocks(), costs.lle_blocks()):
        assert [pair for block in blocks.values() for pair in block] == costs.pairs()
    assert len(costs.pairs()) == 43 * 42 // 2
    assert len(costs.harness_batches()) > 1  # 43 models of nine hub tasks do not fit one day


def test_a_shorter_walltime_splits_evaluation_and_the_pair_tables(paper):
    costs = Costs({**paper, "resources": {"max_job_minutes": 120, "analysis_gpu": True}})
    for name, blocks in (("evaluate", costs.evaluate_batches()), ("global_similarity", costs.global_similarity_blocks()),
                         ("lle_comparison", costs.lle_blocks())):
        assert len(blocks) > 1, name
        assert list(blocks) == [f"{i:03d}" for i in range(len(blocks))]
    for job in costs.jobs():
        if job.rule in ("evaluate", "global_similarity", "lle_comparison"):
            assert job.runtime <= 120, job


def test_without_gpus_the_default_asks_for_none_and_everything_is_one_job():
    costs = Costs(load_config_files([DEFAULT]))
    assert costs.gpu_rules == set()
    assert len(costs.evaluate_batches()) == len(costs.harness_batches()) == 1
    assert len(costs.global_similarity_blocks()) == len(costs.lle_blocks()) == 1
    assert all(job.runtime == MIN_RUNTIME_MINUTES for job in costs.jobs() if job.rule != "train")


def test_the_cost_command_prints_the_report(paper, capsys):
    assert main(["cost", "--configfile", str(PAPER)]) == 0
    out = capsys.readouterr().out
    assert out == cost_report(paper)
    assert re.search(r"^\| all \| \d+ \|", out, re.M)


def test_the_readme_cost_table_is_the_reports_output_for_the_paper_config(paper):
    readme = (REPO / "README.md").read_text()
    report = cost_report(paper)
    assert report.strip() in readme, "README: regenerate the table with `regeo cost --configfile config/paper.yaml`"


def test_training_declares_at_most_the_limit_and_an_unsplittable_job_is_reported(paper):
    costs = Costs({**paper, "resources": {"max_job_minutes": 60, "analysis_gpu": False}})
    train = [job for job in costs.jobs() if job.rule == "train"]
    assert train and all(job.runtime == 60 for job in train)  # 12 h estimated; it resumes from its state
    over = costs.over_limit()
    # on CPUs one 124m model's evaluation or benchmarks, and one run's ID dynamics, take hours
    assert {job.rule for job in over} >= {"evaluate", "harness", "id_dynamics"}
    assert all(job.rule != "train" for job in over)
    assert all(len(costs.evaluate_batches()[job.name]) == 1 for job in over if job.rule == "evaluate")
    assert "Over the limit" in cost_report({**paper, "resources": {"max_job_minutes": 60, "analysis_gpu": False}})


def test_the_pair_tables_cost_grows_with_each_postprocessing(paper):
    """global_similarity and lle_comparison compute every pair raw and once per
    geometry.postprocess method: the work part of a pair's prediction scales with their number."""
    import copy

    raw_only = copy.deepcopy(paper)
    raw_only["geometry"]["postprocess"]["methods"] = []
    a, b = Costs(paper).pairs()[0]
    readings = 1 + len(paper["geometry"]["postprocess"]["methods"])
    assert readings == 3
    for name in ("global_similarity_pair_s", "lle_pair_s"):
        full, raw = getattr(Costs(paper), name)(a, b), getattr(Costs(raw_only), name)(a, b)
        assert 2.5 * raw < full <= 3 * raw, (name, full, raw)  # the per-pair start is paid once


# Measured job tables (benchmarks/cost_check.py on a finished workflow; docs/benchmarks.md, "The
# cost model against the jobs"): the default from a fresh clone, and the paper config's shape with
# small matrices through the local SLURM (benchmarks/paper_shape/run.sh).
MEASURED = {"default": REPO / "docs" / "data" / "cost_default.csv",
            "paper_shape": REPO / "docs" / "data" / "cost_paper_shape.csv"}


def measured_config(case: str, tmp_path: Path) -> dict:
    if case == "default":
        return load_config_files([DEFAULT])
    import sys

    import yaml

    sys.path.insert(0, str(REPO / "benchmarks" / "paper_shape"))
    from standins import shape_config

    # The external run's stand-in at its last revision only: the cost model reads its size there.
    root = tmp_path / "pythia-160m"
    config = shape_config(root, steps_saved=[143000])
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return load_config_files([DEFAULT, tmp_path / "config.yaml"])


# The cross-run tables work on the tokens both (or all) models hold; the model counts every row.
# The paper's GPT-2 and Pythia vocabularies share nearly all their strings, but the shape's
# stand-in for Pythia has a 300-token tokenizer of its own that shares 66 strings with the trained
# runs' 512, so there these jobs take a fraction of their prediction: only the declaration is held.
SHARED_TOKEN_RULES = ("id_comparison", "global_similarity", "lle_comparison", "properties_comparison")
# Not run on the shape: its short pseudo-register val splits give next-sentence answers only up to
# 100 characters, which the Pythia stand-in's 300-token tokenizer spends up to a token a character
# on, past its 64 positions; the paper's harness runs hub tasks on the real Pythia (2,048).
UNMEASURED = {"default": (), "paper_shape": ("harness",)}


@pytest.mark.parametrize("case", sorted(MEASURED))
def test_the_measured_jobs_are_within_the_factor_of_todays_predictions(case, tmp_path):
    """Every heavy job the model plans today was measured (a new rule or split needs a new run), its
    CPU time within SAFETY of today's prediction either way (at most SAFETY times it, for the
    shape's cross-run tables), its wall time under the declared runtime and its peak memory under
    the declared memory."""
    import pandas as pd

    measured = pd.read_csv(MEASURED[case]).set_index(["rule", "job"])
    jobs = {(job.rule, job.name): job for job in Costs(measured_config(case, tmp_path)).jobs()
            if job.rule != "train" and job.rule not in UNMEASURED[case]}
    assert set(measured.index) == set(jobs)
    for key, job in jobs.items():
        row = measured.loc[key]
        floor = 0.0 if case == "paper_shape" and job.rule in SHARED_TOKEN_RULES else job.seconds / SAFETY
        assert floor <= row["cpu_s"] <= job.seconds * SAFETY, (key, row["cpu_s"], job.seconds)
        assert row["wall_s"] <= 60 * job.runtime, (key, row["wall_s"], job.runtime)
        assert row["max_rss_mb"] <= job.mem_mb, (key, row["max_rss_mb"], job.mem_mb)


def test_the_paper_shape_has_the_paper_configs_numbers_of_jobs(paper, tmp_path):
    """benchmarks/paper_shape/config.yaml keeps what the paper plans in runs, models, dumps and
    pairs, and every per-run rule's job count."""
    from collections import Counter

    shape = Costs(measured_config("paper_shape", tmp_path))
    full = Costs(paper)
    assert len(shape.models) == len(full.models) == 43
    assert sorted(m.dumps for m in shape.models.values()) == sorted(m.dumps for m in full.models.values())
    assert len(shape.pairs()) == len(full.pairs())
    counts = [Counter(job.rule for job in costs.jobs()) for costs in (shape, full)]
    for rule in ("train", "id_dynamics", "properties", "similarity_over_training", "steering", "steering_judge"):
        assert counts[0][rule] == counts[1][rule], rule
