"""Register probabilities that come with the data (HPLT v2 style) and the mapping of label names.

HPLT v2's register annotations, made with the TurkuNLP classifier, give each document a
``register_probabilities`` object: label name -> probability, over the model's labels
(``{"MT": 0.01, "LY": 0.0, ..., "ne": 0.93, ...}``). Such a column may arrive as a dict (a JSON
object read from jsonl, a parquet struct), as key/value pairs (a parquet map) or as a JSON string.
:func:`read_precomputed` turns it into the probabilities table that labeling expects: ``doc_id``
plus one float column ``prob_<LABEL>`` per label of :data:`regeo.registers.ALL_LABELS`.

Label names are matched to CORE codes case-insensitively (``"na"``, ``"NA"`` -> ``NA``;
``"NE"``, ``"ne"`` -> ``ne``): the main registers' codes and the sub-registers' codes stay
distinct when lower-cased, so no name is ambiguous. A name that is no CORE code is an error, never
dropped. A label that no row of the file carries (e.g. ``MT``, which the English-only model lacks)
gets probability 0.0, with a warning; a label that some rows carry and another lacks is an error.
"""

from __future__ import annotations

import bz2
import gzip
import json
import logging
import lzma
import math
import numbers
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import pandas as pd

from regeo.data.labeling import PROB_PREFIX
from regeo.io import RegeoInputError, require_columns
from regeo.registers import ALL_LABELS

log = logging.getLogger(__name__)

# Lower-cased code -> code; the CORE codes stay distinct when lower-cased (a test checks it).
_BY_LOWER = {label.lower(): label for label in ALL_LABELS}
_BATCH_ROWS = 10_000
_COMPRESSIONS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def core_label(name: str) -> str | None:
    """The CORE code a label name stands for (case-insensitive, surrounding space ignored), or None."""
    return _BY_LOWER.get(str(name).strip().lower())


def core_label_map(names: Iterable[str], where: str) -> dict[str, str]:
    """name -> CORE code for every name; unknown or colliding names raise, naming ``where``."""
    mapping: dict[str, str] = {}
    unknown = []
    for name in names:
        code = core_label(name)
        if code is None:
            unknown.append(name)
        else:
            mapping[name] = code
    if unknown:
        raise RegeoInputError(f"{where}: label name(s) {unknown} are not CORE register codes "
                              f"(known, case-insensitive: {list(ALL_LABELS)})")
    codes = list(mapping.values())
    repeated = sorted({c for c in codes if codes.count(c) > 1})
    if repeated:
        clashes = {c: [n for n, m in mapping.items() if m == c] for c in repeated}
        raise RegeoInputError(f"{where}: several label names map to the same CORE code: {clashes}")
    return mapping


def probabilities_table(doc_ids: Sequence[str], values: Sequence[Any], where: str,
                        unit: str = "row", names: Sequence[str] | None = None, offset: int = 0) -> pd.DataFrame:
    """The probabilities table from one label->probability value per document.

    ``where`` names the file in messages; ``unit`` is what a position is called there ("row" for
    parquet, "line" for jsonl, whose positions count from 1). ``names``: the label names of the
    whole file, when ``values`` are one piece of it starting at position ``offset``.
    """
    first = (1 if unit == "line" else 0) + offset
    records = [_as_mapping(v, where, f"{unit} {i + first} (doc_id {d!r})") for i, (d, v) in
               enumerate(zip(doc_ids, values))]
    whole = names is None
    names = sorted({name for record in records for name in record}, key=str) if whole else list(names)
    mapping = core_label_map(names, where)
    absent = [label for label in ALL_LABELS if label not in mapping.values()]
    if absent and records and whole:
        log.warning("%s: no probabilities for label(s) %s in any row; they are set to 0.0", where, absent)
    columns: dict[str, list[float]] = {label: [] for label in ALL_LABELS}
    for i, (doc_id, record) in enumerate(zip(doc_ids, records)):
        at = f"{unit} {i + first} (doc_id {doc_id!r})"
        missing = [n for n in names if n not in record]
        if missing:
            raise RegeoInputError(f"{where}: {at}: no probability for label(s) {missing}, "
                                  f"which other rows have")
        for name, value in record.items():
            columns[mapping[name]].append(_probability(value, where, at, name))
        for label in absent:
            columns[label].append(0.0)
    table = pd.DataFrame({"doc_id": [str(d) for d in doc_ids]})
    for label in ALL_LABELS:
        table[PROB_PREFIX + label] = pd.Series(columns[label], dtype="float64")
    if whole:
        _check_unique_ids(table, where)
    return table


def _check_unique_ids(table: pd.DataFrame, where: str) -> None:
    if not table["doc_id"].is_unique:
        repeated = table.loc[table["doc_id"].duplicated(), "doc_id"].head(3).tolist()
        raise RegeoInputError(f"{where}: doc_id repeats, e.g. {repeated}")


def read_precomputed(path: str | Path, field: str = "register_probabilities",
                     id_field: str = "doc_id") -> pd.DataFrame:
    """The probabilities table of a parquet or jsonl file with a label->probability column ``field``.

    ``id_field`` names the document id column: ``doc_id`` in regeo's corpus shards, ``id`` in
    HPLT's own files.
    """
    path = Path(path)
    if not path.is_file():
        raise RegeoInputError(f"{path}: file does not exist")
    suffixes = [s for s in path.suffixes if s not in _COMPRESSIONS]
    if suffixes and suffixes[-1] == ".parquet":
        return _read_parquet(path, field, id_field)
    if suffixes and suffixes[-1] in (".jsonl", ".json", ".ndjson"):
        return _read_jsonl(path, field, id_field)
    raise RegeoInputError(f"{path}: expected a .parquet or .jsonl file")


def _read_parquet(path: Path, field: str, id_field: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    require_columns(path, [id_field, field], hint="registers.probabilities_field names the probabilities column")
    # Two passes of record batches (the label names of the whole file, then the table piece by
    # piece): a shard's probabilities as Python objects all at once would be most of the job's memory.
    parquet = pq.ParquetFile(path)
    names: set = set()
    for batch in parquet.iter_batches(batch_size=_BATCH_ROWS, columns=[field]):
        for i, value in enumerate(batch.column(0).to_pylist()):
            names |= set(_as_mapping(value, str(path), f"row {i}"))
    names = sorted(names, key=str)
    absent = [label for label in ALL_LABELS if label not in core_label_map(names, str(path)).values()]
    if absent and parquet.metadata.num_rows:
        log.warning("%s: no probabilities for label(s) %s in any row; they are set to 0.0", path, absent)
    pieces, offset = [], 0
    for batch in parquet.iter_batches(batch_size=_BATCH_ROWS, columns=[id_field, field]):
        pieces.append(probabilities_table(batch.column(0).to_pylist(), batch.column(1).to_pylist(), str(path),
                                          "row", names=names, offset=offset))
        offset += batch.num_rows
    if not pieces:
        return probabilities_table([], [], str(path), "row")
    table = pd.concat(pieces, ignore_index=True)
    _check_unique_ids(table, str(path))
    return table


def _read_jsonl(path: Path, field: str, id_field: str) -> pd.DataFrame:
    doc_ids, values = [], []
    for lineno, record in _jsonl_records(path):
        for key in (id_field, field):
            if key not in record:
                raise RegeoInputError(f"{path}: line {lineno}: no field {key!r}")
        doc_ids.append(record[id_field])
        values.append(record[field])
    return probabilities_table(doc_ids, values, str(path), "line")


def _jsonl_records(path: Path) -> Iterator[tuple[int, dict]]:
    opener = _COMPRESSIONS.get(path.suffix, open)
    with opener(path, "rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as err:
                raise RegeoInputError(f"{path}: line {lineno}: not valid UTF-8 ({err.reason})") from err
            except json.JSONDecodeError as err:
                raise RegeoInputError(f"{path}: line {lineno}: malformed JSON ({err.msg})") from err
            if not isinstance(record, dict):
                raise RegeoInputError(f"{path}: line {lineno}: expected a JSON object")
            yield lineno, record


def _as_mapping(value: Any, where: str, at: str) -> dict:
    """label -> probability from a dict, key/value pairs (parquet map) or a JSON string."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise RegeoInputError(f"{where}: {at}: register probabilities are not valid JSON ({err.msg})") from err
    if isinstance(value, dict):
        # A struct read from parquet has every field of the file; None marks one this row lacks.
        return {k: v for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
        return dict(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise RegeoInputError(f"{where}: {at}: no register probabilities")
    raise RegeoInputError(f"{where}: {at}: register probabilities must be an object of label -> "
                          f"probability, found {type(value).__name__}")


def _probability(value: Any, where: str, at: str, name: str) -> float:
    # numbers.Real admits numpy scalars (a parquet struct of float32 gives np.float32).
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise RegeoInputError(f"{where}: {at}: probability of {name!r} is {value!r}, not a number")
    value = float(value)
    if not 0.0 <= value <= 1.0:  # NaN fails this too
        raise RegeoInputError(f"{where}: {at}: probability of {name!r} is {value}, outside [0, 1]")
    return value
