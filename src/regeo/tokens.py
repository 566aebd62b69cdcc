"""Token files: one flat memmap of token ids per (subset, split), documents joined by EOS."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from regeo.io import RegeoInputError, atomic_path, write_json


def token_counts(token_ids, vocab_size: int) -> np.ndarray:
    """(vocab_size,) int64 occurrences of every token id in ``token_ids`` (any integer array)."""
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 1:
        raise ValueError(f"vocab_size must be an integer >= 1, got {vocab_size!r}")
    ids = np.asarray(token_ids).reshape(-1)
    if ids.dtype.kind not in "iu":
        raise ValueError(f"token_ids must be integers, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"token ids must lie in [0, {vocab_size})")
    return np.bincount(ids, minlength=vocab_size).astype(np.int64)


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.uint32)


# Documents encoded at once: the ids of a batch are Python lists (tens of bytes an id), so a
# whole subset at once would take many times its token file in memory.
ENCODE_BATCH = 256


def document_separator(tokenizer, where: str) -> int:
    """The id that ends every document in a token stream: the tokenizer's EOS, else its BOS (some
    released tokenizers have only that)."""
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.bos_token_id
    if eos is None:
        raise RegeoInputError(f"{where}: the tokenizer has neither an EOS nor a BOS token to join documents with")
    return eos


def encode_documents(tokenizer, texts: Iterable[str], budget: int | None, where: str) -> np.ndarray:
    """The first ``budget`` ids of the texts, each document ended by :func:`document_separator`;
    fails (naming ``where``) if short. ``budget`` None: every document, whole."""
    eos = document_separator(tokenizer, where)
    pieces, total = [], 0
    texts = iter(texts)
    while budget is None or total < budget:
        batch = list(itertools.islice(texts, ENCODE_BATCH))
        if not batch:
            break
        for ids in tokenizer(batch, add_special_tokens=False)["input_ids"]:
            pieces.append(np.asarray(ids + [eos], dtype=np.int64))
            total += len(ids) + 1
            if budget is not None and total >= budget:
                break
    if budget is None:
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
    if total < budget:
        raise RegeoInputError(
            f"{where}: only {total:,} tokens, below the budget of {budget:,}; raise "
            f"subsets.chars_per_token (more text is picked) or lower the budget")
    return np.concatenate(pieces)[:budget]


def write_tokens(ids: np.ndarray, vocab_size: int, path: str | Path) -> dict:
    dtype = token_dtype(vocab_size)
    with atomic_path(path, ".bin") as tmp:
        ids.astype(dtype).tofile(tmp)
    return {"dtype": dtype.name, "n_tokens": int(len(ids)), "vocab_size": int(vocab_size)}


def tokenize_subset(tokenizer, train: pd.DataFrame | Iterable[str], val: pd.DataFrame | Iterable[str], train_tokens: int, val_tokens: int,
                    train_path: str | Path, val_path: str | Path, counts_path: str | Path, meta_path: str | Path) -> dict:
    vocab = len(tokenizer)
    train_ids = encode_documents(tokenizer, _texts(train), train_tokens, str(train_path))
    val_ids = encode_documents(tokenizer, _texts(val), val_tokens, str(val_path))
    meta = {"vocab_size": vocab, "train": write_tokens(train_ids, vocab, train_path),
            "val": write_tokens(val_ids, vocab, val_path)}
    counts = token_counts(train_ids, vocab)
    with atomic_path(counts_path, ".parquet") as tmp:
        pd.DataFrame({"token_id": np.arange(vocab), "count": counts}).to_parquet(tmp, index=False)
    meta["train"]["distinct_tokens"] = int((counts > 0).sum())
    write_json(meta, meta_path)
    return meta


def _texts(documents) -> Iterable[str]:
    return documents["text"].tolist() if isinstance(documents, pd.DataFrame) else documents


def tokenize_subset_files(budget: dict, tokenizer_dir: str | Path, train_docs: str | Path, val_docs: str | Path,
                          train_bin: str | Path, val_bin: str | Path, counts: str | Path, meta: str | Path) -> dict:
    """:func:`tokenize_subset` on a subset's document files (rule ``tokens``); ``budget``: train_tokens, val_tokens."""
    from regeo.data.shards import iter_texts
    from regeo.tokenizer import load_tokenizer

    return tokenize_subset(load_tokenizer(tokenizer_dir), iter_texts(train_docs), iter_texts(val_docs),
                           budget["train_tokens"], budget["val_tokens"], train_bin, val_bin, counts, meta)


def load_tokens(path: str | Path, meta_path: str | Path | None = None) -> np.memmap:
    """Memory-map a token file; its dtype and length are checked against meta.json."""
    path = Path(path)
    meta_path = Path(meta_path) if meta_path else path.parent / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
        split = meta[path.stem]
        dtype, n = np.dtype(split["dtype"]), split["n_tokens"]
    except (OSError, ValueError, KeyError) as err:
        raise RegeoInputError(f"{meta_path}: cannot read the token metadata for '{path.stem}': {err}") from err
    size = path.stat().st_size if path.is_file() else -1
    if size != n * dtype.itemsize:
        raise RegeoInputError(f"{path}: {size} bytes, expected {n} tokens x {dtype.itemsize} bytes "
                              f"({n * dtype.itemsize}) from {meta_path}; truncated or stale file")
    return np.memmap(path, dtype=dtype, mode="r")
