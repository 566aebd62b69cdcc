"""Intrinsic dimension of every embedding dump of a run (rule ``id_dynamics``)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from regeo.dumps import dump_rows, read_dump, steps_of
from regeo.geometry.id_table import id_config, id_rows
from regeo.geometry.nulls import NullCache
from regeo.io import write_parquet
from regeo.token_sets import dump_token_sets

log = logging.getLogger(__name__)


def id_dynamics(params: dict, bootstrap: dict, run: str, subset: str, dumps: list[str], schedule: dict | None,
                train_bin: str | Path | None, table_path: str | Path, per_token_path: str | Path) -> None:
    """One row per (step, embeddings, metric, estimator, k); per-token values of the last dump.

    Token set of a trained run at step S (``token_set`` "seen_by_step"): the tokens that have
    been an input at least ``min_count`` times in the batches before S (:func:`regeo.token_sets.seen_by_dump`),
    so early dumps are not mixed with rows that have never been trained; ``n_tokens`` says how
    many. An external run (no counts: its training data is unknown) analyses every row
    (``token_set`` "all", min_count 0). A tied model's output matrix is its input matrix: it is
    analysed once, as ``input``.
    """
    by_step = steps_of(dumps)
    last = max(by_step)
    vocab_rows = dump_rows(by_step[last])
    masks, how = dump_token_sets(run, list(by_step), schedule, train_bin, vocab_rows, params["min_count"])
    min_count = 0 if how == "all" else params["min_count"]
    null_cache = NullCache()  # within the job: the input and output matrices of a dump share n and d
    frames, per_token = [], []
    for done, (step, path) in enumerate(by_step.items(), start=1):
        mask = masks[step]
        started = time.perf_counter()
        for which, matrix in read_dump(path).matrices(params["embeddings"]).items():
            X = matrix.numpy()[mask]  # (n_seen, d)
            for metric in params["metrics"]:
                table, tokens = id_rows(X, id_config(params, bootstrap, metric), null_cache, per_token=step == last)
                table.insert(0, "embeddings", which)
                table.insert(0, "step", step)
                frames.append(table)
                if tokens is not None:
                    tokens.insert(0, "token_id", np.flatnonzero(mask))
                    tokens.insert(0, "metric", metric)
                    tokens.insert(0, "embeddings", which)
                    per_token.append(tokens)
        log.info("run %s dump %d/%d, step %d: %d tokens, %.1f s", run, done, len(by_step), step, mask.sum(),
                 time.perf_counter() - started)
    table = pd.concat(frames, ignore_index=True)
    table.insert(0, "run", run)
    table.insert(1, "subset", subset)
    table["token_set"] = how
    table["min_count"] = min_count
    write_parquet(table, table_path)
    write_parquet(pd.concat(per_token, ignore_index=True), per_token_path)
