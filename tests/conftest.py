"""Shared fixtures: small real data from the builtin corpus and a tiny trained tokenizer."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from regeo.config import schema_defaults
from regeo.data.builtin import builtin_documents
from regeo.data.labeling import label_documents, one_hot_probabilities
from regeo.registers import LabelingRules
from regeo.tokenizer import train_bpe


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` run only where torch sees a CUDA device (benchmarks/gpu_check.sh)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def small_corpus():
    """BBC news and Rotten Tomatoes plots: two registers of real text, read offline."""
    documents = builtin_documents(["bbc_news", "rt_plots"])
    rules = LabelingRules.from_params(schema_defaults("registers"))
    registers = label_documents(documents, one_hot_probabilities(documents), rules)
    return documents, registers


@pytest.fixture(scope="session")
def small_tokenizer(small_corpus):
    documents, _ = small_corpus
    return train_bpe(documents["text"].head(400).tolist(), vocab_size=512)


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    """The workflow run once, locally, on tests/pipeline/config_small.yaml; its working directory.

    Shared by the end-to-end tests and the SLURM tests (which compare a cluster run with it).
    Tests that change its config restore it.
    """
    sys.path.insert(0, str(Path(__file__).parent / "pipeline"))
    from snakemake_helpers import snakemake, write_config

    workdir = tmp_path_factory.mktemp("pipeline")
    write_config(workdir)
    snakemake(workdir)
    return workdir
