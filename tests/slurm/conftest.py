"""The local SLURM cluster (tests/slurm/cluster.sh) and helpers to run Snakemake on it.

The tests here need real `sbatch`/`srun`: without them they fail (never skip), and say how to
install them. A cluster that is already up is used as it is and left running; one that this
session starts is stopped at the end (set REGEO_SLURM_KEEP=1 to keep it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CLUSTER_SH = HERE / "cluster.sh"
TOY = HERE / "toy"
# The harness's default partition and its non-default twin (see slurm.conf.in).
PARTITION = os.environ.get("REGEO_SLURM_PARTITION", "debug")
GPU_PARTITION = f"{PARTITION}_gpu"

# What the slurm executor needs on this cluster, beyond `--executor slurm`:
# - squeue for job status: sacct needs slurmdbd, which the harness does not run;
# - a short first status poll (the plugin waits 40 s by default, then 10 s longer each poll
#   that finds nothing finished, up to 180 s);
# - the rule's log printed when a job fails (--show-failed-logs);
# - SLURM's own log of every job kept, for reading after a test.
SLURM_FLAGS = [
    "--executor",
    "slurm",
    "--jobs",
    "4",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--latency-wait",
    "5",
    "--show-failed-logs",
    "--slurm-keep-successful-logs",
]


def cluster(command: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(CLUSTER_SH), command], capture_output=True, text=True, check=check
    )


def snakemake_env(**extra: str) -> dict[str, str]:
    """The environment for Snakemake: no inherited GPU visibility, so that a
    CUDA_VISIBLE_DEVICES seen in a job can only come from SLURM's gres."""
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env.update(extra)
    return env


@dataclass(frozen=True)
class SlurmCluster:
    """What a test needs to run Snakemake on the local cluster and to look at its jobs."""

    partition: str = PARTITION
    gpu_partition: str = GPU_PARTITION
    flags: tuple[str, ...] = tuple(SLURM_FLAGS)

    def command(self, *args: str) -> list[str]:
        # The plugin starts each job's Snakemake with the interpreter running this one.
        return [sys.executable, "-m", "snakemake", *args]

    def _process(self, workdir: Path, env) -> dict:
        return dict(cwd=workdir, env=snakemake_env(**(env or {})), stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, text=True)

    def run(self, workdir: Path, *args: str, timeout: float = 300, env=None):
        """Snakemake in workdir; stdout and stderr joined in .stdout."""
        return subprocess.run(self.command(*args), timeout=timeout, **self._process(workdir, env))

    def popen(self, workdir: Path, *args: str, env=None) -> subprocess.Popen:
        return subprocess.Popen(self.command(*args), **self._process(workdir, env))

    def job(self, job_id: str) -> dict[str, str]:
        """`scontrol show job` as a dict; a finished job stays visible for MinJobAge (3600 s)."""
        out = subprocess.run(
            ["scontrol", "show", "job", "--oneliner", str(job_id)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return dict(
            token.split("=", 1) for token in out.split() if "=" in token
        )


@pytest.fixture(scope="session")
def slurm_cluster() -> SlurmCluster:
    """A running one-node cluster; starts it (as root) when it is not up already."""
    if shutil.which("sbatch") is None:
        pytest.fail(
            "SLURM is not installed (no sbatch on PATH). The slurm tests run against a "
            f"real local cluster: install it with `sudo bash {CLUSTER_SH.relative_to(REPO)} "
            "install` (CI does this), or deselect them with `-m 'not slurm'`.",
            pytrace=False,
        )
    started_here = False
    if cluster("status", check=False).returncode != 0:
        if os.geteuid() != 0:
            pytest.fail(
                "the local SLURM cluster is not running and starting it needs root: run "
                f"`sudo bash {CLUSTER_SH.relative_to(REPO)} start` first.",
                pytrace=False,
            )
        result = cluster("start", check=False)
        if result.returncode != 0:
            pytest.fail(
                f"cluster.sh start failed:\n{result.stdout}\n{result.stderr}", pytrace=False
            )
        started_here = True
    yield SlurmCluster()
    if started_here and not os.environ.get("REGEO_SLURM_KEEP"):
        cluster("stop", check=False)


@pytest.fixture
def toy_dir(tmp_path: Path) -> Path:
    """A fresh copy of the toy workflow; jobs run on this host, so /tmp is 'shared'."""
    target = tmp_path / "toy"
    shutil.copytree(TOY, target)
    return target
