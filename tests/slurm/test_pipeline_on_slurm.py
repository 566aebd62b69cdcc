"""regeo's own workflow through `--profile profiles/slurm` on the real local cluster.

The small end-to-end config (tests/pipeline/config_small.yaml) runs with every non-local job
submitted by the slurm executor plugin, training on a (fake) GPU; its outputs must equal a local
run's byte for byte. A training job requeued by SLURM mid-run (what preemption does) resumes from
its saved state and ends with the embeddings of an uninterrupted run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from regeo.io import load_tensors
from regeo.manifest import file_hash
from regeo.train.loop import TIMING_COLUMNS

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "pipeline"))
from snakemake_helpers import snakemake as run_locally  # noqa: E402
from snakemake_helpers import write_config  # noqa: E402

from slurm_helpers import interrupt_when  # noqa: E402

# The user's command is `snakemake --profile slurm`; the environment says what the profile
# cannot know about this cluster (no slurmdbd, so squeue; its partitions; the account a site
# requires), and the test polls early.
ACCOUNT = "regeo-test"
PROFILE_ENV = {"REGEO_SLURM_STATUS_COMMAND": "squeue", "REGEO_SLURM_ACCOUNT": ACCOUNT}
FAST = ["--slurm-init-seconds-before-status-checks", "2", "--latency-wait", "5"]


def profile_env(cluster) -> dict:
    return {**PROFILE_ENV, "REGEO_SLURM_PARTITION": cluster.partition,
            "REGEO_SLURM_GPU_PARTITION": cluster.gpu_partition}


def on_slurm(cluster, workdir: Path, *targets: str, timeout: float = 900):
    return cluster.run(workdir, "--snakefile", str(REPO / "Snakefile"), "--configfile", "config.yaml",
                       "--profile", str(REPO / "profiles" / "slurm"), *FAST, *targets,
                       env=profile_env(cluster), timeout=timeout)


def submitted(output: str) -> list[str]:
    return re.findall(r"submitted with SLURM jobid (\d+)", output)


def array_submissions(output: str) -> list[str]:
    return re.findall(r"Submitted array job with Snakemake IDs \S+ and SLURM job ID (\d+)", output)


def rule_of(job: dict) -> str:
    """The plugin's comment is rule_<name>, with _wildcards_<values> for jobs that have them."""
    return re.fullmatch(r"rule_(.+?)(?:_wildcards_.*)?", job["Comment"]).group(1)


def manifest(workdir: Path) -> dict:
    return json.loads((workdir / "results" / "manifest.json").read_text())["outputs"]


def test_small_pipeline_on_slurm_equals_a_local_run(slurm_cluster, pipeline, tmp_path):
    local, cluster = pipeline, tmp_path
    write_config(cluster)
    result = on_slurm(slurm_cluster, cluster)
    assert result.returncode == 0, result.stdout[-8000:]

    expected, got = manifest(local), manifest(cluster)
    assert got.keys() == expected.keys()
    # Figures may differ in metadata only; train logs carry wall-clock throughput; the harness's task
    # YAMLs name their jsonl by absolute path and its results JSON carries the date (their tables,
    # the .parquet files, are compared).
    compared = [p for p in expected if not p.endswith((".pdf", ".png", "train_log.csv", ".results.json"))
                and p != "results/harness/tasks"]
    assert len(compared) > 50
    assert [p for p in compared if got[p]["sha256"] != expected[p]["sha256"]] == []
    # This is also the suite's from-scratch reproducibility check: a second run in another
    # directory, here through the queue, gives the same bytes and the same training curves.
    for path in (p for p in expected if p.endswith("train_log.csv")):
        logs = [pd.read_csv(root / path).drop(columns=TIMING_COLUMNS) for root in (local, cluster)]
        pd.testing.assert_frame_equal(*logs)

    by_rule: dict[str, list[dict]] = {}
    for job_id in set(submitted(result.stdout)) | set(array_submissions(result.stdout)):
        job = slurm_cluster.job(job_id)
        by_rule.setdefault(rule_of(job), []).append(job)
    # Every training run went through sbatch with a GPU request, the runtime the preset implies
    # and the memory it needs; the cheap rules ran on this host, never in the queue.
    assert len(by_rule["train"]) == 4
    for job in by_rule["train"]:
        assert job["JobState"] == "COMPLETED"
        assert re.fullmatch(r"gres[:/]gpu:1", job.get("TresPerJob", "")), job
        assert job["TimeLimit"] == "00:15:00"
    assert not {"all", "figures", "manifest", "corpus", "registers"} & by_rule.keys()
    assert not any(rule.startswith("figure_") for rule in by_rule)
    assert by_rule["steering"] and all(
        re.fullmatch(r"gres[:/]gpu:1", job.get("TresPerJob", "")) for job in by_rule["steering"])
    # GPU jobs in the GPU partition, every other job in the CPU one, all under the site's account
    where = {rule: {(job["Partition"], job["Account"]) for job in jobs} for rule, jobs in by_rule.items()}
    gpu_rules = {"train", "steering", "rank_knee", "harness", "steering_judge"}  # the rules that declare gpu: 1
    assert {rule: where[rule] for rule in gpu_rules} == {
        rule: {(slurm_cluster.gpu_partition, ACCOUNT)} for rule in gpu_rules}
    assert len(where.keys() - gpu_rules) >= 8 and all(
        where[rule] == {(slurm_cluster.partition, ACCOUNT)} for rule in where.keys() - gpu_rules), where

    # The profile submits no arrays (profiles/slurm: the plugin can hold a trickling array rule's
    # job back for good); asked for on the command line, jobs of a rule that are ready together go
    # as one job array: rerun the four per-run analyses at once.
    # (--until: the readers of per-token ID downstream are not what this checks.)
    assert array_submissions(result.stdout) == []
    again = on_slurm(slurm_cluster, cluster, "--forcerun", "id_dynamics", "--until", "id_dynamics",
                     "--slurm-array-jobs", "id_dynamics")
    assert again.returncode == 0, again.stdout[-8000:]
    (array_id,) = array_submissions(again.stdout)
    array = slurm_cluster.job(array_id)
    assert rule_of(array) == "id_dynamics" and array.get("ArrayJobId") == array_id, array
    assert submitted(again.stdout) == []  # nothing went to the queue on its own
    id_tables = [p for p in expected if "/geometry/id/" in p]
    assert len(id_tables) == 8 and all(
        file_hash(cluster / p) == expected[p]["sha256"] for p in id_tables)


MICRO_RUN = "ne-micro-s0"


def one_micro_run(steps: int, checkpoint_every: int, state_every: int) -> dict:
    """Config changes for one small training run (MICRO_RUN) and no steering pairs."""
    return {"training": {"steps": steps, "checkpoint_every": checkpoint_every, "state_every": state_every,
                         "runs": [{"subsets": ["ne"], "presets": ["micro"], "seeds": [0]}]},
            "steering": {"pairs": []}}


def prepare_training_data(workdir: Path, subset: str = "ne") -> None:
    """Corpus to token files on this host: the tests below are about the train job, and each
    data job through the queue costs a status poll."""
    run_locally(workdir, "results/tokenizer", *(f"results/tokens/{subset}/{name}"
                                               for name in ("train.bin", "val.bin", "meta.json")))


def _train_job_id(timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(["squeue", "-h", "-o", "%i %k %T"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            job_id, comment, state = line.split()
            if comment.startswith("rule_train_wildcards_") and state == "RUNNING":
                return job_id
        time.sleep(0.2)
    raise AssertionError("no running train job appeared in squeue")


def test_requeued_training_job_resumes_from_its_state(slurm_cluster, tmp_path):
    """`scontrol requeue` of the running train job (SIGTERM, then the same job id runs again):
    the first attempt saves its state, the second resumes it, and the embeddings equal a clean run's."""
    slow = one_micro_run(steps=1500, checkpoint_every=500, state_every=20)
    run = MICRO_RUN
    target = f"results/runs/{run}/train_log.csv"
    clean, requeued = tmp_path / "clean", tmp_path / "requeued"
    for workdir in (clean, requeued):
        workdir.mkdir()
        write_config(workdir, slow)
    run_locally(clean, target)
    prepare_training_data(requeued)

    proc = slurm_cluster.popen(requeued, "--snakefile", str(REPO / "Snakefile"), "--configfile", "config.yaml",
                               "--profile", str(REPO / "profiles" / "slurm"), *FAST, target, env=PROFILE_ENV)
    progress = requeued / f"results/runs/{run}/state/latest/progress.json"
    job = {}
    output = interrupt_when(proc, progress.is_file,
                            lambda: subprocess.run(["scontrol", "requeue", job.setdefault("id", _train_job_id())],
                                                   check=True), "training never saved a state")
    job_id = job["id"]
    assert proc.returncode == 0, output[-8000:]
    # SLURM reran the same job; no Snakemake retry (a second sbatch for train) was needed.
    assert [i for i in submitted(output) if rule_of(slurm_cluster.job(i)) == "train"] == [job_id]
    assert slurm_cluster.job(job_id)["Restarts"] == "1"
    log = (requeued / f"logs/train/{run}.log").read_text()
    resumed = re.search(r"resuming from the state saved at step (\d+)", log)
    assert resumed and int(resumed.group(1)) > 0, log[-3000:]
    for step in (0, 500, 1000, 1500):
        name = f"results/runs/{run}/embeddings/step{step:07d}.safetensors"
        a, b = load_tensors(clean / name), load_tensors(requeued / name)
        assert torch.equal(a["input"], b["input"]) and torch.equal(a["output"], b["output"]), name


def test_training_is_warned_before_its_time_limit_and_saves_its_state(slurm_cluster, tmp_path):
    """The train rule asks SLURM for SIGTERM 300 s before the time limit (slurm_extra), and a
    per-rule override on the command line (here the runtime) keeps that request, because it
    lives in the rule, not in the profile's set-resources: the sbatch call carries both.
    SLURM's warning itself is delivered as `scancel --signal=TERM` delivers it (to the job's
    steps), sent once the log shows training under way, so the outcome does not depend on how
    fast this machine trains: the trainer saves its state at the step it reached and exits
    for a retry. (scontrol show job of SLURM 22.05 does not list a job's warning signal.)"""
    slow = one_micro_run(steps=20000, checkpoint_every=10000, state_every=50)
    run = MICRO_RUN
    write_config(tmp_path, slow)
    prepare_training_data(tmp_path)
    proc = slurm_cluster.popen(tmp_path, "--snakefile", str(REPO / "Snakefile"), "--configfile", "config.yaml",
                               "--profile", str(REPO / "profiles" / "slurm"), *FAST, "--verbose",
                               f"results/runs/{run}/train_log.csv", "--set-resources", "train:runtime=6",
                               "--retries", "0", env=profile_env(slurm_cluster))
    progress = tmp_path / f"results/runs/{run}/state/latest/progress.json"  # the first state: training is under way
    job = {}
    output = interrupt_when(proc, progress.is_file,
                            lambda: subprocess.run(["scancel", "--signal=TERM", job.setdefault("id", _train_job_id())],
                                                   check=True), "training never saved a state")
    job_id = job["id"]
    # No retry allowed: the workflow fails, and the failed job's log (printed) says why.
    assert proc.returncode != 0
    stopped = re.search(rf"run {run}: signal 15 at step (\d+); state saved, exiting for a retry", output)
    assert stopped, output[-6000:]
    step = int(stopped.group(1))
    assert 0 < step < 20000  # stopped by the signal, not by the end
    progress = json.loads((tmp_path / f"results/runs/{run}/state/latest/progress.json").read_text())
    assert progress["step"] == step, progress
    (call,) = [line for line in output.splitlines() if "sbatch call:" in line and "rule_train" in line]
    assert "--signal=TERM@300" in call and " -t 6 " in f"{call} ", call
    assert slurm_cluster.job(job_id)["TimeLimit"] == "00:06:00"


def test_partitions_come_from_the_plugins_partition_file(slurm_cluster, tmp_path):
    """No partition variables, only the plugin's partition file (REGEO_SLURM_PARTITION_CONFIG in the
    profile): the plugin places each job by the file's limits, the training job (gpu: 1) where
    there are GPUs, the ID analysis (no GPU) where a CPU job fits best. Without an accounting
    database (squeue) the profile leaves the efficiency report off, so none is written."""
    import yaml

    write_config(tmp_path, one_micro_run(steps=20, checkpoint_every=10, state_every=10))
    prepare_training_data(tmp_path)
    partitions = tmp_path / "partitions.yaml"
    partitions.write_text(yaml.safe_dump({"partitions": {slurm_cluster.partition: {"max_gpu": 0},
                                                         slurm_cluster.gpu_partition: {"max_gpu": 2}}}))
    result = slurm_cluster.run(tmp_path, "--snakefile", str(REPO / "Snakefile"), "--configfile", "config.yaml",
                               "--profile", str(REPO / "profiles" / "slurm"), *FAST,
                               f"results/geometry/id/{MICRO_RUN}.parquet",
                               env={**PROFILE_ENV, "REGEO_SLURM_PARTITION_CONFIG": str(partitions)})
    assert result.returncode == 0, result.stdout[-8000:]
    jobs = [slurm_cluster.job(i) for i in set(submitted(result.stdout)) | set(array_submissions(result.stdout))]
    assert {rule_of(job): job["Partition"] for job in jobs} == {
        "train": slurm_cluster.gpu_partition, "id_dynamics": slurm_cluster.partition}
    assert not list(tmp_path.glob("logs/slurm/efficiency_report_*.csv"))
