"""Pseudo-registers for a negative control: each document gets one of a few CORE codes at random.

``registers.method: random`` labels every document with one of ``registers.random_labels``,
chosen by a stable hash of its doc_id and ``registers.random_seed`` (uniform, independent of the
text, the same in every shard job and on every machine). Subsets built from these labels differ
only by chance, so every test of a register effect run on them must come out null
(``config/negative_control.yaml``).
"""

from __future__ import annotations

import hashlib

import pandas as pd

from regeo.data.label_column import column_probabilities
from regeo.io import read_columns


def random_label(doc_id, labels: list[str], seed: int) -> str:
    """The pseudo-register of one document: a hash of (seed, doc_id) modulo the number of labels."""
    digest = hashlib.blake2b(f"{seed}\x00{doc_id}".encode(), digest_size=8).digest()
    return labels[int.from_bytes(digest, "little") % len(labels)]


def random_probabilities(path, labels: list[str], seed: int, id_field: str = "doc_id") -> pd.DataFrame:
    """The probabilities table (doc_id, prob_<LABEL>...) of a corpus shard under random labels."""
    doc_ids = read_columns(path, [id_field])[id_field].tolist()
    values = [random_label(doc_id, labels, seed) for doc_id in doc_ids]
    return column_probabilities(doc_ids, values, str(path), {label: label for label in labels})
