"""Intrinsic dimension of every embedding dump of a run."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from regeo.geometry.id_table import IDConfig, id_suite, id_table
from regeo.vocab import seen_mask as seen_token_mask
from regeo.io import read_parquet, write_parquet
from regeo.train.loop import load_dump

log = logging.getLogger(__name__)


def id_config(params: dict) -> IDConfig:
    return IDConfig(ks=tuple(params["ks"]), metric=params["metric"], estimators=tuple(params["estimators"]),
                    local_pca_k=params["local_pca_k"], local_pca_variance=params["local_pca_variance"])


def token_filter(counts_path: str | Path, min_count: int) -> np.ndarray:
    counts = read_parquet(counts_path, columns=["token_id", "count"]).sort_values("token_id")["count"].to_numpy()
    return seen_token_mask(counts, min_count)


def id_dynamics(params: dict, run: str, subset: str, dumps: list[str], counts_path: str | Path | None,
                table_path: str | Path, per_token_path: str | Path) -> None:
    """One row per (step, embeddings, estimator, k); per-token values of the last dump.

    Without ``counts_path`` (an external run, whose training data is unknown) every row of the
    embedding matrix is analysed; the table says so in ``token_filter`` ("none", min_count 0).
    """
    cfg = id_config(params)
    if counts_path is None:
        mask = np.ones(load_dump(sorted(dumps)[-1], "input").shape[0], dtype=bool)
        min_count, how = 0, "none"
        log.info("run %s: no token counts, all %d tokens analysed", run, len(mask))
    else:
        mask = token_filter(counts_path, params["min_count"])
        min_count, how = params["min_count"], "min_count"
        log.info("run %s: %d of %d tokens seen at least %d times", run, mask.sum(), len(mask), min_count)
    frames, per_token = [], []
    for path in sorted(dumps):
        step = int(Path(path).stem.removeprefix("step"))
        for which in params["embeddings"]:
            matrix = load_dump(path, which)
            if which == "output" and matrix.data_ptr() == load_dump(path, "input").data_ptr():
                continue
            X = matrix.numpy()[mask]  # (n_seen, d)
            last = path == sorted(dumps)[-1]
            table, tokens = id_suite(X, cfg) if last else (id_table(X, cfg), None)
            table.insert(0, "embeddings", which)
            table.insert(0, "step", step)
            frames.append(table)
            if last:
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
