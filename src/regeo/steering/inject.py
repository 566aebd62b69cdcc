"""Adding a vector to the residual stream with forward hooks, and matching layers across depths.

Where a vector lives: "layer l" is always the *output of decoder block l* (0-based), the residual
stream after block l's attention and MLP have been added and before block l+1 (or, for the last
block, before the final norm). The vectors of :mod:`regeo.steering.vectors` are measured at the
same module output that :func:`steer` adds to, so measuring and injecting agree by construction.
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator

import torch


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The list of decoder blocks of a causal LM, whatever the architecture calls it.

    Llama keeps them in ``model.model.layers``, GPT-NeoX (Pythia) in ``model.gpt_neox.layers``,
    GPT-2 in ``model.transformer.h``. Rather than a table of names, the blocks are the one
    ``ModuleList`` of ``config.num_hidden_layers`` entries of one class, the shallowest if nested
    lists qualify (an MoE block's experts are deeper and of another length as a rule).
    """
    n = getattr(model.config, "num_hidden_layers", None)
    candidates = [
        (name.count("."), name, module) for name, module in model.named_modules()
        if isinstance(module, torch.nn.ModuleList) and len(module) == n and n
        and len({type(block) for block in module}) == 1
    ]
    if not candidates:
        raise TypeError(f"cannot find the decoder layers of {type(model).__name__}: no list of "
                        f"config.num_hidden_layers = {n} blocks")
    depth = min(c[0] for c in candidates)
    shallowest = [c for c in candidates if c[0] == depth]
    if len(shallowest) > 1:
        raise TypeError(f"cannot tell the decoder layers of {type(model).__name__}: several lists of {n} blocks "
                        f"({', '.join(c[1] for c in shallowest)})")
    return shallowest[0][2]


def check_layer(model: torch.nn.Module, layer: int) -> int:
    """``layer`` as an index into the decoder blocks; negative values count from the end."""
    n = len(decoder_layers(model))
    if not -n <= layer < n:
        raise IndexError(f"layer {layer} out of range for a model with {n} decoder layers")
    return layer % n


def block_output(output):
    """The hidden states (B, T, d) in a decoder block's output (a tensor in transformers 5, a tuple in 4.x)."""
    return output[0] if isinstance(output, tuple) else output


@contextlib.contextmanager
def steer(model: torch.nn.Module, vector: torch.Tensor, layer: int, alpha: float = 1.0) -> Iterator[None]:
    """Within the block, add ``alpha * vector`` to the output of decoder block ``layer`` at every position.

    Every position means every token of every forward call, prompt and generated tokens alike
    (with a KV cache each new token passes through the hook once). The hook is removed on exit,
    also when the block raises. ``alpha == 0`` registers nothing. Read steered states with a hook
    registered inside the block, not from ``output_hidden_states``: transformers 5 records
    ``hidden_states[layer + 1]`` with a hook of its own registered earlier, so it shows the block
    output before the steering is added (the next blocks and the logits do see it).
    """
    layer = check_layer(model, layer)
    module = decoder_layers(model)[layer]
    d = model.config.hidden_size
    vector = torch.as_tensor(vector)
    if vector.shape != (d,):
        raise ValueError(f"steering vector must have shape ({d},), got {tuple(vector.shape)}")
    if alpha == 0:
        yield
        return
    param = next(model.parameters())
    shift = (float(alpha) * vector.detach()).to(device=param.device, dtype=param.dtype)  # (d,)
    with added_to_output(module, shift):
        yield


@contextlib.contextmanager
def added_to_output(module: torch.nn.Module, shift: torch.Tensor) -> Iterator[None]:
    """Within the block, ``shift`` is added to ``module``'s hidden-state output (broadcast over (B, T, d)).

    The one hook :func:`steer` and the first-order gradients (a per-passage (B, 1, d) shift) share;
    removed on exit, also when the block raises.
    """
    def hook(_module, _inputs, output):
        if isinstance(output, tuple):
            return (output[0] + shift,) + output[1:]
        return output + shift

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def layer_at_depth(relative_depth: float, n_layers: int) -> int:
    """The block whose output lies at ``relative_depth`` of the stack: round(depth * n) - 1, clipped.

    Block l's output has passed (l + 1) of n blocks, so its relative depth is (l + 1) / n:
    depth 0.5 is block 0 of 2, block 1 of 4, block 11 of 24; depth 1.0 is the last block.
    Halves round up (no banker's rounding) so the rule is easy to state.
    """
    if not 0 < relative_depth <= 1:
        raise ValueError(f"relative_depth must lie in (0, 1], got {relative_depth}")
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {n_layers}")
    return min(n_layers - 1, max(0, math.floor(relative_depth * n_layers + 0.5) - 1))


def match_layer(layer_a: int, n_layers_a: int, n_layers_b: int) -> int:
    """The block of model B at the same relative depth as block ``layer_a`` of model A.

    Relative depth (l + 1) / n as in :func:`layer_at_depth`, so equal depths map a block to itself
    and 2 -> 4 layers maps blocks 0, 1 to 1, 3.
    """
    if not 0 <= layer_a < n_layers_a:
        raise IndexError(f"layer_a {layer_a} out of range for {n_layers_a} layers")
    return layer_at_depth((layer_a + 1) / n_layers_a, n_layers_b)
