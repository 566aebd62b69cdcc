"""Steering transfer between two final models (rule ``steering``, one job per (source, target) pair).

From the config's concepts and the subsets' val splits to :class:`regeo.steering.concepts.Concept`
objects, :func:`regeo.steering.run.run_transfer` on the pair, its table and generations on disk.
The summary over all pairs is :mod:`regeo.stages.steering_summary`.

Texts. A subset's val documents are cut at whitespace into passages of at most
``passage_chars`` characters (the default corpus has subsets of two very long val documents and
subsets of a hundred short ones; passages give both enough texts). The documents are dealt
alternately to the vector side and the held-out side, so a document's passages never serve both
the vector and its score; a subset with a single document gives the first half of its passages
to the vector and the second half to the scores. Each side then keeps ``texts_per_side``
passages spread evenly over its documents.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from regeo.vocab import seen_mask as seen_token_mask
from regeo.io import RegeoInputError, atomic_path, read_parquet, write_parquet
from regeo.steering.concepts import Concept
from regeo.steering.config import SteeringConfig
from regeo.steering.emb2emb import shared_vocabulary
from regeo.steering.run import run_transfer

log = logging.getLogger(__name__)

# The config's kinds name what the user configures; the library's name what the vector is made of.
VECTOR_OF_KIND = {"contrast": "texts", "tokens": "tokens"}


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


def build_concepts(specs: list[dict], val_paths: dict[str, str], passage_chars: int, per_side: int) -> list[Concept]:
    """Config concepts (``steering.concepts``) to Concepts; ``val_paths``: subset -> val.parquet."""
    texts: dict[str, SubsetTexts] = {}

    def of(subset: str) -> SubsetTexts:
        if subset not in val_paths:
            raise RegeoInputError(f"no val split given for subset {subset!r}; given: {sorted(val_paths)}")
        if subset not in texts:
            texts[subset] = read_val_texts(val_paths[subset], passage_chars, per_side)
        return texts[subset]

    concepts = []
    for spec in specs:
        common = dict(name=spec["name"], vector=VECTOR_OF_KIND[spec["kind"]],
                      target_tokens=list(spec.get("tokens") or []) or None, prompts=list(spec.get("prompts") or []) or None)
        if spec["kind"] == "contrast":
            positive, negative = of(spec["positive"]), of(spec["negative"])
            concepts.append(Concept.from_dict(dict(common, positive=positive.vector, negative=negative.vector,
                                                   heldout_positive=positive.heldout,
                                                   heldout_negative=negative.heldout)))
        else:
            context = of(spec["texts"])
            concepts.append(Concept.from_dict(dict(common, positive=context.vector,
                                                   heldout_positive=context.heldout)))
    return concepts


def steering_config(params: dict) -> SteeringConfig:
    """The SteeringConfig fields of the config's steering section (the other keys belong to the pipeline)."""
    values = {f.name: params[f.name] for f in fields(SteeringConfig) if f.name in params}
    values["alphas"] = tuple(float(a) for a in values.get("alphas", SteeringConfig.alphas))
    return SteeringConfig(**values)


def seen_ids(counts_path: str | Path | None, min_count: int) -> np.ndarray | None:
    """(vocab,) bool: ids seen at least ``min_count`` times in a run's training data; None: no counts, all seen."""
    if counts_path is None or min_count == 0:
        return None
    counts = read_parquet(counts_path, columns=["token_id", "count"]).sort_values("token_id")
    if not np.array_equal(counts["token_id"].to_numpy(), np.arange(len(counts))):
        raise RegeoInputError(f"{counts_path}: token_id must run 0..n-1 without gaps")
    return seen_token_mask(counts["count"].to_numpy(), min_count)


def fit_token_ids(source_model: str | Path, target_model: str | Path, source_counts: str | Path | None,
                  target_counts: str | Path | None, min_count: int) -> np.ndarray | None:
    """Source ids of the shared tokens both runs saw at least ``min_count`` times; None keeps every shared token.

    Rows of unseen tokens keep their random initialisation in both models: fitting the map on
    them asks it to carry one random cloud onto another.
    """
    seen_a, seen_b = seen_ids(source_counts, min_count), seen_ids(target_counts, min_count)
    if seen_a is None and seen_b is None:
        return None
    from transformers import AutoTokenizer

    tok_a = AutoTokenizer.from_pretrained(source_model, local_files_only=True)
    tok_b = AutoTokenizer.from_pretrained(target_model, local_files_only=True)
    ids_a, ids_b = shared_vocabulary(tok_a, tok_b)
    keep = np.ones(len(ids_a), dtype=bool)
    for ids, seen in ((ids_a, seen_a), (ids_b, seen_b)):
        if seen is not None:
            inside = ids < len(seen)
            keep &= inside
            keep[inside] &= seen[ids[inside]]
    log.info("map fit on %d of %d shared tokens (seen >= %d times by both runs)", keep.sum(), len(keep), min_count)
    return ids_a[keep]


def relation(source: dict, target: dict) -> str:
    """self (the same run), seeds (same subset and preset), presets (another size), registers (another subset)."""
    if source == target:
        return "self"
    if source["preset"] != target["preset"]:
        return "presets"
    return "seeds" if source["subset"] == target["subset"] else "registers"


def write_jsonl(records: list[dict], path: str | Path) -> None:
    with atomic_path(path, ".jsonl") as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def steering_pair(params: dict, source_model: str, target_model: str, val_paths: dict[str, str],
                  counts: dict[str, str | None], runs: dict[str, dict], table_path: str | Path,
                  samples_path: str | Path, threads: int = 1) -> None:
    """One (source, target) job: every concept transferred and scored, table and generations written.

    ``params``: the steering section; ``counts``: {"source", "target"} -> counts.parquet or None;
    ``runs``: {"source", "target"} -> {name, subset, preset, seed}.
    """
    torch.set_num_threads(threads)
    cfg = steering_config(params)
    concepts = build_concepts(params["concepts"], val_paths, params["passage_chars"], params["texts_per_side"])
    fit_ids = fit_token_ids(source_model, target_model, counts["source"], counts["target"], params["min_count"])
    table, records = run_transfer(source_model, target_model, concepts, cfg, fit_token_ids=fit_ids)
    source, target = runs["source"], runs["target"]
    # run_transfer names runs by their directories; the rule's run names are the contract.
    table["source"], table["target"] = source["name"], target["name"]
    for record in records:
        record["source"], record["target"] = source["name"], target["name"]
    table["relation"] = relation(source, target)
    for side, run in (("source", source), ("target", target)):
        for key in ("subset", "preset", "seed"):
            table[f"{side}_{key}"] = run[key]
    write_parquet(table, table_path)
    write_jsonl(records, samples_path)
    log.info("%s -> %s: %d rows, %d generations", source["name"], target["name"], len(table), len(records))
