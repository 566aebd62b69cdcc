"""benchmarks/gpu_check.sh where torch sees no GPU: it says so, runs its steps at smoke sizes on the
CPU and writes its report (the GPU numbers stay missing)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the script measures for minutes")
def test_gpu_check_without_cuda_says_so_and_reports_its_smoke_run(tmp_path):
    # Inductor's CPU build takes a minute here: the compiled step is left to the script's own runs.
    command = ["bash", str(REPO / "benchmarks" / "gpu_check.sh"), str(tmp_path / "out"), "--skip", "compiled"]
    proc = subprocess.run(command, env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 3, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert proc.stdout.startswith("NO CUDA DEVICE") and "GPU numbers are still to be measured" in proc.stdout
    report = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert report["environment"]["cuda"] is False and report["imports_snakemake_or_datasets"] == []
    steps = report["steps"]
    assert {name: step["status"] for name, step in steps.items()} == {
        "tests": "done", "train_eager_b4": "done", "saves": "done", "train_compiled_b4": "skipped (--skip)",
        "id": "done"}
    tests = steps["tests"]["result"]
    assert tests["returncode"] == 0 and tests["counts"]["skipped"] >= 15 and "passed" not in tests["counts"]
    eager = steps["train_eager_b4"]["result"]
    assert eager["tokens_per_s"] > 0 and eager["losses_finite"] and eager["mfu"] is None  # no peak known
    assert eager["non_embedding_parameters"] < eager["parameters"]
    assert "aten::scaled_dot_product_attention" in eager["attention_kernels"]
    assert steps["saves"]["result"]["dump_mb"] > 0 and steps["saves"]["result"]["state_mb"] > 0
    ident = steps["id"]["result"]
    assert (ident["n"], ident["d"]) == (2000, 64)
    assert set(ident["values"]) >= {"mle k=10", "twonn k=2", "local_pca k=20"}
    text = (tmp_path / "out" / "gpu_check.md").read_text()
    assert "**No CUDA device: a CPU smoke run at small sizes, not GPU numbers.**" in text
    assert "| eager | 4 | 512 |" in text and "## ID table (2,000 x 64)" in text
    assert "train_compiled_b4: **skipped (--skip)**" in text
