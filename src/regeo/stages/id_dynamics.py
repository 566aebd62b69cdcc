"""Intrinsic dimension of every embedding dump of a run (rule ``id_dynamics``)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from regeo.dumps import read_dump, steps_of
from regeo.geometry.id_table import IDConfig, id_suite, id_table
from regeo.io import write_parquet
from regeo.vocab import read_seen_mask

log = logging.getLogger(__name__)


def id_config(params: dict) -> IDConfig:
    return IDConfig(ks=tuple(params["ks"]), metric=params["metric"], estimators=tuple(params["estimators"]),
                    local_pca_k=params["local_pca_k"], local_pca_variance=params["local_pca_variance"])


def id_dynamics(params: dict, run: str, subset: str, dumps: list[str], counts_path: str | Path | None,
                table_path: str | Path, per_token_path: str | Path) -> None:
    """One row per (step, embeddings, estimator, k); per-token values of the last dump.

    A tied model's output matrix is its input matrix: it is analysed once, as ``input``. Without
    ``counts_path`` (an external run, whose training data is unknown) every row of the embedding
    matrix is analysed; the table says so in ``token_filter`` ("none", min_count 0).
    """
    cfg = id_config(params)
    by_step = steps_of(dumps)
    last = max(by_step)
    seen = read_seen_mask(counts_path, params["min_count"])
    if seen is None:
        mask = np.ones(read_dump(by_step[last]).input.shape[0], dtype=bool)
        min_count, how = 0, "none"
        log.info("run %s: no token counts, all %d tokens analysed", run, len(mask))
    else:
        mask, min_count, how = seen, params["min_count"], "min_count"
        log.info("run %s: %d of %d tokens seen at least %d times", run, mask.sum(), len(mask), min_count)
    frames, per_token = [], []
    for step, path in by_step.items():
        for which, matrix in read_dump(path).matrices(params["embeddings"]).items():
            X = matrix.numpy()[mask]  # (n_seen, d)
            table, tokens = id_suite(X, cfg) if step == last else (id_table(X, cfg), None)
            table.insert(0, "embeddings", which)
            table.insert(0, "step", step)
            frames.append(table)
            if step == last:
                tokens.insert(0, "token_id", np.flatnonzero(mask))
                tokens.insert(0, "embeddings", which)
                per_token.append(tokens)
    table = pd.concat(frames, ignore_index=True)
    table.insert(0, "run", run)
    table.insert(1, "subset", subset)
    table["n_tokens"] = int(mask.sum())
    table["token_filter"] = how
    table["min_count"] = min_count
    write_parquet(table, table_path)
    write_parquet(pd.concat(per_token, ignore_index=True), per_token_path)
