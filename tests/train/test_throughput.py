"""Throughput accounting: the peak FLOP/s table, Kaplan et al.'s N and the MFU of train_log.csv."""

import math

import pytest
import torch

from regeo.train.loop import build_model
from regeo.train.presets import parameter_count, resolve_preset
from regeo.train.throughput import model_flops_utilisation, non_embedding_parameters, peak_flops
from train_helpers import micro_config


@pytest.mark.parametrize("name, precision, expected", [
    ("NVIDIA H100 80GB HBM3", "bf16", 989e12),
    ("NVIDIA H100 PCIe", "bf16", 756e12),
    ("NVIDIA H200", "bf16", 989e12),
    ("NVIDIA H200 NVL", "bf16", 835e12),
    ("NVIDIA GH200 480GB", "bf16", 989e12),
    ("NVIDIA A100-SXM4-80GB", "bf16", 312e12),
    ("NVIDIA A100-SXM4-80GB", "fp32", 19.5e12),
    ("NVIDIA L40S", "bf16", 362e12),
    ("NVIDIA L4", "bf16", 121e12),
    ("Tesla T4", "bf16", None),
])
def test_peak_flops_by_device_name(monkeypatch, name, precision, expected):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    assert peak_flops(torch.device("cuda"), precision) == expected
    assert peak_flops(torch.device("cuda"), precision, override=1e15) == 1e15


def test_a_cpu_has_no_peak_unless_one_is_given():
    assert peak_flops(torch.device("cpu"), "bf16") is None
    assert math.isnan(model_flops_utilisation(1e4, 10**6, None))
    assert peak_flops(torch.device("cpu"), "fp32", override=2e11) == 2e11
    # 6 N tokens/s over the peak of all the devices.
    assert model_flops_utilisation(1e4, 10**6, 1e11, devices=2) == pytest.approx(6e10 / 2e11)


@pytest.mark.parametrize("preset", ["tiny", "124m"])
def test_non_embedding_parameters_leave_out_the_embeddings_once_or_twice(preset):
    """Kaplan et al.'s N: the preset's parameter count without its vocabulary rows (the 124m preset
    ties its two matrices, tiny does not)."""
    fields = resolve_preset(preset)
    model = build_model(micro_config(model=fields, seq_len=16), vocab_size=300, eos_id=0)
    total = sum(p.numel() for p in model.parameters())
    n = non_embedding_parameters(model)
    assert n == parameter_count(fields, vocab_size=0)
    assert total - n == 300 * fields["hidden_size"] * (1 if fields["tie_word_embeddings"] else 2)
