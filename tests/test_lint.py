"""The workflow itself is sound: lint-clean and the default config plans the whole pipeline."""

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


def test_default_config_plans_every_stage():
    proc = snakemake("--dry-run", "--forceall", "--quiet", "rules")
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    for rule in ("corpus", "registers", "subset", "tokenizer", "tokens", "train", "id_dynamics", "evaluate",
                 "figure_id_over_training", "figure_cross_register"):
        assert rule in text
