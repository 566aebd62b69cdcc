"""Steering on CUDA: vectors, steered scores and first-order gradients equal the CPU's."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "steering"))
from steering_models import POSITIVE_ADJ, texts, tiny_llama, word_tokenizer  # noqa: E402

from regeo.steering.first_order import passage_gradients  # noqa: E402
from regeo.steering.next_token import sweep_passages  # noqa: E402
from regeo.steering.score import Heldout  # noqa: E402
from regeo.steering.text import encode_texts  # noqa: E402
from regeo.steering.vectors import steering_vector  # noqa: E402

pytestmark = pytest.mark.cuda


@pytest.fixture(scope="module")
def setup():
    tokenizer = word_tokenizer()
    cpu = tiny_llama(len(tokenizer), 64, 2, seed=11)
    heldout = Heldout(positive=encode_texts(tokenizer, texts("news", 6, 4), 40),
                      negative=encode_texts(tokenizer, texts("opinion", 6, 4), 40),
                      target_ids=[tokenizer.convert_tokens_to_ids(w) for w in POSITIVE_ADJ[:3]])
    return tokenizer, cpu, copy.deepcopy(cpu).to("cuda"), heldout


def test_steering_vector_on_cuda_equals_the_cpus(setup):
    tokenizer, cpu, gpu, _ = setup
    args = (tokenizer, texts("news", 8, 1), texts("opinion", 8, 1), 1)
    on_cpu, on_gpu = steering_vector(cpu, *args), steering_vector(gpu, *args)
    torch.testing.assert_close(on_gpu.cpu().double(), on_cpu.double(), rtol=1e-4, atol=1e-5)


def test_steered_scores_on_cuda_equal_the_cpus(setup):
    tokenizer, cpu, gpu, heldout = setup
    torch.manual_seed(0)
    settings = [(torch.randn(64), -2.0), (torch.randn(64), 3.0)]
    a, b = sweep_passages(cpu, heldout, settings, layer=1), sweep_passages(gpu, heldout, settings, layer=1)
    for sa, sb in zip(a.scores, b.scores):
        for key in ("loglik", "logodds", "mass", "kl"):
            np.testing.assert_allclose(getattr(sb, key), getattr(sa, key), rtol=1e-4, atol=1e-6, err_msg=key)
        assert (sb.kl > 0).all()
    np.testing.assert_allclose(b.mean_probs, a.mean_probs, rtol=1e-4, atol=1e-8)


def test_first_order_gradients_on_cuda_equal_the_cpus(setup):
    _, cpu, gpu, heldout = setup
    a, b = passage_gradients(cpu, 1, heldout), passage_gradients(gpu, 1, heldout)
    np.testing.assert_allclose(b.loglik, a.loglik, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(b.logodds, a.logodds, rtol=1e-3, atol=1e-5)
