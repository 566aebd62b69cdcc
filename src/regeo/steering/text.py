"""Texts to token ids and padded batches, and target-token strings to ids.

Padding is done here, not by the tokenizer: an external tokenizer may have no pad token, and the
pad value never matters because every consumer reads the attention mask (right padding, so a
causal model never attends to a pad position from a real one).
"""

from __future__ import annotations

import logging
from typing import Iterator, Sequence

import torch

log = logging.getLogger(__name__)


def encode_texts(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids of each text (no special tokens added), truncated to ``max_length``; empty ones dropped."""
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    encoded = [tokenizer.encode(text, add_special_tokens=False)[:max_length] for text in texts]
    return [ids for ids in encoded if ids]


def padded_batches(encoded: Sequence[Sequence[int]], batch_size: int,
                   device: torch.device | str = "cpu") -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(input_ids, attention_mask)``, both (B, T) int64, right-padded with id 0 and mask 0."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start:start + batch_size]
        width = max(len(ids) for ids in chunk)
        input_ids = torch.zeros(len(chunk), width, dtype=torch.long)  # (B, T)
        mask = torch.zeros(len(chunk), width, dtype=torch.long)  # (B, T)
        for row, ids in enumerate(chunk):
            input_ids[row, :len(ids)] = torch.as_tensor(list(ids), dtype=torch.long)
            mask[row, :len(ids)] = 1
        yield input_ids.to(device), mask.to(device)


def target_token_ids(tokenizer, strings: Sequence[str] | None) -> list[int]:
    """Sorted ids of the single-token forms of ``strings``: ``s`` itself and ``" " + s``.

    A byte-level BPE (GPT-2, the pipeline's tokenizer) spells a word differently at the start of a
    text and after a space ("Ġword"), and the probability we want to raise is that of the word in
    either form, so both single-token encodings count. A string that is several tokens in both
    forms is dropped with a warning (its probability is not one next-token event). ``None`` or an
    empty list gives an empty list; strings given but none usable is an error.
    """
    if not strings:
        return []
    ids: set[int] = set()
    dropped = []
    for string in strings:
        found = [enc[0] for form in (string, " " + string)
                 if len(enc := tokenizer.encode(form, add_special_tokens=False)) == 1]
        if found:
            ids.update(found)
        else:
            dropped.append(string)
    if dropped:
        log.warning("target tokens that are not single tokens were dropped: %s", dropped)
    if not ids:
        raise ValueError(f"none of the target tokens {list(strings)} is a single token of this tokenizer")
    return sorted(ids)
