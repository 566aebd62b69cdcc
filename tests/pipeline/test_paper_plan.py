"""config/paper.yaml plans the whole study: quickly, offline, and with the job counts its config implies."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from regeo.config import external_runs, runs, steering_pairs, subset_names, validate_config
from regeo.costs import Costs
from regeo.train.schedule import checkpoint_steps
from figure_map import mapped_outputs
from snakemake_helpers import REPO, job_counts, offline_env, snakemake, write_config
from snakemake_helpers import effective_config as merged_over_default

PAPER = REPO / "config" / "paper.yaml"
def effective_config() -> dict:
    return merged_over_default(PAPER)


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("paper-plan")
    write_config(workdir, base=PAPER)
    proc = snakemake(workdir, "--dry-run", env=offline_env(workdir))
    return proc.stdout + proc.stderr


def test_paper_config_is_the_study():
    cfg = effective_config()
    assert cfg["corpus"]["source"] == "hub" and cfg["corpus"]["dataset"] == "HuggingFaceFW/fineweb"
    assert cfg["corpus"]["name"] == "sample-10BT" and cfg["corpus"]["streaming"]
    assert cfg["corpus"]["num_shards"] > 1 and cfg["corpus"]["max_documents"] is not None
    assert cfg["registers"]["method"] == "classifier"
    assert cfg["registers"]["classifier_model"] == "TurkuNLP/web-register-classification-multilingual"
    assert cfg["registers"]["threshold"] == 0.4 and cfg["registers"]["keep_hybrids"] == ["HI-IN"]
    assert cfg["registers"]["min_chars"] == 200
    assert cfg["tokenizer"]["kind"] == "gpt2"
    assert 12 <= len(subset_names(cfg)) <= 14
    assert {r.preset for r in runs(cfg).values()} == {"124m"}
    assert len(checkpoint_steps(cfg["training"]["steps"], cfg["training"]["checkpoint_every"])) == 154
    assert set(cfg["geometry"]["id"]["estimators"]) == {"mle", "twonn", "twonn_mle", "local_pca"}
    assert {"hellaswag", "arc_easy", "piqa", "social_iqa", "winogrande"} <= set(cfg["harness"]["tasks"])


def test_the_whole_study_plans_without_network(plan):
    """Planning needs no hub access (the guard refuses sockets); how long it takes is a benchmark."""
    assert "This was a dry-run" in plan


def test_planned_jobs_follow_from_the_config(plan):
    cfg = effective_config()
    counts = job_counts(plan)
    trained, external = runs(cfg), external_runs(cfg)
    n_subsets = len(subset_names(cfg))
    n_seeds = len({seed for group in cfg["training"]["runs"] for seed in group["seeds"]})
    shards = cfg["corpus"]["num_shards"]
    costs = Costs(cfg)
    assert len(trained) == n_subsets * n_seeds
    expected = {
        "corpus_shard": shards, "register_probabilities": shards, "corpus": 1, "registers": 1,
        "subset": n_subsets, "tokenizer": 1, "tokens": n_subsets,
        "train": len(trained),  # never an external run
        "id_dynamics": len(trained) + len(external), "similarity_over_training": len(trained) + len(external),
        # as many batches and blocks as fit the walltime (regeo.costs), merged by one job each
        "global_similarity": len(costs.global_similarity_blocks()), "lle_comparison": len(costs.lle_blocks()),
        "evaluate": len(costs.evaluate_batches()), "evaluate_merge": 1, "global_similarity_merge": 1,
        "lle_comparison_merge": 1,
        "steering": len(steering_pairs(cfg)), "manifest": 1, "all": 1,
        # every final model, trained and external, on the early-signal tasks, in batches
        "harness": len(costs.harness_batches()), "harness_summary": 1,
    }
    assert sum(map(len, costs.harness_batches().values())) == len(trained) + len(external)
    expected.update({"external_dump_" + re.sub(r"\W", "_", name): 1 for name in external})
    assert {rule: counts.get(rule) for rule in expected} == expected
    figures = [rule for rule in counts if rule.startswith("figure_")]
    assert len(figures) >= 7 and all(counts[rule] == 1 for rule in figures)


def test_every_output_of_the_figure_map_is_planned(plan):
    """docs/reproduce.md's rows of the register study name files this config makes."""
    outputs = mapped_outputs("config/paper.yaml")
    assert len(outputs) >= 5
    assert [path for path in outputs if path not in plan] == []


def test_every_run_has_its_dumps(plan):
    cfg = effective_config()
    dumps = Counter()
    for run, step in set(re.findall(r"results/runs/([^/\s,]+)/embeddings/step(\d{7})\.safetensors", plan)):
        dumps[run] += 1
    schedule = checkpoint_steps(cfg["training"]["steps"], cfg["training"]["checkpoint_every"])
    expected = {name: len(schedule) for name in runs(cfg)}
    expected.update({name: len(run.steps) for name, run in external_runs(cfg).items()})
    assert dict(dumps) == expected


def test_corpus_wide_rules_are_jobs_at_paper_scale():
    """Local rules follow the config: indexing and labeling FineWeb's 14 M documents, the figure
    of all their labels and the first manifest of ~1 TB of dumps are cluster jobs; for the builtin
    corpus's 14,000 they are not."""
    from regeo.resources import local_rules

    names = ["all", "figures", "manifest", "steering_summary", "corpus", "registers", "subset", "train",
             "figure_register_distribution", "figure_id_over_training"]
    default = validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    assert local_rules(default, names) == ["all", "figures", "manifest", "steering_summary", "corpus",
                                           "registers", "figure_register_distribution", "figure_id_over_training"]
    assert local_rules(effective_config(), names) == ["all", "figures", "steering_summary", "figure_id_over_training"]


def _planned_outputs(text: str, workdir) -> set:
    return {str((workdir / path.strip()).resolve()) for line in text.splitlines()
            if line.strip().startswith("output:") for path in line.split(":", 1)[1].split(",")}


def test_the_default_and_the_paper_config_plan_apart_from_one_checkout(plan, tmp_path):
    """One checkout, two configs, each in its own --directory (config/README.md): no output path is shared."""
    text = plan
    paper_dir = Path(re.search(r"Working directory: (\S+)", text).group(1))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--directory", str(tmp_path), "--dry-run",
                           "--cores", "1"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    default, paper = _planned_outputs(proc.stdout, tmp_path), _planned_outputs(text, paper_dir)
    assert len(default) > 100 and len(paper) > 1000
    assert not default & paper
    assert not (REPO / "results").exists() or not any(p.startswith(str(REPO)) for p in default | paper)
