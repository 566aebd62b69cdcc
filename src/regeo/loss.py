"""Mean next-token loss of a causal LM on a token file, on windows that are the same for every model,
in nats per token and in bits per byte of UTF-8 text (comparable across tokenizers)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


def eval_batches(tokens: np.ndarray, batch_size: int, seq_len: int, max_batches: int | None,
                 starts: np.ndarray | None = None):
    """Consecutive non-overlapping windows from the start of the split, the same for every model;
    or, given ``starts``, the windows beginning at those token offsets (``max_batches`` unused)."""
    if starts is None:
        n_windows = (len(tokens) - 1) // seq_len
        if max_batches is not None:
            n_windows = min(n_windows, max_batches * batch_size)
        starts = np.arange(n_windows) * seq_len
    for first in range(0, len(starts), batch_size):
        idx = starts[first:first + batch_size]
        windows = np.stack([np.asarray(tokens[i:i + seq_len + 1], dtype=np.int64) for i in idx])
        windows = torch.from_numpy(windows)  # (B, T+1)
        yield windows[:, :-1], windows[:, 1:]


@dataclass(frozen=True)
class LossTotals:
    """Summed next-token loss over the predicted tokens of an evaluation and the text they spell."""

    nats: float  # summed cross-entropy
    tokens: int  # predicted tokens
    bytes: int  # UTF-8 bytes of the predicted tokens (0 for special tokens such as EOS)

    @property
    def nats_per_token(self) -> float:
        return self.nats / max(1, self.tokens)

    @property
    def bits_per_byte(self) -> float:
        """nats/token x tokens/bytes / ln 2: the same text costs the same bits whatever its tokens."""
        return self.nats_per_token * self.tokens / max(1, self.bytes) / math.log(2)


@torch.no_grad()
def loss_totals(model, tokens: np.ndarray, batch_size: int, seq_len: int, max_batches: int | None,
                device: torch.device, autocast: torch.dtype | None,
                token_bytes: np.ndarray | None = None) -> LossTotals:
    """Summed next-token cross-entropy over consecutive windows of ``tokens``; ``token_bytes`` (V,)
    gives each id's UTF-8 byte length (:func:`regeo.tokenizer.token_byte_lengths`)."""
    was_training = model.training
    model.eval()
    total, count, n_bytes = 0.0, 0, 0
    for x, y in eval_batches(tokens, batch_size, seq_len, max_batches):
        with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
            logits = model(input_ids=x.to(device)).logits  # (B, T, V)
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), y.to(device).flatten(), reduction="sum")
        total += loss.item()
        count += y.numel()
        if token_bytes is not None:
            n_bytes += int(token_bytes[y.numpy()].sum())
    model.train(was_training)
    return LossTotals(total, count, n_bytes)


def mean_loss(model, tokens: np.ndarray, batch_size: int, seq_len: int, max_batches: int | None,
              device: torch.device, autocast: torch.dtype | None) -> float:
    """Mean next-token cross-entropy over consecutive windows of ``tokens``."""
    return loss_totals(model, tokens, batch_size, seq_len, max_batches, device, autocast).nats_per_token


@torch.no_grad()
def window_losses(model, tokens: np.ndarray, batch_size: int, seq_len: int, max_batches: int | None,
                  device: torch.device, starts: np.ndarray | None = None) -> np.ndarray:
    """(n_windows,) mean next-token cross-entropy of each window of :func:`eval_batches` (``starts``:
    the windows' token offsets): the units a bootstrap over validation text resamples."""
    was_training = model.training
    model.eval()
    out = []
    for x, y in eval_batches(tokens, batch_size, seq_len, max_batches, starts):
        logits = model(input_ids=x.to(device)).logits  # (B, T, V)
        # flattened rows, as mean_loss does: a (B, V, T) view makes cross-entropy several times slower
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), y.to(device).flatten(), reduction="none")
        out.append(loss.view(y.shape).mean(1).cpu().numpy())  # (B,)
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros(0)
