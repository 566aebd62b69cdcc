"""Passages of a subset's val documents, split into the texts a vector is found on and the texts it is scored on.

Texts. A subset's val documents are cut at whitespace into passages of at most
``passage_chars`` characters (the default corpus has subsets of two very long val documents and
subsets of a hundred short ones; passages give both enough texts). The documents are dealt
alternately to the vector side and the held-out side, so a document's passages never serve both
the vector and its score; a subset with a single document gives the first half of its passages
to the vector and the second half to the scores. Each side then keeps ``texts_per_side``
passages spread evenly over its documents.
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


@dataclass(frozen=True)
class SubsetTexts:
    vector: list[str]  # passages the steering vectors are computed on
    heldout: list[str]  # passages the effects are scored on (other documents)


def subset_texts(documents: list[str], passage_chars: int, per_side: int) -> SubsetTexts:
    """Passages of a subset's val documents, split into vector and held-out sides (module docstring)."""
    documents = [d for d in documents if d.split()]
    if not documents:
        raise RegeoInputError("no non-empty val documents")
    if len(documents) == 1:
        pieces = passages(documents[0], passage_chars)
        if len(pieces) < 2:
            raise RegeoInputError("a single val document of one passage cannot give both vector and held-out texts")
        half = len(pieces) // 2
        vector, heldout = pieces[:half], pieces[half:]
    else:
        vector = [p for d in documents[0::2] for p in passages(d, passage_chars)]
        heldout = [p for d in documents[1::2] for p in passages(d, passage_chars)]
    return SubsetTexts(vector=spread(vector, per_side), heldout=spread(heldout, per_side))


def read_val_texts(path: str | Path, passage_chars: int, per_side: int) -> SubsetTexts:
    try:
        return subset_texts(read_parquet(path, columns=["text"])["text"].tolist(), passage_chars, per_side)
    except RegeoInputError as err:
        raise RegeoInputError(f"{path}: {err}") from err
