"""The exact kNN on CUDA (its tiles, both screens, the float64 pass) against float64 references."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "geometry"))
from geometry_data import brute_knn, swiss_roll  # noqa: E402

from regeo.geometry.knn import _screen_dtype, exact_knn  # noqa: E402

pytestmark = pytest.mark.cuda


@pytest.fixture(scope="module")
def X():
    roll = swiss_roll(1500, 48, seed=51, noise=1e-2).astype(np.float32)
    return np.concatenate([roll, roll[:9]])  # with duplicates: neighbours at distance 0, ties by index


@pytest.fixture(scope="module")
def reference(X):
    return {metric: brute_knn(X, 10, metric) for metric in ("euclidean", "cosine")}


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("screen", ["float32", "bfloat16"])
@pytest.mark.parametrize("block_size, margin", [(None, None), (256, 0)], ids=["default-tile", "small-tiles-margin0"])
def test_cuda_knn_equals_the_float64_brute_force(X, reference, metric, screen, block_size, margin):
    """The default (one GPU-sized tile) and many small tiles with no margin, so that every row whose
    k-th neighbour is not certified goes through the float32 redo."""
    knn = exact_knn(X, 10, metric=metric, device="cuda", screen=screen, block_size=block_size, margin=margin)
    D, I = reference[metric]
    np.testing.assert_array_equal(knn.indices, I)
    np.testing.assert_allclose(knn.distances, D, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("screen", ["float32", "bfloat16"])
def test_cuda_knn_at_scale_equals_the_cpu_search(screen):
    """30,000 rows of an embedding-like cloud, several GPU tiles: the CPU search (itself equal to the
    float64 brute force, tests/geometry) gives the same neighbours and distances."""
    rng = np.random.default_rng(3)
    scales = np.arange(1, 65, dtype=np.float32) ** -0.5
    X = (rng.standard_normal((30_000, 64), dtype=np.float32) * scales).astype(np.float32)
    gpu = exact_knn(X, 20, device="cuda", screen=screen, block_size=8192)
    cpu = exact_knn(X, 20, device="cpu", screen="float32")
    np.testing.assert_array_equal(gpu.indices, cpu.indices)
    np.testing.assert_allclose(gpu.distances, cpu.distances, rtol=1e-12)


def test_auto_screen_is_bfloat16_on_a_bf16_gpu():
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float32
    assert _screen_dtype("auto", torch.device("cuda"), 64) == expected
