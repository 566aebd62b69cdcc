"""Passages of a subset's val documents, split into the texts a vector is found on, the texts it is
scored on, and the texts the hidden-state ceiling map is fit on.

Texts. A subset's val documents are cut at whitespace into passages of at most
``passage_chars`` characters (the default corpus has subsets of two very long val documents and
subsets of a hundred short ones; passages give both enough texts). The documents are dealt in
turn to three sides, vector, held-out and ceiling, so a document's passages serve one side only:
the vectors are never scored on their own texts, and the ceiling map (DESIGN.md, "Steering
transfer") sees neither. A subset of fewer than three documents has its passages, in document
order, cut into three contiguous thirds instead (a document may then straddle two sides; a
passage never does). Each side then keeps ``texts_per_side`` passages spread evenly over its
documents. Every passage is identified by (document, piece) in ``SubsetTexts.ids``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from regeo.io import RegeoInputError, read_parquet


def passages(text: str, max_chars: int) -> list[str]:
    """``text`` cut at whitespace into pieces of at most ``max_chars`` characters (a longer word is its own piece)."""
    pieces, current = [], ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > max_chars:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        pieces.append(current)
    return pieces


def spread(items: list, n: int) -> list:
    """At most ``n`` of ``items`` at evenly spaced positions (all of them when there are few)."""
    if len(items) <= n:
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, n).round().astype(int)]


SIDES = ("vector", "heldout", "ceiling")


@dataclass(frozen=True)
class SubsetTexts:
    vector: list[str]  # passages the steering vectors are computed on
    heldout: list[str]  # passages the effects are scored on (other documents)
    ceiling: list[str]  # passages the hidden-state ceiling map is fit on (yet other documents)
    ids: dict[str, list[tuple[int, int]]]  # side -> (document, piece) of each of its passages, in order


def subset_texts(documents: list[str], passage_chars: int, per_side: int) -> SubsetTexts:
    """Passages of a subset's val documents, split into vector, held-out and ceiling sides (module docstring)."""
    documents = [d for d in documents if d.split()]
    if not documents:
        raise RegeoInputError("no non-empty val documents")
    pieces = [[((doc, k), piece) for k, piece in enumerate(passages(text, passage_chars))]
              for doc, text in enumerate(documents)]
    if len(documents) >= len(SIDES):
        sides = [[p for doc in pieces[s::len(SIDES)] for p in doc] for s in range(len(SIDES))]
    else:
        flat = [p for doc in pieces for p in doc]
        if len(flat) < len(SIDES):
            raise RegeoInputError(f"{len(flat)} passages cannot give vector, held-out and ceiling texts")
        bounds = np.linspace(0, len(flat), len(SIDES) + 1).round().astype(int)
        sides = [flat[bounds[s]:bounds[s + 1]] for s in range(len(SIDES))]
    kept = [spread(side, per_side) for side in sides]
    return SubsetTexts(*([text for _, text in side] for side in kept),
                       ids={name: [pid for pid, _ in side] for name, side in zip(SIDES, kept)})


def read_val_texts(path: str | Path, passage_chars: int, per_side: int) -> SubsetTexts:
    try:
        return subset_texts(read_parquet(path, columns=["text"])["text"].tolist(), passage_chars, per_side)
    except RegeoInputError as err:
        raise RegeoInputError(f"{path}: {err}") from err
