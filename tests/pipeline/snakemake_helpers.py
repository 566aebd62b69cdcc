"""Running the real workflow in a scratch directory, and reading what a dry run plans."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SMALL_CONFIG = Path(__file__).with_name("config_small.yaml")
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def merge_config(into: dict, new: dict) -> None:
    """Merge ``new`` into ``into`` as Snakemake merges a --configfile: nested dicts merge, other
    values replace."""
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge_config(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


def effective_config(configfile: Path) -> dict:
    """What the workflow sees with ``--configfile configfile``: it merged over the embedded
    default, validated."""
    from regeo.config import validate_config

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    merge_config(config, yaml.safe_load(configfile.read_text()))
    return validate_config(config)


def write_config(workdir: Path, changes: dict | None = None, base: Path = SMALL_CONFIG) -> Path:
    """The small config with ``changes`` merged in (nested dicts merge, other values replace)."""
    config = yaml.safe_load(base.read_text())
    merge_config(config, changes or {})
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


# Any connection attempt from the planning process fails loudly (data and model code must run only
# inside jobs): a sitecustomize on PYTHONPATH that refuses every socket connection.
NO_NETWORK = '''import socket
def _refuse(self, *args, **kwargs):
    raise OSError("network access while planning the workflow")
socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
'''


def offline_env(workdir: Path) -> dict:
    """The environment of a Snakemake run that cannot reach the network: the hub libraries told they
    are offline, and every socket connection refused (NO_NETWORK, written under ``workdir``)."""
    guard = workdir / "guard"
    guard.mkdir(exist_ok=True)
    (guard / "sitecustomize.py").write_text(NO_NETWORK)
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(guard), os.environ.get("PYTHONPATH")]))}


def snakemake(workdir: Path, *args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run Snakemake on the repository's workflow with ``workdir`` as working directory."""
    command = [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=900, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def planned_jobs(workdir: Path) -> dict[str, int]:
    """Rule -> job count of what a dry run would execute (empty when nothing is to be done)."""
    proc = snakemake(workdir, "--dry-run")
    return job_counts(proc.stdout + proc.stderr)


def job_counts(text: str) -> dict[str, int]:
    """Rule -> job count from the "Job stats" table of Snakemake's output."""
    if "Nothing to be done" in text:
        return {}
    block = text.split("Job stats:", 1)[1]
    counts = {}
    for line in block.splitlines()[3:]:
        match = re.match(r"^(\S+)\s+(\d+)$", line.strip())
        if not match:
            break
        counts[match.group(1)] = int(match.group(2))
    counts.pop("total", None)
    return counts
