"""Rule steering_summary: every pair's table read, one summary row per pair and concept written."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from regeo.io import read_parquet, write_parquet
from regeo.steering.summary import summarise

log = logging.getLogger(__name__)


def steering_summary(table_paths: list[str], min_native_effect: float, out_path: str | Path) -> None:
    """Concatenate the pair tables, summarise them (:func:`regeo.steering.summary.summarise`), write the summary."""
    tables = [read_parquet(p) for p in table_paths]
    summary = summarise(pd.concat(tables, ignore_index=True), min_native_effect) if tables else pd.DataFrame()
    write_parquet(summary, out_path)
    for row in summary.itertuples():
        log.info("%s -> %s %s: efficiency %.3f (random %.3f)", row.source, row.target, row.concept,
                 row.efficiency, row.random_efficiency)
