"""A micro training setup shared by the training tests (fractions of a second per run)."""

from __future__ import annotations

from pathlib import Path

from regeo.config import schema_defaults
from regeo.data.subsets import SubsetSpec, cut_subset
from regeo.tokens import tokenize_subset
from regeo.train.config import TrainConfig

MICRO = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
             tie_word_embeddings=False, hidden_act="silu", rms_norm_eps=1e-5, rope_theta=10000.0,
             attention_bias=False, mlp_bias=False, attention_dropout=0.0, initializer_range=0.02)


def micro_config(**overrides) -> TrainConfig:
    """The schema's training defaults with a micro run's sizes; ``overrides`` may name any field."""
    run = dict(run="micro", preset="micro", model=MICRO, seed=3, data_seed=None)
    training = dict(schema_defaults("training"), steps=40, batch_size=4, seq_len=16, lr=3e-3, warmup_steps=4,
                    checkpoint_every=10, eval_every=10, eval_batches=2, state_every=5)
    for key, value in overrides.items():
        (run if key in run else training)[key] = value
    return TrainConfig.from_params(**run, training=training)


def run_paths(root: Path) -> dict:
    return dict(model_dir=root / "model", dumps_dir=root / "embeddings", log_csv=root / "train_log.csv",
                state_dir=root / "state")


def write_token_files(root: Path, corpus, tokenizer) -> tuple[Path, Path, Path]:
    """Train and val token files of one register subset of ``corpus`` (the ``small_corpus`` fixture),
    and the tokenizer's directory: what :func:`regeo.train.loop.train` reads."""
    documents, registers = corpus
    train_docs, val_docs, _ = cut_subset(documents, registers, SubsetSpec("ne", {"ne": 1.0}, 8000, 2000, 3.0, 0))
    tokenize_subset(tokenizer, train_docs, val_docs, 8000, 2000, root / "train.bin", root / "val.bin",
                    root / "counts.parquet", root / "meta.json")
    tokenizer.save_pretrained(root / "tokenizer")
    return root / "train.bin", root / "val.bin", root / "tokenizer"
