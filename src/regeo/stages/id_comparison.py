"""The final models' intrinsic dimension on one token set (rule ``id_comparison``).

Runs analysed on their own seen tokens differ in how many tokens and which frequencies they
hold, and MLE and TwoNN depend on n; a comparison of registers must not mix that in. Here every
run is analysed on the same tokens: those all compared runs hold and saw at least ``min_count``
times in training (:func:`regeo.pairs.common_token_ids`; ``token_set`` "common"). Each value
comes with its token-bootstrap interval and nulls; the spread over seeds is in the table's rows.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pandas as pd

from regeo.dumps import dump_rows, read_dump
from regeo.geometry.nulls import NullCache
from regeo.io import RegeoInputError, write_parquet
from regeo.pairs import RunFiles, common_token_ids, nonzero_rows
from regeo.stages.id_dynamics import id_config, id_rows

log = logging.getLogger(__name__)


def id_comparison_table(params: dict, bootstrap: dict, runs: dict[str, dict], out_path: str | Path) -> pd.DataFrame:
    """One row per (run, embeddings, metric, estimator, k), every run on the same token ids."""
    table = RunFiles.table(runs)
    rows = {run.name: dump_rows(run.dump) for run in table}  # the header only: each dump is read once below
    ids = common_token_ids(table, params["min_count"], rows)
    n_common = len(next(iter(ids.values()))) if ids else 0
    log.info("%d runs compared on %d common tokens seen at least %d times by each", len(table), n_common,
             params["min_count"])
    null_cache = NullCache()
    frames = []
    for run in table:
        dump = read_dump(run.dump)
        for which, matrix in dump.matrices(params["embeddings"]).items():
            X = matrix.numpy()[ids[run.name]]  # (n_common, d)
            if not nonzero_rows(X).all():
                raise RegeoInputError(f"{run.dump}: all-zero rows among the common tokens of the {which} matrix")
            for metric in params["comparison_metrics"]:
                cfg = dataclasses.replace(id_config(params, bootstrap, metric), nulls=tuple(params["comparison_nulls"]))
                part, _ = id_rows(X, cfg, null_cache, per_token=False)
                part.insert(0, "embeddings", which)
                for key, value in reversed(list(run.identity().items())):
                    part.insert(0, "run" if key == "name" else key, value)
                frames.append(part)
    out = pd.concat(frames, ignore_index=True)
    out["token_set"] = "common"
    out["min_count"] = params["min_count"]
    write_parquet(out, out_path)
    return out
