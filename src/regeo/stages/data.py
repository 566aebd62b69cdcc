"""Corpus shards, register probabilities, labels and subsets.

The corpus is read in ``corpus.num_shards`` shards so that reading and classifying parallelise
over jobs. Probabilities (the expensive classifier output) are kept apart from the labeling
rules, so that changing the threshold or the kept hybrids never reruns the classifier.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from regeo.data.builtin import builtin_documents
from regeo.data.labeling import label_documents, one_hot_probabilities, probability_columns
from regeo.data.subsets import SubsetSpec, cut_subset
from regeo.io import RegeoInputError, read_parquet, write_json, write_parquet
from regeo.registers import LabelingRules

log = logging.getLogger(__name__)


def make_corpus_shard(corpus: dict, shard: int, out_path: str | Path) -> None:
    """Documents of one shard: doc_id, text, source, and the source's own label columns."""
    if corpus["source"] == "builtin":
        documents = builtin_documents(corpus["builtin_sources"])
        documents = documents.iloc[shard::corpus["num_shards"]]
    else:
        from regeo.data.fineweb import read_shard

        documents = read_shard(fineweb_config(corpus), shard)
    log.info("corpus shard %d: %d documents", shard, len(documents))
    write_parquet(documents.reset_index(drop=True), out_path)


def fineweb_config(corpus: dict):
    from regeo.data.fineweb import FineWebConfig

    return FineWebConfig(source=corpus["source"], dataset=corpus["dataset"], name=corpus["name"],
                         split=corpus["split"], paths=list(corpus["paths"]), text_field=corpus["text_field"],
                         id_field=corpus["id_field"], max_documents=corpus["max_documents"],
                         num_shards=corpus["num_shards"], revision=corpus["revision"],
                         streaming=corpus["streaming"], shuffle_buffer=corpus["shuffle_buffer"],
                         seed=corpus["seed"])


def merge_shards(shard_paths: list[str], out_path: str | Path) -> None:
    frames = [read_parquet(p) for p in shard_paths]
    documents = pd.concat(frames, ignore_index=True)
    duplicated = documents["doc_id"].duplicated()
    if duplicated.any():
        raise RegeoInputError(f"{shard_paths[0]} ...: document ids repeat across shards, e.g. "
                              f"{documents.loc[duplicated, 'doc_id'].head(3).tolist()}")
    write_parquet(documents, out_path)


def make_probabilities(registers: dict, shard_path: str | Path, out_path: str | Path, state_path: str | Path) -> None:
    """Per-document probabilities of every CORE label for one corpus shard."""
    method = registers["method"]
    if method == "metadata":
        probabilities = one_hot_probabilities(read_parquet(shard_path, columns=["doc_id", "source_label"]))
    elif method == "precomputed":
        from regeo.data.precomputed import read_precomputed

        probabilities = read_precomputed(shard_path, registers["probabilities_field"])
    elif method == "column":
        from regeo.data.label_column import read_label_column

        probabilities = read_label_column(shard_path, registers["label_field"], registers["label_map"],
                                          registers["unmapped_label"])
    else:
        from regeo.data.classifier import ClassifierConfig, classify, clear_state

        cfg = ClassifierConfig(model=registers["classifier_model"], revision=registers["classifier_revision"],
                               tokenizer=registers["classifier_tokenizer"],
                               batch_size=registers["classifier_batch_size"])
        documents = read_parquet(shard_path, columns=["doc_id", "text"])
        probabilities = classify(documents, cfg, progress=True, state_path=state_path)
    write_parquet(probabilities[["doc_id", *probability_columns()]], out_path)
    if method == "classifier":
        # Only once the output is in place: a job killed before this line resumes from the state.
        clear_state(state_path)


def labeling_rules(registers: dict) -> LabelingRules:
    return LabelingRules(threshold=registers["threshold"], keep_subregisters=tuple(registers["keep_subregisters"]),
                         keep_hybrids=tuple(registers["keep_hybrids"]), min_chars=registers["min_chars"])


def make_registers(rules: dict, documents_path: str | Path, probability_paths: list[str],
                   registers_path: str | Path) -> None:
    """Labels and register class of every document, from its probabilities and the study's rules."""
    documents = read_parquet(documents_path, columns=["doc_id", "text"])
    probabilities = pd.concat([read_parquet(p) for p in probability_paths], ignore_index=True)
    table = label_documents(documents, probabilities, labeling_rules(rules))
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
