"""FineWeb-style corpora read in shards: from the Hugging Face hub, or from local parquet/jsonl files.

Both sources go through ``datasets.load_dataset(..., streaming=True)``: the hub by dataset id and
config name (e.g. ``HuggingFaceFW/fineweb``, ``sample-10BT``), local files through the packaged
``parquet``/``json`` builders. Everything after opening the stream (sharding, budget, validation,
conversion to a documents table) is one code path, so the tests on local files exercise the hub's.

How the corpus is split into ``num_shards`` shards (one labeling job each):

* **by data source** when the stream has at least ``num_shards`` of them. A data source is a file;
  when there are fewer files than shards, ``IterableDataset.reshard()`` first splits parquet files
  into their row groups (a ``datasets`` without ``reshard`` leaves them whole, and such shards are
  then split by example). ``IterableDataset.shard(num_shards, index, contiguous=True)`` then gives
  each job a disjoint, contiguous block of sources, so a job reads only its own files or row
  groups. The budget ``max_documents`` is divided evenly across shards; each shard takes the
  first documents of its block. A shard whose block is too small comes up short (logged).
* **by example** otherwise (e.g. one big jsonl file and several shards): every job streams the
  same first ``max_documents`` documents and keeps those whose position modulo ``num_shards`` is
  its index (the "examples" strategy of ``datasets.distributed.split_dataset_by_node``). Each job
  reads the whole budget, which is the price of having too few sources.

Either way each document of the corpus lands in exactly one shard, and the corpus is a pure
function of the data, the config and ``num_shards`` (changing ``num_shards`` changes which
documents a budget selects).

Documents whose text is empty or only whitespace are skipped, counted and logged; they do not
count against the budget. A record without a text or id, a text that is not a string, a malformed
jsonl line or bytes that are not UTF-8 raise :class:`RegeoInputError`; for local files the message
names the file and the line (jsonl) or row (parquet), found by re-reading the files once an error
has occurred (the hub streams do not say which file a record came from). One leniency comes from
the json builder: once the schema is known from an earlier file, a number in the text field is
cast to a string rather than refused.

``shuffle_buffer > 0`` shuffles with ``IterableDataset.shuffle(seed, buffer_size)``: the order of
the sources and a buffer of records, so that a budget smaller than the data is drawn from the
whole of each shard's block rather than its start. The same seed gives the same documents.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import inspect
import json
import logging
import lzma
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import pandas as pd

from regeo.io import RegeoInputError
from regeo.params import section_fields

log = logging.getLogger(__name__)

SOURCES = ("hub", "local")
# Local file suffixes -> the `datasets` packaged builder that reads them.
_BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".ndjson": "json"}
_COMPRESSIONS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
# Columns of the documents table; source columns of the same names are kept with this suffix.
_OWN_COLUMNS = ("doc_id", "text", "source")
_CLASH_SUFFIX = "_orig"
_READ_BATCH = 1024  # records per batch pulled from the stream


@dataclass(frozen=True)
class FineWebConfig:
    """The config's corpus section for sources hub and local (defaults: the schema's), then
    ``source_name``, which no config key sets."""

    source: str  # "hub": a Hugging Face dataset; "local": parquet/jsonl files matched by `paths`
    dataset: str  # hub dataset id (or a local directory laid out like a dataset repo)
    name: str | None  # hub dataset config name; None for a dataset without configs
    split: str  # split to read (hub); local files always form one split
    paths: Sequence[str]  # glob patterns of local .parquet or .jsonl/.json(.gz|.bz2|.xz) files
    text_field: str  # column holding the document text
    id_field: str  # column holding a unique document id (FineWeb: "<urn:uuid:...>")
    max_documents: int | None  # budget over all shards together; None reads the whole dataset
    num_shards: int  # the corpus is read in this many shards, one job each
    streaming: bool  # False downloads and prepares the whole split in the HF cache first
    revision: str | None  # hub dataset revision (branch, tag or commit) to pin; None: default branch
    seed: int  # seed of the shuffle below (the same in every job, so shards stay disjoint)
    shuffle_buffer: int  # >0: shuffle source order and a buffer of this many records; 0 keeps stream order
    source_name: str | None = None  # value of the `source` column; None: "<dataset>/<name>" (hub), "local"

    def __post_init__(self):
        if self.source not in SOURCES:
            raise RegeoInputError(f"FineWebConfig.source: {self.source!r} is not one of {SOURCES}")
        if self.num_shards < 1:
            raise RegeoInputError(f"FineWebConfig.num_shards: must be >= 1, got {self.num_shards}")
        if self.max_documents is not None and self.max_documents < 1:
            raise RegeoInputError(f"FineWebConfig.max_documents: must be >= 1 or None, got {self.max_documents}")
        if self.shuffle_buffer < 0:
            raise RegeoInputError(f"FineWebConfig.shuffle_buffer: must be >= 0, got {self.shuffle_buffer}")
        if isinstance(self.paths, str):  # a bare string would be globbed character by character
            raise RegeoInputError("FineWebConfig.paths: give a list of glob patterns, not a string")
        if self.source == "local" and not self.paths:
            raise RegeoInputError("FineWebConfig.paths: source 'local' needs at least one glob pattern")

    @classmethod
    def from_params(cls, corpus: dict, source_name: str | None = None) -> "FineWebConfig":
        """From the corpus rules' params (the whole corpus section; ``builtin_sources`` is left out),
        any other unknown key is an error."""
        values = section_fields(cls, corpus, "corpus", given=("source_name",))
        return cls(**values, source_name=source_name)


def read_shard(cfg: FineWebConfig, shard_index: int) -> pd.DataFrame:
    """Documents of shard ``shard_index`` (0-based) of ``cfg.num_shards``, in memory (tests and
    small corpora; the pipeline streams them to a file with :func:`write_shard`).

    Columns: ``doc_id`` (str), ``text`` (str), ``source`` (str), then every other column of the
    data in its order (FineWeb: dump, url, date, file_path, language, language_score,
    token_count); a data column named like one of the first three gets the suffix ``_orig``.
    ``attrs`` holds ``records_read``, ``skipped_empty`` and ``split_by`` ("sources" or "examples").
    """
    chunks: list[pd.DataFrame] = []
    stats = _stream_shard(cfg, shard_index, chunks.append)
    documents = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
    documents.attrs.update(stats)
    return documents


def write_shard(cfg: FineWebConfig, shard_index: int, out_path: str | Path, chunk_rows: int = 10_000) -> dict:
    """:func:`read_shard` written to ``out_path`` piece by piece: at most ``chunk_rows`` documents
    are in memory at once. Each piece goes to a temporary part file first, so that a column the
    first pieces have only nulls in (no type yet) gets the type the later pieces give it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from regeo.data.shards import parquet_writer

    out_path = Path(out_path)
    with tempfile.TemporaryDirectory(prefix=f".{out_path.name}.", dir=out_path.parent) as parts_dir:
        parts: list[Path] = []

        def keep(chunk: pd.DataFrame) -> None:
            parts.append(Path(parts_dir) / f"{len(parts):06d}.parquet")
            chunk.to_parquet(parts[-1], index=False)

        stats = _stream_shard(cfg, shard_index, keep, chunk_rows)
        schemas = [pq.read_schema(p).remove_metadata() for p in parts]
        schema = pa.unify_schemas(schemas, promote_options="permissive")
        with parquet_writer(out_path, schema) as writer:
            for part in parts:
                for batch in pq.ParquetFile(part).iter_batches(batch_size=chunk_rows):
                    writer.write_table(pa.Table.from_batches([batch]).cast(schema))
    return stats


def _stream_shard(cfg: FineWebConfig, shard_index: int, emit, chunk_rows: int | None = None) -> dict:
    """Pass the shard's documents to ``emit`` in DataFrames of ``chunk_rows`` (all at once for
    None; at least one, possibly empty, DataFrame); returns the shard's counts."""
    if not 0 <= shard_index < cfg.num_shards:
        raise RegeoInputError(f"shard index {shard_index} out of range for num_shards={cfg.num_shards}")
    files = _local_files(cfg) if cfg.source == "local" else []
    where = _describe(cfg, files)
    stream = _open_stream(cfg, files, where)
    _check_columns(stream.column_names, cfg, files, where)
    stream, split_by = _select_shard(stream, cfg, shard_index)
    try:
        stats = _collect(stream, cfg, shard_index, split_by, where, emit, chunk_rows)
    except RegeoInputError:
        raise
    except Exception as err:  # datasets/pyarrow raise many unrelated types on damaged input
        raise _diagnose(err, cfg, files, where, shard_index) from err
    stats["split_by"] = split_by
    log.info("%s, shard %d/%d (split by %s): %d documents from %d records, %d empty skipped",
             where, shard_index, cfg.num_shards, split_by, stats["documents"], stats["records_read"],
             stats["skipped_empty"])
    return stats


def shard_budget(max_documents: int | None, num_shards: int, shard_index: int) -> int | None:
    """This shard's share of the budget: shares differ by at most one and sum to the budget."""
    if max_documents is None:
        return None
    base, extra = divmod(max_documents, num_shards)
    return base + (1 if shard_index < extra else 0)


# --- opening the stream ---------------------------------------------------------------------------

def _local_files(cfg: FineWebConfig) -> list[str]:
    files: list[str] = []
    for pattern in cfg.paths:
        matched = sorted(glob.glob(os.path.expanduser(pattern), recursive=True))
        matched = [m for m in matched if os.path.isfile(m)]
        if not matched:
            raise RegeoInputError(f"corpus.paths: pattern {pattern!r} matches no files")
        files.extend(m for m in matched if m not in files)
    builders = {_builder_for(f) for f in files}
    if len(builders) > 1:
        raise RegeoInputError(f"corpus.paths: mixes parquet and json files ({files[0]} ...); use one format")
    return files


def _builder_for(path: str) -> str:
    suffixes = Path(path).suffixes
    if suffixes and suffixes[-1] in _COMPRESSIONS:
        suffixes = suffixes[:-1]
    builder = _BUILDERS.get(suffixes[-1] if suffixes else "")
    if builder is None:
        raise RegeoInputError(f"{path}: not a parquet or jsonl file (suffixes {sorted(_BUILDERS)}, "
                              f"optionally compressed with {sorted(_COMPRESSIONS)})")
    return builder


def _describe(cfg: FineWebConfig, files: list[str]) -> str:
    if cfg.source == "hub":
        return (f"hub dataset {cfg.dataset!r} (config {cfg.name!r}, split {cfg.split!r}, "
                f"revision {cfg.revision or 'default'})")
    more = f" and {len(files) - 1} more" if len(files) > 1 else ""
    return f"local files {files[0]}{more}"


def _open_stream(cfg: FineWebConfig, files: list[str], where: str):
    import datasets

    try:
        if cfg.source == "hub":
            ds = datasets.load_dataset(cfg.dataset, cfg.name, split=cfg.split, revision=cfg.revision,
                                       streaming=cfg.streaming)
        else:
            ds = datasets.load_dataset(_builder_for(files[0]), data_files={"train": files}, split="train",
                                       streaming=cfg.streaming)
    except Exception as err:  # not found, offline, bad config name, or a malformed first chunk
        if cfg.source == "local":
            raise _diagnose(err, cfg, files, where, None) from err
        raise RegeoInputError(f"{where}: cannot open the dataset: {type(err).__name__}: {err}") from err
    if not cfg.streaming:
        # A prepared Arrow dataset is cut into exactly num_shards contiguous sources.
        ds = ds.to_iterable_dataset(num_shards=cfg.num_shards)
    return ds


def _check_columns(columns: list[str] | None, cfg: FineWebConfig, files: list[str], where: str) -> None:
    if columns is None:  # features unknown until read; records are checked one by one
        return
    missing = [f for f in (cfg.text_field, cfg.id_field) if f not in columns]
    if missing:
        found = _find_bad_record(files, cfg) if files else None
        raise RegeoInputError(found or f"{where}: no column(s) {missing}; columns are {columns} "
                                       f"(set corpus.text_field / corpus.id_field)")


def _select_shard(stream, cfg: FineWebConfig, shard_index: int):
    n = cfg.num_shards
    if n > 1 and cfg.streaming and stream.num_shards < n and hasattr(stream, "reshard"):
        stream = stream.reshard()  # parquet: one source per row group (others stay one per file)
    if stream.num_shards >= n:
        stream = stream.shard(num_shards=n, index=shard_index, contiguous=True)
        split_by = "sources"
    else:
        split_by = "examples"
    if cfg.shuffle_buffer:
        # After sharding by sources (each job shuffles its own block); before splitting by
        # examples, with the same seed everywhere, so that all jobs see one shuffled order.
        # One source at a time feeds the buffer: interleaving several uses a thread pool (and a
        # 5 s sleep at shutdown in datasets 5), and one source at a time is what older versions do.
        extra = ({"max_buffer_input_shards": 1}
                 if "max_buffer_input_shards" in inspect.signature(stream.shuffle).parameters else {})
        stream = stream.shuffle(seed=cfg.seed, buffer_size=cfg.shuffle_buffer, **extra)
    return stream, split_by


# --- reading records ------------------------------------------------------------------------------

def _collect(stream, cfg: FineWebConfig, shard_index: int, split_by: str, where: str, emit,
             chunk_rows: int | None):
    n = cfg.num_shards
    if split_by == "sources":
        budget = shard_budget(cfg.max_documents, n, shard_index)
    else:
        budget = cfg.max_documents  # documents of the whole corpus, every n-th of them kept here
    source = cfg.source_name or (
        (f"{cfg.dataset}/{cfg.name}" if cfg.name else cfg.dataset) if cfg.source == "hub" else "local")
    rows: list[dict[str, Any]] = []
    columns: list[str] | None = None
    kept = 0
    seen_ids: dict[str, int] = {}
    records = skipped = accepted = 0
    for position, record in _records(stream):
        records += 1
        text = record.get(cfg.text_field)
        doc_id = record.get(cfg.id_field)
        problem = _record_problem(text, doc_id, cfg)
        if problem:
            raise _RecordError(position, doc_id, problem)
        if not text.strip():
            skipped += 1
            continue
        accepted += 1
        if split_by == "examples" and (accepted - 1) % n != shard_index:
            if budget is not None and accepted >= budget:
                break
            continue
        doc_id = str(doc_id)
        if doc_id in seen_ids:
            raise RegeoInputError(f"{where}, shard {shard_index}: document id {doc_id!r} repeats "
                                  f"(records {seen_ids[doc_id]} and {position})")
        seen_ids[doc_id] = position
        row = {"doc_id": doc_id, "text": text, "source": source}
        for key, value in record.items():
            if key in (cfg.text_field, cfg.id_field):
                continue
            row[key + _CLASH_SUFFIX if key in _OWN_COLUMNS else key] = value
        rows.append(row)
        kept += 1
        if columns is None:
            columns = list(_OWN_COLUMNS) + [c for c in row if c not in _OWN_COLUMNS]
        if chunk_rows is not None and len(rows) >= chunk_rows:
            emit(pd.DataFrame(rows, columns=columns))
            rows = []
        if budget is not None and (kept if split_by == "sources" else accepted) >= budget:
            break
    if split_by == "sources" and budget is not None and kept < budget:
        log.warning("%s, shard %d/%d: only %d documents for a budget of %d (the shard's sources ran out)",
                    where, shard_index, n, kept, budget)
    if skipped:
        log.warning("%s, shard %d/%d: skipped %d empty documents", where, shard_index, n, skipped)
    if rows or not kept:
        emit(pd.DataFrame(rows, columns=columns or list(_OWN_COLUMNS)))
    return {"records_read": records, "skipped_empty": skipped, "documents": kept}


def _records(stream) -> Iterator[tuple[int, dict[str, Any]]]:
    """(position in this shard's stream, record) pairs, pulled in batches for speed."""
    position = 0
    for batch in stream.iter(batch_size=_READ_BATCH):
        keys = list(batch)
        for values in zip(*(batch[k] for k in keys)):
            yield position, dict(zip(keys, values))
            position += 1


def _record_problem(text, doc_id, cfg: FineWebConfig) -> str | None:
    if text is None:
        return f"no {cfg.text_field!r} (missing or null)"
    if not isinstance(text, str):
        return f"{cfg.text_field!r} is a {type(text).__name__}, not a string"
    if doc_id is None or (isinstance(doc_id, str) and not doc_id.strip()):
        return f"no {cfg.id_field!r} (missing, null or empty)"
    if not isinstance(doc_id, (str, int)):
        return f"{cfg.id_field!r} is a {type(doc_id).__name__}, not a string or integer"
    return None


class _RecordError(Exception):
    def __init__(self, position: int, doc_id, problem: str):
        super().__init__(f"record {position} of the shard (id {doc_id!r}): {problem}")


# --- error messages that name the file ------------------------------------------------------------

def _diagnose(err: Exception, cfg: FineWebConfig, files: list[str], where: str,
              shard_index: int | None) -> RegeoInputError:
    """An error naming the file and line when the files are local; else the dataset and shard."""
    found = _find_bad_record(files, cfg) if files else None
    if found:
        return RegeoInputError(found)
    shard = f", shard {shard_index}/{cfg.num_shards}" if shard_index is not None else ""
    what = str(err) if isinstance(err, _RecordError) else f"{type(err).__name__}: {err}"
    return RegeoInputError(f"{where}{shard}: {what}")


def _find_bad_record(files: list[str], cfg: FineWebConfig) -> str | None:
    """The first problem in the local files, as 'file: line/row N: what', or None.

    All files are scanned, not only the failing shard's: the stream does not say which file a
    record came from, and a bad line anywhere fails the shard that holds it anyway.
    """
    for path in files:
        check = _check_parquet if _builder_for(path) == "parquet" else _check_jsonl
        problem = check(path, cfg)
        if problem:
            return problem
    return None


def _open_maybe_compressed(path: str):
    opener = _COMPRESSIONS.get(Path(path).suffix, open)
    return opener(path, "rb")


def _check_jsonl(path: str, cfg: FineWebConfig) -> str | None:
    with _open_maybe_compressed(path) as handle:
        for lineno, raw in enumerate(handle, start=1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte-order mark, which the json builder accepts too
            if not raw.strip():
                continue  # blank lines are skipped by the json builder as well
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                return f"{path}: line {lineno}: not valid UTF-8 ({err.reason} at byte {err.start} of the line)"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                return f"{path}: line {lineno}: malformed JSON ({err.msg} at column {err.colno})"
            if not isinstance(record, dict):
                return f"{path}: line {lineno}: expected a JSON object, found {type(record).__name__}"
            problem = _record_problem(record.get(cfg.text_field), record.get(cfg.id_field), cfg)
            if problem:
                return f"{path}: line {lineno}: {problem}"
    return None


def _check_parquet(path: str, cfg: FineWebConfig) -> str | None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError, ... for damaged files
        return f"{path}: not a readable parquet file: {err}"
    names = parquet.schema_arrow.names
    missing = [f for f in (cfg.text_field, cfg.id_field) if f not in names]
    if missing:
        return f"{path}: no column(s) {missing}; columns are {names} (set corpus.text_field / corpus.id_field)"
    text_type = parquet.schema_arrow.field(cfg.text_field).type
    if not (pa.types.is_string(text_type) or pa.types.is_large_string(text_type)):
        return f"{path}: column {cfg.text_field!r} has type {text_type}, expected string"
    row = i = 0
    try:
        for batch in parquet.iter_batches(columns=[cfg.text_field, cfg.id_field], batch_size=4096):
            texts, ids = batch.column(0), batch.column(1)
            for i in range(len(batch)):
                problem = _record_problem(texts[i].as_py(), ids[i].as_py(), cfg)
                if problem:
                    return f"{path}: row {row + i}: {problem}"
            row += len(batch)
    except UnicodeDecodeError as err:
        return f"{path}: row {row + i}: not valid UTF-8 ({err.reason})"
    except Exception as err:
        return f"{path}: unreadable after row {row}: {err}"
    return None
