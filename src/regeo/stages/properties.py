"""Properties of every embedding dump of a run (rule ``properties``), and of every final model on
the tokens all of them saw (rule ``properties_comparison``)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from regeo.dumps import dump_rows, read_dump, steps_of
from regeo.geometry.properties import TABLE_COLUMNS, property_table
from regeo.io import RegeoInputError, write_parquet
from regeo.pairs import RunFiles, common_token_ids
from regeo.token_sets import dump_token_sets, read_counts

log = logging.getLogger(__name__)

MATRICES = ("input", "output")
MIN_ROWS = 3  # property_table's own minimum: fewer rows give a row of NaNs


def _counts_of_rows(counts_path: str | Path, vocab_rows: int) -> np.ndarray:
    """(vocab_rows,) training counts per row; rows past the tokenizer's ids (a padded embedding)
    were never in the data, so they count 0."""
    counts = read_counts(counts_path)
    if len(counts) > vocab_rows:
        raise RegeoInputError(f"{counts_path}: {len(counts)} token ids, more than the dump's {vocab_rows} rows")
    return np.pad(counts, (0, vocab_rows - len(counts)))


def _empty_table(params: dict, n: int, d: int, with_counts: bool) -> pd.DataFrame:
    """NaN rows, one per property, for a matrix with too few tokens (a dump before any token was an
    input): the properties are still listed, so every step has the same rows."""
    X = np.random.default_rng(0).standard_normal((MIN_ROWS, d))
    names = property_table(X, np.arange(MIN_ROWS) if with_counts else None, **_suite_kwargs(params),
                           nulls=(), bootstrap_replicates=0)[["property", "family"]]
    table = names.reindex(columns=TABLE_COLUMNS)
    table["n_rows"], table["d"] = np.int64(n), np.int64(d)
    table["detail"] = ""
    return table


def _suite_kwargs(params: dict) -> dict:
    return {"tops": params["tops"], "quantiles": params["quantiles"],
            "alpha_fit_range": params["alpha_fit_range"], "isoscore_shrinkage": params["isoscore_shrinkage"]}


def _matrix_table(X: np.ndarray, counts: np.ndarray | None, params: dict, bootstrap: dict,
                  with_intervals: bool) -> pd.DataFrame:
    if X.shape[0] < MIN_ROWS:
        return _empty_table(params, X.shape[0], X.shape[1], counts is not None)
    return property_table(X, counts, **_suite_kwargs(params), nulls=params["nulls"], null_seed=params["null_seed"],
                          bootstrap_replicates=bootstrap["replicates"] if with_intervals else 0,
                          bootstrap_seed=bootstrap["seed"], confidence=bootstrap["confidence"])


def properties(params: dict, bootstrap: dict, run: str, subset: str, dumps: list[str], schedule: dict | None,
               train_bin: str | Path | None, counts_path: str | Path | None, table_path: str | Path) -> None:
    """One row per (step, embeddings, property), the columns of
    :func:`regeo.geometry.properties.property_table` after step, embeddings; then token_set, n_tokens.

    ``params``: the geometry.properties section with geometry.id's ``min_count`` and ``null_seed``.
    Tokens as in the ID table: a trained run's seen by each step (``min_count``), an external run's
    every row. ``counts_path``: the run's training counts (the norm-frequency row); None for an
    external run. Intervals on the last dump only unless ``interval_dumps`` is "all". A tied
    model's output matrix is its input matrix: it is analysed once, as ``input``.
    """
    by_step = steps_of(dumps)
    last = max(by_step)
    vocab_rows = dump_rows(by_step[last])
    masks, token_set = dump_token_sets(run, list(by_step), schedule, train_bin, vocab_rows, params["min_count"])
    counts = None if counts_path is None else _counts_of_rows(counts_path, vocab_rows)
    frames = []
    for done, (step, path) in enumerate(by_step.items(), start=1):
        mask = masks[step]
        with_intervals = params["interval_dumps"] == "all" or step == last
        started = time.perf_counter()
        for which, matrix in read_dump(path).matrices(MATRICES).items():
            table = _matrix_table(matrix.numpy()[mask], None if counts is None else counts[mask], params, bootstrap,
                                  with_intervals)
            table.insert(0, "embeddings", which)
            table.insert(0, "step", step)
            table["n_tokens"] = np.int64(mask.sum())
            frames.append(table)
        log.info("run %s dump %d/%d, step %d: %d tokens, %.1f s", run, done, len(by_step), step, mask.sum(),
                 time.perf_counter() - started)
    table = pd.concat(frames, ignore_index=True)
    table.insert(0, "run", run)
    table.insert(1, "subset", subset)
    table.insert(len(table.columns) - 1, "token_set", token_set)
    write_parquet(table, table_path)


def properties_comparison(params: dict, bootstrap: dict, runs: dict[str, dict], table_path: str | Path) -> pd.DataFrame:
    """Every final model's properties on one token set: the ids all runs hold and saw at least
    ``min_count`` times (:func:`regeo.pairs.common_token_ids`, ``token_set`` "common"), each with
    its nulls and row-bootstrap interval; one row per (run, embeddings, property), the columns of
    :func:`regeo.geometry.properties.property_table` after run, subset, preset, seed, embeddings.

    Each run's own table (rule ``properties``) holds the tokens it saw, so two registers differ
    there in how many and which tokens they are measured on; here they do not, as in the ID
    comparison. The spread over seeds is in the rows. ``runs``: the rule's ``final_models()``."""
    table = RunFiles.table(runs)
    rows = {run.name: dump_rows(run.dump) for run in table}
    ids = common_token_ids(table, params["min_count"], rows)
    n_common = len(next(iter(ids.values()))) if ids else 0
    log.info("%d runs compared on %d common tokens seen at least %d times by each", len(table), n_common,
             params["min_count"])
    frames = []
    for run in table:
        chosen = ids[run.name]
        counts = None if run.counts is None else _counts_of_rows(run.counts, rows[run.name])[chosen]
        for which, matrix in read_dump(run.dump).matrices(MATRICES).items():
            part = _matrix_table(matrix.numpy()[chosen], counts, params, bootstrap, with_intervals=True)
            part.insert(0, "embeddings", which)
            for position, (key, value) in enumerate(run.identity().items()):
                part.insert(position, "run" if key == "name" else key, value)
            part["n_tokens"] = np.int64(len(chosen))
            frames.append(part)
    out = pd.concat(frames, ignore_index=True)
    out["token_set"] = "common"
    write_parquet(out, table_path)
    return out
