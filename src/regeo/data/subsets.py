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


def _take(docs: pd.DataFrame, chars_needed: float) -> int:
    """Number of leading rows whose characters reach ``chars_needed``."""
    cumulative = docs["n_chars"].cumsum().to_numpy()
    return int(np.searchsorted(cumulative, chars_needed) + 1)


def cut_subset(documents: pd.DataFrame, registers: pd.DataFrame, spec: SubsetSpec) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Train and val documents of one subset plus its statistics.

    Val documents are picked first from a seeded shuffle, so that growing the train budget
    never changes the val split. Raises ValueError naming the class that runs short.
    """
    table = registers[["doc_id", "n_chars", "register"]].merge(
        documents[["doc_id", "text", "source"]], on="doc_id", how="inner", validate="one_to_one")
    train_parts, val_parts, per_class = [], [], {}
    for offset, (register, share) in enumerate(sorted(spec.shares.items())):
        pool = table[table["register"] == register]
        order = np.random.default_rng([spec.seed, offset]).permutation(len(pool))
        pool = pool.iloc[order]
        val_chars = spec.val_tokens * share * spec.chars_per_token * (1 + spec.margin)
        train_chars = spec.train_tokens * share * spec.chars_per_token * (1 + spec.margin)
        n_val = _take(pool, val_chars)
        n_train = _take(pool.iloc[n_val:], train_chars)
        available = int(pool["n_chars"].sum())
        if n_val + n_train > len(pool) or available < val_chars + train_chars:
            raise ValueError(
                f"subset '{spec.name}': register '{register}' has {len(pool)} documents "
                f"({available:,} characters), fewer than the ~{int(val_chars + train_chars):,} characters "
                f"needed for {spec.train_tokens * share:,.0f} train + {spec.val_tokens * share:,.0f} val tokens "
                f"at {spec.chars_per_token} characters per token; lower subsets.train_tokens/val_tokens "
                f"or add data")
        val_parts.append(pool.iloc[:n_val])
        train_parts.append(pool.iloc[n_val:n_val + n_train])
        per_class[register] = {"share": share, "pool_documents": len(pool), "pool_chars": available,
                               "train_documents": n_train, "val_documents": n_val}
    columns = ["doc_id", "text", "source", "register"]
    train = pd.concat(train_parts)[columns].reset_index(drop=True)
    val = pd.concat(val_parts)[columns].reset_index(drop=True)
    stats = {
        "subset": spec.name,
        "spec": asdict(spec),
        "train": {"documents": len(train), "chars": int(train["text"].str.len().sum()),
                  "sources": train["source"].value_counts().to_dict()},
        "val": {"documents": len(val), "chars": int(val["text"].str.len().sum()),
                "sources": val["source"].value_counts().to_dict()},
        "registers": per_class,
    }
    return train, val, stats
