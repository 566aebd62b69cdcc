"""A concept's vector texts kept as per-unit activation sums: the CAA vector and every relabelled or
resampled copy of it from one forward pass.

A CAA vector (:mod:`regeo.steering.vectors`) is a difference of two token-weighted means of the
output of block l. Kept per *unit* with the unit's token count, its side and the passage it belongs
to, any relabelling of the units (the label-permutation null, :mod:`regeo.steering.permutation`) or
reweighting of the passages (the bootstrap, :mod:`regeo.steering.bootstrap`) gives its vector by
a matrix product, without another forward pass:

- a text contrast: a unit is a passage (the sum of its states), its side positive or negative;
- a token concept: a unit is a position that has a next token (its state), its side whether that
  next token is a target; the passage it lies in is its block.

``skip_first`` positions at the start of every passage are left out, as in the vectors' means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from regeo.steering.inject import block_output, check_layer, decoder_layers
from regeo.steering.text import padded_batches
from regeo.steering.vectors import model_device

# Rows of a labelling or weighting matrix turned into vectors at once: (chunk, units) float64
# matrices stay at a few MB for a paper-sized token concept (32 passages x 128 positions).
CHUNK = 256


@dataclass(frozen=True)
class UnitActivations:
    """Per-unit activation sums of one model's vector texts (module docstring); float64, on the CPU."""

    sums: np.ndarray  # (U, d): sum of the block's outputs over the unit's counted positions
    counts: np.ndarray  # (U,): positions counted
    positive: np.ndarray  # (U,) bool: the positive side (a positive passage; a position followed by a target)
    block: np.ndarray  # (U,) int64: the passage the unit lies in, 0 .. n_passages - 1, non-decreasing
    kind: str  # "texts" (units are passages) or "tokens" (units are positions)
    n_passages: int  # passages the units come from (a token concept's passage may have no unit)

    @property
    def passage_positive(self) -> np.ndarray:
        """(n_passages,) bool: a passage's side (texts); every passage False for tokens (no sides)."""
        if self.kind == "tokens":
            return np.zeros(self.n_passages, dtype=bool)
        return self.positive.copy()  # one unit per passage

    def vector(self) -> np.ndarray:
        """(d,) the CAA vector of the labels as they are."""
        return self.vectors(self.positive[None])[0]

    def vectors(self, labels: np.ndarray, passage_weights: np.ndarray | None = None) -> np.ndarray:
        """(K, d): per row, the weighted mean over units labelled positive minus over the others.

        ``labels`` (K, U) bool or (1, U) broadcast; ``passage_weights`` (K, n_passages) draw counts
        of the passages (None: each once). A row with no weight on one side is NaN.
        """
        labels = np.atleast_2d(np.asarray(labels, dtype=bool))
        rows = labels.shape[0] if passage_weights is None else np.atleast_2d(passage_weights).shape[0]
        out = np.empty((rows, self.sums.shape[1]))
        for start in range(0, rows, CHUNK):
            stop = min(start + CHUNK, rows)
            label = labels if labels.shape[0] == 1 else labels[start:stop]  # (k, U)
            weight = (np.ones((1, self.block.size)) if passage_weights is None
                      else np.atleast_2d(passage_weights)[start:stop][:, self.block])  # (k, U)
            hit, miss = weight * label, weight * ~label
            with np.errstate(invalid="ignore", divide="ignore"):
                out[start:stop] = ((hit @ self.sums) / (hit @ self.counts)[:, None]
                                   - (miss @ self.sums) / (miss @ self.counts)[:, None])
        return out


@torch.no_grad()
def unit_activations(model, encoded: Sequence[Sequence[int]], layer: int, batch_size: int = 8, device=None,
                     skip_first: int = 0, *, n_positive: int | None = None,
                     target_ids: Sequence[int] | None = None) -> UnitActivations:
    """The units of ``encoded`` (token ids per passage) at the output of block ``layer``.

    A text contrast passes ``n_positive`` (the first ``n_positive`` passages are the positive side);
    a token concept passes ``target_ids``. Exactly one of the two.
    """
    if (n_positive is None) == (target_ids is None):
        raise ValueError("give n_positive (a text contrast) or target_ids (a token concept), not both")
    if not encoded:
        raise ValueError("no tokens: every text was empty")
    layer = check_layer(model, layer)
    device = model_device(model, device)
    targets = None if target_ids is None else torch.as_tensor(sorted(set(target_ids)), dtype=torch.long)
    captured: list[torch.Tensor] = []

    class Captured(Exception):
        pass

    def capture(_module, _inputs, output):
        captured.append(block_output(output))
        raise Captured  # the later blocks and the (V x d) head are not needed

    handle = decoder_layers(model)[layer].register_forward_hook(capture)
    sums, counts, positive, block = [], [], [], []
    passage = 0
    try:
        for input_ids, mask in padded_batches(encoded, batch_size, device):
            captured.clear()
            try:
                model(input_ids=input_ids, attention_mask=mask, use_cache=False)
            except Captured:
                pass
            hidden = captured[-1].double().cpu()  # (B, T, d)
            counted = mask.bool().cpu()  # (B, T)
            counted[:, :skip_first] = False  # right-padded: column t is position t of every text
            ids = input_ids.cpu()
            for row in range(len(ids)):
                if targets is None:
                    sums.append(hidden[row][counted[row]].sum(0))
                    counts.append(float(counted[row].sum()))
                    positive.append(passage < n_positive)
                    block.append(passage)
                else:
                    has_next = torch.zeros_like(counted[row])
                    has_next[:-1] = mask[row, 1:].bool().cpu()
                    keep = counted[row] & has_next  # (T,)
                    next_is_target = torch.zeros_like(keep)
                    next_is_target[:-1] = torch.isin(ids[row, 1:], targets)
                    n = int(keep.sum())
                    sums.append(hidden[row][keep])  # (n, d)
                    counts.append(np.ones(n))
                    positive.append(next_is_target[keep].numpy())
                    block.append(np.full(n, passage))
                passage += 1
    finally:
        handle.remove()
    if targets is None:
        return UnitActivations(torch.stack(sums).numpy(), np.asarray(counts), np.asarray(positive, dtype=bool),
                               np.asarray(block, dtype=np.int64), "texts", passage)
    units = UnitActivations(torch.cat(sums).numpy(), np.concatenate(counts), np.concatenate(positive).astype(bool),
                            np.concatenate(block).astype(np.int64), "tokens", passage)
    n_hit = int(units.positive.sum())
    if n_hit == 0 or n_hit == units.positive.size:
        raise ValueError(f"the texts have {n_hit} positions followed by a target token and "
                         f"{units.positive.size - n_hit} followed by another token; both must be > 0")
    return units
