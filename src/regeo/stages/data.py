"""Corpus, register labels and subsets."""

from __future__ import annotations

import logging
from pathlib import Path

from regeo.data.builtin import builtin_documents
from regeo.data.labeling import label_documents, one_hot_probabilities
from regeo.data.subsets import SubsetSpec, cut_subset
from regeo.io import read_parquet, write_json, write_parquet
from regeo.registers import LabelingRules

log = logging.getLogger(__name__)


def make_corpus(corpus: dict, documents_path: str | Path) -> None:
    """Read the configured source into one documents table."""
    if corpus["source"] != "builtin":
        raise NotImplementedError(f"corpus.source {corpus['source']!r} is read by the sharded corpus rules")
    documents = builtin_documents(corpus["builtin_sources"])
    log.info("builtin corpus: %d documents from %s", len(documents), ", ".join(corpus["builtin_sources"]))
    write_parquet(documents, documents_path)


def labeling_rules(registers: dict) -> LabelingRules:
    return LabelingRules(threshold=registers["threshold"], keep_subregisters=tuple(registers["keep_subregisters"]),
                         keep_hybrids=tuple(registers["keep_hybrids"]), min_chars=registers["min_chars"])


def make_registers(registers: dict, documents_path: str | Path, registers_path: str | Path) -> None:
    """Per-document label probabilities, labels and register class."""
    documents = read_parquet(documents_path, columns=["doc_id", "text"])
    if registers["method"] != "metadata":
        raise NotImplementedError(f"registers.method {registers['method']!r} is run by the classifier rules")
    probabilities = one_hot_probabilities(read_parquet(documents_path, columns=["doc_id", "source_label"]))
    table = label_documents(documents, probabilities, labeling_rules(registers))
    log.info("register classes: %s", table["register"].value_counts(dropna=False).to_dict())
    write_parquet(table, registers_path)


def make_subset(name: str, shares: dict, subsets: dict, documents_path: str | Path, registers_path: str | Path,
                train_path: str | Path, val_path: str | Path, stats_path: str | Path) -> None:
    """Train/val documents of one subset, cut to the budget, and its stats.json."""
    spec = SubsetSpec(name=name, shares=dict(shares), train_tokens=subsets["train_tokens"],
                      val_tokens=subsets["val_tokens"], chars_per_token=subsets["chars_per_token"],
                      seed=subsets["seed"])
    documents = read_parquet(documents_path, columns=["doc_id", "text", "source"])
    registers = read_parquet(registers_path, columns=["doc_id", "n_chars", "register"])
    train, val, stats = cut_subset(documents, registers, spec)
    log.info("subset %s: %d train / %d val documents", name, len(train), len(val))
    write_parquet(train, train_path)
    write_parquet(val, val_path)
    write_json(stats, stats_path)
