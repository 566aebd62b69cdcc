"""Training on CUDA: a bf16 run learns, its step is the pipeline's, and a killed run resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

from regeo.dumps import dump_name
from regeo.io import load_tensors
from regeo.train.data import to_device
from regeo.train.distributed import Group
from regeo.train.loop import build_model, train
from regeo.train.schedule import checkpoint_steps
from regeo.train.step import make_optimizer, training_step
from train_helpers import micro_config, run_paths, write_token_files

pytestmark = pytest.mark.cuda


@pytest.fixture(scope="module")
def token_files(tmp_path_factory, small_corpus, small_tokenizer):
    return write_token_files(tmp_path_factory.mktemp("tokens"), small_corpus, small_tokenizer)


def cuda_config(**overrides):
    return micro_config(device="cuda", **overrides)


def test_a_bf16_run_on_cuda_learns_and_logs_its_throughput(tmp_path, token_files, caplog):
    cfg = cuda_config(precision="bf16", peak_flops=1e12)
    with caplog.at_level("INFO", logger="regeo.train.loop"):
        train(cfg, *token_files, **run_paths(tmp_path))
    assert "sdpa attention" in caplog.text
    log = pd.read_csv(tmp_path / "train_log.csv")
    assert np.isfinite(log["loss"]).all() and log["val_loss"].notna().sum() == 4
    assert log["loss"].iloc[-5:].mean() < log["loss"].iloc[:5].mean() - 0.2  # 6.24 -> 5.88 in fp32 on a CPU
    assert (log["tokens_per_s"] > 0).all() and (log["mfu"] > 0).all()
    last = load_tensors(tmp_path / "embeddings" / dump_name(cfg.steps))
    assert last["input"].dtype == torch.float32 and torch.isfinite(last["input"]).all()


def test_the_bf16_step_with_fused_adamw_and_micro_batches(small_tokenizer):
    """The pipeline's step on CUDA: fused AdamW, bf16 autocast, two accumulated micro-batches
    equal to one whole batch (up to bf16 sums), and the loss falls on a repeated batch."""
    cfg = cuda_config(precision="bf16", seq_len=64)
    device = torch.device("cuda")
    batch = to_device(tuple(torch.randint(0, len(small_tokenizer), (2, 8, 64), generator=torch.Generator()
                                          .manual_seed(0))), device)
    steps = {}
    for micro in (None, 4):
        model = build_model(cfg, len(small_tokenizer), small_tokenizer.eos_token_id).to(device)
        optimizer = make_optimizer(model, cfg)
        assert optimizer.defaults["fused"] is True
        step = training_step(model, optimizer, cuda_config(precision="bf16", seq_len=64, micro_batch_size=micro),
                             Group(0, 1, device))
        steps[micro] = torch.stack([step(batch[0], batch[1], 1e-2) for _ in range(30)]).cpu()
    assert steps[None].dtype == torch.float32 and torch.isfinite(steps[None]).all()
    assert steps[None][-1] < steps[None][0] - 1.0
    torch.testing.assert_close(steps[4], steps[None], rtol=2e-2, atol=2e-2)


KILLER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    import regeo.train.loop as loop
    from train_helpers import micro_config, run_paths
    kill_at, precision = int(sys.argv[1]), sys.argv[2]
    real = loop.train_batch
    def batch(tokens, step, *args):
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(tokens, step, *args)
    loop.train_batch = batch
    loop.train(micro_config(device="cuda", precision=precision), Path(sys.argv[3]), Path(sys.argv[4]),
               Path(sys.argv[5]), **run_paths(Path(sys.argv[6])))
""")


@pytest.mark.parametrize("precision, tolerance", [("fp32", 1e-5), ("bf16", 1e-3)])
def test_a_killed_cuda_run_resumes_to_the_uninterrupted_one(tmp_path, token_files, precision, tolerance):
    cfg = cuda_config(precision=precision)
    train(cfg, *token_files, **run_paths(tmp_path / "whole"))
    tests_dir = os.path.dirname(os.path.dirname(__file__))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tests_dir, *sys.path])}
    proc = subprocess.run([sys.executable, "-c", KILLER, "17", precision, *map(str, token_files),
                           str(tmp_path / "killed")], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert (tmp_path / "killed" / "state" / "latest" / "progress.json").is_file()
    for dump in (tmp_path / "killed" / "embeddings").glob("*.safetensors"):
        dump.unlink()  # as Snakemake deletes a failed job's outputs
    train(cfg, *token_files, **run_paths(tmp_path / "killed"))
    for step in checkpoint_steps(cfg.steps, cfg.checkpoint_every):
        a = load_tensors(tmp_path / "whole" / "embeddings" / dump_name(step))
        b = load_tensors(tmp_path / "killed" / "embeddings" / dump_name(step))
        for key in ("input", "output"):
            torch.testing.assert_close(b[key], a[key], rtol=tolerance, atol=tolerance)
    la, lb = pd.read_csv(tmp_path / "whole" / "train_log.csv"), pd.read_csv(tmp_path / "killed" / "train_log.csv")
    np.testing.assert_allclose(lb["loss"], la["loss"], rtol=tolerance)
