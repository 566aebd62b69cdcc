"""Hidden states of two models on the same texts, paired by position, and maps fit on them.

The hidden-state ceiling of a transfer (model stitching, arXiv 2506.06609; the linear
representation transferability hypothesis, arXiv 2506.00653): an affine map fit on paired
residual-stream states of A and B at the two steering layers is the best a linear map can do
*where the vectors live*; the Emb2Emb map is fit on token embeddings instead. Pairing: the state
at a position summarises the text up to the end of that position's token, so a position of A
and one of B are paired when their tokens end at the same character of the text. With one
tokenizer that is every position; with two it is the positions where both tokenizations have a
boundary.

Layers are indexed as in :mod:`regeo.steering.inject` with one addition: -1 is the embedding
output (the input to block 0), so that depth 0 can be compared too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from regeo.steering.inject import block_output, decoder_layers
from regeo.steering.text import padded_batches
from regeo.steering.vectors import model_device

EMBEDDING_LAYER = -1


@dataclass(frozen=True)
class TextStates:
    """One model's states on a list of texts: per text, token end offsets and (n_tokens, d) per layer."""

    ends: list[np.ndarray]  # per text: (n_tokens,) character offset where each token ends
    states: dict[int, list[np.ndarray]]  # layer -> per text (n_tokens, d) float32


def token_ends(tokenizer, texts: Sequence[str], max_length: int) -> tuple[list[list[int]], list[np.ndarray]]:
    """Token ids (truncated to ``max_length``) and the character offset where each token ends."""
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(f"{type(tokenizer).__name__} gives no character offsets (a fast tokenizer is needed "
                        "to pair positions across tokenizers)")
    ids, ends = [], []
    for text in texts:
        encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids.append(list(encoding["input_ids"][:max_length]))
        ends.append(np.array([end for _, end in encoding["offset_mapping"][:max_length]], dtype=np.int64))
    return ids, ends


@torch.no_grad()
def text_states(model, tokenizer, texts: Sequence[str], max_length: int, batch_size: int = 8,
                device=None) -> TextStates:
    """Every layer's states (the embedding output and each block's output) of ``model`` on ``texts``."""
    device = model_device(model, device)
    ids, ends = token_ends(tokenizer, texts, max_length)
    layers = decoder_layers(model)
    captured: dict[int, torch.Tensor] = {}

    def keep(layer):
        def hook(_module, _inputs, output):
            captured[layer] = block_output(output)
        return hook

    handles = [model.get_input_embeddings().register_forward_hook(keep(EMBEDDING_LAYER))]
    handles += [block.register_forward_hook(keep(i)) for i, block in enumerate(layers)]
    states: dict[int, list[np.ndarray]] = {layer: [] for layer in [EMBEDDING_LAYER, *range(len(layers))]}
    try:
        lengths = iter([len(x) for x in ids])
        for input_ids, mask in padded_batches(ids, batch_size, device):
            model(input_ids=input_ids, attention_mask=mask, use_cache=False)
            chunk = [next(lengths) for _ in range(len(input_ids))]
            for layer, hidden in captured.items():
                for row, n in enumerate(chunk):
                    states[layer].append(hidden[row, :n].float().cpu().numpy())
    finally:
        for handle in handles:
            handle.remove()
    return TextStates(ends=ends, states=states)


def paired_positions(ends_a: np.ndarray, ends_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into A's and B's tokens) of the positions whose tokens end at the same character."""
    common, index_a, index_b = np.intersect1d(ends_a, ends_b, return_indices=True)
    return index_a, index_b


def paired_states(a: TextStates, b: TextStates, layer_a: int, layer_b: int,
                  texts: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(X (N, d_a), Y (N, d_b)) float64: the paired positions of the given texts (all when None)."""
    chosen = range(len(a.ends)) if texts is None else texts
    xs, ys = [], []
    for t in chosen:
        index_a, index_b = paired_positions(a.ends[t], b.ends[t])
        xs.append(a.states[layer_a][t][index_a])
        ys.append(b.states[layer_b][t][index_b])
    d_a, d_b = a.states[layer_a][0].shape[1], b.states[layer_b][0].shape[1]
    X = np.concatenate(xs).astype(np.float64) if xs else np.zeros((0, d_a))
    Y = np.concatenate(ys).astype(np.float64) if ys else np.zeros((0, d_b))
    return X, Y


def paired_counts(a: TextStates, b: TextStates, texts: Sequence[int] | None = None) -> np.ndarray:
    """(n_texts,) int64: paired positions per text, in :func:`paired_states`' row order."""
    chosen = range(len(a.ends)) if texts is None else texts
    return np.array([len(paired_positions(a.ends[t], b.ends[t])[0]) for t in chosen], dtype=np.int64)
