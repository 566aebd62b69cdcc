"""The workflow itself is sound: lint-clean and the default config plans the whole pipeline."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def snakemake(*args):
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                           "--directory", str(REPO), *args], capture_output=True, text=True, timeout=300)


def test_lint_is_clean():
    proc = snakemake("--lint")
    assert proc.returncode == 0 and "Congratulations" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def planned_jobs(text: str) -> dict[str, int]:
    """Rule name -> job count, from the "Job stats" table of a dry run."""
    table = text.split("Job stats:", 1)[1].split("total", 1)[0]
    return {name: int(count) for name, count in re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def test_planned_jobs_parses_exact_rule_names():
    table = "Job stats:\njob   count\n----  -----\nfigure_id_over_training  1\ntrain  11\ntotal  12\n"
    assert planned_jobs(table) == {"figure_id_over_training": 1, "train": 11}
    assert "tokens" not in planned_jobs(table.replace("train  11", "tokens_x  2"))


def test_default_config_plans_every_stage():
    proc = snakemake("--dry-run", "--forceall", "--quiet", "rules")
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    jobs = planned_jobs(text)
    for rule in ("corpus", "registers", "subset", "tokenizer", "tokens", "train", "id_dynamics", "evaluate",
                 "steering", "figure_id_over_training", "figure_cross_register"):
        assert jobs.get(rule, 0) >= 1, f"rule {rule!r} plans no job; planned: {jobs}"


RULE_FILES = ["Snakefile", "workflow/Snakefile", *sorted(str(p.relative_to(REPO)) for p in (REPO / "workflow" / "rules").glob("*.smk"))]


def test_rules_are_formatted_with_snakefmt():
    # `python -m snakefmt` from this interpreter: the test extra installs it (Python 3.11+).
    proc = subprocess.run([sys.executable, "-m", "snakefmt", "--check", *RULE_FILES], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert "No module named snakefmt" not in proc.stderr, \
        "snakefmt is missing: install the test extra (./install.sh, or pip install -e '.[test]')"
    assert proc.returncode == 0, (f"rules not formatted; run `snakefmt {' '.join(RULE_FILES)}`\n"
                                  + proc.stdout + proc.stderr)

