"""Register labels from a label column: corpora that come with genre labels of their own.

``registers.method: column`` reads one label per document from ``registers.label_field`` and maps
it to CORE codes with ``registers.label_map`` (value -> a code, or a list of codes for a hybrid
such as ``[HI, IN]``); a value the map lacks that is itself a CORE code (any case) stands for
itself. Each mapped code gets probability 1.0, every other label 0.0, so the labeling rules
(threshold, child implies parent, hybrids) then apply as for any other source.

A value that maps to nothing, and a missing value, stop the run with an error naming the file,
the row and the value, unless ``registers.unmapped_label`` says what to do: ``drop`` (the document
gets no label, so no subset takes it) or a CORE code to give it.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from regeo.data.labeling import PROB_PREFIX
from regeo.data.precomputed import core_label
from regeo.io import RegeoInputError, read_columns
from regeo.registers import ALL_LABELS

log = logging.getLogger(__name__)

DROP = "drop"


def label_codes(label_map: dict, where: str = "config.registers.label_map") -> dict[str, tuple[str, ...]]:
    """value -> CORE codes; a target that is no CORE code is an error naming the map entry."""
    codes: dict[str, tuple[str, ...]] = {}
    for value, target in label_map.items():
        targets = [target] if isinstance(target, str) else list(target)
        resolved = [core_label(t) for t in targets]
        bad = [t for t, code in zip(targets, resolved) if code is None]
        if bad or not targets:
            raise RegeoInputError(f"{where}.{value}: {bad or target!r} not CORE register code(s) "
                                  f"(known, case-insensitive: {list(ALL_LABELS)})")
        codes[str(value)] = tuple(dict.fromkeys(resolved))
    return codes


def column_probabilities(doc_ids, values, where: str, label_map: dict, unmapped: str | None = None) -> pd.DataFrame:
    """The probabilities table (doc_id, prob_<LABEL>...) of one label value per document."""
    codes = label_codes(label_map)
    fallback: tuple[str, ...] | None = None
    if unmapped is not None and unmapped != DROP:
        code = core_label(unmapped)
        if code is None:
            raise RegeoInputError(f"config.registers.unmapped_label: {unmapped!r} is neither 'drop' nor a CORE code "
                                  f"({list(ALL_LABELS)})")
        fallback = (code,)
    columns = {label: [] for label in ALL_LABELS}
    used: Counter = Counter()
    for row, (doc_id, value) in enumerate(zip(doc_ids, values)):
        mapped = _codes_of(value, codes)
        if mapped is None:
            if unmapped is None:
                raise RegeoInputError(
                    f"{where}: row {row} (doc_id {doc_id!r}): label {_shown(value)} is not in registers.label_map "
                    f"(mapped: {sorted(codes)}) nor a CORE code; add it to the map, or set "
                    "registers.unmapped_label to 'drop' or a CORE code")
            used["unmapped -> " + (unmapped if fallback is None else fallback[0])] += 1
            mapped = fallback or ()
        else:
            used[_shown(value)] += 1
        for label in ALL_LABELS:
            columns[label].append(1.0 if label in mapped else 0.0)
    log.info("%s: label values used: %s", where, dict(used))
    table = pd.DataFrame({"doc_id": [str(d) for d in doc_ids]})
    for label in ALL_LABELS:
        table[PROB_PREFIX + label] = pd.Series(columns[label], dtype="float64")
    return table


def _codes_of(value: Any, codes: dict[str, tuple[str, ...]]) -> tuple[str, ...] | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    key = str(value)
    if key in codes:
        return codes[key]
    code = core_label(key)
    return (code,) if code is not None else None


def _shown(value: Any) -> str:
    return "missing" if value is None or (isinstance(value, float) and math.isnan(value)) else repr(value)


def read_label_column(path: str | Path, field: str, label_map: dict, unmapped: str | None = None,
                      id_field: str = "doc_id") -> pd.DataFrame:
    """:func:`column_probabilities` of the ``field`` column of a corpus shard (parquet)."""
    frame = read_columns(path, [id_field, field], hint="registers.label_field names the label column")
    return column_probabilities(frame[id_field].tolist(), frame[field].tolist(), str(path), label_map, unmapped)
