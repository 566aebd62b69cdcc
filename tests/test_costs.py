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
HOST = ("properties", "similarity_over_training", "global_similarity")


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
