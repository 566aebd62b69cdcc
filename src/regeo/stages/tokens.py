"""Shared tokenizer and token files."""

from __future__ import annotations

from pathlib import Path

from regeo.io import read_parquet
from regeo.tokenizer import TokenizerConfig, build_tokenizer, load_tokenizer
from regeo.tokens import tokenize_subset


def make_tokenizer(tokenizer: dict, train_paths: list[str], out_dir: str | Path) -> None:
    texts = [read_parquet(p, columns=["text"])["text"].tolist() for p in train_paths]
    build_tokenizer(TokenizerConfig(**tokenizer), texts, out_dir)


def make_tokens(budget: dict, tokenizer_dir: str | Path, train_docs: str | Path, val_docs: str | Path,
                train_bin: str | Path, val_bin: str | Path, counts: str | Path, meta: str | Path) -> None:
    tokenize_subset(load_tokenizer(tokenizer_dir), read_parquet(train_docs, columns=["text"]),
                    read_parquet(val_docs, columns=["text"]), budget["train_tokens"], budget["val_tokens"],
                    train_bin, val_bin, counts, meta)
