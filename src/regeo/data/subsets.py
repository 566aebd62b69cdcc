"""Cutting one train/val subset per register class (or mix) to a token budget."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SubsetSpec:
    name: str  # subset name: a register class, or a mix's name
    shares: dict  # register class -> share of the budget (one class with share 1 for a plain subset)
    train_tokens: int  # exact training budget (cut exactly at the token stage)
    val_tokens: int  # exact validation budget
    chars_per_token: float  # estimate used to pick documents before the tokenizer exists
    seed: int  # document shuffle
    margin: float = 0.3  # extra text picked so that the exact cut never runs short


def _take(n_chars: np.ndarray, chars_needed: float) -> int:
    """Number of leading documents whose characters reach ``chars_needed``."""
    cumulative = np.cumsum(n_chars)
    return int(np.searchsorted(cumulative, chars_needed) + 1)


def select_subset(registers: pd.DataFrame, spec: SubsetSpec) -> tuple[np.ndarray, np.ndarray, dict]:
    """Positions (rows of ``registers``, one row per document in corpus order with ``n_chars``
    and ``register``) of the subset's train and val documents, in their shuffled order, and the
    per-class statistics.

    Val documents are picked first from a seeded shuffle, so that growing the train budget
    never changes the val split. Raises ValueError naming the class that runs short.
    """
    register = registers["register"].to_numpy()
    n_chars = registers["n_chars"].to_numpy()
    train_parts, val_parts, per_class = [], [], {}
    for offset, (name, share) in enumerate(sorted(spec.shares.items())):
        pool = np.flatnonzero(register == name)
        order = np.random.default_rng([spec.seed, offset]).permutation(len(pool))
        pool = pool[order]
        val_chars = spec.val_tokens * share * spec.chars_per_token * (1 + spec.margin)
        train_chars = spec.train_tokens * share * spec.chars_per_token * (1 + spec.margin)
        n_val = _take(n_chars[pool], val_chars)
        n_train = _take(n_chars[pool[n_val:]], train_chars)
        available = int(n_chars[pool].sum())
        if n_val + n_train > len(pool) or available < val_chars + train_chars:
            raise ValueError(
                f"subset '{spec.name}': register '{name}' has {len(pool)} documents "
                f"({available:,} characters), fewer than the ~{int(val_chars + train_chars):,} characters "
                f"needed for {spec.train_tokens * share:,.0f} train + {spec.val_tokens * share:,.0f} val tokens "
                f"at {spec.chars_per_token} characters per token; lower subsets.train_tokens/val_tokens "
                f"or add data")
        val_parts.append(pool[:n_val])
        train_parts.append(pool[n_val:n_val + n_train])
        per_class[name] = {"share": share, "pool_documents": len(pool), "pool_chars": available,
                           "train_documents": n_train, "val_documents": n_val}
    return np.concatenate(train_parts), np.concatenate(val_parts), per_class


def subset_stats(spec: SubsetSpec, train: pd.DataFrame, val: pd.DataFrame, per_class: dict) -> dict:
    """stats.json of a subset: its spec, documents, characters and sources per split, and its classes."""
    return {
        "subset": spec.name,
        "spec": asdict(spec),
        "train": {"documents": len(train), "chars": int(train["text"].str.len().sum()),
                  "sources": train["source"].value_counts().to_dict()},
        "val": {"documents": len(val), "chars": int(val["text"].str.len().sum()),
                "sources": val["source"].value_counts().to_dict()},
        "registers": per_class,
    }


SUBSET_COLUMNS = ["doc_id", "text", "source", "register"]


def cut_subset(documents: pd.DataFrame, registers: pd.DataFrame, spec: SubsetSpec) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Train and val documents of one subset plus its statistics, from tables in memory (the
    pipeline's rule reads the text of the selected documents only: regeo.stages.data.make_subset)."""
    table = registers[["doc_id", "n_chars", "register"]].merge(
        documents[["doc_id", "text", "source"]], on="doc_id", how="inner", validate="one_to_one")
    train_at, val_at, per_class = select_subset(table, spec)
    train = table.iloc[train_at][SUBSET_COLUMNS].reset_index(drop=True)
    val = table.iloc[val_at][SUBSET_COLUMNS].reset_index(drop=True)
    return train, val, subset_stats(spec, train, val, per_class)
