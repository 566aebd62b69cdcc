"""The shard-wise data path: index, labels per shard, text read back by place."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from regeo.config import schema_defaults
from regeo.data.labeling import one_hot_probabilities
from regeo.data.shards import HASH_BUCKET_ROWS, fetch_rows, write_index
from regeo.data.subsets import SubsetSpec, cut_subset
from regeo.io import RegeoInputError, write_parquet
from regeo.stages.data import make_registers, make_subset


def _write_shards(documents: pd.DataFrame, n: int, tmp_path) -> tuple[list[str], list[str]]:
    shards, probabilities = [], []
    for i in range(n):
        part = documents.iloc[i::n].reset_index(drop=True)
        shards.append(str(tmp_path / f"shard{i}.parquet"))
        probabilities.append(str(tmp_path / f"prob{i}.parquet"))
        write_parquet(part, shards[-1])
        write_parquet(one_hot_probabilities(part), probabilities[-1])
    return shards, probabilities


def test_subset_from_shards_equals_the_subset_cut_in_memory(small_corpus, tmp_path):
    """Index, per-shard labels and a subset that reads back only its own text, in batches much
    smaller than a shard, select the same documents in the same order as one table in memory."""
    documents, registers = small_corpus
    shards, probabilities = _write_shards(documents, 3, tmp_path)
    index = tmp_path / "index.parquet"
    assert write_index(shards, index, batch_rows=97) == len(documents)
    assert pq.ParquetFile(index).num_row_groups > 3  # written piece by piece
    rules = {k: v for k, v in schema_defaults("registers").items()
             if k in ("threshold", "keep_subregisters", "keep_hybrids", "min_chars")}
    make_registers(rules, index, probabilities, tmp_path / "registers.parquet")
    spec = {"train_tokens": 20_000, "val_tokens": 4_000, "chars_per_token": 3.0, "seed": 0}
    shares = {"ne": 0.5, "NA": 0.5}
    out = {k: tmp_path / f"{k}.{ext}" for k, ext in (("train", "parquet"), ("val", "parquet"), ("stats", "json"))}
    make_subset("mix", shares, spec, shards, tmp_path / "registers.parquet", out["train"], out["val"], out["stats"])

    # the in-memory cut on the documents in shard order (the order the index gives them)
    in_order = pd.concat([pd.read_parquet(s) for s in shards], ignore_index=True)
    by_id = registers.set_index("doc_id").loc[in_order["doc_id"]].reset_index()
    train, val, stats = cut_subset(in_order, by_id, SubsetSpec("mix", shares, **spec))
    pd.testing.assert_frame_equal(pd.read_parquet(out["train"]), train)
    pd.testing.assert_frame_equal(pd.read_parquet(out["val"]), val)
    assert json.loads(out["stats"].read_text()) == json.loads(json.dumps(stats))


@pytest.mark.parametrize("bucket_rows", [HASH_BUCKET_ROWS, 8])  # one bucket of hashes, and seven
def test_a_document_id_in_two_shards_is_named(small_corpus, tmp_path, bucket_rows):
    documents, _ = small_corpus
    head = documents.head(50)
    shards, probabilities = _write_shards(head, 2, tmp_path)
    write_parquet(pd.concat([pd.read_parquet(shards[1]), head.iloc[[0]]], ignore_index=True), shards[1])
    with pytest.raises(RegeoInputError, match=r"ids repeat across shards, e.g. '" + head["doc_id"].iloc[0]):
        write_index(shards, tmp_path / "index.parquet", batch_rows=7, bucket_rows=bucket_rows)
    # no index, no spilled hashes: only the inputs
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(Path(p).name for p in shards + probabilities)


def test_unique_ids_index_in_buckets_and_leave_no_spill(small_corpus, tmp_path):
    documents, _ = small_corpus
    shards, _ = _write_shards(documents.head(60), 3, tmp_path)
    out = tmp_path / "out"
    assert write_index(shards, out / "index.parquet", batch_rows=7, bucket_rows=8) == 60
    assert [p.name for p in out.iterdir()] == ["index.parquet"]
    assert pq.read_table(out / "index.parquet").column("doc_id").to_pylist() == \
        [i for s in shards for i in pd.read_parquet(s)["doc_id"]]


def test_a_shard_shorter_than_its_index_is_named(small_corpus, tmp_path):
    documents, _ = small_corpus
    shards, _ = _write_shards(documents.head(40), 2, tmp_path)
    with pytest.raises(RegeoInputError, match=r"shard1.parquet: has 20 rows, but the index places a document at row 25"):
        fetch_rows(shards, [0, 1], [3, 25], ["text"], batch_rows=8)


def test_a_shard_without_a_labelled_document_keeps_the_registers_types(small_corpus, tmp_path):
    documents, _ = small_corpus
    shards, probabilities = _write_shards(documents.head(30), 2, tmp_path)
    short = pd.read_parquet(shards[1])
    short["text"] = "too short"  # under min_chars: no class anywhere in this shard
    write_parquet(short, shards[1])
    write_index(shards, tmp_path / "index.parquet")
    rules = {"threshold": 0.4, "keep_subregisters": ["ne"], "keep_hybrids": [], "min_chars": 200}
    make_registers(rules, tmp_path / "index.parquet", probabilities, tmp_path / "registers.parquet")
    table = pq.read_table(tmp_path / "registers.parquet")
    assert str(table.schema.field("register").type) == "string"
    assert table.column("register").null_count == 15
