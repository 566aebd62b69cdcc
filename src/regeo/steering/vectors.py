"""Steering vectors by contrastive activation addition (CAA), for text contrasts and token sets.

Which hidden state: the output of decoder block ``layer`` (0-based), captured by a forward hook on
that block, the very module :func:`regeo.steering.inject.steer` adds to. For ``layer < n - 1``
this equals ``model(..., output_hidden_states=True).hidden_states[layer + 1]`` (index 0 is the
embedding output). For the last block it does not: transformers returns the state *after the
final norm* as ``hidden_states[n]`` (``capture_outputs(tie_last_hidden_states=True)`` in
transformers 5, the same in 4.x), and a vector measured after a norm would be added before it.
The hook avoids that off-by-a-norm.

Means are over tokens, not texts (a long text weighs more), accumulated in float64. ``skip_first``
positions at the start of each text can be left out of every mean: in Llama-family models the
first position is an attention sink whose state is orders of magnitude larger than the others
(Xiao et al. 2023; Sun et al. 2024, "massive activations"; SmolLM2-135M at block 14 of 30: norm
~24,000 against ~160), so small differences between texts' first states become most of a CAA
vector (benchmarks/steer_first_position.py).

Token-set concepts. The vector that should raise the probability of a target token set T is
CAA on next-token events: the mean activation at positions whose *next* token is in T minus the
mean at positions whose next token is not in T, over a set of context texts. Chosen over the
other natural candidate, the mean unembedding row of T minus the mean row, because
(1) it is the same estimator as the text concepts (a difference of mean layer-l activations), so
native and transferred vectors of both kinds are comparable objects; (2) it lives in the
layer-l residual basis where it is injected, while an unembedding direction lives in the output
basis, which matches a middle layer only under a logit-lens assumption; (3) an unembedding
direction transferred with a map fit on output embeddings would be carried over by construction
(M maps the rows it was fit on), which would make the transfer test circular.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from regeo.steering.inject import block_output, check_layer, decoder_layers
from regeo.steering.text import encode_texts, padded_batches

# Given (input_ids, attention_mask), both (B, T), the position masks (B, T) bool of each group.
GroupMasks = Callable[[torch.Tensor, torch.Tensor], list[torch.Tensor]]


def model_device(model: torch.nn.Module, device=None) -> torch.device:
    return torch.device(device) if device is not None else next(model.parameters()).device


class _Captured(Exception):
    """Raised by the capture hook once it has the block output it needs."""


@torch.no_grad()
def _group_means(model, encoded: Sequence[Sequence[int]], layer: int, groups: GroupMasks,
                 batch_size: int, device, skip_first: int = 0) -> list[tuple[torch.Tensor, int]]:
    """Per group: (mean float64 (d,), token count) of the output of block ``layer`` over the group's
    positions, the first ``skip_first`` positions of every text left out."""
    layer = check_layer(model, layer)
    captured: list[torch.Tensor] = []

    def capture(_module, _inputs, output):
        captured.append(block_output(output))
        raise _Captured  # the later blocks and the (V x d) head are not needed: stop the forward here

    handle = decoder_layers(model)[layer].register_forward_hook(capture)
    d = model.config.hidden_size
    sums: list[torch.Tensor] | None = None
    counts: list[int] | None = None
    try:
        for input_ids, mask in padded_batches(encoded, batch_size, model_device(model, device)):
            captured.clear()
            try:
                model(input_ids=input_ids, attention_mask=mask, use_cache=False)
            except _Captured:
                pass
            hidden = captured[-1].double()  # (B, T, d)
            masks = groups(input_ids, mask)  # each (B, T) bool
            if skip_first:
                masks = [m.clone() for m in masks]
                for m in masks:
                    m[:, :skip_first] = False  # right-padded: column t is position t of every text
            if sums is None:
                sums = [torch.zeros(d, dtype=torch.float64, device=hidden.device) for _ in masks]
                counts = [0] * len(masks)
            for g, m in enumerate(masks):
                sums[g] += hidden[m].sum(dim=0)  # (d,)
                counts[g] += int(m.sum())
    finally:
        handle.remove()
    if sums is None:
        raise ValueError("no tokens: every text was empty")
    return [(s.cpu() / max(c, 1), c) for s, c in zip(sums, counts)]


def mean_activation(model, tokenizer, texts: Sequence[str], layer: int, max_length: int = 128,
                    batch_size: int = 8, device=None, skip_first: int = 0) -> torch.Tensor:
    """Mean (d,) float32 output of block ``layer`` over all non-pad tokens of ``texts`` (past ``skip_first``)."""
    encoded = encode_texts(tokenizer, texts, max_length)
    if not encoded:
        raise ValueError("no tokens: every text was empty")
    [(mean, _)] = _group_means(model, encoded, layer, lambda _ids, mask: [mask.bool()], batch_size, device,
                               skip_first)
    return mean.float()


def steering_vector(model, tokenizer, positive_texts: Sequence[str], negative_texts: Sequence[str],
                    layer: int, max_length: int = 128, batch_size: int = 8, device=None,
                    skip_first: int = 0) -> torch.Tensor:
    """CAA vector (d,) float32: mean block-``layer`` output over positive tokens minus over negative tokens.

    Texts are truncated to ``max_length`` tokens; every non-pad token counts once. Adding
    ``alpha * v`` (alpha > 0) should move the model towards the positive texts.
    """
    positive = mean_activation(model, tokenizer, positive_texts, layer, max_length, batch_size, device, skip_first)
    negative = mean_activation(model, tokenizer, negative_texts, layer, max_length, batch_size, device, skip_first)
    return positive - negative


def token_steering_vector(model, tokenizer, texts: Sequence[str], target_ids: Sequence[int], layer: int,
                          max_length: int = 128, batch_size: int = 8, device=None,
                          skip_first: int = 0) -> torch.Tensor:
    """Next-token CAA vector (d,) float32 for a token set: raising the probability of ``target_ids``.

    Mean block-``layer`` output at positions whose next token is in ``target_ids`` minus the mean at
    positions whose next token is not (positions without a next token are left out); see the module
    docstring for why this and not an unembedding direction. ``texts`` must contain the targets.
    """
    if not target_ids:
        raise ValueError("target_ids is empty")
    encoded = encode_texts(tokenizer, texts, max_length)
    if not encoded:
        raise ValueError("no tokens: every text was empty")
    targets = torch.as_tensor(sorted(set(target_ids)), dtype=torch.long)

    def groups(input_ids, mask):
        has_next = torch.zeros_like(mask, dtype=torch.bool)  # (B, T)
        has_next[:, :-1] = mask[:, 1:].bool()
        next_is_target = torch.zeros_like(has_next)
        next_is_target[:, :-1] = torch.isin(input_ids[:, 1:], targets.to(input_ids.device))
        return [has_next & next_is_target, has_next & ~next_is_target]

    (hit, n_hit), (miss, n_miss) = _group_means(model, encoded, layer, groups, batch_size, device, skip_first)
    if n_hit == 0 or n_miss == 0:
        raise ValueError(f"the texts have {n_hit} positions followed by a target token and {n_miss} "
                         "followed by another token; both must be > 0")
    return (hit - miss).float()
