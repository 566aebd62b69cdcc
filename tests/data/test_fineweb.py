"""FineWeb reading on local stand-ins: sharding covers each document once, budgets, determinism, errors."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from regeo.config import schema_defaults
from regeo.data.fineweb import FineWebConfig, read_shard, shard_budget
from regeo.io import RegeoInputError

pytestmark = pytest.mark.usefixtures("no_hub_pings")

EXTRA_COLUMNS = ["dump", "url", "date", "file_path", "language", "language_score", "token_count"]


def corpus_config(source_name=None, **corpus) -> FineWebConfig:
    """The schema's corpus defaults for a hub source, with ``corpus`` changed."""
    return FineWebConfig.from_params({**schema_defaults("corpus"), "source": "hub", **corpus}, source_name)


def local(paths, **kw) -> FineWebConfig:
    return corpus_config(source="local", paths=[str(p) for p in paths], **kw)


def read_all(cfg: FineWebConfig) -> list[pd.DataFrame]:
    return [read_shard(cfg, i) for i in range(cfg.num_shards)]


def ids(frames) -> list[str]:
    return [d for frame in frames for d in frame["doc_id"]]


def nonempty(rows):
    return [r for r in rows if r["text"].strip()]


# --- the documents table ----------------------------------------------------------------------------

def test_documents_table_follows_the_contract(parquet_shards):
    directory, rows = parquet_shards
    documents = read_shard(local([directory / "*.parquet"]), 0)
    assert list(documents.columns) == ["doc_id", "text", "source", *EXTRA_COLUMNS]
    assert documents["doc_id"].is_unique
    assert documents["doc_id"].tolist() == [r["id"] for r in rows]  # one shard: stream order
    assert documents["text"].tolist() == [r["text"] for r in rows]
    assert set(documents["source"]) == {"local"}
    assert documents["url"].tolist() == [r["url"] for r in rows]
    assert documents.attrs["records_read"] == len(rows) and documents.attrs["skipped_empty"] == 0


@pytest.mark.parametrize("num_shards, split_by", [(1, "sources"), (2, "sources"), (3, "sources"),
                                                  (7, "sources"), (10, "sources"), (13, "examples")])
def test_shards_cover_every_document_exactly_once(parquet_shards, num_shards, split_by):
    # 3 files, 10 row groups: up to 3 shards by file, up to 10 by row group, beyond that by example.
    directory, rows = parquet_shards
    frames = read_all(local([directory / "*.parquet"], num_shards=num_shards))
    got = ids(frames)
    assert len(got) == len(set(got)) == len(rows)
    assert set(got) == {r["id"] for r in rows}
    assert {f.attrs["split_by"] for f in frames} == {split_by}
    if split_by == "sources":  # contiguous blocks: shards concatenated give the stream order back
        assert got == [r["id"] for r in rows]


def test_jsonl_shards_by_file_and_by_example(tmp_path, fineweb):
    rows = fineweb.jsonl(tmp_path / "jsonl", [12, 9])
    for num_shards, split_by in [(2, "sources"), (3, "examples"), (5, "examples")]:
        frames = read_all(local([tmp_path / "jsonl" / "*.jsonl"], num_shards=num_shards))
        assert sorted(ids(frames)) == sorted(r["id"] for r in rows)
        assert len(ids(frames)) == len(rows)
        assert frames[0].attrs["split_by"] == split_by
    # By example, shard i holds the documents at positions i, i + n, i + 2n, ...
    frames = read_all(local([tmp_path / "jsonl" / "*.jsonl"], num_shards=5))
    for i, frame in enumerate(frames):
        assert frame["doc_id"].tolist() == [r["id"] for r in rows[i::5]]


# --- budgets ------------------------------------------------------------------------------------------

def test_shard_budget_shares_sum_to_the_budget():
    for budget in (1, 7, 10, 101):
        for n in (1, 2, 3, 8):
            shares = [shard_budget(budget, n, i) for i in range(n)]
            assert sum(shares) == budget and max(shares) - min(shares) <= 1
    assert shard_budget(None, 4, 2) is None


@pytest.mark.parametrize("num_shards", [1, 3, 4, 13])
def test_budget_is_met_exactly_and_split_evenly(parquet_shards, num_shards):
    directory, rows = parquet_shards
    frames = read_all(local([directory / "*.parquet"], num_shards=num_shards, max_documents=37))
    got = ids(frames)
    assert len(got) == len(set(got)) == 37
    assert set(got) <= {r["id"] for r in rows}
    assert [len(f) for f in frames] == [shard_budget(37, num_shards, i) for i in range(num_shards)]
    if frames[0].attrs["split_by"] == "examples":  # the budget is the first 37 documents of the stream
        assert set(got) == {r["id"] for r in rows[:37]}


def test_budget_per_shard_takes_the_start_of_each_block(parquet_shards):
    directory, rows = parquet_shards  # files of 40, 25, 35 rows: 3 shards = the 3 files
    frames = read_all(local([directory / "*.parquet"], num_shards=3, max_documents=9))
    assert [f["doc_id"].tolist() for f in frames] == [
        [r["id"] for r in rows[0:3]], [r["id"] for r in rows[40:43]], [r["id"] for r in rows[65:68]]]


def test_a_block_smaller_than_its_share_comes_up_short_and_says_so(tmp_path, caplog, fineweb):
    rows = fineweb.parquet(tmp_path / "p", [50, 4])
    cfg = local([tmp_path / "p" / "*.parquet"], num_shards=2, max_documents=20)
    with caplog.at_level(logging.WARNING, logger="regeo.data.fineweb"):
        frames = read_all(cfg)
    assert [len(f) for f in frames] == [10, 4]
    assert "only 4 documents for a budget of 10" in caplog.text
    assert set(ids(frames)) <= {r["id"] for r in rows}


def test_empty_documents_are_skipped_counted_and_not_budgeted(tmp_path, caplog, fineweb):
    rows = fineweb.jsonl(tmp_path / "j", [30], empty_every=5)  # 6 of 30 empty or whitespace
    kept = nonempty(rows)
    assert len(kept) == 24
    with caplog.at_level(logging.WARNING, logger="regeo.data.fineweb"):
        documents = read_shard(local([tmp_path / "j" / "*.jsonl"]), 0)
    assert documents["doc_id"].tolist() == [r["id"] for r in kept]
    assert documents.attrs["skipped_empty"] == 6 and documents.attrs["records_read"] == 30
    assert "skipped 6 empty documents" in caplog.text
    # The budget counts documents kept: 20 non-empty ones, read past the empty ones.
    frames = read_all(local([tmp_path / "j" / "*.jsonl"], num_shards=3, max_documents=20))
    assert sorted(ids(frames)) == sorted(r["id"] for r in kept[:20])


# --- determinism and shuffling ------------------------------------------------------------------------

def test_reading_twice_gives_identical_shards(parquet_shards):
    directory, _ = parquet_shards
    cfg = local([directory / "*.parquet"], num_shards=4, max_documents=30)
    for first, second in zip(read_all(cfg), read_all(cfg)):
        pd.testing.assert_frame_equal(first, second)


@pytest.mark.parametrize("num_shards", [2, 13])
def test_shuffled_reading_is_seeded_and_still_exact(parquet_shards, num_shards):
    directory, rows = parquet_shards
    base = dict(num_shards=num_shards, max_documents=40, shuffle_buffer=16)
    first = read_all(local([directory / "*.parquet"], seed=1, **base))
    again = read_all(local([directory / "*.parquet"], seed=1, **base))
    other = read_all(local([directory / "*.parquet"], seed=2, **base))
    assert ids(first) == ids(again)
    assert ids(first) != ids(other)
    for frames in (first, other):
        got = ids(frames)
        assert len(got) == len(set(got)) == 40 and set(got) <= {r["id"] for r in rows}
    unshuffled = read_all(local([directory / "*.parquet"], num_shards=num_shards, max_documents=40))
    assert ids(first) != ids(unshuffled)


# --- the hub path ------------------------------------------------------------------------------------

def test_hub_source_reads_the_named_config_of_a_dataset_repo(hub_repo):
    repo, rows = hub_repo
    cfg = corpus_config(source="hub", dataset=str(repo), name="sample-10BT", num_shards=4, max_documents=50)
    frames = read_all(cfg)
    got = ids(frames)
    assert len(got) == len(set(got)) == 50 and set(got) <= {r["id"] for r in rows}
    assert set(frames[0]["source"]) == {f"{repo}/sample-10BT"}
    whole = read_all(corpus_config(source="hub", dataset=str(repo), name="sample-10BT", num_shards=3))
    assert ids(whole) == [r["id"] for r in rows]


def test_hub_call_is_a_streaming_load_of_dataset_config_split_and_revision(monkeypatch, hub_repo):
    import datasets

    repo, rows = hub_repo
    calls = []
    real = datasets.load_dataset

    def recording(path, name=None, **kwargs):
        calls.append((path, name, kwargs))
        return real(str(repo), name, split=kwargs["split"], streaming=kwargs["streaming"])

    monkeypatch.setattr(datasets, "load_dataset", recording)
    cfg = corpus_config(revision="v1.4.0", max_documents=5)
    documents = read_shard(cfg, 0)
    assert calls == [("HuggingFaceFW/fineweb", "sample-10BT",
                      {"split": "train", "revision": "v1.4.0", "streaming": True})]
    assert documents["doc_id"].tolist() == [r["id"] for r in rows[:5]]
    assert set(documents["source"]) == {"HuggingFaceFW/fineweb/sample-10BT"}


def test_hub_errors_name_the_dataset(tmp_path):
    cfg = corpus_config(source="hub", dataset=str(tmp_path / "fineweb"), name="sample-10BT")
    with pytest.raises(RegeoInputError, match=r"hub dataset .*fineweb.*sample-10BT.*cannot open"):
        read_shard(cfg, 0)


def test_not_streaming_reads_the_same_documents(parquet_shards, monkeypatch, tmp_path):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    directory, rows = parquet_shards
    frames = read_all(local([directory / "*.parquet"], num_shards=3, streaming=False))
    assert ids(frames) == [r["id"] for r in rows]


# --- bad input ---------------------------------------------------------------------------------------

def write_lines(path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def good_lines(fineweb, n: int, start: int = 0) -> list[bytes]:
    return [json.dumps(r).encode() for r in fineweb.rows(n, start)]


@pytest.mark.parametrize("bad_line, message", [
    (b'{"text": "cut off", "id": ', r"line 4: malformed JSON"),
    (b'{"text": "caf\xe9 au lait", "id": "x"}', r"line 4: not valid UTF-8"),
    (b'{"id": "x", "url": "u"}', r"line 4: no 'text' \(missing or null\)"),
    (b'{"id": "x", "text": null}', r"line 4: no 'text'"),
    (b'{"text": "no id here"}', r"line 4: no 'id'"),
    (b'["a", "list"]', r"line 4: expected a JSON object|line 4: malformed"),
])
def test_bad_jsonl_line_is_reported_with_file_and_line(tmp_path, bad_line, message, fineweb):
    write_lines(tmp_path / "000.jsonl", good_lines(fineweb, 20))
    lines = good_lines(fineweb, 10, start=100)
    write_lines(tmp_path / "001.jsonl", lines[:3] + [bad_line] + lines[3:])
    cfg = local([tmp_path / "*.jsonl"], num_shards=2)
    with pytest.raises(RegeoInputError, match=rf"001\.jsonl: {message}"):
        read_all(cfg)


def test_number_as_text_is_an_error_unless_the_schema_already_says_string(tmp_path, fineweb):
    lines = good_lines(fineweb, 3)
    write_lines(tmp_path / "a.jsonl", lines[:1] + [b'{"id": "x", "text": 42}'] + lines[1:])
    with pytest.raises(RegeoInputError, match=r"a\.jsonl: line 2: 'text' is a int, not a string"):
        read_shard(local([tmp_path / "a.jsonl"]), 0)
    # In a later file, the json builder casts to the schema of the first: the text becomes "42".
    write_lines(tmp_path / "a.jsonl", good_lines(fineweb, 3))
    write_lines(tmp_path / "b.jsonl", good_lines(fineweb, 3, start=10) + [b'{"id": "x", "text": 42}'])
    documents = read_shard(local([tmp_path / "a.jsonl", tmp_path / "b.jsonl"]), 0)
    assert documents["text"].iloc[-1] == "42"


def test_bad_first_line_fails_at_open_with_file_and_line(tmp_path, fineweb):
    write_lines(tmp_path / "a.jsonl", [b"{not json"] + good_lines(fineweb, 3))
    with pytest.raises(RegeoInputError, match=r"a\.jsonl: line 1: malformed JSON"):
        read_shard(local([tmp_path / "a.jsonl"]), 0)


def test_parquet_without_text_column_names_file_and_columns(tmp_path, fineweb):
    rows = fineweb.rows(5)
    for r in rows:
        r["content"] = r.pop("text")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "x.parquet")
    with pytest.raises(RegeoInputError, match=r"x\.parquet: no column\(s\) \['text'\]; columns are .*content"):
        read_shard(local([tmp_path / "x.parquet"]), 0)
    # ... and text_field points at the right one.
    documents = read_shard(local([tmp_path / "x.parquet"], text_field="content"), 0)
    assert documents["text"].tolist() == [r["content"] for r in rows]


def test_parquet_null_text_names_file_and_row(tmp_path, fineweb):
    fineweb.parquet(tmp_path / "p", [8])
    rows = fineweb.rows(6, start=50)
    rows[4]["text"] = None
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "p" / "001_00000.parquet")
    with pytest.raises(RegeoInputError, match=r"001_00000\.parquet: row 4: no 'text'"):
        read_all(local([tmp_path / "p" / "*.parquet"], num_shards=2))


def test_integer_ids_become_strings_and_duplicates_are_errors(tmp_path, fineweb):
    rows = fineweb.rows(4)
    for i, r in enumerate(rows):
        r["id"] = 1000 + i
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "int.parquet")
    assert read_shard(local([tmp_path / "int.parquet"]), 0)["doc_id"].tolist() == ["1000", "1001", "1002", "1003"]
    rows[3]["id"] = 1001
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "dup.parquet")
    with pytest.raises(RegeoInputError, match=r"document id '1001' repeats \(records 1 and 3\)"):
        read_shard(local([tmp_path / "dup.parquet"]), 0)


def test_clashing_source_column_is_kept_under_another_name(tmp_path, fineweb):
    rows = fineweb.rows(3)
    for r in rows:
        r["source"] = "common-crawl"
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "s.parquet")
    documents = read_shard(local([tmp_path / "s.parquet"], source_name="mine"), 0)
    assert set(documents["source"]) == {"mine"} and set(documents["source_orig"]) == {"common-crawl"}


def test_config_and_path_errors(tmp_path, fineweb):
    with pytest.raises(RegeoInputError, match="matches no files"):
        read_shard(local([tmp_path / "nothing-*.parquet"]), 0)
    fineweb.parquet(tmp_path / "p", [3])
    fineweb.jsonl(tmp_path / "p", [3])
    with pytest.raises(RegeoInputError, match="mixes parquet and json"):
        read_shard(local([tmp_path / "p" / "*"]), 0)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(RegeoInputError, match=r"notes\.txt: not a parquet or jsonl file"):
        read_shard(local([tmp_path / "notes.txt"]), 0)
    with pytest.raises(RegeoInputError, match="shard index 2 out of range"):
        read_shard(local([tmp_path / "p" / "*.parquet"], num_shards=2), 2)
    with pytest.raises(RegeoInputError, match="source"):
        corpus_config(source="s3")
    with pytest.raises(RegeoInputError, match="needs at least one glob"):
        corpus_config(source="local")
    with pytest.raises(RegeoInputError, match="not a string"):
        corpus_config(source="local", paths="data/*.parquet")
    with pytest.raises(RegeoInputError, match="max_documents"):
        corpus_config(max_documents=0)


def test_a_shard_is_written_in_pieces_with_the_types_of_the_later_pieces(tmp_path):
    """write_shard keeps a few documents in memory at a time; a column that is null throughout
    the first pieces still gets the type that its later values give it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from regeo.data.fineweb import write_shard

    rows = [{"id": f"d{i}", "text": f"text {i}", "score": None if i < 7 else 0.5 * i} for i in range(11)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet")
    cfg = local([tmp_path / "in.parquet"])
    stats = write_shard(cfg, 0, tmp_path / "shard.parquet", chunk_rows=3)
    assert stats["documents"] == 11
    written = pd.read_parquet(tmp_path / "shard.parquet")
    pd.testing.assert_frame_equal(written, read_shard(cfg, 0))
    assert written["score"].dtype == float and written["score"].iloc[-1] == 5.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "shard.parquet"]  # no parts left
