"""Training throughput: tokens per second and model FLOP utilisation (MFU).

MFU is ``6 N tokens/s`` over the devices' peak FLOP/s, with N the non-embedding parameters as
Kaplan et al. (2020, "Scaling laws for neural language models", section 2.1) count them: every
parameter but the token embeddings and the unembedding (there are no position embeddings in a
Llama). 6 N per token is their forward-and-backward cost of the matrix products; attention
scores and the unembedding product are left out, so it is the conservative count (the README's
GPU-hour estimates count all parameters, embeddings once when tied).
"""

from __future__ import annotations

import math
import time

import torch

# Dense (no sparsity) peak FLOP/s per GPU, from NVIDIA's data sheets: H100 and H200 SXM ("NVIDIA
# H100 Tensor Core GPU" and "NVIDIA H200 Tensor Core GPU" data sheets; the bf16 figures there are
# with sparsity, twice the dense ones), A100 ("NVIDIA A100 Tensor Core GPU" data sheet), L40S and
# L4 (their product data sheets). fp32 is the non-tensor-core rate: PyTorch multiplies float32
# matrices in full precision unless TF32 is enabled. Matched as substrings of
# torch.cuda.get_device_name(), longest first ("H100 PCIe" before "H100", "L40S" before "L4").
PEAK_FLOPS = {
    # name: (bf16, fp32)
    "H100 PCIe": (756e12, 51e12),
    "H100 NVL": (835e12, 60e12),
    "H200 NVL": (835e12, 60e12),
    "GH200": (989e12, 67e12),
    "H100": (989e12, 67e12),  # SXM (device names "NVIDIA H100 80GB HBM3")
    "H200": (989e12, 67e12),
    "A100": (312e12, 19.5e12),
    "L40S": (362e12, 91.6e12),
    "L4": (121e12, 30.3e12),
}


def peak_flops(device: torch.device, precision: str, override: float | None = None) -> float | None:
    """One device's peak FLOP/s at ``precision`` (bf16 | fp32): ``override`` when given, else a CUDA
    device's table entry; None for a CPU or a GPU the table lacks (MFU is then NaN)."""
    if override is not None:
        return float(override)
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key in sorted(PEAK_FLOPS, key=len, reverse=True):
        if key.lower() in name.lower():
            bf16, fp32 = PEAK_FLOPS[key]
            return bf16 if precision == "bf16" else fp32
    return None


def non_embedding_parameters(model: torch.nn.Module) -> int:
    """N as Kaplan et al. count it: parameters other than the input and output embeddings (one
    matrix when tied); norms included, as small as they are."""
    embeddings = {id(m.weight) for m in (model.get_input_embeddings(), model.get_output_embeddings())
                  if m is not None}
    return sum(p.numel() for p in model.parameters() if id(p) not in embeddings)


def model_flops_utilisation(tokens_per_s: float, n_params: int, peak: float | None, devices: int = 1) -> float:
    """6 N tokens/s over ``devices`` x ``peak``; NaN without a peak."""
    if peak is None:
        return math.nan
    return 6.0 * n_params * tokens_per_s / (devices * peak)


class IntervalTimer:
    """Seconds of training since the last :meth:`restart`: read at logging steps, after the host
    sync that reads the losses, so that on a GPU it covers the steps' device time too."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def restart(self) -> None:
        self._start = time.perf_counter()

    def seconds(self) -> float:
        return max(time.perf_counter() - self._start, 1e-9)
