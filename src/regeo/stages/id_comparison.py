"""The final models' intrinsic dimension on one token set (rule ``id_comparison``).

Runs analysed on their own seen tokens differ in how many tokens and which frequencies they
hold, and MLE and TwoNN depend on n; a comparison of registers must not mix that in. Here every
run is analysed on the same tokens: those all compared runs hold and saw at least ``min_count``
times in training (:func:`regeo.pairs.common_token_ids`; ``token_set`` "common"). Each value
comes with its token-bootstrap interval and nulls; the spread over seeds is in the table's rows.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from regeo.dumps import dump_rows, read_dump
from regeo.geometry.id_table import id_config, id_rows
from regeo.geometry.nulls import NullCache
from regeo.io import RegeoInputError, write_parquet
from regeo.pairs import RunFiles, common_token_ids, nonzero_rows
from regeo.token_sets import frequency_strata, read_counts

log = logging.getLogger(__name__)


def id_comparison_table(params: dict, bootstrap: dict, runs: dict[str, dict], out_path: str | Path,
                        differences_path: str | Path, strata_path: str | Path) -> pd.DataFrame:
    """One row per (run, embeddings, metric, estimator, k), every run on the same token ids; the
    paired differences between the subsets of each preset (:func:`subset_differences`); and the
    same table on frequency-stratified samples of those tokens (:func:`regeo.token_sets.frequency_strata`,
    ``token_set`` "frequency_strata"; empty when ``frequency_bins`` is 0 or a run has no counts)."""
    table = RunFiles.table(runs)
    rows = {run.name: dump_rows(run.dump) for run in table}  # the header only: each dump is read once below
    ids = common_token_ids(table, params["min_count"], rows)
    n_common = len(next(iter(ids.values()))) if ids else 0
    log.info("%d runs compared on %d common tokens seen at least %d times by each", len(table), n_common,
             params["min_count"])
    null_cache = NullCache()
    strata = None
    if params["frequency_bins"] and ids and all(run.counts for run in table):
        strata = frequency_strata({run.name: read_counts(run.counts)[ids[run.name]] for run in table},
                                  params["frequency_bins"], params["null_seed"])
        log.info("frequency strata: %d of %d common tokens per run", len(next(iter(strata.values()))), n_common)
    frames, replicates, stratified = [], {}, []
    for run in table:
        dump = read_dump(run.dump)
        for which, matrix in dump.matrices(params["embeddings"]).items():
            X = matrix.numpy()[ids[run.name]]  # (n_common, d)
            if not nonzero_rows(X).all():
                raise RegeoInputError(f"{run.dump}: all-zero rows among the common tokens of the {which} matrix")
            for metric in params["comparison_metrics"]:
                cfg = dataclasses.replace(id_config(params, bootstrap, metric), nulls=tuple(params["comparison_nulls"]))
                reps: dict = {}
                part, _ = id_rows(X, cfg, null_cache, per_token=False, replicates=reps)
                for (estimator, k), values in reps.items():
                    replicates[run.name, which, metric, estimator, int(k)] = values
                parts = [(frames, part)]
                if strata is not None:
                    parts.append((stratified, id_rows(X[strata[run.name]], cfg, null_cache, per_token=False)[0]))
                for into, rows_ in parts:
                    rows_.insert(0, "embeddings", which)
                    for key, value in reversed(list(run.identity().items())):
                        rows_.insert(0, "run" if key == "name" else key, value)
                    into.append(rows_)
    out = pd.concat(frames, ignore_index=True)
    out["token_set"] = "common"
    out["min_count"] = params["min_count"]
    write_parquet(out, out_path)
    write_parquet(subset_differences(out, replicates, bootstrap["confidence"]), differences_path)
    strata_table = pd.concat(stratified, ignore_index=True) if stratified else out.iloc[:0].copy()
    strata_table["token_set"] = "frequency_strata"
    strata_table["frequency_bins"] = params["frequency_bins"]
    write_parquet(strata_table, strata_path)
    return out


KEY = ["preset", "embeddings", "metric", "estimator", "k"]


def subset_differences(table: pd.DataFrame, replicates: dict, confidence: float) -> pd.DataFrame:
    """Every pair of subsets of a preset, per ID measure: the difference of their means over seeds,
    its paired bootstrap interval over the common tokens (replicate r of every run resamples the
    same tokens, so the shared token noise cancels in the difference, which two marginal intervals
    cannot show), and beside it the seed spread (the largest range over seeds within a subset of
    the preset): a difference means something only where it is larger than both."""
    alpha = (1 - confidence) / 2
    rows = []
    for key, part in table.groupby(KEY, sort=True):
        means = part.groupby("subset")["value"].mean()
        spread = float(part.groupby("subset")["value"].agg(lambda v: v.max() - v.min()).max())
        runs_of = part.groupby("subset")["run"].apply(list)
        n_tokens = part["n_tokens"].nunique() == 1  # deduplication could change one run's n: no pairing
        for a, b in itertools.combinations(sorted(means.index), 2):
            row = dict(zip(KEY, key), subset_a=a, subset_b=b, n_seeds_a=len(runs_of[a]), n_seeds_b=len(runs_of[b]),
                       difference=float(means[a] - means[b]), ci_low=np.nan, ci_high=np.nan, seed_spread=spread)
            reps = [[replicates.get((run, *key[1:])) for run in runs_of[s]] for s in (a, b)]
            if n_tokens and all(r is not None for side in reps for r in side):
                diff = np.mean(reps[0], axis=0) - np.mean(reps[1], axis=0)
                row["ci_low"], row["ci_high"] = (float(q) for q in np.quantile(diff, [alpha, 1 - alpha]))
            row["beyond_seed_spread"] = abs(row["difference"]) > spread
            rows.append(row)
    return pd.DataFrame(rows)
