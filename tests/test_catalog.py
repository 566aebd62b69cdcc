"""The Snakemake workflow catalog's standardized usage: workflow/Snakefile plans the default on
its own (as the catalog runs it), config/README.md exists, and the usage file has the keys the
catalog reads (its documented schema: usage.mandatory-flags.{desc, flags},
usage.software-stack-deployment.{conda, apptainer, apptainer+conda}, usage.report)."""

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def test_the_usage_file_has_the_catalogs_keys():
    usage = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert set(usage) == {"mandatory-flags", "software-stack-deployment", "report"}
    assert set(usage["mandatory-flags"]) == {"desc", "flags"} and isinstance(usage["mandatory-flags"]["flags"], str)
    deployment = usage["software-stack-deployment"]
    assert set(deployment) == {"conda", "apptainer", "apptainer+conda"}
    assert all(isinstance(v, bool) for v in deployment.values()) and isinstance(usage["report"], bool)
    assert (REPO / "config" / "README.md").is_file() and (REPO / "CHANGELOG.md").is_file()


def test_workflow_snakefile_plans_the_default_alone(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
                           "--directory", str(tmp_path), "--cores", "1", "--dry-run"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rule all:" in proc.stdout or "localrule all:" in proc.stdout
