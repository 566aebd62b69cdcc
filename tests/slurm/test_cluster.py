"""The slurm executor plugin against the real local cluster, on the toy workflow (tests/slurm/toy).

Every job here goes through sbatch, and its rule runs in an `srun` step inside the allocation
(the plugin's jobstep executor). Nothing is mocked.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from slurm_helpers import interrupt_when

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[2]


def read_vars(path: Path) -> dict[str, str]:
    """KEY=value lines, as the toy rules write them."""
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def submitted_ids(output: str) -> list[str]:
    return re.findall(r"submitted with SLURM jobid (\d+)", output)


def test_toy_workflow_runs_through_sbatch_with_a_gpu(slurm_cluster, toy_dir):
    result = slurm_cluster.run(toy_dir, *slurm_cluster.flags)
    assert result.returncode == 0, result.stdout

    gpu = read_vars(toy_dir / "results/gpu.txt")
    cpu = read_vars(toy_dir / "results/cpu.txt")
    # Real SLURM job ids, one sbatch per rule, and the plugin saw the same ids.
    assert gpu["SLURM_JOB_ID"].isdigit() and cpu["SLURM_JOB_ID"].isdigit()
    assert gpu["SLURM_JOB_ID"] != cpu["SLURM_JOB_ID"]
    assert sorted(submitted_ids(result.stdout)) == sorted(
        [gpu["SLURM_JOB_ID"], cpu["SLURM_JOB_ID"]]
    )
    # The GPU comes from SLURM's gres (the environment given to Snakemake has no
    # CUDA_VISIBLE_DEVICES): one fake device, numbered like a real one.
    assert re.fullmatch(r"[01]", gpu["CUDA_VISIBLE_DEVICES"]), gpu
    assert cpu["CUDA_VISIBLE_DEVICES"] == ""
    assert cpu["SLURM_CPUS_PER_TASK"] == "1"

    job = slurm_cluster.job(gpu["SLURM_JOB_ID"])
    assert job["JobState"] == "COMPLETED"
    assert job["Comment"] == "rule_gpu"  # the plugin tags each job with its rule
    # the plugin's gpu=1 became sbatch --gpus=1 ("gres:gpu:1" in 22.05, "gres/gpu:1" later)
    assert re.fullmatch(r"gres[:/]gpu:1", job.get("TresPerJob", "")), job
    assert job["TimeLimit"] == "00:05:00"  # runtime=5 (minutes) became sbatch -t 5
    assert job["Partition"] == slurm_cluster.partition  # the default one, found with sinfo


def test_failing_rule_fails_the_workflow_and_shows_its_log(slurm_cluster, toy_dir):
    result = slurm_cluster.run(toy_dir, "results/fail.txt", *slurm_cluster.flags)
    assert result.returncode != 0
    assert "Error in rule fail" in result.stdout
    # Without sacct the plugin knows only the job state, not the step's reason.
    assert re.search(r"SLURM-job '\d+' failed, SLURM status is: 'FAILED'", result.stdout)
    # The log's text, with $SLURM_JOB_ID expanded, so it is the file's content (printed by
    # --show-failed-logs), not the rule's shell command echoed back.
    log_line = re.compile(r"toy failure: the input is bad \(job \d+\)")
    assert log_line.search(result.stdout), result.stdout
    (main_log,) = (toy_dir / ".snakemake/log").glob("*.snakemake.log")
    assert log_line.search(main_log.read_text())
    assert not (toy_dir / "results/fail.txt").exists()


def test_requeued_job_reruns_under_the_same_id_and_the_workflow_completes(slurm_cluster, toy_dir):
    """`scontrol requeue` of a running job, and what the plugin (2.8, squeue status) makes of it.

    What happens, as observed: SLURM sends SIGTERM to the job's processes, the rule's shell
    included (KillWait=10 s later SIGKILL), and puts the job back to PENDING under the same id
    with BeginTime = now + cred_expire + 1 s (cluster.sh sets cred_expire=10; SLURM's default
    makes it two minutes). The plugin's squeue poll sees PENDING/RUNNING, i.e. an active job,
    and keeps waiting: no error is reported and no Snakemake retry (no second sbatch) is made.
    When the job starts again, its batch script runs the rule from the beginning (the inner
    Snakemake deletes the outputs first), so only state kept outside the declared outputs
    survives a requeue. SLURM_RESTART_COUNT is not visible to the rule: the jobstep drops
    SLURM_* variables other than a few ids before its srun. The SLURM log (%j.log) is
    truncated by the rerun.
    """
    attempts = toy_dir / "attempts/slow.txt"
    proc = slurm_cluster.popen(
        toy_dir, "results/slow.txt", *slurm_cluster.flags, "--config", "slow_seconds=15"
    )
    def started() -> bool:
        return attempts.exists() and attempts.read_text().startswith("start job=")

    def first_job_id() -> str:
        return attempts.read_text().splitlines()[0].split("=", 1)[1].strip()

    output = interrupt_when(proc, started, lambda: subprocess.run(["scontrol", "requeue", first_job_id()], check=True),
                            "the slow job never started", timeout=300)
    job_id = first_job_id()

    assert proc.returncode == 0, output
    assert attempts.read_text().splitlines() == [
        f"start job={job_id}",
        f"TERM job={job_id}",
        f"start job={job_id}",
    ]
    assert read_vars(toy_dir / "results/slow.txt") == {"job": job_id}
    assert submitted_ids(output) == [job_id]  # one sbatch: the requeue was SLURM's alone
    assert "Error in rule" not in output
    assert slurm_cluster.job(job_id)["Restarts"] == "1"


def test_slurm_profile_takes_partition_and_account_from_the_environment(slurm_cluster, toy_dir):
    result = slurm_cluster.run(
        toy_dir,
        "--profile",
        str(REPO / "profiles/slurm"),
        "results/cpu.txt",
        # test speed only: poll early, and a local filesystem needs no wait
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--latency-wait",
        "5",
        env={
            "REGEO_SLURM_PARTITION": slurm_cluster.gpu_partition,
            "REGEO_SLURM_ACCOUNT": "regeo-test",
            "REGEO_SLURM_STATUS_COMMAND": "squeue",
        },
    )
    assert result.returncode == 0, result.stdout
    job = slurm_cluster.job(read_vars(toy_dir / "results/cpu.txt")["SLURM_JOB_ID"])
    assert job["Partition"] == slurm_cluster.gpu_partition
    assert job["Account"] == "regeo-test"
    assert job["Requeue"] == "1"
