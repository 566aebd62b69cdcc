"""From per-label probabilities to each document's labels and register class."""

from __future__ import annotations

import pandas as pd

from regeo.registers import ALL_LABELS, LabelingRules, assign_class, labels_from_probabilities

PROB_PREFIX = "prob_"


def probability_columns() -> list[str]:
    return [PROB_PREFIX + label for label in ALL_LABELS]


def one_hot_probabilities(documents: pd.DataFrame, label_column: str = "source_label") -> pd.DataFrame:
    """Probabilities 1.0 for each document's source label and 0.0 elsewhere (builtin corpus)."""
    probs = pd.DataFrame({"doc_id": documents["doc_id"].to_numpy()})
    for label in ALL_LABELS:
        probs[PROB_PREFIX + label] = (documents[label_column] == label).astype(float).to_numpy()
    return probs


def label_documents(documents: pd.DataFrame, probabilities: pd.DataFrame, rules: LabelingRules) -> pd.DataFrame:
    """One row per document: doc_id, n_chars, the probabilities, labels (comma-joined) and class.

    ``documents`` has doc_id and either n_chars (the corpus index) or text.

    ``register`` is None for documents without a label, unkept hybrids and documents shorter
    than ``rules.min_chars``; they stay in the table so that the register distribution is complete.
    """
    missing = [c for c in ["doc_id", *probability_columns()] if c not in probabilities.columns]
    if missing:
        raise ValueError(f"register probabilities lack column(s) {missing}")
    table = probabilities.set_index("doc_id").reindex(documents["doc_id"])
    if table[probability_columns()].isna().any().any():
        absent = table.index[table[probability_columns()].isna().any(axis=1)][:5].tolist()
        raise ValueError(f"register probabilities missing for documents, e.g. {absent}")
    table = table.reset_index()
    n_chars = (documents["n_chars"] if "n_chars" in documents else documents["text"].str.len()).to_numpy()
    labels, classes = [], []
    for row, chars in zip(table[probability_columns()].itertuples(index=False), n_chars):
        found = labels_from_probabilities(dict(zip(ALL_LABELS, row)), rules.threshold)
        labels.append(",".join(l for l in ALL_LABELS if l in found))
        classes.append(assign_class(found, rules) if chars >= rules.min_chars else None)
    table.insert(1, "n_chars", n_chars)
    table["labels"] = labels
    table["register"] = classes
    return table
