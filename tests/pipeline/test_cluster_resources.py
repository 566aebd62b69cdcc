"""What each job asks SLURM for, read from a dry run through the cluster profile.

GPU requests and training's early-warning signal live in the rules, so a user's per-rule
override on the command line changes that one value and nothing else (a `--set-resources` on
the command line replaces the profile's whole set-resources mapping).
"""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from regeo.costs import Costs
from snakemake_helpers import REPO, effective_config, snakemake, write_config

PAPER = REPO / "config" / "paper.yaml"
OVERRIDE = ["--set-resources", "train:gpu=4", "train:gpu_model=h100"]


def planned_resources(text: str) -> dict[str, list[dict[str, str]]]:
    """Rule -> the resources of each planned job, from the job blocks of a dry run."""
    jobs: dict[str, list[dict[str, str]]] = defaultdict(list)
    rule = None
    for line in text.splitlines():
        if m := re.match(r"(?:local)?rule (\w+):$", line):
            rule = m.group(1)
        elif rule and (m := re.match(r"\s+resources: (.*)$", line)):
            jobs[rule].append(dict(item.split("=", 1) for item in m.group(1).split(", ")))
            rule = None
    return jobs


def plan(workdir, *args: str) -> dict[str, list[dict[str, str]]]:
    proc = snakemake(workdir, "--dry-run", "--profile", str(REPO / "profiles" / "slurm"), *args)
    return planned_resources(proc.stdout + proc.stderr)


@pytest.fixture(scope="module")
def paper_plan(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("paper-resources")
    write_config(workdir, base=PAPER)
    return plan(workdir, *OVERRIDE)


def test_a_command_line_override_changes_only_what_it_names(paper_plan):
    assert len(paper_plan["train"]) == 42
    for job in paper_plan["train"]:
        assert (job["gpu"], job["gpu_model"]) == ("4", "h100")
        assert job["slurm_extra"] == "--signal=TERM@300"
        assert int(job["runtime"]) > 30  # the preset's estimate, not the profile default
    # The other GPU rules keep their one GPU; the classifier labels on a GPU.
    assert paper_plan["steering"] and all(job["gpu"] == "1" for job in paper_plan["steering"])
    assert paper_plan["register_probabilities"]
    assert all(job["gpu"] == "1" for job in paper_plan["register_probabilities"])
    for rule in ("subset", "tokens"):
        assert paper_plan[rule] and all("gpu" not in job for job in paper_plan[rule]), rule
    # resources.analysis_gpu: the large analyses with a CUDA path ask for a GPU, the others not;
    # each with regeo.costs' runtime and memory
    costs = Costs(effective_config(PAPER))
    declared = {(job.rule, job.name): job for job in costs.jobs()}
    for rule in ("id_dynamics", "id_comparison", "lle_comparison", "evaluate", "neighbourhoods",
                 "similarity_over_training", "properties", "global_similarity"):
        gpu = "1" if rule in costs.gpu_rules else "0"
        assert paper_plan[rule] and all(job["gpu"] == gpu for job in paper_plan[rule]), rule
        runtimes = sorted(int(job["runtime"]) for job in paper_plan[rule])
        assert runtimes == sorted(j.runtime for (r, _), j in declared.items() if r == rule), rule
        assert max(runtimes) <= costs.max_minutes
    assert costs.gpu_rules >= {"id_dynamics", "id_comparison", "lle_comparison", "evaluate", "neighbourhoods"}
    assert not costs.gpu_rules & {"similarity_over_training", "properties", "global_similarity"}
    assert sorted(int(job["mem_mb"]) for job in paper_plan["id_dynamics"]) == sorted(
        j.mem_mb for (r, _), j in declared.items() if r == "id_dynamics")


def test_labels_from_metadata_ask_for_no_gpu(tmp_path):
    write_config(tmp_path)
    jobs = plan(tmp_path)
    assert [job["gpu"] for job in jobs["register_probabilities"]] == ["0"]
    assert all(job["gpu"] == "1" for job in jobs["train"])
    assert all(job["gpu"] == "0" for job in jobs["id_dynamics"] + jobs["lle_comparison"])  # analysis_gpu: false


def profile_as_read(monkeypatch, **env: str) -> dict:
    """profiles/slurm/profile.yaml as Snakemake reads it (YTE, which evaluates the environment)."""
    import yte

    for name in ("REGEO_SLURM_STATUS_COMMAND", "REGEO_SLURM_PARTITION_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with open(REPO / "profiles" / "slurm" / "profile.yaml") as stream:
        return yte.process_yaml(stream, require_use_yte=True)


def test_the_efficiency_report_is_on_where_slurm_keeps_accounts(monkeypatch):
    """The plugin's report reads sacct: on by default and with sacct, off where the site has no
    accounting database (status command squeue)."""
    assert profile_as_read(monkeypatch)["slurm-efficiency-report"] is True
    assert profile_as_read(monkeypatch, REGEO_SLURM_STATUS_COMMAND="sacct")["slurm-efficiency-report"] is True
    assert profile_as_read(monkeypatch, REGEO_SLURM_STATUS_COMMAND="squeue")["slurm-efficiency-report"] is False
    assert profile_as_read(monkeypatch)["slurm-efficiency-report-path"] == "logs/slurm"


def test_partitions_may_come_from_the_plugins_partition_file(monkeypatch, tmp_path):
    assert profile_as_read(monkeypatch)["slurm-partition-config"] is None  # Snakemake drops a None
    path = str(tmp_path / "partitions.yaml")
    assert profile_as_read(monkeypatch, REGEO_SLURM_PARTITION_CONFIG=path)["slurm-partition-config"] == path
