"""Corpus shards, register probabilities, labels and subsets.

The corpus is read in ``corpus.num_shards`` shards so that reading and classifying parallelise
over jobs, and it stays in them: no job holds the whole corpus (regeo.data.shards). Probabilities (the expensive classifier output) are kept apart from the labeling
rules, so that changing the threshold or the kept hybrids never reruns the classifier.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import pyarrow as pa

from regeo.data.builtin import builtin_documents
from regeo.data.labeling import label_documents, one_hot_probabilities, probability_columns
from regeo.data.shards import fetch_rows, index_row_groups, parquet_writer, read_filtered, write_index
from regeo.data.subsets import SUBSET_COLUMNS, SubsetSpec, select_subset, subset_stats
from regeo.io import RegeoInputError, read_parquet, write_json, write_parquet
from regeo.registers import LabelingRules

log = logging.getLogger(__name__)


def make_corpus_shard(corpus: dict, shard: int, out_path: str | Path) -> None:
    """Documents of one shard: doc_id, text, source, and the source's own label columns."""
    if corpus["source"] == "builtin":
        documents = builtin_documents(corpus["builtin_sources"])
        documents = documents.iloc[shard::corpus["num_shards"]]
        log.info("corpus shard %d: %d documents", shard, len(documents))
        write_parquet(documents.reset_index(drop=True), out_path)
    else:
        from regeo.data.fineweb import write_shard

        stats = write_shard(fineweb_config(corpus), shard, out_path)
        log.info("corpus shard %d: %d documents", shard, stats["documents"])


def fineweb_config(corpus: dict):
    from regeo.data.fineweb import FineWebConfig

    return FineWebConfig(source=corpus["source"], dataset=corpus["dataset"], name=corpus["name"],
                         split=corpus["split"], paths=list(corpus["paths"]), text_field=corpus["text_field"],
                         id_field=corpus["id_field"], max_documents=corpus["max_documents"],
                         num_shards=corpus["num_shards"], revision=corpus["revision"],
                         streaming=corpus["streaming"], shuffle_buffer=corpus["shuffle_buffer"],
                         seed=corpus["seed"])


def index_corpus(shard_paths: list[str], out_path: str | Path) -> None:
    """Rule corpus: the index of every document's shard, row and length (regeo.data.shards)."""
    total = write_index(shard_paths, out_path)
    log.info("corpus: %d documents in %d shards", total, len(shard_paths))


def make_probabilities(registers: dict, shard_path: str | Path, out_path: str | Path, state_path: str | Path) -> None:
    """Per-document probabilities of every CORE label for one corpus shard."""
    method = registers["method"]
    if method == "metadata":
        probabilities = one_hot_probabilities(read_parquet(shard_path, columns=["doc_id", "source_label"]))
    elif method == "precomputed":
        from regeo.data.precomputed import read_precomputed

        probabilities = read_precomputed(shard_path, registers["probabilities_field"])
    elif method == "random":
        from regeo.data.random_labels import random_probabilities

        probabilities = random_probabilities(shard_path, list(registers["random_labels"]), registers["random_seed"])
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


def make_registers(rules: dict, index_path: str | Path, probability_paths: list[str],
                   registers_path: str | Path) -> None:
    """Labels and register class of every document, from its probabilities and the study's rules,
    one shard at a time: doc_id, n_chars, the probabilities, labels, register, shard, row."""
    labeling = labeling_rules(rules)
    classes: dict = {}
    with contextlib.ExitStack() as stack:
        writer = None
        for shard, index in index_row_groups(index_path):
            if shard >= len(probability_paths):
                raise RegeoInputError(f"{index_path}: shard {shard} has no probabilities file "
                                      f"(given {len(probability_paths)})")
            path = probability_paths[shard]
            try:
                table = label_documents(index, read_parquet(path), labeling)
            except ValueError as err:
                raise RegeoInputError(f"{path}: {err}") from err
            table["shard"] = index["shard"].to_numpy()
            table["row"] = index["row"].to_numpy()
            for name, n in table["register"].value_counts(dropna=False).items():
                classes[name] = classes.get(name, 0) + int(n)
            if writer is None:
                schema = registers_schema(pa.Schema.from_pandas(index[["doc_id"]], preserve_index=False))
                writer = stack.enter_context(parquet_writer(registers_path, schema))
            writer.write_table(pa.Table.from_pandas(table, schema=writer.schema, preserve_index=False))
        if writer is None:
            raise RegeoInputError(f"{index_path}: the corpus index has no documents")
    log.info("register classes: %s", classes)


def registers_schema(id_schema: pa.Schema) -> pa.Schema:
    """Explicit, so that a shard without any labelled document (a register column of nulls only)
    writes the same types as the others."""
    return pa.schema([id_schema.field("doc_id"), ("n_chars", pa.int64()),
                      *[(c, pa.float64()) for c in probability_columns()],
                      ("labels", pa.string()), ("register", pa.string()),
                      ("shard", pa.int32()), ("row", pa.int64())])


def make_subset(name: str, shares: dict, subsets: dict, shard_paths: list[str], registers_path: str | Path,
                train_path: str | Path, val_path: str | Path, stats_path: str | Path) -> None:
    """Train/val documents of one subset, cut to the budget, and its stats.json. Only the
    subset's classes are read from the registers, and only the selected documents' text from
    the shards."""
    spec = SubsetSpec(name=name, shares=dict(shares), train_tokens=subsets["train_tokens"],
                      val_tokens=subsets["val_tokens"], chars_per_token=subsets["chars_per_token"],
                      seed=subsets["seed"])
    registers = read_filtered(registers_path, ["shard", "row", "n_chars", "register"],
                              "register", sorted(spec.shares))
    train_at, val_at, per_class = select_subset(registers, spec)
    splits = {}
    for split, at in (("train", train_at), ("val", val_at)):
        chosen = registers.iloc[at]
        documents = fetch_rows(shard_paths, chosen["shard"].to_numpy(), chosen["row"].to_numpy(),
                               ["doc_id", "text", "source"])
        changed = documents["text"].str.len().to_numpy() != chosen["n_chars"].to_numpy()
        if changed.any():
            raise RegeoInputError(f"{registers_path}: document {documents['doc_id'][changed].iloc[0]!r} "
                                  f"has another length in its shard than in the registers; rerun the "
                                  f"corpus and registers rules")
        documents["register"] = chosen["register"].to_numpy()
        splits[split] = documents[SUBSET_COLUMNS]
    train, val = splits["train"], splits["val"]
    log.info("subset %s: %d train / %d val documents", name, len(train), len(val))
    write_parquet(train, train_path)
    write_parquet(val, val_path)
    write_json(subset_stats(spec, train, val, per_class), stats_path)
