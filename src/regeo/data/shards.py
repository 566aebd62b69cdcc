"""The corpus as shards: an index of every document's place and length, and text read back by place.

Nothing here holds the corpus in memory. The index (rule ``corpus``) has one row per document
(``doc_id``, ``shard``, ``row``, ``n_chars``) and one row group per shard, written shard by shard;
the labeling reads it one row group at a time, and a subset reads back the text of only the rows
it selected, one record batch of one shard at a time. Peak memory is then set by the batch size
and the output, not by the corpus (measured in ``docs/benchmarks.md``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from regeo.io import RegeoInputError, atomic_path

log = logging.getLogger(__name__)

# Rows decoded at once when a shard is streamed, and the row groups written here: ~25 MB of text
# at FineWeb's ~2.4 kB a document.
BATCH_ROWS = 10_000


def open_parquet(path: str | os.PathLike) -> pq.ParquetFile:
    """A parquet file opened for streaming; a missing or damaged one is reported by name."""
    path = Path(path)
    if not path.is_file():
        raise RegeoInputError(f"{path}: file does not exist")
    try:
        return pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several unrelated types for damaged files
        raise RegeoInputError(f"{path}: not a readable parquet file: {err}") from err


def _check_columns(parquet: pq.ParquetFile, path, columns: list[str]) -> None:
    names = parquet.schema_arrow.names
    missing = [c for c in columns if c not in names]
    if missing:
        raise RegeoInputError(f"{path}: missing column(s) {missing}; found {names}")


def iter_batches(path: str | os.PathLike, columns: list[str], batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """The file's ``columns`` in record batches of at most ``batch_rows`` rows, in file order."""
    parquet = open_parquet(path)
    _check_columns(parquet, path, columns)
    # One row group read at a time (the writers here keep them to BATCH_ROWS rows): pyarrow's own
    # iter_batches holds on to memory across row groups, so a job's peak grew with its shard
    # (+30 % from 12,500 to 50,000 documents a shard, measured). And the pool hands the group's
    # memory back once the caller has let go of its batches: pyarrow's default pool (mimalloc)
    # keeps freed pages, and the corpus index's peak rose with the number of groups it read
    # (write_index alone: 265 MB at 100k documents, 308 MB at 400k; 227 and 248 MB with this).
    for group in range(parquet.num_row_groups):
        yield from parquet.read_row_group(group, columns=columns, use_threads=False).to_batches(max_chunksize=batch_rows)
        pa.default_memory_pool().release_unused()


def read_filtered(path: str | os.PathLike, columns: list[str], column: str, values: list,
                  batch_rows: int = BATCH_ROWS) -> pd.DataFrame:
    """The rows of ``columns`` whose ``column`` is one of ``values``, filtered batch by batch, in
    file order: memory for the rows kept, not for the file."""
    wanted = pa.array(values)
    kept = [batch.filter(pc.is_in(batch.column(column), value_set=wanted))
            for batch in iter_batches(path, columns, batch_rows)]
    if not kept:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return pa.Table.from_batches(kept).to_pandas()


def iter_texts(path: str | os.PathLike, column: str = "text", batch_rows: int = BATCH_ROWS) -> Iterator[str]:
    """The file's texts one by one, decoded one batch at a time."""
    for batch in iter_batches(path, [column], batch_rows):
        yield from batch.column(column).to_pylist()


@contextlib.contextmanager
def parquet_writer(path: str | os.PathLike, schema: pa.Schema) -> Iterator[pq.ParquetWriter]:
    """A parquet file written piece by piece (one row group per ``write_table``), renamed into
    place only once complete."""
    with atomic_path(path, ".parquet") as tmp:
        writer = pq.ParquetWriter(tmp, schema)
        try:
            yield writer
        finally:
            writer.close()


INDEX_SCHEMA_FIELDS = [("shard", pa.int32()), ("row", pa.int64()), ("n_chars", pa.int64())]

# Ids are checked for repeats by 64-bit hash (8 bytes a document), spilled to disk in buckets of
# about this many documents by hash value, so that the check holds one bucket, not the corpus
# (FineWeb sample-10BT's 14 M documents would be 112 MB of hashes, and more while np.unique
# sorts them).
HASH_BUCKET_ROWS = 1 << 21


def _id_hashes(ids: pa.Array) -> np.ndarray:
    return pd.util.hash_array(np.asarray(ids.to_pandas(), dtype=object))


class _HashBuckets:
    """Hashes appended to ``n`` files by value (hash mod n); :meth:`repeated` reads one at a time."""

    def __init__(self, directory: Path, n: int):
        self.paths = [directory / f"{i:05d}.u64" for i in range(n)]
        for path in self.paths:
            path.touch()

    def add(self, hashes: np.ndarray) -> None:
        which = hashes % np.uint64(len(self.paths))
        for i, path in enumerate(self.paths):
            with open(path, "ab") as handle:
                hashes[which == i].tofile(handle)

    def repeated(self) -> set[int]:
        found: set[int] = set()
        for path in self.paths:
            values, counts = np.unique(np.fromfile(path, dtype=np.uint64), return_counts=True)
            found.update(values[counts > 1].tolist())
        return found


def write_index(shard_paths: list[str], out_path: str | os.PathLike, batch_rows: int = BATCH_ROWS,
                bucket_rows: int = HASH_BUCKET_ROWS) -> int:
    """Index every document of the shards (in shard order): doc_id, shard, row (its position in
    the shard), n_chars (characters, as Python's ``len``). Raises RegeoInputError, naming the
    shards, when a document id repeats across them. Returns the number of documents."""
    if not shard_paths:
        raise RegeoInputError("corpus: no shards to index")
    expected = sum(open_parquet(path).metadata.num_rows for path in shard_paths)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    total = 0
    with contextlib.ExitStack() as stack:
        spill = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f".{out_path.name}.ids.",
                                                                     dir=out_path.parent)))
        buckets = _HashBuckets(spill, max(1, -(-expected // bucket_rows)))
        writer = None
        for shard, path in enumerate(shard_paths):
            row = 0
            for batch in iter_batches(path, ["doc_id", "text"], batch_rows):
                n = batch.num_rows
                table = pa.table({
                    "doc_id": batch.column("doc_id"),
                    "shard": pa.array(np.full(n, shard, dtype=np.int32)),
                    "row": pa.array(np.arange(row, row + n, dtype=np.int64)),
                    "n_chars": pc.utf8_length(batch.column("text")).cast(pa.int64()),
                })
                if writer is None:
                    writer = stack.enter_context(parquet_writer(out_path, table.schema))
                writer.write_table(table.cast(writer.schema), row_group_size=max(1, n))
                buckets.add(_id_hashes(batch.column("doc_id")))
                row += n
                del batch, table  # before the next read, so that iter_batches can free them
            log.info("corpus index: shard %d, %d documents (%s)", shard, row, path)
            total += row
        if writer is None:
            raise RegeoInputError(f"{shard_paths[0]} ...: the shards hold no documents")
        _check_unique(buckets.repeated(), shard_paths, batch_rows)
    return total


def _check_unique(repeated: set[int], shard_paths: list[str], batch_rows: int, shown: int = 3) -> None:
    """A repeated hash is confirmed on the ids themselves before it is reported, so a hash
    collision alone never fails the corpus."""
    if not repeated:
        return
    seen: dict[str, str] = {}
    examples: list[str] = []
    for path in shard_paths:
        for batch in iter_batches(path, ["doc_id"], batch_rows):
            ids = batch.column("doc_id")
            for h, doc_id in zip(_id_hashes(ids).tolist(), ids.to_pylist()):
                if h not in repeated:
                    continue
                if doc_id in seen:
                    examples.append(f"{doc_id!r} ({seen[doc_id]} and {path})")
                else:
                    seen[doc_id] = path
            if len(examples) >= shown:
                break
        if len(examples) >= shown:
            break
    if examples:
        raise RegeoInputError(f"{shard_paths[0]} ...: document ids repeat across shards, e.g. "
                              f"{'; '.join(examples[:shown])}")


def index_row_groups(index_path: str | os.PathLike) -> Iterator[tuple[int, pd.DataFrame]]:
    """(shard, its index rows) for every shard of the index, one shard in memory at a time."""
    parquet = open_parquet(index_path)
    _check_columns(parquet, index_path, ["doc_id", "shard", "row", "n_chars"])
    current, parts = None, []
    for group in range(parquet.num_row_groups):
        frame = parquet.read_row_group(group).to_pandas()
        shard = int(frame["shard"].iloc[0]) if len(frame) else current
        if current is not None and shard != current:
            yield current, pd.concat(parts, ignore_index=True)
            parts = []
        current = shard
        parts.append(frame)
    if parts:
        yield current, pd.concat(parts, ignore_index=True)


def fetch_rows(shard_paths: list[str], shards: np.ndarray, rows: np.ndarray, columns: list[str],
               batch_rows: int = BATCH_ROWS) -> pd.DataFrame:
    """The ``columns`` of the documents at (shards[i], rows[i]), in that order; only those rows'
    values are kept while each shard is streamed."""
    shards, rows = np.asarray(shards, dtype=np.int64), np.asarray(rows, dtype=np.int64)
    pieces: list[pa.Table] = []
    positions: list[np.ndarray] = []
    for shard in np.unique(shards):
        wanted = np.flatnonzero(shards == shard)
        order = wanted[np.argsort(rows[wanted], kind="stable")]
        targets = rows[order]
        path = shard_paths[int(shard)]
        start, cursor = 0, 0
        for batch in iter_batches(path, columns, batch_rows):
            end = start + batch.num_rows
            stop = cursor + int(np.searchsorted(targets[cursor:], end))
            if stop > cursor:
                taken = batch.take(pa.array(targets[cursor:stop] - start))
                pieces.append(pa.Table.from_batches([taken]))
                positions.append(order[cursor:stop])
                del taken
            cursor, start = stop, end
            del batch  # before the next read, so that iter_batches can free it
            if cursor == len(targets):
                break
        if cursor < len(targets):
            raise RegeoInputError(f"{path}: has {start} rows, but the index places a document at row "
                                  f"{int(targets[cursor])}; the shard changed after it was indexed")
    if not pieces:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    table = pa.concat_tables(pieces)
    back = np.empty(len(shards), dtype=np.int64)
    back[np.concatenate(positions)] = np.arange(len(shards))
    return table.take(pa.array(back)).to_pandas()
