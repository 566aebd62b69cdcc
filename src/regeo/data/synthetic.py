"""Synthetic corpora of any size with precomputed register probabilities, for measuring the data
stages at scale (benchmarks/bench_data.py, tests/pipeline/test_data_memory.py).

Documents are sequences of pseudo-words drawn with Zipf frequencies (so that a BPE tokenizer
learns merges and a token budget needs realistic amounts of text), ~2.4 kB on average like
FineWeb's, each with one CORE register at probability 0.9. The text is assembled in numpy arrays
and handed to Arrow as buffers: writing a gigabyte of text never makes a Python string.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# The classes of the default config's subsets (schema default of subsets.registers).
REGISTERS = ("ne", "IN", "SP", "OP", "NA")


def _vocabulary(rng: np.random.Generator, size: int = 5000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    letters = np.frombuffer(b"etaoinshrdlucmfwypvbgkjqxz", dtype=np.uint8)
    weights = 1.0 / np.arange(1, len(letters) + 1)
    lengths = rng.integers(2, 10, size=size)
    chars = rng.choice(letters, size=int(lengths.sum()), p=weights / weights.sum())
    # every word followed by a space: (bytes, start of each word, length with its space)
    starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
    data = np.full(int((lengths + 1).sum()), ord(" "), dtype=np.uint8)
    inside = np.repeat(starts, lengths) + (np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths))
    data[inside] = chars
    return data, starts, lengths + 1


def synthetic_texts(n_documents: int, rng: np.random.Generator, vocabulary=None,
                    mean_chars: int = 2400) -> pa.StringArray:
    """``n_documents`` texts of pseudo-words, lengths log-normal around ``mean_chars``."""
    data, starts, lengths = vocabulary if vocabulary is not None else _vocabulary(rng)
    ranks = np.arange(1, len(starts) + 1)
    p = (1.0 / ranks) / (1.0 / ranks).sum()
    mean_word = float((p * lengths).sum())
    words_per_doc = np.maximum(20, rng.lognormal(np.log(mean_chars / mean_word) - 0.125, 0.5, n_documents)).astype(np.int64)
    ids = rng.choice(len(starts), size=int(words_per_doc.sum()), p=p)
    word_lengths = lengths[ids]
    total = int(word_lengths.sum())
    out_start = np.cumsum(word_lengths) - word_lengths
    index = np.repeat(starts[ids] - out_start, word_lengths) + np.arange(total)
    chars = data[index]
    doc_ends = np.cumsum(word_lengths)[np.cumsum(words_per_doc) - 1]
    offsets = np.concatenate([[0], doc_ends]).astype(np.int64)
    return pa.LargeStringArray.from_buffers(n_documents, pa.py_buffer(offsets), pa.py_buffer(chars)).cast(pa.string())


def write_synthetic_corpus(directory: str | Path, n_documents: int, n_files: int, seed: int = 0,
                           chunk: int = 10_000, as_shards: bool = False) -> dict:
    """``n_files`` parquet files of a synthetic corpus: id, text and register_probabilities
    (label -> probability; registers.method: precomputed), generated ``chunk`` documents at a
    time. ``as_shards``: files in the corpus shards' own form instead (``00000.parquet``, ...
    with doc_id, text, source, register_probabilities), to start the workflow after
    corpus_shard. Returns the documents and characters written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    vocabulary = _vocabulary(rng)
    total_chars, first = 0, 0
    for f in range(n_files):
        n_file = n_documents // n_files + (1 if f < n_documents % n_files else 0)
        writer = None
        for start in range(0, n_file, chunk):
            n = min(chunk, n_file - start)
            texts = synthetic_texts(n, rng, vocabulary)
            own = rng.integers(0, len(REGISTERS), size=n)
            probabilities = pa.StructArray.from_arrays(
                [pa.array(np.where(own == i, 0.9, 0.02)) for i in range(len(REGISTERS))], names=list(REGISTERS))
            ids = pa.array([f"synthetic-{i:09d}" for i in range(first, first + n)])
            if as_shards:
                table = pa.table({"doc_id": ids, "text": texts, "source": pa.array(["synthetic"] * n),
                                  "register_probabilities": probabilities})
            else:
                table = pa.table({"id": ids, "text": texts, "register_probabilities": probabilities})
            if writer is None:
                name = f"{f:05d}.parquet" if as_shards else f"part-{f:04d}.parquet"
                writer = pq.ParquetWriter(directory / name, table.schema)
            writer.write_table(table)
            total_chars += pc.sum(pc.utf8_length(texts)).as_py()
            first += n
        if writer is not None:
            writer.close()
    return {"documents": n_documents, "chars": total_chars}
