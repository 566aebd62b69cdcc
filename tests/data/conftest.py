"""Local stand-ins for FineWeb: small shards in FineWeb's schema, as parquet, jsonl and a hub-like repo.

Tests reach the writers through the ``fineweb`` fixture (a module named ``conftest`` exists at two
levels of tests/, so importing from it would be ambiguous).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

FINEWEB_COLUMNS = ["text", "id", "dump", "url", "date", "file_path", "language", "language_score", "token_count"]
DUMPS = ["CC-MAIN-2013-20", "CC-MAIN-2019-04", "CC-MAIN-2024-10"]


def fineweb_rows(n: int, start: int = 0, empty_every: int = 0) -> list[dict]:
    """FineWeb-schema records with distinct ids and texts of varied length.

    ``empty_every=k`` makes every k-th text empty or whitespace only (documents to be skipped).
    """
    rows = []
    for i in range(start, start + n):
        words = " ".join(f"word{(i * 7 + j) % 97}" for j in range(3 + (i * 13) % 40))
        text = f"Document {i}. {words}."
        if empty_every and i % empty_every == empty_every - 1:
            text = "" if i % 2 else " \n\t "
        rows.append({
            "text": text,
            "id": f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'doc-{i}')}>",
            "dump": DUMPS[i % len(DUMPS)],
            "url": f"https://example.org/{i}",
            "date": "2024-03-01T00:00:00Z",
            "file_path": f"s3://commoncrawl/crawl-data/{DUMPS[i % len(DUMPS)]}/segment.warc.gz",
            "language": "en",
            "language_score": 0.9 + (i % 10) / 100,
            "token_count": len(text.split()) * 4 // 3,
        })
    return rows


def write_parquet_shards(directory: Path, sizes: list[int], row_group_size: int = 1000,
                         empty_every: int = 0, start: int = 0) -> list[dict]:
    """One parquet file per size, named like FineWeb's (000_00000.parquet, ...); returns all rows in order."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = []
    for k, size in enumerate(sizes):
        part = fineweb_rows(size, start, empty_every)
        pq.write_table(pa.Table.from_pylist(part), directory / f"{k:03d}_00000.parquet",
                       row_group_size=row_group_size)
        rows += part
        start += size
    return rows


def write_jsonl_shards(directory: Path, sizes: list[int], empty_every: int = 0) -> list[dict]:
    directory.mkdir(parents=True, exist_ok=True)
    rows, start = [], 0
    for k, size in enumerate(sizes):
        part = fineweb_rows(size, start, empty_every)
        (directory / f"{k:03d}_00000.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
        rows += part
        start += size
    return rows


class FineWebStandIn:
    columns = FINEWEB_COLUMNS
    rows = staticmethod(fineweb_rows)
    parquet = staticmethod(write_parquet_shards)
    jsonl = staticmethod(write_jsonl_shards)


@pytest.fixture
def fineweb():
    return FineWebStandIn


@pytest.fixture
def no_hub_pings(monkeypatch):
    """Stop `datasets` counting loads on the hub: offline, each ping waits for a DNS timeout (~5 s)."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_UPDATE_DOWNLOAD_COUNTS", False)


@pytest.fixture
def parquet_shards(tmp_path):
    """Three FineWeb-schema parquet files (40, 25, 35 rows) with row groups of 10 rows."""
    rows = write_parquet_shards(tmp_path / "parquet", [40, 25, 35], row_group_size=10)
    return tmp_path / "parquet", rows


@pytest.fixture
def hub_repo(tmp_path):
    """A directory laid out like HuggingFaceFW/fineweb: README configs and sample/10BT/*.parquet.

    ``datasets.load_dataset(<dir>, "sample-10BT", split="train", streaming=True)`` resolves it
    exactly as it resolves the hub repository (configs from the README's YAML header).
    """
    repo = tmp_path / "fineweb"
    rows = write_parquet_shards(repo / "sample" / "10BT", [30, 30, 20], row_group_size=10)
    # A second config that must not be read when sample-10BT is asked for.
    write_parquet_shards(repo / "sample" / "100BT", [5], start=10_000)
    (repo / "README.md").write_text(
        "---\nconfigs:\n"
        "- config_name: sample-10BT\n  data_files:\n  - split: train\n    path: sample/10BT/*\n"
        "- config_name: sample-100BT\n  data_files:\n  - split: train\n    path: sample/100BT/*\n"
        "---\n# FineWeb stand-in\n")
    return repo, rows
